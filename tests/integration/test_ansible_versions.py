"""Every ansible-core release the collection claims (meta/runtime.yml: requires_ansible >=2.16).

scripts/bootstrap.sh (profile test) builds .venv-core2.16, .venv-core2.17 and .venv-core2.18, each with
its ansible-core and the test requirements; the main .venv has the newest (2.19). In each older one this
runs the unit suite and real cycles of playbooks/collect.yml on examples/inventory.yml.

ansible-core 2.19 lays the fact cache out differently (key ``s1_<host>``, a ``__payload__`` with data
tags) from 2.16 to 2.18 (key ``<host>``, plain facts), and neither reads the other's: without the
cycle reading both, an upgrade silently started every counter at zero. The chain test upgrades one
cache release by release and back, and the counters keep growing with first_seen kept.

The unit suites run in the background (started by the module's first test) while the cycles run.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.hypervisor.stats.plugins.plugin_utils.cycle_cache import decode_tagged

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OLDER = ('2.16', '2.17', '2.18')
MAIN_VENV = os.path.dirname(os.path.dirname(sys.executable))
VM = '5b1a4e5c-0000-0000-0000-000000000001'   # web-01 on compute-a1 (examples/nodes)
# What cannot run in an older venv, and why.
UNIT_DESELECT = (
    ('unit/test_docs.py', 'renders the docs with ansible-doc and antsibull-docs of the main venv'),
)


def venv(version):
    path = MAIN_VENV if version == 'main' else os.path.join(ROOT, '.venv-core' + version)
    if not os.path.exists(os.path.join(path, 'bin', 'ansible-playbook')):
        pytest.fail('%s is missing: run `make bootstrap-test` (scripts/bootstrap.sh test builds it)' % path)
    return path


def core_version(path):
    return subprocess.run([os.path.join(path, 'bin', 'python'), '-c', 'import ansible.release as r; print(r.__version__)'],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope='module', autouse=True)
def unit_suites(tmp_path_factory):
    """The unit suite of each older release, started at once in the background; {version: (process, log)}."""
    logs = tmp_path_factory.mktemp('unit')
    runs = {}
    for version in OLDER:
        python = os.path.join(venv(version), 'bin', 'python')
        log = str(logs / ('unit-%s.log' % version))
        cmd = [python, '-m', 'pytest', 'unit', '-q', '-p', 'no:cacheprovider', '-o', 'addopts=-ra']
        cmd += ['--deselect=%s' % path for path, _why in UNIT_DESELECT]
        env = dict(os.environ, PATH=os.path.dirname(python) + os.pathsep + os.environ.get('PATH', ''))
        with open(log, 'w') as handle:
            runs[version] = (subprocess.Popen(cmd, cwd=os.path.join(ROOT, 'tests'), stdout=handle,
                                              stderr=subprocess.STDOUT, env=env), log, time.time())
    yield runs
    for process, _log, _start in runs.values():
        if process.poll() is None:
            process.kill()
            process.wait()


class Cycle(object):
    """playbooks/collect.yml on examples/inventory.yml, with a fact cache and report directory of its own."""

    def __init__(self, tmp_path, cache_dir=None):
        self.dir = tmp_path
        self.cache_dir = cache_dir or str(tmp_path / 'facts')

    def run(self, version, *args):
        path = venv(version)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'),
                   ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_CACHE_PLUGIN='jsonfile',
                   ANSIBLE_CACHE_PLUGIN_CONNECTION=self.cache_dir, ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
                   HYPERVISOR_STATS_REPORT_DIR=str(self.dir / 'report'),
                   PATH=os.path.join(path, 'bin') + os.pathsep + os.environ.get('PATH', ''))
        result = subprocess.run([os.path.join(path, 'bin', 'ansible-playbook'), '-i',
                                 os.path.join(ROOT, 'examples', 'inventory.yml'),
                                 os.path.join(ROOT, 'playbooks', 'collect.yml')] + list(args),
                                env=env, cwd=str(self.dir), capture_output=True, text=True, timeout=300)
        self.output = result.stdout + result.stderr
        return result

    def counters(self, host):
        """hypervisor_stats_counters of ``host`` in the layout of 2.16-2.18 and of 2.19: (old, new)."""
        old = new = None
        plain = os.path.join(self.cache_dir, host)
        if os.path.exists(plain):
            with open(plain) as handle:
                old = json.load(handle).get('hypervisor_stats_counters')
        tagged = os.path.join(self.cache_dir, 's1_' + host)
        if os.path.exists(tagged):
            with open(tagged) as handle:
                new = decode_tagged(json.load(handle)).get('hypervisor_stats_counters')
        return old, new


def assert_table(cycle, result):
    assert result.returncode == 0, cycle.output[-5000:]
    assert 'CAPACITY REPORT' in cycle.output and 'CLUSTER (4)' in cycle.output, cycle.output[-5000:]
    assert 'HOST' in cycle.output and 'compute-b2' in cycle.output
    assert 'Traceback' not in cycle.output and '[ERROR]' not in cycle.output, cycle.output[-5000:]


def test_a_cycle_on_each_release_and_counters_that_survive_upgrades_and_a_downgrade(tmp_path):
    """One cycle per release on one cache, oldest first (the first on a fresh cache), then back to 2.18."""
    cycle = Cycle(tmp_path)
    history = []
    for version in OLDER + ('main', '2.18'):
        if version != 'main':
            assert core_version(venv(version)).startswith(version + '.')
        assert_table(cycle, cycle.run(version))
        old, new = cycle.counters('compute-a1')
        if not history:
            assert new is None and set(old['vms'][VM]['cumulative'].values()) == {0}, 'a fresh start, plain layout'
        layout = new if version == 'main' else old
        entry = layout['vms'][VM]
        history.append((version, layout['collected_at'], entry['first_seen'], entry['cumulative']['network_read_kb']))
        time.sleep(1.1)   # the test driver's counters grow with the clock: each cycle must see growth
    first_seen = history[0][2]
    for (before, after) in zip(history, history[1:]):
        assert after[2] == first_seen, 'first_seen kept across %s -> %s: %r' % (before[0], after[0], history)
        assert after[1] > before[1] and after[3] > before[3], \
            'counters keep growing across %s -> %s: %r' % (before[0], after[0], history)


@pytest.mark.parametrize('version', OLDER)
def test_unit_suite(version, unit_suites):
    process, log, start = unit_suites[version]
    process.wait(timeout=600)
    with open(log) as handle:
        text = handle.read()
    assert process.returncode == 0, 'unit suite on ansible-core %s (%.0f s):\n%s' % (version, time.time() - start, text[-8000:])
    assert ' passed' in text.splitlines()[-1]
