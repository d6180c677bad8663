"""Pure arithmetic of vm_stats (issue 3): bulk records and per-domain answers on plain dicts.

BULK_RECORD is what libvirt 9.0 answered for one of the integration guests
(`virsh domstats` output, trimmed), so the key names are real ones.
"""

import random

import pytest

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import MAX_CPU_SAMPLE_SECONDS, MAX_VM_TIMEOUT
from ansible_collections.hypervisor.stats.plugins.module_utils.vm_facts import (
    VmOptionError, check_vm_options, cpu_utilization, monitor_data_missing, record_has_groups, timed_out_vm, vm_from_bulk_record,
    vm_from_calls, vm_stats_facts)

UUID = '250b083c-bab2-4712-af91-5205650fa683'
BULK_RECORD = {
    'state.state': 1, 'state.reason': 1,
    'cpu.time': 2294004000, 'cpu.user': 1989517000, 'cpu.system': 199763000,
    'balloon.current': 98304, 'balloon.maximum': 98304, 'balloon.unused': 34000,
    'balloon.available': 62144, 'balloon.usable': 40496, 'balloon.rss': 204468,
    'balloon.swap_in': 0, 'balloon.swap_out': 0, 'balloon.major_fault': 0, 'balloon.minor_fault': 1363,
    'balloon.disk_caches': 2488, 'balloon.last-update': 1796301244,
    'vcpu.current': 1, 'vcpu.maximum': 1, 'vcpu.0.state': 1, 'vcpu.0.time': 2030000000,
    'vcpu.0.wait': 0, 'vcpu.0.delay': 15842879452,
    'net.count': 1, 'net.0.name': 'hsvm0', 'net.0.rx.bytes': 824, 'net.0.rx.pkts': 10, 'net.0.rx.errs': 1,
    'net.0.rx.drop': 2, 'net.0.tx.bytes': 754, 'net.0.tx.pkts': 9, 'net.0.tx.errs': 3, 'net.0.tx.drop': 4,
    'block.count': 2,
    'block.0.name': 'vda', 'block.0.path': '/var/lib/libvirt/images/hs-guest-0.raw', 'block.0.backingIndex': 2,
    'block.0.rd.reqs': 12, 'block.0.rd.bytes': 1315328, 'block.0.rd.times': 4234393,
    'block.0.wr.reqs': 2, 'block.0.wr.bytes': 524288, 'block.0.wr.times': 489190,
    'block.0.fl.reqs': 2, 'block.0.fl.times': 8811713,
    'block.0.allocation': 4456448, 'block.0.capacity': 33554432, 'block.0.physical': 266240,
    'block.1.name': 'hdc', 'block.1.path': '/var/lib/libvirt/images/hs-guest-0.iso', 'block.1.backingIndex': 1,
    'block.1.rd.reqs': 1, 'block.1.rd.bytes': 2048, 'block.1.wr.reqs': 0, 'block.1.wr.bytes': 0,
}


def renumber(record, prefix, order):
    """The same record with the devices of ``prefix`` listed in another order."""
    out = dict((k, v) for k, v in record.items() if not k.startswith(prefix + '.'))
    out[prefix + '.count'] = record[prefix + '.count']
    for new, old in enumerate(order):
        for k, v in record.items():
            if k.startswith('%s.%d.' % (prefix, old)):
                out['%s.%d.%s' % (prefix, new, k[len('%s.%d.' % (prefix, old)):])] = v
    return out


