"""Reclaimable capacity (plugin_utils.reclaimable), hand-computed."""

import pytest

from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import inventory_record
from ansible_collections.hypervisor.stats.plugins.plugin_utils.reclaimable import ReclaimableError, reclaimable

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


def test_stopped_vm_counts_its_disk():
    r = reclaimable(counters(a=entry(state='shutoff', days=0)), samples(a=vm_sample(physical_gb=12)))
    assert r['cluster']['stopped'] == {'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': 12.0, 'vms': 1}


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
