"""Counters that never lie (plugin_utils.counters): each case was reproduced on the code before the fix.

A total never decreases, never counts the same bytes twice, and a damaged input restarts
only the VM or host it belongs to, with a warning that names it. NaN and infinity are never
written (``run`` checks the state with ``allow_nan=False``).
"""

import json

import pytest

from counters_data import KB, UUID, cum, null_device, round_trip, run, sample, vm

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import COUNTERS, GONE

GIB = 10 ** 9


def _cycles(*samples_list, **kw):
    state, all_warnings = {}, []
    for samples in samples_list:
        state, warnings = run(round_trip(state), samples, **kw)
        all_warnings.append(warnings)
    return state, all_warnings


# --- 1. a null reading keeps the last good baseline ------------------------------------------------

def test_null_nic_counters_keep_the_baseline_no_double_count():
    """Cycle 2's NIC counters are null (its stats call failed): before the fix, cycle 3 counted
    rx_bytes whole again, +976,564.5 KiB instead of +2."""
    state, warnings = _cycles(
        {'h1': sample(100, vm(nics={'vnet0': (GIB, 5 * KB)}))},
        {'h1': sample(160, null_device(vm(nics={'vnet0': (0, 0)}), 'nics', 'vnet0'))},
        {'h1': sample(220, vm(nics={'vnet0': (GIB + 2048, 7 * KB)}))})
    assert cum(state)['network_read_kb'] == 2.0
    assert cum(state)['network_write_kb'] == 2.0
    assert warnings == [[], [], []]


def test_null_is_per_counter_and_per_device():
    first = vm(disks={'vda': (10 * KB, 20 * KB, 5, 6), 'vdb': (4 * KB, 4 * KB, 1, 1)})
    second = vm(disks={'vda': (11 * KB, 21 * KB, 6, 7), 'vdb': (5 * KB, 6 * KB, 2, 3)})
    second['disks']['vda']['rd_bytes'] = None          # one counter of one device unread
    second['disks']['vdb'] = dict.fromkeys(second['disks']['vdb'], None)
    third = vm(disks={'vda': (14 * KB, 22 * KB, 7, 8), 'vdb': (8 * KB, 9 * KB, 3, 4)})
    state, _ = _cycles({'h1': sample(100, first)}, {'h1': sample(160, second)}, {'h1': sample(220, third)})
    c = cum(state)
    assert c['disk_read_kb'] == (14 - 10) + (8 - 4)
    assert c['disk_write_kb'] == (22 - 20) + (9 - 4)
    assert c['disk_read_ios'] == (7 - 5) + (3 - 1)
    assert c['disk_write_ios'] == (8 - 6) + (4 - 1)


def test_null_cpu_time_keeps_the_baseline():
    state, _ = _cycles({'h1': sample(100, vm(cpu=50 * GIB))},
                       {'h1': sample(160, vm(cpu=None))},
                       {'h1': sample(220, vm(cpu=50 * GIB + 3 * GIB))})
    assert cum(state)['cpu_time_ns'] == 3 * GIB
    # The CPU time grew by 3 s over 120 s (since the last good reading) on 2 vCPUs.
    assert state['h1']['vms'][UUID]['cpu_utilization'] == 1.25


def test_a_device_missing_from_one_sample_keeps_its_baseline():
    state, _ = _cycles({'h1': sample(100, vm(nics={'vnet0': (GIB, 0)}))},
                       {'h1': sample(160, vm())},
                       {'h1': sample(220, vm(nics={'vnet0': (GIB + 4 * KB, 0)}))})
    assert cum(state)['network_read_kb'] == 4


def test_a_replayed_older_sample_counts_nothing():
    s1 = {'h1': sample(100, vm(nics={'vnet0': (10 * KB, 0)}))}
    s2 = {'h1': sample(160, vm(nics={'vnet0': (30 * KB, 0)}))}
    state, _ = _cycles(s1, s2, s1, s2)
    assert cum(state)['network_read_kb'] == 20


# --- 2. cached values are checked, a damaged VM restarts alone ------------------------------------

def _two_vms_two_cycles():
    previous = run({}, {'h1': sample(100, vm(cpu=GIB, nics={'vnet0': (10 * KB, 0)}),
                                     vm(uuid='y', nics={'vnet0': (10 * KB, 0)}))})[0]
    return round_trip(run(previous, {'h1': sample(160, vm(cpu=2 * GIB, nics={'vnet0': (20 * KB, 0)}),
                                                  vm(uuid='y', nics={'vnet0': (20 * KB, 0)}))})[0])


