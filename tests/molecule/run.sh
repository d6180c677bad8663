#!/usr/bin/env bash
# The collector_timer role's Molecule scenario against a nested Debian 12 VM
# (`make test-molecule`). Builds or reuses the cached image and wheelhouse,
# builds the collection tarball, runs `molecule test` (destroy, syntax, create,
# check, prepare, converge, idempotence, verify, destroy) and leaves nothing behind
# but the cache (/var/cache/hypervisor-stats/molecule).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
export PATH=$VENV/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$ROOT/.collections}
unset ANSIBLE_CONFIG   # Molecule writes its own; the repo's names the demo inventory

t0=$(date +%s)
work=$(mktemp -d /var/tmp/hs-molecule-run.XXXXXX)
# Molecule creates this (empty) even with prerun off; remove it if it was not there.
had_user_collections=no
[ -e "$HOME/.ansible/collections" ] && had_user_collections=yes
cleanup() {
  rc=$?
  # A run interrupted between create and destroy must not leave the VM behind.
  python "$ROOT/tests/molecule/vm.py" destroy || true
  rm -rf "$work"
  if [ "$had_user_collections" = no ]; then rmdir "$HOME/.ansible/collections" 2>/dev/null || true; fi
  echo "molecule: total $(( $(date +%s) - t0 )) s"
  exit $rc
}
trap cleanup EXIT
export HS_MOLECULE_STATE_DIR=$work/vm
# Molecule's ephemeral state too, so that it goes with the run.
export MOLECULE_EPHEMERAL_DIRECTORY=$work/molecule
export NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0

artefacts=$(python tests/molecule/vm.py artefacts)
export HS_MOLECULE_WHEELHOUSE=$(python -c 'import json,sys; print(json.load(sys.stdin)["wheelhouse"])' <<<"$artefacts")/wheelhouse.tar
echo "molecule: image and wheelhouse ready after $(( $(date +%s) - t0 )) s"

ansible-galaxy collection build --force --output-path "$work" . >/dev/null
export HS_MOLECULE_COLLECTION_TARBALL=$(ls "$work"/hypervisor-stats-*.tar.gz)

# Cheap checks on this machine first: the redis rendering and bad-input message.
ansible-playbook tests/molecule/role_inputs.yml

cd roles/collector_timer
molecule test