def test_bulk_record_maps_every_field():
    vm = vm_from_bulk_record('hs-guest-0', UUID, 3, BULK_RECORD, disk_targets={'vda'})
    assert vm['name'] == 'hs-guest-0' and vm['uuid'] == UUID and vm['domain_id'] == 3
    assert vm['state'] == 'running' and vm['vcpus'] == 1 and vm['cpu_time_ns'] == 2294004000
    assert vm['cpu_utilization'] is None and vm['timed_out'] is False
    assert vm['memory'] == {'max_kb': 98304, 'actual_kb': 98304, 'unused_kb': 34000,
                            'available_kb': 62144, 'rss_kb': 204468}
    assert vm['memory_pressure'] == {'swap_in_kb': 0, 'swap_out_kb': 0, 'major_faults': 0, 'minor_faults': 1363,
                                     'usable_kb': 40496, 'disk_caches_kb': 2488}
    assert vm['cpu_user_ns'] == 1989517000 and vm['cpu_system_ns'] == 199763000
    assert vm['vcpus_detail'] == [{'id': 0, 'delay_ns': 15842879452, 'wait_ns': 0}]
    assert vm['disks'] == {'vda': {'rd_bytes': 1315328, 'wr_bytes': 524288, 'rd_req': 12, 'wr_req': 2,
                                   'rd_total_times_ns': 4234393, 'wr_total_times_ns': 489190,
                                   'fl_req': 2, 'fl_total_times_ns': 8811713,
                                   'capacity': 33554432, 'allocation': 4456448, 'physical': 266240}}
    assert vm['nics'] == {'hsvm0': {'rx_bytes': 824, 'tx_bytes': 754, 'rx_packets': 10, 'tx_packets': 9,
                                    'rx_errs': 1, 'tx_errs': 3, 'rx_drop': 2, 'tx_drop': 4}}
    assert vm['totals'] == {'network_read_kb': 824 / 1024.0, 'network_write_kb': 754 / 1024.0,
                            'disk_read_kb': 1315328 / 1024.0, 'disk_write_kb': 524288 / 1024.0,
                            'disk_read_ios': 12, 'disk_write_ios': 2, 'cpu_delay_ns': 15842879452}


def test_cdrom_is_left_out_only_when_the_xml_says_so():
    kept = vm_from_bulk_record('g', UUID, 3, BULK_RECORD, disk_targets=None)
    assert set(kept['disks']) == {'vda', 'hdc'}
    assert kept['totals']['disk_read_ios'] == 13
    assert set(vm_from_bulk_record('g', UUID, 3, BULK_RECORD, {'vda'})['disks']) == {'vda'}


def test_devices_are_matched_by_name_not_position():
    two_nics = dict(BULK_RECORD)
    two_nics.update({'net.count': 2, 'net.1.name': 'hsvm9', 'net.1.rx.bytes': 5, 'net.1.tx.bytes': 6,
                     'net.1.rx.pkts': 7, 'net.1.tx.pkts': 8, 'net.1.rx.errs': 0, 'net.1.tx.errs': 0,
                     'net.1.rx.drop': 0, 'net.1.tx.drop': 0})
    reference = vm_from_bulk_record('g', UUID, 3, two_nics, {'vda'})
    swapped = renumber(renumber(two_nics, 'block', [1, 0]), 'net', [1, 0])
    assert swapped['block.0.name'] == 'hdc' and swapped['net.0.name'] == 'hsvm9'
    assert vm_from_bulk_record('g', UUID, 3, swapped, {'vda'}) == reference
    assert reference['nics']['hsvm9']['rx_bytes'] == 5
    assert reference['totals']['network_read_kb'] == (824 + 5) / 1024.0


def test_backing_layers_do_not_replace_the_disk():
    layered = dict(BULK_RECORD)
    layered.update({'block.count': 3, 'block.2.name': 'vda', 'block.2.backingIndex': 3,
                    'block.2.rd.reqs': 999, 'block.2.rd.bytes': 999, 'block.2.wr.reqs': 999,
                    'block.2.wr.bytes': 999})
    assert vm_from_bulk_record('g', UUID, 3, layered, {'vda'})['disks']['vda']['rd_req'] == 12