def _third_cycle(previous):
    return run(previous, {'h1': sample(220, vm(cpu=3 * GIB, nics={'vnet0': (30 * KB, 0)}),
                                       vm(uuid='y', nics={'vnet0': (30 * KB, 0)}))})


@pytest.mark.parametrize('damage', [
    lambda e: e['baseline']['nics']['vnet0'].__setitem__(0, -1e15),
    lambda e: e['baseline'].update(cpu_time_ns='2000000000'),
    lambda e: e['baseline'].update(cpu_time_ns=-5),
    lambda e: e['baseline'].pop('host'),
    lambda e: e['baseline'].update(domain_id='7'),
    lambda e: e['baseline'].update(cpu_time_ns=10 ** 400),
    lambda e: e['baseline']['nics']['vnet0'].__setitem__(0, 10 ** 400),
    lambda e: e['baseline']['nics']['vnet0'].__setitem__(0, True),
    lambda e: e['baseline'].update(collected_at=float('nan')),
    lambda e: e['baseline'].update(nics=[1, 2]),
    lambda e: e.update(baseline=None),
], ids=['negative-device', 'string-cpu', 'negative-cpu', 'no-host', 'string-domain-id', 'huge-cpu',
        'huge-device', 'bool-device', 'nan-time', 'nics-list', 'no-baseline'])
def test_damaged_baseline_keeps_the_totals_and_counts_nothing_twice(damage):
    """Before the fix a negative baseline made network_read_kb jump by 1e12, a string, negative or
    hostless baseline re-counted the whole counter, 10**400 raised OverflowError."""
    previous = _two_vms_two_cycles()
    damage(previous['h1']['vms'][UUID])
    state, warnings = _third_cycle(previous)
    assert len(warnings) == 1 and UUID in warnings[0] and 'h1' in warnings[0]
    # This cycle only sets a new baseline; the totals of the earlier cycles stay.
    assert cum(state)['network_read_kb'] == 10
    assert cum(state)['cpu_time_ns'] == GIB
    assert cum(state, uuid='y')['network_read_kb'] == 20
    state, warnings = run(round_trip(state), {'h1': sample(280, vm(cpu=4 * GIB, nics={'vnet0': (45 * KB, 0)}),
                                                           vm(uuid='y', nics={'vnet0': (40 * KB, 0)}))})
    assert warnings == [] and cum(state)['network_read_kb'] == 25 and cum(state)['cpu_time_ns'] == 2 * GIB


@pytest.mark.parametrize('value', [float('nan'), float('inf'), -1.0, 10 ** 400, '12', True, None],
                         ids=['nan', 'inf', 'negative', 'huge', 'string', 'bool', 'null'])
def test_damaged_cumulative_restarts_that_vm_only(value):
    """Before the fix a NaN total stayed NaN for ever (invalid JSON in capacity.json) and 10**400 raised."""
    previous = _two_vms_two_cycles()
    previous['h1']['vms'][UUID]['cumulative']['network_read_kb'] = value
    state, warnings = _third_cycle(previous)
    assert len(warnings) == 1 and UUID in warnings[0] and 'host h1' in warnings[0]
    assert cum(state) == dict((name, 0) for name in COUNTERS)
    assert cum(state, uuid='y')['network_read_kb'] == 20
    json.dumps(state, allow_nan=False)


@pytest.mark.parametrize('field,value', [('first_seen', float('nan')), ('last_seen', float('inf')),
                                         ('first_seen', 10 ** 400), ('last_seen', 'now')],
                         ids=['nan', 'inf', 'huge', 'string'])
def test_damaged_timestamps_restart_that_vm_only(field, value):
    previous = _two_vms_two_cycles()
    previous['h1']['vms'][UUID][field] = value
    state, warnings = _third_cycle(previous)
    assert len(warnings) == 1 and UUID in warnings[0]
    assert cum(state, uuid='y')['network_read_kb'] == 20


def test_nan_in_an_unsampled_hosts_entry_is_never_written():
    previous = _two_vms_two_cycles()
    entry = previous['h1']['vms'][UUID]
    entry['memory']['rss_kb'] = float('nan')
    entry['vcpus'] = float('inf')
    entry['cpu_utilization'] = float('nan')
    previous['h1']['vms']['y']['cumulative']['disk_read_kb'] = float('nan')
    state, warnings = run(previous, {'h2': sample(220)})     # h1 not sampled: its entry is carried
    assert any(UUID in w for w in warnings) and any("VM y" in w for w in warnings)
    assert cum(state)['network_read_kb'] == 10 and 'y' not in state['h1']['vms']
    assert state['h1']['vms'][UUID]['memory']['rss_kb'] is None
    assert state['h1']['vms'][UUID]['vcpus'] is None


