# hypervisor.stats — the two commands of README: `make demo` and `make test`.
SHELL := /bin/bash
ROOT := $(abspath .)
VENV := $(ROOT)/.venv
export ANSIBLE_COLLECTIONS_PATH := $(ROOT)/.collections
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export PATH := $(VENV)/bin:$(PATH)
PYTEST := $(VENV)/bin/python -m pytest

.PHONY: demo test bootstrap bootstrap-test test-unit test-integration test-sanity test-molecule bench clean

bootstrap:
	@bash scripts/bootstrap.sh demo

bootstrap-test:
	@bash scripts/bootstrap.sh test

## The main job on the embedded simulated cluster (libvirt's test driver).
## First a SIMULATED history of 120 days (labelled so in the report) is put in the store host's
## fact cache, so that the forecasts and charts have days to show; then one real cycle.
demo: bootstrap
	@mkdir -p .cache && $(VENV)/bin/python examples/simulated_history.py --output .cache/simulated-history.json
	@ansible -i examples/inventory.yml localhost -m ansible.builtin.set_fact \
	  -a '{"hypervisor_stats_history": "{{ lookup(\"file\", \"$(ROOT)/.cache/simulated-history.json\") | from_json }}", "cacheable": true}' >/dev/null
	ansible-playbook -i examples/inventory.yml playbooks/collect.yml

## Everything: unit, integration (real libvirtd, QEMU guests, redis), sanity, molecule.
test: bootstrap-test
	$(PYTEST) -p no:cacheprovider --durations=20 tests/unit tests/integration
	$(MAKE) --no-print-directory test-sanity
	$(MAKE) --no-print-directory test-molecule

test-unit: bootstrap-test
	$(PYTEST) -p no:cacheprovider tests/unit

test-integration: bootstrap-test
	$(PYTEST) -p no:cacheprovider tests/integration

test-sanity: bootstrap-test
	@bash tests/sanity/run.sh

test-molecule: bootstrap-test
	@if [ -x tests/molecule/run.sh ]; then bash tests/molecule/run.sh; else echo "molecule: no scenario yet"; fi

bench: bootstrap-test
	@for b in bench/*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf .venv .collections .cache report tests/output
