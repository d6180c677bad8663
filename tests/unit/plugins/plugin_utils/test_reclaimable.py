"""Reclaimable capacity (plugin_utils.reclaimable), hand-computed."""

import pytest

from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import inventory_record
from ansible_collections.hypervisor.stats.plugins.plugin_utils.reclaimable import (
    ReclaimableError, reclaimable, stopped_since)

DAY = 86400
GIB = 1024 ** 3


def entry(state='running', vcpus=4, days=20, cpu=None, io=None, used_mb=None, steal=None, max_mb=8192, name='vm'):
    return {'name': name, 'state': state, 'vcpus': vcpus, 'first_seen': 0, 'last_seen': days * DAY,
            'memory': {'max_kb': max_mb * 1024, 'actual_kb': max_mb * 1024},
            'p95': {'cpu_percent': cpu, 'io_kbps': io, 'memory_used_mb': used_mb, 'steal_percent': steal}}


def vm_sample(capacity_gb=40, allocation_gb=10, physical_gb=12):
    return {'disks': {'vda': {'capacity': capacity_gb * GIB, 'allocation': allocation_gb * GIB,
                              'physical': physical_gb * GIB}}}


def counters(**vms):
    return {'h1': {'collected_at': 0, 'vms': vms}}


def samples(**vms):
    return {'h1': {'collected_at': 0, 'vms': vms}}


def test_idle_vm_frees_all_of_it():
    r = reclaimable(counters(a=entry(cpu=2.0, io=1.0, used_mb=1000)), samples(a=vm_sample()))
    assert r['cluster']['idle'] == {'VCPU': 4, 'MEMORY_MB': 8192, 'DISK_GB': 40.0, 'vms': 1}
    assert r['cluster']['total'] == r['cluster']['idle']
    assert r['cluster']['oversized']['vms'] == 0
    (vm,) = [v for v in r['vms'] if v['category'] == 'idle']
    assert vm['uuid'] == 'a' and 'p95 CPU 2.0 %' in vm['reason'] and '20 days' in vm['reason']


def test_too_short_a_history_or_unknown_io_is_not_idle():
    r = reclaimable(counters(a=entry(days=13, cpu=0.0, io=0.0), b=entry(cpu=0.0, io=None)))
    assert r['cluster']['idle']['vms'] == 0
    # b is not idle (its I/O is unknown) but is oversized: 1 vCPU would do.
    assert r['cluster']['oversized'] == {'VCPU': 3, 'MEMORY_MB': 0, 'DISK_GB': 0, 'vms': 1}


def test_busy_io_is_not_idle_and_thresholds_are_inputs():
    r = reclaimable(counters(a=entry(cpu=2.0, io=500.0)))
    assert r['cluster']['idle']['vms'] == 0
    r = reclaimable(counters(a=entry(cpu=2.0, io=500.0)), idle_io_kbps=1000, idle_days=30)
    assert r['cluster']['idle']['vms'] == 0   # 20 days < 30
    r = reclaimable(counters(a=entry(cpu=7.0, io=1.0)), idle_cpu_percent=10)
    assert r['cluster']['idle']['vms'] == 1


def test_oversized_by_hand():
    # 8 vCPUs at p95 30 %: 2.4 busy, x 1.2 = 2.88 -> 3 vCPUs, 5 to reclaim.
    # 16384 MB with 4000 MB in use at p95: x 1.2 = 4800 MB, 11584 MB to reclaim.
    r = reclaimable(counters(a=entry(vcpus=8, cpu=30.0, io=5000.0, used_mb=4000.0, max_mb=16384)))
    assert r['cluster']['oversized'] == {'VCPU': 5, 'MEMORY_MB': 11584, 'DISK_GB': 0, 'vms': 1}
    (vm,) = r['vms']
    assert vm['reason'] == 'would fit in 3 of 8 vCPUs (p95 CPU 30.0 %), 4800 of 16384 MB memory (p95 in use 4000 MB)'


def test_a_busy_vm_is_not_oversized():
    r = reclaimable(counters(a=entry(vcpus=2, cpu=90.0, io=5000.0, used_mb=8000.0)))
    assert r['cluster']['total']['vms'] == 0 and r['vms'] == []


def stopped_host(at=10 * DAY, cluster='c1', **claims):
    """host_resources facts whose stopped_allocations are ``claims`` (uuid -> disk GiB taken)."""
    return {'hypervisor_hostname': 'h1', 'collected_at': at, 'labels': {'cluster': cluster},
            'stopped_allocations': dict((uuid, {'name': 'vm-' + uuid, 'disk_bytes': None if gb is None else gb * GIB,
                                                'resources': {'VCPU': 2, 'MEMORY_MB': 4096, 'DISK_GB': 40}})
                                        for uuid, gb in claims.items())}


def test_stopped_vm_counts_the_disk_it_takes_and_shows_its_allocations():
    hosts = {'h1': stopped_host(a=12)}
    since, warnings = stopped_since(None, hosts)
    assert since == {'h1': {'a': 10 * DAY}} and warnings == []
    r = reclaimable({}, hosts=hosts, group_by='labels.cluster', stopped=since)
    assert r['cluster']['stopped'] == {'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': 12.0, 'vms': 1}
    assert r['groups']['c1']['stopped'] == r['cluster']['stopped'] and r['cluster']['total']['DISK_GB'] == 12.0
    (vm,) = r['vms']
    assert vm['category'] == 'stopped' and vm['name'] == 'vm-a' and vm['group'] == 'c1'
    assert vm['allocations'] == {'VCPU': 2, 'MEMORY_MB': 4096, 'DISK_GB': 40}
    assert vm['stopped_since'] == 10 * DAY and vm['stopped_days'] == 0.0
    assert vm['reason'] == ('shut off for at least 0.0 days; its local disks take 12.0 GB; '
                            "in Nova's terms it still holds VCPU 2, MEMORY_MB 4096, DISK_GB 40")


