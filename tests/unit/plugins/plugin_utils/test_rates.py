"""Per-VM contention rates, their window and p95 (plugin_utils.rates through accumulate), hand-computed."""

import json
import math

import pytest

from ansible_collections.hypervisor.stats.plugins.plugin_utils import rates as R

from counters_data import UUID, rates_of, round_trip, run, sample, signal_vm

MS = 10 ** 6
GIB_NS = 10 ** 9


def two_cycles(first, second, at=(100, 160)):
    state = run({}, {'h1': sample(at[0], first)})[0]
    return run(round_trip(state), {'h1': sample(at[1], second)})


def test_steal_latency_iops_throughput_and_swap_by_hand():
    # 60 s, 2 vCPUs: 12 s of delay = 12 / (60 * 2) = 10 % steal.
    # vda: 600 reads taking 1.2 s (2 ms each), 300 writes taking 3 s (10 ms), 30 flushes taking 0.15 s (5 ms),
    # 6 MiB read, 3 MiB written; swap 120 KiB in, 60 KiB out.
    first = signal_vm(delay=5 * GIB_NS, swap=(1000, 2000), disk=(100, 50, 0, 0, 0, 0, 10, 0))
    second = signal_vm(delay=17 * GIB_NS, swap=(1120, 2060),
                       disk=(700, 350, 6 * 1024 * 1024, 3 * 1024 * 1024, 1200 * MS, 3000 * MS, 40, 150 * MS))
    state, warnings = two_cycles(first, second)
    assert warnings == []
    r = rates_of(state)
    assert r['steal_percent'] == pytest.approx(10.0)
    assert r['read_latency_ms'] == pytest.approx(2.0)
    assert r['write_latency_ms'] == pytest.approx(10.0)
    assert r['flush_latency_ms'] == pytest.approx(5.0)
    assert r['read_iops'] == pytest.approx(10.0)
    assert r['write_iops'] == pytest.approx(5.0)
    assert r['read_kbps'] == pytest.approx(6 * 1024 / 60.0)
    assert r['write_kbps'] == pytest.approx(3 * 1024 / 60.0)
    assert r['swap_in_kbps'] == pytest.approx(2.0)
    assert r['swap_out_kbps'] == pytest.approx(1.0)
    assert r['io_kbps'] == pytest.approx(9 * 1024 / 60.0)   # no NICs: no network I/O
    p95 = state['h1']['vms'][UUID]['p95']
    assert p95['steal_percent'] == 10.0 and p95['read_latency_ms'] == 2.0 and p95['write_latency_ms'] == 10.0


def test_first_sight_gives_null_rates_and_an_empty_window_of_rates():
    state = run({}, {'h1': sample(100, signal_vm(delay=5, disk=(1, 1, 1, 1, 1, 1, 1, 1)))})[0]
    assert set(rates_of(state).values()) == {None}
    assert state['h1']['vms'][UUID]['p95']['steal_percent'] is None


def test_no_requests_gives_null_latency_not_zero():
    disk = (100, 50, 0, 0, 10 * MS, 10 * MS, 0, 0)
    r = rates_of(two_cycles(signal_vm(disk=disk), signal_vm(disk=disk))[0])
    assert r['read_latency_ms'] is None and r['write_latency_ms'] is None and r['flush_latency_ms'] is None
    assert r['read_iops'] == 0.0 and r['read_kbps'] == 0.0


def test_missing_signals_are_null_never_zero():
    # The test driver's case: no delay, no swap, no latency figures.
    r = rates_of(two_cycles(signal_vm(disk=(1, 1, 1, 1, None, None, None, None)),
                            signal_vm(disk=(5, 5, 5, 5, None, None, None, None)))[0])
    assert r['steal_percent'] is None and r['swap_in_kbps'] is None and r['swap_out_kbps'] is None
    assert r['read_latency_ms'] is None and r['write_latency_ms'] is None and r['flush_latency_ms'] is None
    assert r['read_iops'] == pytest.approx(4 / 60.0)


def test_a_counter_going_down_is_a_reset_null_for_that_cycle_then_counting_resumes():
    state = run({}, {'h1': sample(100, signal_vm(delay=50 * GIB_NS, disk=(100, 100, 0, 0, 100 * MS, 0, 0, 0)))})[0]
    state = run(state, {'h1': sample(160, signal_vm(delay=GIB_NS, disk=(10, 200, 0, 0, 120 * MS, 0, 0, 0)))})[0]
    r = rates_of(state)
    assert r['steal_percent'] is None and r['read_iops'] is None and r['read_latency_ms'] is None
    assert r['write_iops'] == pytest.approx(100 / 60.0)
    state = run(state, {'h1': sample(220, signal_vm(delay=7 * GIB_NS, disk=(20, 200, 0, 0, 150 * MS, 0, 0, 0)))})[0]
    r = rates_of(state)
    assert r['steal_percent'] == pytest.approx(5.0)
    assert r['read_latency_ms'] == pytest.approx(3.0)


