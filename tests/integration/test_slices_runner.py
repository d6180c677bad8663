"""Sliced collection through ansible-runner, the way AWX runs every job (issue 15).

Each job gets a private data directory of its own with the inventory AWX would give it (an AWX slice's
inventory holds only its hosts) and runner's jsonfile fact cache under its artifacts. Between jobs the
test does what AWX's fact storage does: it keeps each host's cache entry after a job and writes the
entries of the job's hosts into the next job's fact cache before it starts. The totals published with
set_stats are read back from the job's events (playbook_on_stats' artifact_data), as AWX reads them for
the next node of a workflow.

Real: ansible-runner (PyPI), ansible-playbook, libvirt's test driver, the real modules.
"""

import json
import os
import shutil

import pytest

ansible_runner = pytest.importorskip('ansible_runner')

from test_cycle import ANSIBLE_PLAYBOOK, DOMAIN, NODE, ROOT, uuid_of  # noqa: E402

INPUTS = {'hypervisor_stats_now': 1700000000, 'hypervisor_stats_failures': 1,
          'hypervisor_stats_flavors': {'small': {'vcpus': 1, 'memory_mb': 512, 'disk_gb': 1}}}


class Awx(object):
    def __init__(self, tmp_path, hosts):
        self.dir = tmp_path
        self.hosts = hosts
        self.facts = {}     # AWX's fact storage: host -> its cache entry file's text
        nodes = tmp_path / 'nodes'
        nodes.mkdir(parents=True)
        for index, (host, vms) in enumerate(sorted(hosts.items())):
            (nodes / ('%s.xml' % host)).write_text(NODE.format(
                domains=''.join(DOMAIN.format(name=n, uuid=uuid_of(n)) for n in vms),
                pool_uuid='00000000-0000-4000-9000-%012d' % index))
        self.jobs = 0

    def job(self, playbook, hosts, **extra):
        self.jobs += 1
        private = self.dir / ('job%d' % self.jobs)
        (private / 'inventory').mkdir(parents=True)
        inventory = {'all': {'children': {'hypervisors': {
            'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}',
                     'hypervisor_stats_storage_pool': 'default-pool'},
            'hosts': dict((h, {'hypervisor_stats_uri': 'test://%s' % (self.dir / 'nodes' / ('%s.xml' % h)),
                               'hypervisor_stats_labels': {'cluster': 'c%d' % (i % 2)}})
                          for i, h in enumerate(sorted(self.hosts)) if h in hosts)}}}}
        (private / 'inventory' / 'hosts.json').write_text(json.dumps(inventory))
        ident = 'job'
        cache = private / 'artifacts' / ident / 'fact_cache'
        cache.mkdir(parents=True)
        for host in list(hosts) + ['localhost']:
            for name, text in self.facts.get(host, {}).items():
                (cache / name).write_text(text)
        result = ansible_runner.run(
            private_data_dir=str(private), ident=ident, playbook=os.path.join(ROOT, 'playbooks', playbook),
            extravars=dict(INPUTS, **extra), fact_cache_type='jsonfile', quiet=True,
            envvars={'ANSIBLE_COLLECTIONS_PATH': os.path.join(ROOT, '.collections'),
                     'ANSIBLE_CACHE_PLUGIN_TIMEOUT': '0', 'ANSIBLE_NOCOLOR': '1',
                     'PATH': os.path.dirname(ANSIBLE_PLAYBOOK) + os.pathsep + os.environ.get('PATH', '')})
        assert result.rc == 0 and result.status == 'successful', result.stdout.read()[-4000:]
        for name in os.listdir(str(cache)):   # keep what the job cached, per host
            host = name[3:] if name.startswith('s1_') else name
            self.facts.setdefault(host, {})[name] = (cache / name).read_text()
        stats = [e for e in result.events if e.get('event') == 'playbook_on_stats']
        return stats[-1]['event_data'].get('artifact_data', {}) if stats else {}


def test_awx_slices_then_the_totals_job_equal_one_unsliced_job(tmp_path, monkeypatch):
    # runner looks ansible-playbook up on its own PATH: this venv's
    monkeypatch.setenv('PATH', os.path.dirname(ANSIBLE_PLAYBOOK) + os.pathsep + os.environ.get('PATH', ''))
    hosts = dict(('hv%02d' % i, ['v%04d' % (2 * i), 'v%04d' % (2 * i + 1)]) for i in range(6))
    unsliced = Awx(tmp_path / 'unsliced', hosts)
    expected = unsliced.job('collect.yml', list(hosts))['hypervisor_stats_cluster']['totals']

    awx = Awx(tmp_path / 'sliced', hosts)
    names = sorted(hosts)
    for part in (names[0::2], names[1::2]):
        artifacts = awx.job('collect.yml', part, hypervisor_stats_slices=2)
        assert 'hypervisor_stats_cluster' not in artifacts, 'a slice publishes no partial totals'
    assert 'localhost' not in awx.facts or not any('hypervisor_stats_cluster' in t for t in awx.facts['localhost'].values())
    totals = awx.job('totals.yml', names)['hypervisor_stats_cluster']
    assert totals['source'] == 'totals' and totals['hosts_missed'] == []
    assert json.loads(json.dumps(totals['totals'])) == json.loads(json.dumps(expected))
    shutil.rmtree(str(tmp_path / 'unsliced' / 'job1' / 'artifacts'), ignore_errors=True)