def test_missing_counter_makes_the_total_null_not_smaller():
    nowait = dict((k, v) for k, v in BULK_RECORD.items() if not k.startswith('block.0.rd') and
                  not k.startswith('block.0.wr') and not k.startswith('balloon.unused'))
    vm = vm_from_bulk_record('g', UUID, 3, nowait, {'vda'})
    assert vm['disks']['vda']['rd_bytes'] is None
    assert vm['totals']['disk_read_kb'] is None and vm['totals']['disk_write_ios'] is None
    assert vm['totals']['network_read_kb'] == 824 / 1024.0
    assert vm['memory']['unused_kb'] is None
    assert monitor_data_missing(nowait) and not monitor_data_missing(BULK_RECORD)


def test_inactive_domain_has_no_runtime_counters():
    record = {'state.state': 5, 'state.reason': 2, 'balloon.current': 1024, 'balloon.maximum': 2048,
              'vcpu.current': 2, 'vcpu.maximum': 2, 'block.count': 1, 'block.0.name': 'vda',
              'block.0.capacity': 10}
    vm = vm_from_bulk_record('off', UUID, -1, record)
    assert vm['state'] == 'shutoff' and vm['domain_id'] is None and vm['cpu_time_ns'] is None
    assert vm['disks'] == {} and vm['nics'] == {}
    assert vm['memory']['max_kb'] == 2048 and vm['memory']['rss_kb'] is None
    assert set(vm['totals'].values()) == {None}
    assert record_has_groups(record, active=False)
    assert not record_has_groups({'state.state': 1}, active=True)
    assert not record_has_groups({'state.state': 1, 'vcpu.current': 1}, active=True)


def test_per_domain_calls_give_the_same_vm_as_the_bulk_record():
    info = [1, 98304, 98304, 1, 2294004000]
    # blockStatsFlags' dict, getCPUStats(True)[0], memoryStats and blockInfo as libvirt 9.0 answered them
    block = {'vda': {'rd_operations': 12, 'rd_bytes': 1315328, 'wr_operations': 2, 'wr_bytes': 524288,
                     'rd_total_times': 4234393, 'wr_total_times': 489190, 'flush_operations': 2,
                     'flush_total_times': 8811713}}
    block_info = {'vda': [33554432, 4456448, 266240]}        # capacity, allocation, physical
    nics = {'hsvm0': (824, 10, 1, 2, 754, 9, 3, 4)}            # rx bytes/pkts/errs/drop, tx ...
    memory = {'actual': 98304, 'unused': 34000, 'available': 62144, 'rss': 204468, 'usable': 40496,
              'swap_in': 0, 'swap_out': 0, 'major_fault': 0, 'minor_fault': 1363, 'disk_caches': 2488,
              'last_update': 1796301244}
    cpu = {'cpu_time': 2294004000, 'user_time': 1989517000, 'system_time': 199763000}
    by_calls = vm_from_calls('hs-guest-0', UUID, 3, info, block, nics, memory, cpu, block_info)
    by_bulk = vm_from_bulk_record('hs-guest-0', UUID, 3, BULK_RECORD, {'vda'})
    # No per-domain call reports a vCPU's delay or wait: the list is empty, the total null.
    assert by_calls['vcpus_detail'] == [] and by_calls['totals']['cpu_delay_ns'] is None
    by_bulk['vcpus_detail'], by_bulk['totals']['cpu_delay_ns'] = [], None
    assert by_calls == by_bulk
    # blockStats' tuple (a driver without blockStatsFlags) and no blockInfo: the counters only.
    old = vm_from_calls('hs-guest-0', UUID, 3, info, {'vda': (12, 1315328, 2, 524288, -1)}, nics, memory)
    assert old['disks']['vda'] == dict(by_bulk['disks']['vda'], rd_total_times_ns=None, wr_total_times_ns=None,
                                       fl_req=None, fl_total_times_ns=None, capacity=None, allocation=None,
                                       physical=None)
    assert old['cpu_user_ns'] is None and old['cpu_system_ns'] is None