def test_nan_in_a_gone_vms_entry_is_never_written():
    previous = _two_vms_two_cycles()
    previous['h1']['vms']['y']['memory']['rss_kb'] = float('nan')
    state, _ = run(previous, {'h1': sample(220, vm(cpu=3 * GIB, nics={'vnet0': (30 * KB, 0)}))})
    assert state['h1']['vms']['y']['state'] == GONE and state['h1']['vms']['y']['memory']['rss_kb'] is None


# --- 4. integer keys and huge numbers cost only their host or VM ----------------------------------

def test_integer_host_key_costs_only_that_host():
    """Before the fix sorting str and int host keys raised TypeError."""
    previous = _two_vms_two_cycles()
    previous[7] = previous['h1']
    state, warnings = _third_cycle(previous)
    assert len(warnings) == 1 and '7' in warnings[0]
    assert 7 not in state and cum(state)['network_read_kb'] == 20


def test_huge_host_timestamp_costs_only_that_host():
    previous = _two_vms_two_cycles()
    previous['h2'] = dict(previous['h1'], collected_at=10 ** 400)
    state, warnings = _third_cycle(previous)
    assert len(warnings) == 1 and 'host h2' in warnings[0]
    assert 'h2' not in state and cum(state)['network_read_kb'] == 20


def test_non_string_uuid_key_costs_only_that_vm():
    previous = _two_vms_two_cycles()
    previous['h1']['vms'][42] = previous['h1']['vms']['y']
    state, warnings = _third_cycle(previous)
    assert len(warnings) == 1 and '42' in warnings[0]
    assert 42 not in state['h1']['vms'] and cum(state)['network_read_kb'] == 20


@pytest.mark.parametrize('bad', [float('nan'), float('inf'), 10 ** 400, -1, 'x'],
                         ids=['nan', 'inf', 'huge', 'negative', 'string'])
def test_damaged_sample_counters_count_nothing(bad):
    """A sample's own counters are read the same way: a NaN or 10**400 reading is no reading."""
    s2 = vm(cpu=bad, nics={'vnet0': (bad, 20 * KB)})
    state, _ = _cycles({'h1': sample(100, vm(cpu=GIB, nics={'vnet0': (10 * KB, 10 * KB)}))},
                       {'h1': sample(160, s2)},
                       {'h1': sample(220, vm(cpu=2 * GIB, nics={'vnet0': (15 * KB, 25 * KB)}))})
    assert cum(state)['network_read_kb'] == 5 and cum(state)['network_write_kb'] == 15
    assert cum(state)['cpu_time_ns'] == GIB


def test_nan_sample_time_is_a_bad_argument():
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.counters import AccumulateError, accumulate
    with pytest.raises(AccumulateError, match=r"samples\['h1'\].collected_at"):
        accumulate({}, {'h1': sample(float('nan'), vm())})


# --- 3. one UUID on two hosts in one cycle ---------------------------------------------------------

def _fleet(n, nic=0):
    return [vm(uuid='vm-%02d' % i, name='vm-%02d' % i, domain_id=i + 1, nics={'vnet0': (nic, 0)}) for i in range(n)]


def test_uuids_on_two_hosts_keep_both_instances_and_count_each_once():
    """Live migration shows the domain on both hosts. Before the fix one instance silently vanished
    (28 of 35 VMs, the paused ones, from the host whose cache had them)."""
    a1 = _fleet(35, nic=100 * KB)
    a2 = _fleet(35, nic=110 * KB)
    b2 = [dict(v, domain_id=100 + i, state='paused') for i, v in enumerate(_fleet(35, nic=1 * KB))]
    b3 = [dict(v, domain_id=100 + i) for i, v in enumerate(_fleet(35, nic=4 * KB))]
    state, warnings = _cycles({'A': sample(100, *a1), 'B': sample(100)},
                              {'A': sample(160, *a2), 'B': sample(160, *b2)},
                              {'A': sample(220), 'B': sample(220, *b3)})
    during = warnings[1]
    assert len(during) == 35 and all("on hosts A and B" in w for w in during)
    assert 'vm-07' in ' '.join(during)
    assert warnings[2] == []
    # After the migration: once, on B, with A's growth (10) and all of B's instance (4) counted once.
    for i in range(35):
        uuid = 'vm-%02d' % i
        assert uuid not in state['A']['vms']
        assert cum(state, 'B', uuid)['network_read_kb'] == 10 + 4
        assert state['B']['vms'][uuid]['first_seen'] == 100