def test_another_domain_instance_or_no_time_passed_gives_null_rates():
    r = rates_of(two_cycles(signal_vm(delay=0), signal_vm(delay=GIB_NS, domain_id=8))[0])
    assert r['steal_percent'] is None
    r = rates_of(two_cycles(signal_vm(delay=0), signal_vm(delay=GIB_NS), at=(100, 100))[0])
    assert r['steal_percent'] is None


def test_steal_is_clamped_to_100_percent():
    r = rates_of(two_cycles(signal_vm(delay=0, vcpus=1), signal_vm(delay=10 ** 12, vcpus=1))[0])
    assert r['steal_percent'] == 100.0


def test_the_window_keeps_the_last_samples_only_and_p95_is_nearest_rank():
    state, at, delay = {}, 0, 0
    steal = []
    for cycle in range(R.RATE_WINDOW + 20):
        delay += cycle * 10 ** 7 * 60   # steal = cycle / 2 percent (2 vCPUs, 60 s)
        state = run(state, {'h1': sample(at, signal_vm(delay=delay))})[0]
        at += 60
        if cycle:
            steal.append(round(cycle / 2.0, 1))
    # 187 values: the window holds the last whole blocks, 3 x 42 and the current block of 19.
    assert R.window_sizes(state['h1']['vms'][UUID]['rate_window'])['steal_percent'] == 3 * 42 + 19
    assert R.window_size(len(steal)) == 3 * 42 + 19
    window = steal[-(3 * 42 + 19):]
    expected = sorted(window)[int(math.ceil(0.95 * len(window))) - 1]
    assert state['h1']['vms'][UUID]['p95']['steal_percent'] == expected


def test_the_window_is_blocks_of_the_values_that_can_still_be_the_p95():
    window = {}
    for value in range(50):   # 42 values fill the first block, 8 start the second
        window = R.advance(window, {'steal_percent': value / 10.0})
    steal = window[R.WINDOW_FIELDS.index('steal_percent')]
    assert [[block[0]] + sorted(block[1:], reverse=True) for block in steal] == [
        [42] + list(range(41, 32, -1)), [8] + list(range(49, 41, -1))]
    assert all(blocks == [] for blocks in window[:1] + window[2:])
    # 50 values: the p95 ranks 3rd from the top.
    assert R.percentiles(window)['steal_percent'] == 4.7


def test_p95_nearest_rank():
    assert R.p95([]) is None
    assert R.p95([3.0]) == 3.0
    assert R.p95(list(range(1, 101))) == 95
    assert R.p95(list(range(1, 21))) == 19


@pytest.mark.parametrize('damage', [
    {'rate_baseline': {'at': 'x'}},
    {'rate_baseline': {'at': 100, 'domain_id': 7, 'vm': [float('nan'), -1, -1, -1], 'disks': {}}},
    {'rate_baseline': {'at': 100, 'domain_id': 7, 'vm': [-2, -1, -1, -1], 'disks': {}}},
    {'rate_window': {'steal_percent': [float('inf')]}},
    {'rate_window': {'steal_percent': [1.0, float('nan'), 2.0]}},   # min and max skip a NaN inside: the sum does not
    {'rate_window': {'steal_percent': [1.0, 'x']}},
    {'rate_window': {'steal_percent': [1.0, True]}},
    {'rate_window': {'steal_percent': [1.0] * (R.RATE_WINDOW + 1)}},
    {'rate_window': {'bogus': [1.0]}},
    {'rate_window': []},
    # The blocks (issue 15): a count out of range, a full block that is not full, fewer values than
    # the p95 needs, more than the block took, values out of range or not ints, too many blocks.
    {'rate_window': [[[0, 5]]] + [[]] * 6},
    {'rate_window': [[[43, 5]]] + [[]] * 6},
    {'rate_window': [[[41] + [9] * 9, [1, 5]]] + [[]] * 6},
    {'rate_window': [[[3, 5, 4]]] + [[]] * 6},
    {'rate_window': [[[2, 5, 4, 3]]] + [[]] * 6},
    {'rate_window': [[[2, -1]]] + [[]] * 6},
    {'rate_window': [[[2, 10 ** 13]]] + [[]] * 6},
    {'rate_window': [[[2, 1.5]]] + [[]] * 6},
    {'rate_window': [[[2, True]]] + [[]] * 6},
    {'rate_window': [[[42, 9], [1, 5]]] + [[]] * 6},
    {'rate_window': [[[42] + [9] * 9] * 4 + [[1, 5]]] + [[]] * 6},
    {'rate_window': [[[1, 5]]] + [[]] * 5},
    {'rate_window': [[[1, 5]], 'x'] + [[]] * 5},
])
def test_a_damaged_cached_rate_state_restarts_that_vm_rates_with_a_warning(damage):
    state = run({}, {'h1': sample(100, signal_vm(delay=0))})[0]
    state = run(state, {'h1': sample(160, signal_vm(delay=GIB_NS))})[0]
    state['h1']['vms'][UUID].update(damage)
    state, warnings = run(state, {'h1': sample(220, signal_vm(delay=2 * GIB_NS))})
    assert any('rates restart' in w and 'h1' in w for w in warnings)
    assert rates_of(state)['steal_percent'] is None
    entry = state['h1']['vms'][UUID]
    assert entry['cumulative']['cpu_time_ns'] == 0   # the counters are not touched
    assert R.window_ok(entry['rate_window']) and R.baseline_ok(entry['rate_baseline'])
    # The next cycle counts again.
    state, warnings = run(state, {'h1': sample(280, signal_vm(delay=3 * GIB_NS))})
    assert warnings == [] and rates_of(state)['steal_percent'] == pytest.approx(100 / 120.0)


