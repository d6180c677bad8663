"""Rules of host_resources' capacity arithmetic (host_capacity.py), on plain dicts.

Every expectation is computed here from the inputs by the rule it checks
(Nova's libvirt driver and placement), not copied from a run.
"""

import math
import random
import time
import tracemalloc

import pytest

from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import (
    CapacityError, check_options, disk_over_commit_bytes, format_cpu_list, host_facts, inventory_record,
    parse_cpu_set)
from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    GIB, MAX_ALLOCATION_RATIO, MAX_CPU_ID, MAX_RESERVATION)

DEFAULTS = {'reserved_host_cpus': 0, 'reserved_host_memory_mb': 512, 'reserved_host_disk_mb': 0,
            'cpu_allocation_ratio': 4.0, 'ram_allocation_ratio': 1.0, 'disk_allocation_ratio': 1.0}


def disk(capacity_gib, allocation_gib, fmt='qcow2', kind='file', target='vda'):
    return {'target': target, 'type': kind, 'format': fmt, 'path': '/images/%s' % target,
            'capacity': None if capacity_gib is None else int(capacity_gib * GIB),
            'allocation': None if allocation_gib is None else int(allocation_gib * GIB)}


def domain(name, active=True, vcpus=2, memory_mb=2048, current_mb=None, disks=(), pinned=()):
    return {'name': name, 'uuid': 'uuid-' + name, 'active': active, 'vcpus': vcpus, 'memory_kb': memory_mb * 1024,
            'current_memory_kb': (current_mb if current_mb is not None else memory_mb) * 1024,
            'disks': list(disks), 'pinned_cpus': sorted(pinned)}


def raw_host(domains=(), online=16, memory_mb=65536, node_memory=None,
             total_gib=1000, used_gib=200, free_gib=800):
    return {
        'uri': 'test:///x', 'collected_at': 1, 'hostname': 'h', 'hypervisor_type': 'QEMU',
        'hypervisor_version': 7002000, 'libvirt_version': '9.0.0',
        'online_cpus': list(range(online)) if isinstance(online, int) else online,
        'nodeinfo_memory_mb': memory_mb, 'node_memory': node_memory,
        'cpu_info': {'arch': 'x86_64'}, 'numa_topology': {'cells': []},
        'disk': {'source': 'path:/x', 'total_bytes': int(total_gib * GIB), 'used_bytes': int(used_gib * GIB),
                 'free_bytes': int(free_gib * GIB)},
        'domains': list(domains), 'warnings': [],
    }


def facts(raw=None, **options):
    return host_facts(raw or raw_host(), dict(DEFAULTS, **options))


# --- CPU sets -------------------------------------------------------------------------------

@pytest.mark.parametrize('text, expected', [
    ('0-7,^3,10', [0, 1, 2, 4, 5, 6, 7, 10]),
    ('^3,0-7,10', [0, 1, 2, 4, 5, 6, 7, 10]),     # exclusions apply wherever they stand
    ('4', [4]),
    (' 1 , 2 ', [1, 2]),
    ('0-3,,5', [0, 1, 2, 3, 5]),                    # empty items are skipped, as Nova does
    ('0-5,^2-3', [0, 1, 4, 5]),                     # an excluded range
    ('2-2', [2]),
    ('8-9,0-1,1', [0, 1, 8, 9]),                    # overlapping items within one set merge
])
def test_cpu_set_syntax(text, expected):
    assert parse_cpu_set(text, 'cpu_shared_set') == expected


@pytest.mark.parametrize('text', ['a', '1-', '-1', '3-1', '1-2-3', '1.5', '^', '0x3', '1 2'])
def test_unparsable_cpu_set_names_the_option(text):
    with pytest.raises(CapacityError) as err:
        parse_cpu_set(text, 'cpu_dedicated_set')
    assert str(err.value).startswith('cpu_dedicated_set:')
    assert repr(text) in str(err.value)


