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
    assert app['memory_pressure'] == {'swap_in_kb': mem['swap_in'], 'swap_out_kb': mem['swap_out'],
                                      'major_faults': mem['major_fault'], 'minor_faults': mem['minor_fault'],
                                      'usable_kb': mem['usable'], 'disk_caches_kb': mem['disk_caches']}
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


# --- contention signals (issue 14) on the per-domain path ---------------------------------------

def test_fallback_fills_the_signals_its_calls_report_and_leaves_the_rest_null(conn):
    # The test driver has getCPUStats, memoryStats and blockInfo, but no blockStatsFlags and
    # no per-vCPU delay: those signals are null, without an error or a warning.
    dom = conn.lookupByUUIDString(APP01)
    cpu_before = dom.getCPUStats(True)[0]
    result = collect(conn, ['running', 'paused', 'shutoff'])
    cpu_after = dom.getCPUStats(True)[0]
    vms = dict((vm['uuid'], vm) for vm in result.vms)
    app = vms[APP01]
    assert result.warnings == [] and set(result.paths.values()) == {'calls'}
    assert cpu_before['user_time'] <= app['cpu_user_ns'] <= cpu_after['user_time']
    assert cpu_before['system_time'] <= app['cpu_system_ns'] <= cpu_after['system_time']
    assert app['vcpus_detail'] == [] and app['totals']['cpu_delay_ns'] is None
    for dev in ('vda', 'vdb'):
        capacity, allocation, physical = dom.blockInfo(dev)
        disk = app['disks'][dev]
        assert (disk['capacity'], disk['allocation'], disk['physical']) == (capacity, allocation, physical)
        assert disk['rd_total_times_ns'] is None and disk['wr_total_times_ns'] is None
        assert disk['fl_req'] is None and disk['fl_total_times_ns'] is None
        assert disk['rd_req'] is not None   # blockStats still read
    mem = dom.memoryStats()
    assert app['memory_pressure']['usable_kb'] == mem['usable']
    assert app['memory_pressure']['disk_caches_kb'] == mem['disk_caches']
    # Paused app-02 has no balloon; stopped old-03 has no runtime figures at all.
    assert set(vms[APP02]['memory_pressure'].values()) == {None}
    off = vms[OLD03]
    assert off['cpu_user_ns'] is None and off['vcpus_detail'] == [] and set(off['memory_pressure'].values()) == {None}


def count_calls(monkeypatch, name, fail_with=None):
    """Count the calls of virDomain.``name``; with ``fail_with`` (an error code) each raises it."""
    calls = []
    real = getattr(libvirt.virDomain, name)

    class Refused(libvirt.libvirtError):
        def get_error_code(self):
            return fail_with

    def counted(self, *args):
        calls.append(args)
        if fail_with is not None:
            raise Refused('refused by the test')
        return real(self, *args)
    monkeypatch.setattr(libvirt.virDomain, name, counted)
    return calls


def test_a_call_the_driver_lacks_is_made_once_per_collection(conn, monkeypatch):
    flags_calls = count_calls(monkeypatch, 'blockStatsFlags')
    read = vm_gather.DomainRead(conn.lookupByUUIDString(APP01))
    unsupported = set()
    vm = vm_gather.read_by_calls(read, unsupported)
    assert len(flags_calls) == 1 and unsupported == {'blockStatsFlags'}   # vda asked, vdb not
    assert vm['disks']['vdb']['rd_req'] is not None                        # blockStats instead
    vm_gather.read_by_calls(vm_gather.DomainRead(conn.lookupByUUIDString(APP02)), unsupported)
    assert len(flags_calls) == 1


@pytest.mark.parametrize('name, code', [
    ('getCPUStats', libvirt.VIR_ERR_OPERATION_INVALID),    # QEMU without the cpuacct cgroup
    ('getCPUStats', libvirt.VIR_ERR_NO_SUPPORT),
    ('blockInfo', libvirt.VIR_ERR_INVALID_ARG),            # a disk unplugged meanwhile
    ('blockInfo', libvirt.VIR_ERR_OPERATION_FAILED),
])
def test_a_refused_signal_call_costs_its_signals_only(conn, monkeypatch, name, code):
    calls = count_calls(monkeypatch, name, fail_with=code)
    result = collect(conn, ['running', 'paused'])
    vms = dict((vm['uuid'], vm) for vm in result.vms)
    assert set(vms) == {APP01, APP02} and result.warnings == [] and result.vanished == []
    app = vms[APP01]
    assert app['disks']['vda']['rd_req'] is not None and app['cpu_time_ns'] is not None
    if name == 'getCPUStats':
        assert app['cpu_user_ns'] is None and app['cpu_system_ns'] is None
        assert app['disks']['vda']['capacity'] is not None
        # Only NO_SUPPORT is remembered for the collection (the two domains may still race to it).
        assert len(calls) == 2 if code != libvirt.VIR_ERR_NO_SUPPORT else 1 <= len(calls) <= 2
    else:
        assert app['disks']['vda']['capacity'] is None and app['cpu_user_ns'] is not None
