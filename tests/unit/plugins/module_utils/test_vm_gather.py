"""vm_gather.collect on libvirt's test driver (issue 3): the per-domain fallback path, selection, vanishing.

The test driver answers only ``state`` in bulk stats, so every VM here goes
through info / XML / blockStats / interfaceStats / memoryStats. Its counters
are derived from the wall clock, so they grow between two reads: the module's
value must lie between a direct call made before and one made after.
"""

import os
import time

import libvirt
import pytest

from ansible_collections.hypervisor.stats.plugins.module_utils import vm_gather
from ansible_collections.hypervisor.stats.plugins.module_utils.domain_xml import parse_domain
from ansible_collections.hypervisor.stats.plugins.module_utils.vm_gather import collect

NODE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    'nodes', 'vm_stats_node.xml')
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


def listed_then_destroyed(monkeypatch, act):
    """Make ``collect`` call ``act(domains)`` right after it lists the domains, before it reads them."""
    real = vm_gather.list_domains

    def list_domains(*args, **kwargs):
        domains, missing = real(*args, **kwargs)
        act(domains)
        return domains, missing
    monkeypatch.setattr(vm_gather, 'list_domains', list_domains)


def test_fallback_reads_devices_by_name_and_counters_lie_between_direct_calls(conn):
    dom = conn.lookupByUUIDString(APP01)
    # The test driver names the host side of every NIC testnetN itself.
    nic_names = parse_domain(dom.XMLDesc(0)).interfaces
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


def test_uuids_match_whatever_their_case_and_dashes(conn):
    result = collect(conn, ['running', 'paused'], names=[APP01.upper(), APP02.replace('-', '')])
    assert sorted(vm['uuid'] for vm in result.vms) == [APP01, APP02]
    assert result.warnings == []
    # Names stay case-sensitive, as libvirt's are.
    result = collect(conn, ['running', 'paused'], names=['APP-01'])
    assert result.vms == [] and "'APP-01'" in result.warnings[0]


def test_domain_vanishing_between_listing_and_reading_is_skipped(monkeypatch):
    rw = libvirt.open(URI)   # a test-driver host lives as long as its connection: use one
    try:
        def destroy_after_listing(domains):
            assert len(domains) == 2
            gone = rw.lookupByName('app-02')
            gone.destroy()
            gone.undefine()
            rw.lookupByName('app-01').destroy()   # stopped: no longer in the selected states
        listed_then_destroyed(monkeypatch, destroy_after_listing)
        result = collect(rw, ['running', 'paused'])
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