@pytest.mark.parametrize('text', ['', ' ', ',', '^1', '0-3,^0-3'])
def test_cpu_set_leaving_no_cpus_fails(text):
    with pytest.raises(CapacityError, match='cpu_shared_set: CPU set .* leaves no CPUs'):
        parse_cpu_set(text, 'cpu_shared_set')


def test_no_cpu_set_is_none():
    assert parse_cpu_set(None, 'cpu_shared_set') is None


@pytest.mark.parametrize('cpus', [[0], [0, 1, 2, 5], [1, 3, 5], list(range(64)), [0, 2, 3, 4, 9, 10]])
def test_cpu_list_text_round_trips(cpus):
    assert parse_cpu_set(format_cpu_list(cpus), 'x') == cpus


def test_cpu_set_naming_cpus_the_host_lacks():
    with pytest.raises(CapacityError) as err:
        facts(cpu_shared_set='0-19')
    assert 'cpu_shared_set names CPUs the host does not have: 16-19' in str(err.value)
    with pytest.raises(CapacityError, match='cpu_dedicated_set names CPUs the host does not have: 99'):
        facts(cpu_shared_set='0-3', cpu_dedicated_set='4-7,99')


def test_offline_cpu_is_not_usable():
    online = [0, 1, 2, 4, 5, 6, 7]  # CPU 3 offline
    with pytest.raises(CapacityError, match='cpu_shared_set names CPUs the host does not have: 3'):
        facts(raw_host(online=online), cpu_shared_set='0-7')
    assert facts(raw_host(online=online), cpu_shared_set='0-7,^3')['vcpus'] == 7


def test_overlapping_sets_fail_naming_both_options():
    with pytest.raises(CapacityError) as err:
        facts(cpu_shared_set='0-8', cpu_dedicated_set='8-15')
    assert str(err.value) == 'cpu_shared_set and cpu_dedicated_set overlap on CPUs 8'
    # Needs no host: the module checks this before it connects.
    with pytest.raises(CapacityError, match='overlap on CPUs 4-7'):
        check_options(dict(DEFAULTS, cpu_shared_set='0-7', cpu_dedicated_set='4-7'))


# --- vCPUs ------------------------------------------------------------------------------------

def test_vcpus_are_online_cpus_without_sets():
    f = facts(raw_host(online=12))
    assert f['vcpus'] == 12 and f['pcpus'] == 0 and 'PCPU' not in f['inventory']
    assert f['cpu_shared_set'] is None and f['cpu_dedicated_set'] is None


def test_vcpus_are_the_shared_set_size():
    f = facts(cpu_shared_set='0-7,^3,10')
    assert f['vcpus'] == 8 and f['cpu_shared_set'] == '0-2,4-7,10'
    assert f['inventory']['VCPU']['total'] == 8 and f['inventory']['VCPU']['max_unit'] == 8


def test_dedicated_set_alone_leaves_no_shared_vcpus():
    # Nova: cpu_dedicated_set without cpu_shared_set reports no VCPU inventory.
    f = facts(cpu_dedicated_set='4-15')
    assert f['vcpus'] == 0 and f['pcpus'] == 12
    assert f['inventory']['VCPU']['total'] == 0 and f['inventory']['VCPU']['capacity'] == 0
    assert f['inventory']['PCPU']['total'] == 12


def test_vcpus_used_and_running_vms_count_active_domains_only():
    doms = [domain('a', vcpus=4), domain('b', vcpus=2), domain('off', active=False, vcpus=8)]
    f = facts(raw_host(doms))
    assert f['vcpus_used'] == 6 and f['running_vms'] == 2
    assert f['inventory']['VCPU']['used'] == 6