def test_during_the_overlap_both_hosts_hold_the_vm():
    state, warnings = _cycles({'A': sample(100, vm(nics={'vnet0': (100 * KB, 0)})), 'B': sample(100)},
                              {'A': sample(160, vm(nics={'vnet0': (110 * KB, 0)})),
                               'B': sample(160, vm(domain_id=50, state='paused', nics={'vnet0': (1 * KB, 0)}))})
    assert cum(state, 'A')['network_read_kb'] == 10
    assert cum(state, 'B')['network_read_kb'] == 1          # its own instance, whole: it started after A's
    assert len(warnings[1]) == 1 and UUID in warnings[1][0] and 'A' in warnings[1][0] and 'B' in warnings[1][0]


def test_cloned_domains_on_two_hosts_count_separately_for_ever():
    state, _ = _cycles({'A': sample(100, vm(nics={'vnet0': (100 * KB, 0)})), 'B': sample(100, vm(nics={'vnet0': (7 * KB, 0)}))},
                       {'A': sample(160, vm(nics={'vnet0': (110 * KB, 0)})), 'B': sample(160, vm(nics={'vnet0': (9 * KB, 0)}))},
                       {'A': sample(220, vm(nics={'vnet0': (111 * KB, 0)})), 'B': sample(220, vm(nics={'vnet0': (19 * KB, 0)}))})
    assert cum(state, 'A')['network_read_kb'] == 11
    assert cum(state, 'B')['network_read_kb'] == 12


def test_a_host_unreachable_during_the_overlap_does_not_count_its_instance_twice():
    """The VM is on A and B; B goes unreachable, so A absorbs B's entry; B comes back with the
    same domain still running: only its growth since B's last sample counts."""
    state, _ = _cycles({'A': sample(100, vm(domain_id=1, nics={'vnet0': (100 * KB, 0)})),
                        'B': sample(100, vm(domain_id=9, nics={'vnet0': (50 * KB, 0)}))},
                       {'A': sample(160, vm(domain_id=1, nics={'vnet0': (110 * KB, 0)})),
                        'B': sample(160, vm(domain_id=9, nics={'vnet0': (60 * KB, 0)}))},
                       {'A': sample(220, vm(domain_id=1, nics={'vnet0': (120 * KB, 0)}))},
                       {'A': sample(280, vm(domain_id=1, nics={'vnet0': (130 * KB, 0)})),
                        'B': sample(280, vm(domain_id=9, nics={'vnet0': (75 * KB, 0)}))})
    total = sum(cum(state, h)['network_read_kb'] for h in state if UUID in state[h]['vms'])
    assert total == 30 + 25


def test_previous_state_with_the_uuid_on_two_hosts_moves_both_to_the_new_one():
    state, _ = _cycles({'A': sample(100, vm(domain_id=1, nics={'vnet0': (100 * KB, 0)})),
                        'B': sample(100, vm(domain_id=9, nics={'vnet0': (50 * KB, 0)}))},
                       {'A': sample(160, vm(domain_id=1, nics={'vnet0': (110 * KB, 0)})),
                        'B': sample(160, vm(domain_id=9, nics={'vnet0': (60 * KB, 0)}))},
                       {'A': sample(220), 'B': sample(220), 'C': sample(220, vm(domain_id=3, nics={'vnet0': (2 * KB, 0)}))})
    assert [h for h in state if UUID in state[h]['vms']] == ['C']
    assert cum(state, 'C')['network_read_kb'] == 10 + 10 + 2


# --- 5. last_seen is never before first_seen ---------------------------------------------------------

def test_last_seen_never_before_first_seen_when_the_clock_goes_back():
    state, _ = _cycles({'h1': sample(1000, vm(nics={'vnet0': (1 * KB, 0)}))},
                       {'h1': sample(400, vm(nics={'vnet0': (2 * KB, 0)}))})
    entry = state['h1']['vms'][UUID]
    assert entry['first_seen'] <= entry['last_seen']
    assert entry['cumulative']['network_read_kb'] == 1