def test_stopped_time_is_kept_across_cycles_on_the_simulated_clock():
    since, _ = stopped_since(None, {'h1': stopped_host(a=1, b=2)}, now=100 * DAY)
    # Three days later (hypervisor_stats_now, not the facts' own time): a still shut off, b started, c new.
    since, warnings = stopped_since(since, {'h1': stopped_host(a=1, c=3)}, now=103 * DAY)
    assert since == {'h1': {'a': 100 * DAY, 'c': 103 * DAY}} and warnings == []
    r = reclaimable({}, hosts={'h1': stopped_host(a=1, c=3)}, stopped=since, now=103.5 * DAY)
    days = dict((vm['uuid'], vm['stopped_days']) for vm in r['vms'])
    assert days == {'a': 3.5, 'c': 0.5}
    assert 'shut off for at least 3.5 days' in [vm['reason'] for vm in r['vms'] if vm['uuid'] == 'a'][0]


def test_a_host_not_answering_keeps_its_stopped_times_untouched():
    since, _ = stopped_since({'h1': {'a': 5}, 'h2': {'x': 7}}, {'h1': stopped_host(a=1)}, now=9)
    assert since == {'h1': {'a': 5}}   # h2 is not returned: its cache entry is not rewritten


@pytest.mark.parametrize('kept', [float('nan'), 'yesterday', True, -1, float('inf')])
def test_a_damaged_stopped_time_costs_only_its_vm_with_a_warning(kept):
    since, warnings = stopped_since({'h1': {'a': kept, 'b': 4.0}}, {'h1': stopped_host(at=9.0, a=1, b=1)})
    assert since == {'h1': {'a': 9.0, 'b': 4.0}}
    assert len(warnings) == 1 and 'vm-a (a)' in warnings[0] and 'h1' in warnings[0]


def test_damaged_stopped_inputs_give_no_nan_and_no_traceback():
    since, warnings = stopped_since('garbage', {'h1': stopped_host(at=9.0, a=1), 'h2': {'collected_at': 'x'}})
    assert since == {'h1': {'a': 9.0}} and len(warnings) == 2
    hosts = {'h1': dict(stopped_host(a=None), stopped_allocations={'a': {'name': 'a', 'disk_bytes': float('nan')},
                                                                   'b': 'garbage'})}
    r = reclaimable({}, hosts=hosts, stopped={'h1': {'a': float('inf')}})
    (vm,) = r['vms']
    assert vm['DISK_GB'] == 0 and vm['stopped_days'] is None and vm['stopped_since'] is None
    assert 'shut off for an unknown time; its local disks take ? GB' in vm['reason']
    with pytest.raises(ReclaimableError, match='now'):
        stopped_since({}, {}, now=float('nan'))


def test_a_shut_off_vm_in_the_counters_is_not_counted_twice():
    # vm_stats asked for shut-off domains too: the counters have it, host_resources names it; one VM.
    r = reclaimable(counters(a=entry(state='shutoff', days=0)), samples(a=vm_sample(physical_gb=12)),
                    hosts={'h1': stopped_host(a=12)})
    assert r['cluster']['stopped']['vms'] == 1


def test_thin_gap_is_apart_from_the_total():
    r = reclaimable(counters(a=entry(cpu=90.0, io=5000.0)), samples(a=vm_sample(capacity_gb=40, allocation_gb=10)))
    assert r['cluster']['thin_gap'] == {'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': 30.0, 'vms': 1}
    assert r['cluster']['total']['DISK_GB'] == 0


def test_groups_flavor_fits_and_host_steal():
    hosts = {'h1': {'hypervisor_hostname': 'h1', 'labels': {'cluster': 'c1'},
                    'inventory': {'VCPU': inventory_record(16, 0, 4.0, 32)}}}
    vms = dict(('v%d' % i, entry(cpu=1.0, io=1.0, steal=float(i))) for i in range(20))
    r = reclaimable(counters(**vms), samples(**dict((u, vm_sample()) for u in vms)), hosts, group_by='labels.cluster',
                    flavors={'small': {'vcpus': 2, 'memory_mb': 4096, 'disk_gb': 20}})
    assert r['groups']['c1']['idle'] == {'VCPU': 80, 'MEMORY_MB': 20 * 8192, 'DISK_GB': 800.0, 'vms': 20}
    assert r['fits'] == {'small': 40}
    assert r['hosts']['h1'] == {'group': 'c1', 'vms': 20, 'p95_steal_percent': 18.0, 'vcpu_allocation_ratio': 2.0}
    assert len(r['vms']) == 20 + 20   # idle and thin_gap, each at most top=20


def test_gone_and_timed_out_and_damaged_entries_are_left_out():
    bad = entry(cpu=float('nan'), io=1.0)
    stuck = dict(entry(cpu=1.0, io=1.0), timed_out=True)
    r = reclaimable(counters(a=entry(state='gone', cpu=1.0, io=1.0), b=stuck, c=bad, d='garbage'))
    assert r['cluster']['total']['vms'] == 0


@pytest.mark.parametrize('kwargs', [{'idle_cpu_percent': -1}, {'idle_days': float('nan')}, {'buffer': 'x'}])
def test_bad_arguments_are_refused_by_name(kwargs):
    with pytest.raises(ReclaimableError, match=list(kwargs)[0]):
        reclaimable({}, **kwargs)