def test_per_domain_device_without_answer_has_null_counters():
    vm = vm_from_calls('g', UUID, 3, [1, 10, 10, 2, 5], {'vda': None, 'vdb': (1, 2, 3, 4, 0)}, {}, None)
    assert vm['disks']['vda']['rd_bytes'] is None and vm['disks']['vdb']['wr_bytes'] == 4
    assert vm['totals']['disk_read_kb'] is None
    assert vm['totals']['network_read_kb'] == 0  # no NIC: nothing received
    assert vm['memory']['rss_kb'] is None and vm['memory']['actual_kb'] == 10


def test_cpu_utilization_is_share_of_the_vcpus_and_clamped():
    assert cpu_utilization(0, 1e9, 2.0, 1) == 50.0
    assert cpu_utilization(0, 1e9, 2.0, 4) == 12.5
    assert cpu_utilization(0, 9e9, 1.0, 2) == 100.0
    assert cpu_utilization(5e9, 1e9, 1.0, 2) == 0.0   # counter went back (domain restarted)
    assert cpu_utilization(None, 1e9, 1.0, 2) is None
    assert cpu_utilization(0, 1e9, 0, 2) is None
    assert cpu_utilization(0, 1e9, 1.0, 0) is None


def test_facts_are_keyed_by_uuid():
    vms = [timed_out_vm('a', 'u1', 4, 1), vm_from_bulk_record('b', 'u2', 5, BULK_RECORD)]
    facts = vm_stats_facts('host1', 'qemu:///system', 1700000000, vms)
    assert set(facts) == {'hypervisor_hostname', 'uri', 'collected_at', 'vms'}
    assert facts['vms']['u1']['timed_out'] is True and facts['vms']['u1']['state'] == 'running'
    assert facts['vms']['u1']['cpu_time_ns'] is None
    assert facts['vms']['u2']['name'] == 'b'


def test_shuffled_device_order_many_times():
    rng = random.Random(3)
    record = dict(BULK_RECORD)
    record['block.count'] = 6
    for i in range(2, 6):
        record.update({'block.%d.name' % i: 'vd%s' % 'bcde'[i - 2], 'block.%d.rd.reqs' % i: i,
                       'block.%d.rd.bytes' % i: i * 512, 'block.%d.wr.reqs' % i: i * 2,
                       'block.%d.wr.bytes' % i: i * 1024})
    reference = vm_from_bulk_record('g', UUID, 3, record, None)
    for _ in range(20):
        order = list(range(6))
        rng.shuffle(order)
        assert vm_from_bulk_record('g', UUID, 3, renumber(record, 'block', order), None) == reference


# --- contention signals (issue 14) ----------------------------------------------------------------

# Every bulk key a signal is read from, for the guest's disk vda (block.0).
SIGNAL_KEYS = ('cpu.user', 'cpu.system', 'vcpu.0.delay', 'vcpu.0.wait', 'balloon.swap_in', 'balloon.swap_out',
               'balloon.major_fault', 'balloon.minor_fault', 'balloon.usable', 'balloon.disk_caches',
               'block.0.rd.times', 'block.0.wr.times', 'block.0.fl.reqs', 'block.0.fl.times', 'block.0.capacity',
               'block.0.allocation', 'block.0.physical')
MEMORY_SIGNALS = ('swap_in_kb', 'swap_out_kb', 'major_faults', 'minor_faults', 'usable_kb', 'disk_caches_kb')
DISK_SIGNALS = ('rd_total_times_ns', 'wr_total_times_ns', 'fl_req', 'fl_total_times_ns', 'capacity', 'allocation',
                'physical')


def signals(vm):
    """Every contention signal of a per-VM dict, flat: {name: value}."""
    flat = {'cpu_user_ns': vm['cpu_user_ns'], 'cpu_system_ns': vm['cpu_system_ns'],
            'cpu_delay_ns': vm['totals']['cpu_delay_ns']}
    assert set(vm['memory_pressure']) == set(MEMORY_SIGNALS)
    flat.update(('memory_pressure.' + f, vm['memory_pressure'][f]) for f in MEMORY_SIGNALS)
    for dev, disk in vm['disks'].items():
        flat.update(('%s.%s' % (dev, f), disk[f]) for f in DISK_SIGNALS)
    for vcpu in vm['vcpus_detail']:
        flat.update(('vcpu%d.%s' % (vcpu['id'], f), vcpu[f]) for f in ('delay_ns', 'wait_ns'))
    return flat