def test_pinned_domains_consume_pcpu():
    doms = [
        domain('pinned', vcpus=2, pinned=[4, 5]),
        domain('pinned-off', active=False, vcpus=4, pinned=[6, 7]),  # not running: uses nothing
        domain('half-outside', vcpus=2, pinned=[3, 4]),               # not inside the dedicated set
        domain('floating', vcpus=3),
    ]
    f = facts(raw_host(doms, online=8), cpu_shared_set='0-3', cpu_dedicated_set='4-7')
    pcpu, vcpu = f['inventory']['PCPU'], f['inventory']['VCPU']
    assert (f['vcpus'], f['pcpus'], f['vcpus_used']) == (4, 4, 7)
    assert pcpu['used'] == 2 and vcpu['used'] == 5
    assert (pcpu['reserved'], pcpu['allocation_ratio'], pcpu['capacity'], pcpu['free']) == (0, 1.0, 4, 2)
    assert vcpu['capacity'] == 16 and vcpu['free'] == 11


def test_allocations_are_each_running_domains_own_claim_rounded_up():
    doms = [
        domain('pinned', vcpus=2, memory_mb=1024, pinned=[4, 5], disks=[disk(10, 1)]),
        domain('floating', vcpus=3, memory_mb=0, disks=[disk(0, 0, kind='network')]),
        domain('off', active=False, vcpus=8, disks=[disk(50, 1)]),
    ]
    doms[1]['memory_kb'] = 1536   # 1.5 MiB: a VM moved elsewhere needs 2
    doms[1]['disks'].append(dict(disk(1, 0, target='vdb'), capacity=GIB + 1))
    f = facts(raw_host(doms, online=8), cpu_shared_set='0-3', cpu_dedicated_set='4-7')
    assert f['allocations'] == {
        'uuid-pinned': {'name': 'pinned', 'resources': {'PCPU': 2, 'MEMORY_MB': 1024, 'DISK_GB': 10}},
        'uuid-floating': {'name': 'floating', 'resources': {'VCPU': 3, 'MEMORY_MB': 2, 'DISK_GB': 2}},
    }


def test_pinning_is_ignored_without_a_dedicated_set():
    f = facts(raw_host([domain('pinned', vcpus=2, pinned=[4, 5])]))
    assert f['inventory']['VCPU']['used'] == 2 and 'PCPU' not in f['inventory']


# --- reservations, ratios, capacity -------------------------------------------------------------

@pytest.mark.parametrize('name', ['cpu_allocation_ratio', 'ram_allocation_ratio', 'disk_allocation_ratio'])
@pytest.mark.parametrize('value', [0, 0.0, -1.0, None])
def test_ratios_must_be_positive(name, value):
    with pytest.raises(CapacityError) as err:
        facts(**{name: value})
    assert str(err.value) == '%s must be greater than 0, got %r' % (name, value)


@pytest.mark.parametrize('name', ['reserved_host_cpus', 'reserved_host_memory_mb', 'reserved_host_disk_mb'])
def test_reservations_must_not_be_negative(name):
    with pytest.raises(CapacityError, match='%s must not be negative, got -1' % name):
        facts(**{name: -1})


@pytest.mark.parametrize('total, reserved, ratio, used', [
    (16, 0, 4.0, 6), (16, 2, 1.5, 0), (7, 1, 0.3, 1), (3072, 512, 1.0, 8192), (0, 0, 4.0, 0), (4, 8, 2.0, 0)])
def test_inventory_record_is_placement_capacity(total, reserved, ratio, used):
    rec = inventory_record(total, reserved, ratio, used)
    capacity = math.floor((total - reserved) * ratio)
    assert rec == {'total': total, 'reserved': reserved, 'allocation_ratio': ratio, 'min_unit': 1,
                   'max_unit': total, 'step_size': 1, 'used': used, 'capacity': capacity, 'free': capacity - used}