def test_an_unsampled_host_keeps_its_vm_rates_and_window_damage_written_as_null():
    s1 = {'h1': sample(100, signal_vm(delay=0)), 'h2': sample(100)}
    s2 = {'h1': sample(160, signal_vm(delay=GIB_NS)), 'h2': sample(160)}
    state = run(run({}, s1)[0], s2)[0]
    kept, warnings = run(state, {'h2': sample(220)})
    assert warnings == [] and kept['h1']['vms'][UUID] == state['h1']['vms'][UUID]
    state['h1']['vms'][UUID]['rates']['steal_percent'] = float('nan')
    kept, warnings = run(state, {'h2': sample(220)})
    assert kept['h1']['vms'][UUID]['rates']['steal_percent'] is None
    assert any('damaged numbers' in w for w in warnings)


def test_a_gone_vm_has_null_rates():
    state = run(run({}, {'h1': sample(100, signal_vm(delay=0))})[0], {'h1': sample(160, signal_vm(delay=GIB_NS))})[0]
    state = run(state, {'h1': sample(220)})[0]
    assert set(rates_of(state).values()) == {None}


def test_memory_used_from_usable_else_unused():
    v = signal_vm(usable_kb=1048576 - 512 * 1024)
    assert R.memory_used_mb(v) == 512.0
    v = signal_vm()
    v['memory']['unused_kb'] = 1048576 - 256 * 1024
    assert R.memory_used_mb(v) == 256.0
    assert R.memory_used_mb(signal_vm()) is None


def test_state_per_vm_stays_small():
    # A full window of every field, one disk: what one VM costs in the cache.
    state, at, delay, reads = {}, 0, 0, 0
    for cycle in range(R.RATE_WINDOW + 1):
        delay += 123456789 * cycle
        reads += 37 * cycle
        v = signal_vm(delay=delay, cpu=cycle * 10 ** 10, usable_kb=500000,
                      disk=(reads, reads, reads * 4096, reads * 4096, reads * 1234567, reads * 2345678, reads, reads * 99999),
                      nics={'vnet0': (reads * 1500, reads * 1500)})
        state = run(state, {'h1': sample(at, v)})[0]
        at += 3600
    entry = state['h1']['vms'][UUID]
    size = len(json.dumps(entry, separators=(',', ':')))
    window = len(json.dumps(entry['rate_window'], separators=(',', ':')))
    # 168 rates, 169 memory readings (the first sample has one): full windows, one just past full.
    assert set(R.window_sizes(entry['rate_window']).values()) == {R.RATE_WINDOW, R.window_size(R.RATE_WINDOW + 1)}
    assert size <= 2048, size   # issue 15: controller state per VM <= 2 KB with full windows
    print('bytes per VM entry with a full window: %d (window %d)' % (size, window))


class _List(list):
    pass


class _Int(int):
    pass


def test_a_window_in_subclasses_of_list_and_int_is_read_as_plain_data():
    # Ansible gives cached facts back in its own subclasses of list and int (lazy, tagged types).
    window = {}
    for value in (1.0, 2.5, 7.0):
        window = R.advance(window, {'steal_percent': value})
    tagged = _List(_List(_List(_Int(v) for v in block) for block in field) for field in window)
    assert not R.window_ok(tagged)
    baseline, plain = R.cached_state({'rate_window': tagged})
    assert plain == window and R.window_ok(plain) and R.percentiles(plain)['steal_percent'] == 7.0
    assert R.cached_state({'rate_window': _List([_List([_List([_Int(1), True])])] + [[]] * 6)}) is None