def test_signals_missing_from_the_record_are_null_and_the_rest_is_read():
    # What libvirt < 7.2 (no vcpu delay), a guest without balloon statistics and a driver
    # without block latency or sizes answer: each signal null, nothing else lost, no error.
    bare = dict((k, v) for k, v in BULK_RECORD.items() if k not in SIGNAL_KEYS)
    vm = vm_from_bulk_record('g', UUID, 3, bare, {'vda'})
    assert set(signals(vm).values()) == {None}
    assert vm['vcpus_detail'] == [{'id': 0, 'delay_ns': None, 'wait_ns': None}]   # vcpu.0.time is there
    assert vm['disks']['vda']['rd_bytes'] == 1315328 and vm['memory']['rss_kb'] == 204468
    assert vm['totals']['disk_read_ios'] == 12 and vm['cpu_time_ns'] == 2294004000
    # No per-vCPU statistics at all (libvirt could not read the vCPU threads): an empty list.
    no_threads = dict((k, v) for k, v in bare.items() if not k.startswith('vcpu.0.'))
    vm = vm_from_bulk_record('g', UUID, 3, no_threads, {'vda'})
    assert vm['vcpus_detail'] == [] and vm['totals']['cpu_delay_ns'] is None and vm['vcpus'] == 1


@pytest.mark.parametrize('bad', [-1, -2 ** 63, 1.5, 0.0, float('nan'), float('inf'), True, 2 ** 63, 2 ** 64 - 1,
                                 10 ** 30, '12', None, [1]])
def test_bad_signal_readings_are_null(bad):
    record = dict(BULK_RECORD)
    record.update(dict.fromkeys(SIGNAL_KEYS, bad))
    vm = vm_from_bulk_record('g', UUID, 3, record, {'vda'})
    assert set(signals(vm).values()) == {None}, signals(vm)
    assert vm['disks']['vda']['rd_req'] == 12 and vm['totals']['disk_write_kb'] == 524288 / 1024.0
    # The same readings through the per-domain calls.
    info = [1, 98304, 98304, 1, 2294004000]
    flags = {'rd_operations': 12, 'rd_bytes': 1, 'wr_operations': 2, 'wr_bytes': 3, 'rd_total_times': bad,
             'wr_total_times': bad, 'flush_operations': bad, 'flush_total_times': bad}
    memory = dict.fromkeys(('swap_in', 'swap_out', 'major_fault', 'minor_fault', 'usable', 'disk_caches'), bad)
    vm = vm_from_calls('g', UUID, 3, info, {'vda': flags}, {}, memory, {'user_time': bad, 'system_time': bad},
                       {'vda': [bad, bad, bad]})
    assert set(signals(vm).values()) == {None}, signals(vm)
    assert vm['disks']['vda']['rd_req'] == 12


def test_signal_readings_at_the_edges_are_kept():
    record = dict(BULK_RECORD)
    record.update(dict.fromkeys(SIGNAL_KEYS, 2 ** 63 - 1))
    record['vcpu.0.delay'] = 0      # never waited for a host CPU: a real 0
    vm = vm_from_bulk_record('g', UUID, 3, record, {'vda'})
    flat = signals(vm)
    assert flat.pop('vcpu0.delay_ns') == 0 and flat.pop('cpu_delay_ns') == 0
    assert set(flat.values()) == {2 ** 63 - 1}