def test_reservations_and_ratios_reach_the_inventory():
    doms = [domain('a', vcpus=3, memory_mb=4096, disks=[disk(20, 2)]), domain('b', vcpus=1, memory_mb=1024)]
    f = facts(raw_host(doms, online=16, memory_mb=32768, total_gib=500),
              reserved_host_cpus=2, reserved_host_memory_mb=2048, reserved_host_disk_mb=1025,
              cpu_allocation_ratio=16.0, ram_allocation_ratio=1.5, disk_allocation_ratio=2.0)
    inv = f['inventory']
    assert inv['VCPU']['capacity'] == (16 - 2) * 16 and inv['VCPU']['free'] == (16 - 2) * 16 - 4
    assert inv['MEMORY_MB']['capacity'] == int((32768 - 2048) * 1.5)
    assert inv['MEMORY_MB']['used'] == 5120 and inv['MEMORY_MB']['free'] == int((32768 - 2048) * 1.5) - 5120
    assert inv['DISK_GB']['reserved'] == 2  # 1025 MiB rounds up to 2 GiB, as Nova's convert_mb_to_ceil_gb
    assert inv['DISK_GB']['capacity'] == (500 - 2) * 2 and inv['DISK_GB']['used'] == 20


@pytest.mark.parametrize('mb, gb', [(0, 0), (1, 1), (1024, 1), (1025, 2), (10240, 10)])
def test_reserved_disk_rounds_up_to_gib(mb, gb):
    assert facts(reserved_host_disk_mb=mb)['inventory']['DISK_GB']['reserved'] == gb


# --- memory -----------------------------------------------------------------------------------

def test_memory_from_node_memory_stats():
    node = {'total': 24683656, 'free': 10000 * 1024 + 300, 'buffers': 2000 * 1024, 'cached': 5000 * 1024 + 900}
    # nodeinfo disagreeing with /proc/meminfo (as measured on a CI VM): the stats win, consistently
    f = facts(raw_host([domain('a', memory_mb=8192)], memory_mb=7257, node_memory=node))
    total_mb = node['total'] // 1024
    expected = total_mb - (node['free'] + node['buffers'] + node['cached']) // 1024  # Nova's formula
    assert f['memory_mb'] == total_mb and f['inventory']['MEMORY_MB']['total'] == total_mb
    assert f['memory_mb_used'] == expected and f['memory_mb_used_source'] == 'node_memory_stats'
    assert f['free_ram_mb'] == (node['free'] + node['buffers'] + node['cached']) // 1024
    assert f['inventory']['MEMORY_MB']['used'] == 8192  # allocation stays what the domains are given


def test_memory_used_from_domains_without_node_stats():
    doms = [domain('a', memory_mb=8192, current_mb=4096), domain('b', memory_mb=1024),
            domain('off', active=False, memory_mb=16384)]
    f = facts(raw_host(doms, memory_mb=65536))
    assert f['memory_mb_used_source'] == 'domains'
    assert f['memory_mb_used'] == 4096 + 1024  # current (ballooned) memory, as Nova's _sum_domain_memory_mb
    assert f['free_ram_mb'] == 65536 - 5120
    assert f['inventory']['MEMORY_MB']['used'] == 8192 + 1024  # maximum memory is what is allocated
    assert f['memory_mb'] == 65536 and f['inventory']['MEMORY_MB']['total'] == 65536


# --- disk -------------------------------------------------------------------------------------

def test_local_disk_figures_round_down_to_gib():
    f = facts(raw_host(total_gib=100.9, used_gib=40.6, free_gib=55.7))
    assert (f['local_gb'], f['local_gb_used'], f['free_disk_gb']) == (100, 40, 60)
    assert f['disk_available_least'] == 55


def test_over_commit_counts_file_backed_qcow2_and_ploop_only():
    disks = [disk(20, 5), disk(10, 1, fmt='ploop'), disk(50, 1, fmt='raw'), disk(40, 2, fmt=None),
             disk(30, 3, kind='block'), disk(None, None), disk(8, 8.5)]
    # 15 + 9 + (8 - 8.5): raw, unknown format (raw to QEMU), block and unmeasurable disks count 0
    assert disk_over_commit_bytes(disks) == int(15 * GIB) + int(9 * GIB) + (int(8 * GIB) - int(8.5 * GIB))


