"""vm_stats on libvirt's test driver (issue 3): the per-domain fallback path, options, failures.

The test driver answers only ``state`` in bulk stats, so every VM here goes
through info / XML / blockStats / interfaceStats / memoryStats. Its counters
are derived from the wall clock, so they grow between two reads: the module's
value must lie between a direct call made before and one made after.
"""

import json
import os
import subprocess
import sys
import time

import libvirt
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, '.collections'))

from ansible_collections.hypervisor.stats.plugins.module_utils.libvirt_vm_stats import collect, interface_devices  # noqa: E402

NODE = os.path.join(ROOT, 'tests', 'unit', 'nodes', 'vm_stats_node.xml')
URI = 'test://' + NODE
APP01 = '7c2d3e4f-0000-0000-0000-000000000001'
APP02 = '7c2d3e4f-0000-0000-0000-000000000002'
OLD03 = '7c2d3e4f-0000-0000-0000-000000000003'

libvirt.registerErrorHandler(lambda ctx, err: None, None)


@pytest.fixture
def conn():
    c = libvirt.openReadOnly(URI)
    yield c
    c.close()


def run_module(args, check=False):
    """Run the module through real Ansible; returns (rc, result dict)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'),
               ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_CACHE_PLUGIN='ansible.builtin.memory',  # keep the shared fact cache out of it
               ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json')
    cmd = [os.path.join(ROOT, '.venv', 'bin', 'ansible'), 'localhost', '-m', 'hypervisor.stats.vm_stats',
           '-a', json.dumps(args), '-e', 'ansible_python_interpreter=' + sys.executable]
    if check:
        cmd.append('--check')
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    out = json.loads(proc.stdout)
    return proc.returncode, out['plays'][0]['tasks'][0]['hosts']['localhost']


def test_fallback_reads_devices_by_name_and_counters_lie_between_direct_calls(conn):
    dom = conn.lookupByUUIDString(APP01)
    # The test driver names the host side of every NIC testnetN itself.
    nic_names = interface_devices(dom.XMLDesc(0))
    assert len(nic_names) == 2
    nic = nic_names[0]
    before = {'vda': dom.blockStats('vda'), 'vdb': dom.blockStats('vdb'), nic: dom.interfaceStats(nic)}
    result = collect(conn, ['running', 'paused'])
    after = {'vda': dom.blockStats('vda'), 'vdb': dom.blockStats('vdb'), nic: dom.interfaceStats(nic)}
    vms = dict((vm['uuid'], vm) for vm in result.vms)
    assert set(vms) == {APP01, APP02}
    assert set(result.paths.values()) == {'calls'}   # the test driver answers only `state` in bulk
    app = vms[APP01]
    assert set(app['disks']) == {'vda', 'vdb'}          # CD-ROM sda and floppy fda left out
    assert set(app['nics']) == set(nic_names)
    for dev in ('vda', 'vdb'):
        for i, field in enumerate(('rd_req', 'rd_bytes', 'wr_req', 'wr_bytes')):
            assert before[dev][i] <= app['disks'][dev][field] <= after[dev][i], (dev, field)
    for i, field in enumerate(('rx_bytes', 'rx_packets', 'rx_errs', 'rx_drop',
                               'tx_bytes', 'tx_packets', 'tx_errs', 'tx_drop')):
        assert before[nic][i] <= app['nics'][nic][field] <= after[nic][i], field
    disks = app['disks'].values()
    assert app['totals']['disk_read_kb'] == sum(d['rd_bytes'] for d in disks) / 1024.0
    assert app['totals']['disk_write_ios'] == sum(d['wr_req'] for d in disks)
    assert app['totals']['network_write_kb'] == sum(n['tx_bytes'] for n in app['nics'].values()) / 1024.0
    assert app['state'] == 'running' and app['vcpus'] == 4 and app['domain_id'] == dom.ID()
    mem = dom.memoryStats()
    assert app['memory'] == {'max_kb': 4096 * 1024, 'actual_kb': 3072 * 1024, 'unused_kb': mem['unused'],
                             'available_kb': mem['available'], 'rss_kb': mem['rss']}
    assert vms[APP02]['state'] == 'paused' and vms[APP02]['memory']['rss_kb'] is None  # no balloon
    assert app['cpu_utilization'] is None and not app['timed_out']
    assert result.warnings == [] and result.vanished == []


def test_states_option_selects_and_stopped_vm_has_no_counters(conn):
    only_off = collect(conn, ['shutoff'])
    assert [vm['uuid'] for vm in only_off.vms] == [OLD03]
    off = only_off.vms[0]
    assert off['state'] == 'shutoff' and off['domain_id'] is None and off['cpu_time_ns'] is None
    assert off['disks'] == {} and off['nics'] == {} and off['memory']['max_kb'] == 1024 * 1024
    assert [vm['name'] for vm in collect(conn, ['paused']).vms] == ['app-02']
    assert len(collect(conn, ['running', 'paused', 'shutoff']).vms) == 3


def test_domains_option_takes_names_and_uuids_and_warns_on_unknown(conn):
    result = collect(conn, ['running', 'paused'], names=['app-01', APP02, 'nope'])
    assert sorted(vm['name'] for vm in result.vms) == ['app-01', 'app-02']
    assert len(result.warnings) == 1 and "'nope'" in result.warnings[0]
    # A stopped VM named explicitly is still filtered by state.
    result = collect(conn, ['running'], names=['old-03'])
    assert result.vms == [] and "'old-03'" in result.warnings[0]


def test_domain_vanishing_between_listing_and_reading_is_skipped():
    rw = libvirt.open(URI)   # a test-driver host lives as long as its connection: use one
    try:
        def destroy_after_listing(domains):
            assert len(domains) == 2
            gone = rw.lookupByName('app-02')
            gone.destroy()
            gone.undefine()
            rw.lookupByName('app-01').destroy()   # stopped: no longer in the selected states
        result = collect(rw, ['running', 'paused'], hooks={'after_list': destroy_after_listing})
        assert result.vms == []
        assert sorted(result.vanished) == ['app-01', 'app-02']
        assert result.warnings == []
    finally:
        rw.close()


def test_cpu_utilization_over_a_window(conn):
    # The test driver's cpu time is the wall clock in ns whatever the vCPUs, so a
    # VM with N vCPUs looks 100/N % busy: checks the window and the vCPU division.
    started = time.monotonic()
    result = collect(conn, ['running', 'paused'], cpu_sample_seconds=0.5)
    assert time.monotonic() - started >= 0.5
    util = dict((vm['name'], vm['cpu_utilization']) for vm in result.vms)
    assert util['app-01'] == pytest.approx(25.0, abs=5)
    assert util['app-02'] == pytest.approx(50.0, abs=8)


def test_module_through_ansible_returns_the_documented_shape():
    rc, res = run_module({'uri': URI, 'states': ['running', 'paused', 'shutoff']}, check=True)
    assert rc == 0 and res['changed'] is False
    facts = res['ansible_facts']['vm_stats']
    assert set(facts) == {'hypervisor_hostname', 'uri', 'collected_at', 'vms'}
    assert facts['uri'] == URI and abs(facts['collected_at'] - time.time()) < 120
    assert set(facts['vms']) == {APP01, APP02, OLD03}
    vm = facts['vms'][APP01]
    assert set(vm) == {'name', 'uuid', 'state', 'domain_id', 'vcpus', 'cpu_time_ns', 'cpu_utilization',
                       'memory', 'disks', 'nics', 'totals', 'timed_out'}
    assert set(vm['memory']) == {'max_kb', 'actual_kb', 'unused_kb', 'available_kb', 'rss_kb'}
    assert set(vm['disks']['vda']) == {'rd_bytes', 'wr_bytes', 'rd_req', 'wr_req'}
    assert len(vm['nics']) == 2 and set(list(vm['nics'].values())[1]) == {'rx_bytes', 'tx_bytes', 'rx_packets', 'tx_packets',
                                               'rx_errs', 'tx_errs', 'rx_drop', 'tx_drop'}
    assert set(vm['totals']) == {'network_read_kb', 'network_write_kb', 'disk_read_kb', 'disk_write_kb',
                                 'disk_read_ios', 'disk_write_ios'}


@pytest.mark.parametrize('args, words', [
    ({'timeout': 0}, ['timeout']),
    ({'cpu_sample_seconds': -1}, ['cpu_sample_seconds']),
    ({'states': ['sleeping']}, ['states', 'sleeping']),
    ({'uri': 'test:///nonexistent/node.xml'}, ['test:///nonexistent/node.xml']),
])
def test_bad_input_fails_with_a_message_naming_it(args, words):
    rc, res = run_module(dict({'uri': URI}, **args))
    assert rc != 0 and res.get('failed') is True
    assert 'Traceback' not in res['msg']
    for word in words:
        assert word in res['msg']