def test_vcpus_detail_follows_the_vcpu_numbers_and_delay_sums_what_is_reported():
    record = dict(BULK_RECORD)
    for key in [k for k in record if k.startswith('vcpu.')]:
        del record[key]
    # Four possible vCPUs, number 2 unplugged; number 1 without delay (its thread unreadable).
    record.update({'vcpu.current': 3, 'vcpu.maximum': 4,
                   'vcpu.0.state': 1, 'vcpu.0.time': 10, 'vcpu.0.wait': 5, 'vcpu.0.delay': 100,
                   'vcpu.1.state': 1, 'vcpu.1.time': 20,
                   'vcpu.3.state': 1, 'vcpu.3.time': 30, 'vcpu.3.wait': 7, 'vcpu.3.delay': 300})
    vm = vm_from_bulk_record('g', UUID, 3, record, {'vda'})
    assert vm['vcpus'] == 3
    assert vm['vcpus_detail'] == [{'id': 0, 'delay_ns': 100, 'wait_ns': 5},
                                  {'id': 1, 'delay_ns': None, 'wait_ns': None},
                                  {'id': 3, 'delay_ns': 300, 'wait_ns': 7}]
    assert vm['totals']['cpu_delay_ns'] == 400
    # An absurd vcpu.maximum is not a reason to loop for ever.
    record['vcpu.maximum'] = 2 ** 62
    assert vm_from_bulk_record('g', UUID, 3, record, {'vda'})['totals']['cpu_delay_ns'] == 400
    for count in (None, -1, 'x', 0):
        record['vcpu.maximum'] = record['vcpu.current'] = count
        assert vm_from_bulk_record('g', UUID, 3, record, {'vda'})['vcpus_detail'] == []


def test_stopped_and_timed_out_vms_have_every_signal_null():
    record = {'state.state': 5, 'state.reason': 2, 'balloon.current': 1024, 'balloon.maximum': 2048,
              'balloon.swap_in': 3, 'vcpu.current': 2, 'vcpu.maximum': 2, 'vcpu.0.state': 0, 'vcpu.1.state': 0,
              'cpu.user': 5}
    for vm in (vm_from_bulk_record('off', UUID, -1, record), timed_out_vm('t', UUID, 4, 1),
               vm_from_calls('off', UUID, -1, [5, 2048, 1024, 2, 0], {}, {}, {'swap_in': 3}, {'user_time': 5})):
        assert vm['vcpus_detail'] == [] and vm['disks'] == {}
        assert set(signals(vm).values()) == {None}


# --- options checked before a connection is opened ---------------------------------------------

@pytest.mark.parametrize('options, expected', [
    ({}, (10.0, 0.0)),
    ({'timeout': None, 'cpu_sample_seconds': None}, (10.0, 0.0)),
    ({'timeout': 0.5, 'cpu_sample_seconds': 2}, (0.5, 2.0)),
    ({'timeout': MAX_VM_TIMEOUT, 'cpu_sample_seconds': MAX_CPU_SAMPLE_SECONDS}, (MAX_VM_TIMEOUT, MAX_CPU_SAMPLE_SECONDS)),
])
def test_vm_options_accepted(options, expected):
    assert check_vm_options(options) == expected


@pytest.mark.parametrize('options, start', [
    ({'timeout': float('nan')}, 'timeout must be a finite number'),
    ({'timeout': float('inf')}, 'timeout must be a finite number'),
    ({'timeout': 1e308}, 'timeout must be'),
    ({'timeout': MAX_VM_TIMEOUT + 1}, 'timeout must be'),
    ({'timeout': 0}, 'timeout must be'),
    ({'timeout': -1}, 'timeout must be'),
    ({'timeout': '10'}, 'timeout must be'),
    ({'timeout': True}, 'timeout must be'),
    ({'cpu_sample_seconds': float('nan')}, 'cpu_sample_seconds must be a finite number'),
    ({'cpu_sample_seconds': float('inf')}, 'cpu_sample_seconds must be'),
    ({'cpu_sample_seconds': 1e308}, 'cpu_sample_seconds must be'),
    ({'cpu_sample_seconds': -1}, 'cpu_sample_seconds must be'),
    ({'states': []}, 'states must name at least one state'),
])
def test_vm_options_refused_naming_the_option(options, start):
    with pytest.raises(VmOptionError) as err:
        check_vm_options(options)
    assert str(err.value).startswith(start)