def test_disk_available_least_is_novas_formula():
    doms = [domain('a', disks=[disk(20, 5)]),
            domain('off', active=False, disks=[disk(100, 10.5)]),  # inactive domains count too
            domain('cd', disks=[disk(50, 1, fmt='raw')])]
    raw = raw_host(doms, free_gib=300.75)
    over = (20 - 5 + 100 - 10.5) * GIB
    expected = (int(300.75 * GIB) // GIB * GIB - over) // GIB
    assert facts(raw)['disk_available_least'] == expected == 195


def test_disk_available_least_may_be_negative():
    doms = [domain('big%d' % i, disks=[disk(500, 1)]) for i in range(3)]
    f = facts(raw_host(doms, free_gib=100))
    assert f['disk_available_least'] == 100 - 3 * 499 and f['free_disk_gb'] == 800


def test_disk_gb_used_is_the_virtual_size_of_active_domains_disks():
    doms = [domain('a', disks=[disk(20, 1), disk(10.5, 1, fmt='raw', target='vdb')]),
            domain('off', active=False, disks=[disk(100, 1)]), domain('unknown', disks=[disk(None, None)])]
    assert facts(raw_host(doms))['inventory']['DISK_GB']['used'] == 30


# --- pass-through -----------------------------------------------------------------------------

def test_labels_and_identity_pass_through():
    labels = {'cluster': 'east', 'rack': 'r12'}
    f = facts(labels=labels)
    assert f['labels'] == labels and f['labels'] is not labels
    assert (f['hypervisor_hostname'], f['hypervisor_type'], f['hypervisor_version'], f['uri']) == \
        ('h', 'QEMU', 7002000, 'test:///x')
    assert facts()['labels'] == {}


# --- inputs that must never hurt the hypervisor ----------------------------------------------------

def _peak_bytes(call):
    tracemalloc.start()
    try:
        try:
            call()
        except CapacityError:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize('text, cpu_id', [
    ('0-99999999', '99999999'),
    ('0-9999999', '9999999'),
    ('0-7,^0-99999999', '99999999'),
    ('%d' % (MAX_CPU_ID + 1), str(MAX_CPU_ID + 1)),
    ('0-' + '9' * 10000, '9' * 10),             # more digits than int() takes: refused on the text
    ('000000000000000000000000000000003-' + '9' * 40, '9' * 10),
])
def test_cpu_ids_above_the_ceiling_are_refused_before_anything_is_expanded(text, cpu_id):
    with pytest.raises(CapacityError) as err:
        parse_cpu_set(text, 'cpu_shared_set')
    assert str(err.value).startswith('cpu_shared_set: CPU id %s' % cpu_id)
    assert 'above %d' % MAX_CPU_ID in str(err.value)
    # Before: 0-9999999 built a set of ten million ints (1.25 GB, 7 s on a hypervisor).
    assert _peak_bytes(lambda: parse_cpu_set(text, 'cpu_shared_set')) < 1024 * 1024


def test_the_largest_cpu_sets_cost_little():
    whole = '0-%d' % MAX_CPU_ID
    assert parse_cpu_set(whole, 'cpu_shared_set') == list(range(MAX_CPU_ID + 1))
    # Many overlapping ranges and exclusions are merged as ranges, never expanded one by one.
    text = ','.join([whole, '^100-%d' % MAX_CPU_ID] * 20000)
    started = time.process_time()
    assert parse_cpu_set(text, 'cpu_shared_set') == list(range(100))
    assert time.process_time() - started < 2.0
    assert _peak_bytes(lambda: parse_cpu_set(whole, 'cpu_shared_set')) < 4 * 1024 * 1024


def test_cpu_sets_agree_with_a_plain_expansion():
    rng = random.Random(7)
    for _ in range(500):
        items, included, excluded = [], set(), set()
        for _ in range(rng.randint(1, 6)):
            start = rng.randint(0, 40)
            end = start + rng.choice([0, 0, rng.randint(0, 12)])
            negate = rng.random() < 0.35
            items.append(('^' if negate else '') + (str(start) if end == start else '%d-%d' % (start, end)))
            (excluded if negate else included).update(range(start, end + 1))
        text = ','.join(items)
        expected = sorted(included - excluded)
        if expected:
            assert parse_cpu_set(text, 'cpu_shared_set') == expected, text
        else:
            with pytest.raises(CapacityError, match='leaves no CPUs'):
                parse_cpu_set(text, 'cpu_shared_set')


@pytest.mark.parametrize('name', ['cpu_allocation_ratio', 'ram_allocation_ratio', 'disk_allocation_ratio'])
@pytest.mark.parametrize('value, message', [
    (float('nan'), 'must be a finite number, got nan'),
    (float('inf'), 'must be a finite number, got inf'),
    (float('-inf'), 'must be a finite number, got -inf'),
    (1e308, 'must be at most 1000, got 1e+308'),
    (MAX_ALLOCATION_RATIO * 1.001, 'must be at most 1000'),
    ('4.0', 'must be greater than 0'),
    (True, 'must be greater than 0'),
])
def test_ratios_must_be_finite_and_sane(name, value, message):
    # Before: NaN passed (nan <= 0 is false) and failed later as a ValueError of int(), 1e308 as an OverflowError.
    with pytest.raises(CapacityError) as err:
        check_options({name: value})
    assert str(err.value).startswith(name + ' ' + message)


def test_the_largest_ratio_is_accepted():
    assert check_options({'cpu_allocation_ratio': MAX_ALLOCATION_RATIO})[2]['cpu_allocation_ratio'] == 1000.0
    f = facts(cpu_allocation_ratio=MAX_ALLOCATION_RATIO)
    assert f['inventory']['VCPU']['capacity'] == 16 * 1000


@pytest.mark.parametrize('name', ['reserved_host_cpus', 'reserved_host_memory_mb', 'reserved_host_disk_mb'])
@pytest.mark.parametrize('value, message', [
    (float('nan'), 'must be a finite number'),
    (float('inf'), 'must be a finite number'),
    (10 ** 400, 'must be at most %d' % MAX_RESERVATION),
    ('512', 'must not be negative'),
])
def test_reservations_must_be_finite_and_sane(name, value, message):
    with pytest.raises(CapacityError) as err:
        check_options({name: value})
    assert str(err.value).startswith(name + ' ' + message)


# --- instance storage that cannot be measured ------------------------------------------------------

def test_unmeasured_disk_is_unknown_not_zero():
    raw = raw_host([domain('a', disks=[disk(20, 2)])])
    raw['disk'] = {'source': 'unavailable:path:/x', 'total_bytes': None, 'used_bytes': None, 'free_bytes': None}
    f = facts(raw)
    assert f['disk_source'] == 'unavailable:path:/x'
    for field in ('local_gb', 'local_gb_used', 'free_disk_gb', 'disk_available_least'):
        assert f[field] is None
    assert sorted(f['inventory']) == ['MEMORY_MB', 'VCPU']
    assert f['vcpus'] == 16 and f['memory_mb'] == 65536


def test_an_unreadable_pool_fails_after_the_option_checks():
    raw = raw_host(online=4)
    raw['disk'] = {'source': 'pool:nope', 'error': "storage_pool 'nope' cannot be read on this host: x"}
    with pytest.raises(CapacityError, match='cpu_shared_set names CPUs the host does not have'):
        facts(raw, cpu_shared_set='0-7')
    with pytest.raises(LookupError, match="storage_pool 'nope'"):
        facts(raw)


def test_cpu_times_pass_through_and_may_be_unknown():
    raw = raw_host()
    assert facts(raw)['cpu_times'] is None
    raw['cpu_times'] = {'user': 1, 'kernel': 2, 'idle': 3, 'iowait': 4}
    assert facts(raw)['cpu_times'] == {'user': 1, 'kernel': 2, 'idle': 3, 'iowait': 4}
