"""The bounded capacity history (plugin_utils.history, issue 12): points, RRD-like consolidation,
gaps, hosts joining, leaving and lost, clocks going back, damaged input, bounded size, and the
simulated example history."""

import json
import math
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from history_data import DAY, DAY0, FLAVORS, HISTORY_BAD_ARGUMENTS, T0, cluster_hosts, cycle_totals

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import MAX_FORECAST_DAYS
from ansible_collections.hypervisor.stats.plugins.plugin_utils import history
from ansible_collections.hypervisor.stats.plugins.plugin_utils.history import (
    HistoryError, check_entry, check_series, daily_series, decode_tier, entry_size, fold, fold_cycle, latest_point,
    point_from_host, point_from_totals, weighted_utilisation)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def strict_json(value):
    return json.loads(json.dumps(value, allow_nan=False))


def fold_all(points, name='the history'):
    """Fold (time, point) pairs into a new series; (series, warnings)."""
    series, warnings = None, []
    for when, point in points:
        series, notes = fold(series, point, when, name)
        warnings += notes
    return series, warnings


# --- points -----------------------------------------------------------------------------------

def test_point_of_totals_has_every_resource_field_usage_and_fits():
    hosts = cluster_hosts()
    point = point_from_totals(cycle_totals(hosts), cpu_util=42.123)
    for rc in ('VCPU', 'MEMORY_MB', 'DISK_GB'):
        for field in ('total', 'reserved', 'capacity', 'used', 'free'):
            assert isinstance(point['%s.%s' % (rc, field)], int)
    assert point['hosts'] == 4 and point['vms'] == 4 and point['cpu_util'] == 42.12
    assert point['fits.small'] > point['fits.large'] > 0
    assert point['VCPU.free'] == point['VCPU.capacity'] - point['VCPU.used']


def test_a_sum_some_host_lacked_is_unknown_not_a_smaller_sum():
    hosts = cluster_hosts()
    del hosts['compute-1']['memory_mb_used']
    hosts['compute-2']['inventory']['DISK_GB']['used'] = float('nan')
    point = point_from_totals(cycle_totals(hosts))
    assert point['mem_used_mb'] is None and point['DISK_GB.used'] is None
    assert point['VCPU.used'] is not None and point['disk_used_gb'] is not None


def test_point_of_one_host_counts_its_fits():
    facts = cluster_hosts(1, vcpu_free=3)['compute-0']
    point = point_from_host(facts, history.check_flavors(FLAVORS), cpu_util=250)
    assert point['hosts'] == 1 and point['cpu_util'] == 100       # clamped
    assert point['fits.small'] == 3 and point['fits.large'] == 0
    assert point_from_host(facts)['cpu_util'] is None


def test_cpu_utilisation_is_weighted_by_cpu_count_and_null_when_unknown():
    assert weighted_utilisation([(10, 8), (50, 24)]) == 40
    assert weighted_utilisation([(None, 8), (50, None), (float('nan'), 4)]) is None
    assert weighted_utilisation([]) is None


# --- folding and consolidating ----------------------------------------------------------------------

def test_first_cycle_is_one_raw_point():
    series, warnings = fold(None, {'VCPU.used': 5, 'cpu_util': None}, T0 + 100)
    assert warnings == []
    assert decode_tier(series['raw']) == {'t': [T0 + 100], 'v': {'VCPU.used': [5]}}   # never-known metrics: no column
    assert series['hourly']['t'] == '' and series['daily']['t'] == ''


def test_cycles_consolidate_into_hours_and_days_with_mean_max_and_p95():
    # Every 5 minutes for 3 days: VCPU.used = minute of the day; cpu_util = a sawtooth.
    points = [(T0 + 300 * i, {'VCPU.used': (300 * i % DAY) // 60, 'cpu_util': float(i % 20)}) for i in range(3 * 288)]
    series, warnings = fold_all(points)
    assert warnings == []
    daily = decode_tier(series['daily'])
    assert daily['t'] == [T0, T0 + DAY] and daily['n'] == [288, 288]
    assert daily['mean']['VCPU.used'] == [717.5, 717.5] and daily['max']['VCPU.used'] == [1435, 1435]
    # Nearest rank: the 274th of 288 readings, 0-7 fifteen times each, 8-19 fourteen times.
    assert daily['p95']['cpu_util'] == [18, 18] and set(daily['p95']) == {'cpu_util'}
    hourly = decode_tier(series['hourly'])
    assert len(hourly['t']) == 71 and hourly['n'] == [12] * 71                       # the 72nd hour is still open
    assert hourly['mean']['VCPU.used'][:2] == [27.5, 87.5] and hourly['max']['VCPU.used'][:2] == [55, 115]
    raw = decode_tier(series['raw'])
    assert raw['t'][0] > points[-1][0] - 2 * DAY and len(raw['t']) == 576            # 2 days of cycles


def test_daily_series_adds_today_so_far_from_raw():
    points = [(T0 + 3600 * i, {'VCPU.used': i}) for i in range(30)]
    series, _warnings = fold_all(points)
    days = daily_series(series)
    assert days['t'] == [T0, T0 + DAY] and days['mean']['VCPU.used'] == [11.5, 26.5] and days['n'] == [24, 6]
    assert daily_series(series, start=T0 + DAY)['t'] == [T0 + DAY]
    assert daily_series(series, end=T0)['mean']['VCPU.used'] == [11.5]
    assert latest_point(series) == (T0 + 29 * 3600, {'VCPU.used': 29})


def test_a_missed_cycle_is_a_gap_never_a_zero():
    points = [(T0 + 3600 * i, {'VCPU.used': 100}) for i in range(48) if not 5 <= i < 9]
    series, _warnings = fold_all(points + [(T0 + 2 * DAY + 60, {'VCPU.used': 100})])
    hourly = decode_tier(series['hourly'])
    assert T0 + 5 * 3600 not in hourly['t'] and len(hourly['t']) == 44
    assert set(hourly['mean']['VCPU.used']) == {100}
    assert decode_tier(series['daily'])['mean']['VCPU.used'] == [100, 100]


def test_unknown_readings_are_left_out_of_the_mean():
    points = [(T0 + 600 * i, {'VCPU.used': None if i % 2 else 10, 'cpu_util': None}) for i in range(7)]
    series, _warnings = fold_all(points)
    hourly = decode_tier(series['hourly'])
    assert hourly['mean']['VCPU.used'] == [10] and 'cpu_util' not in hourly['mean']


def test_a_point_not_newer_than_the_newest_is_dropped_with_a_warning():
    series, _warnings = fold_all([(T0 + 600 * i, {'VCPU.used': i}) for i in range(10)])
    for when in (T0 + 600 * 9, T0 + 100, T0 - DAY):
        again, warnings = fold(series, {'VCPU.used': 999}, when, 'the history of group east')
        assert again == series
        assert len(warnings) == 1 and 'group east' in warnings[0] and 'clock went back' in warnings[0]
    # A point inside an already consolidated day (a simulated history ends yesterday) is refused too.
    simulated = {'version': 1, 'daily': {'t': str(T0), 'n': '1', 'mean': {'VCPU.used': '5'}, 'max': {'VCPU.used': '5'}}}
    assert fold(simulated, {'VCPU.used': 1}, T0 + 3600)[1]
    assert fold(simulated, {'VCPU.used': 1}, T0 + DAY)[1] == []


def test_nan_inf_and_non_numbers_are_stored_as_unknown():
    bad = {'VCPU.used': float('nan'), 'VCPU.total': float('inf'), 'VCPU.free': True, 'VCPU.reserved': '3',
           'VCPU.capacity': 10 ** 40, 'cpu_util': float('-inf'), 'vms': 3}
    series, _warnings = fold_all([(T0 + 600 * i, bad) for i in range(12)])
    assert decode_tier(series['raw'])['v'] == {'vms': [3] * 12}
    strict_json(series)


def test_tiers_stay_bounded_over_years_of_cycles():
    series = None
    for index in range(0, 4 * 365 * 24, 7):   # every 7 hours for four years
        series, warnings = fold(series, {'VCPU.used': index % 100}, T0 + 3600 * index)
        assert warnings == []
    assert history.length(series['daily']) == MAX_FORECAST_DAYS
    assert history.length(series['hourly']) == len(range(0, 35 * 24, 7)) or history.length(series['hourly']) <= 35 * 24
    assert history.length(series['raw']) <= 2 * 24 // 7 + 1


def test_10000_cycles_leave_the_entry_no_larger_than_three_years_of_daily_points():
    """Cycles every 3 hours: the daily tier is full after 1098 days (8784 cycles); at 10,000 cycles
    the entry is no larger than then (each day's readings are alike, so sizes compare exactly)."""
    sizes = {}
    series = None
    for index in range(10000):
        when = T0 + 3 * 3600 * index
        series, _warnings = fold(series, {'VCPU.used': 500 + index % 8, 'VCPU.capacity': 1000, 'cpu_util': 40.5}, when)
        if index in (8784, 9999):
            sizes[index] = entry_size(series)
    assert history.length(series['daily']) == MAX_FORECAST_DAYS
    assert sizes[9999] <= sizes[8784]


# --- one cycle of a cluster ----------------------------------------------------------------------

def test_fold_cycle_gives_the_cluster_each_group_and_each_host_a_point():
    hosts = cluster_hosts()
    histories, warnings = fold_cycle({}, cycle_totals(hosts), hosts, T0, flavors=FLAVORS,
                                     cpu_utilization={'compute-0': 20, 'compute-2': 60})
    assert warnings == []
    entry = histories['cluster']
    assert entry['group_by'] == 'labels.cluster' and sorted(entry['groups']) == ['east', 'west']
    assert sorted(histories['hosts']) == sorted(hosts)
    assert latest_point(entry['groups']['east'])[1]['cpu_util'] == 40       # two hosts with equal CPUs
    assert 'cpu_util' not in entry['groups']['west']['raw']['v']            # unknown: no column
    assert latest_point(histories['hosts']['compute-1'])[1]['fits.small'] == 8     # 8 GiB free, 1 GiB each
    strict_json(histories)


def test_hosts_joining_and_leaving_change_capacity_from_that_cycle_on():
    hosts = cluster_hosts(2)
    state, _warnings = fold_cycle(None, cycle_totals(hosts), hosts, T0)
    more = cluster_hosts(4)
    state, _warnings = fold_cycle(state, cycle_totals(more), more, T0 + 300)
    state, _warnings = fold_cycle(state, cycle_totals(hosts), hosts, T0 + 600)
    capacity = decode_tier(state['cluster']['cluster']['raw'])['v']['VCPU.capacity']
    assert capacity == [128, 256, 128]
    # compute-2 and compute-3 were sampled once: their series have one point, and were not rewritten since.
    assert 'compute-2' not in state['hosts']


def test_a_lost_or_damaged_host_history_restarts_that_host_only():
    hosts = cluster_hosts(2)
    state, _w = fold_cycle(None, cycle_totals(hosts), hosts, T0)
    previous = {'cluster': state['cluster'], 'hosts': {'compute-0': state['hosts']['compute-0']}}   # compute-1 lost
    state, warnings = fold_cycle(previous, cycle_totals(hosts), hosts, T0 + 300)
    assert warnings == []
    assert history.length(state['hosts']['compute-0']['raw']) == 2 and history.length(state['hosts']['compute-1']['raw']) == 1
    previous = {'cluster': state['cluster'], 'hosts': dict(state['hosts'], **{'compute-1': {'version': 1, 'raw': 'x'}})}
    state, warnings = fold_cycle(previous, cycle_totals(hosts), hosts, T0 + 600)
    assert len(warnings) == 1 and 'host compute-1' in warnings[0] and 'starts afresh' in warnings[0]
    assert history.length(state['hosts']['compute-1']['raw']) == 1
    assert history.length(state['hosts']['compute-0']['raw']) == 3
    assert history.length(state['cluster']['cluster']['raw']) == 3


def test_a_group_not_sampled_gets_a_gap_and_goes_when_its_points_age_out():
    hosts = cluster_hosts(4)
    state, _w = fold_cycle(None, cycle_totals(hosts), hosts, T0)
    east = dict((name, facts) for name, facts in hosts.items() if facts['labels']['cluster'] == 'east')
    state, _w = fold_cycle(state, cycle_totals(east), east, T0 + 300)
    assert history.length(state['cluster']['groups']['west']['raw']) == 1
    assert history.length(state['cluster']['groups']['east']['raw']) == 2
    state, _w = fold_cycle(state, cycle_totals(east), east, T0 + (MAX_FORECAST_DAYS + 2) * DAY)
    assert 'west' not in state['cluster']['groups']


def test_a_new_group_by_restarts_the_group_histories():
    hosts = cluster_hosts(2)
    state, _w = fold_cycle(None, cycle_totals(hosts), hosts, T0)
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import cluster_totals
    totals = cluster_totals(list(hosts.values()), group_by='cpu_info.arch')
    state, warnings = fold_cycle(state, totals, hosts, T0 + 300)
    assert any('group_by changed' in warning for warning in warnings)
    assert sorted(state['cluster']['groups']) == ['x86_64']
    assert history.length(state['cluster']['cluster']['raw']) == 2


def test_a_cycle_without_hosts_adds_no_cluster_point():
    state, warnings = fold_cycle(None, cycle_totals({}), {}, T0)
    assert warnings == [] and history.is_empty(state['cluster']['cluster'])


def test_items_that_are_not_host_facts_get_no_point_with_a_warning():
    hosts = cluster_hosts(1)
    hosts['broken'] = {'failed': True}
    state, warnings = fold_cycle(None, cycle_totals(cluster_hosts(1)), hosts, T0)
    assert sorted(state['hosts']) == ['compute-0'] and 'host broken' in warnings[0]


@pytest.mark.parametrize('kwargs,needle', HISTORY_BAD_ARGUMENTS)
def test_bad_arguments_raise_naming_them(kwargs, needle):
    hosts = cluster_hosts(1)
    arguments = dict({'previous': None, 'totals': cycle_totals(hosts), 'hosts': hosts, 'now': T0}, **kwargs)
    with pytest.raises(HistoryError) as err:
        fold_cycle(**arguments)
    assert needle in str(err.value)


# --- damaged input ------------------------------------------------------------------------------

def good_entry():
    hosts = cluster_hosts(4)
    state = None
    for index in range(30):
        state, _w = fold_cycle(state, cycle_totals(hosts), hosts, T0 + 1800 * index)
    return state


DAMAGED_SERIES = [
    ('not a dict', 'garbage'),
    ('wrong version', {'version': 2}),
    ('tier not a dict', {'version': 1, 'raw': ['x']}),
    ('times decreasing', {'version': 1, 'raw': {'t': '20,10', 'v': {}}}),
    ('times with a sign', {'version': 1, 'raw': {'t': '-5', 'v': {}}}),
    ('NaN text', {'version': 1, 'raw': {'t': '10,20', 'v': {'VCPU.used': 'nan,1'}}}),
    ('a column too short', {'version': 1, 'raw': {'t': '10,20', 'v': {'VCPU.used': '1'}}}),
    ('a column as a list', {'version': 1, 'raw': {'t': '10', 'v': {'VCPU.used': [1]}}}),
    ('an exponent', {'version': 1, 'raw': {'t': '10', 'v': {'VCPU.used': '1e999'}}}),
    ('counts missing', {'version': 1, 'daily': {'t': '86400', 'mean': {}, 'max': {}}}),
    ('a count of 0', {'version': 1, 'daily': {'t': '86400', 'n': '0', 'mean': {}, 'max': {}}}),
    ('a metric named by a number', {'version': 1, 'raw': {'t': '10', 'v': {5: '1'}}}),
    ('columns without times', {'version': 1, 'raw': {'t': '', 'v': {'VCPU.used': ''}}}),
]


@pytest.mark.parametrize('what,damaged', DAMAGED_SERIES, ids=[d[0] for d in DAMAGED_SERIES])
def test_a_damaged_group_history_restarts_that_group_only(what, damaged):
    state = good_entry()
    state['cluster']['groups']['east'] = damaged
    hosts = cluster_hosts(4)
    new, warnings = fold_cycle(state, cycle_totals(hosts), hosts, T0 + DAY)
    assert len(warnings) == 1 and "group 'east'" in warnings[0] and 'starts afresh' in warnings[0], (what, warnings)
    assert history.length(new['cluster']['groups']['east']['raw']) == 1
    assert history.length(new['cluster']['groups']['west']['hourly']) == 15
    strict_json(new)


@pytest.mark.parametrize('damaged', ['garbage', ['x'], {'version': 7}, 42])
def test_a_damaged_entry_restarts_the_cluster_histories_only(damaged):
    state = good_entry()
    hosts = cluster_hosts(4)
    new, warnings = fold_cycle({'cluster': damaged, 'hosts': state['hosts']}, cycle_totals(hosts), hosts, T0 + DAY)
    assert len(warnings) == 1 and 'cluster history is damaged' in warnings[0]
    assert history.length(new['cluster']['cluster']['raw']) == 1
    assert history.length(new['hosts']['compute-0']['raw']) == 31


def test_a_malformed_number_is_found_when_read_and_costs_that_history():
    series, _w = fold_all([(T0 + 600 * i, {'VCPU.used': i}) for i in range(5)])
    series['raw']['v']['VCPU.used'] = '1.2.3,1,2,3,4'          # passes the character check
    checked, problem = check_series(series)
    assert problem is None
    with pytest.raises(history.Damage):
        daily_series(checked)
    new, warnings = fold(series, {'VCPU.used': 7}, T0 + 2 * 3600, 'the history of group east')
    assert 'group east is damaged' in warnings[0] and decode_tier(new['raw'])['v'] == {'VCPU.used': [7]}


@SETTINGS
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
                        ['version', 'raw', 'hourly', 'daily', 't', 'n', 'v', 'mean', 'max', 'cluster', 'groups', 'east']),
                        inner, max_size=4), max_leaves=12))
def test_any_garbage_costs_only_the_history_and_never_raises(garbage):
    hosts = cluster_hosts(2)
    for previous in (garbage, {'cluster': garbage, 'hosts': {'compute-0': garbage}},
                     {'cluster': {'version': 1, 'cluster': garbage, 'groups': {'east': garbage}}}):
        new, _warnings = fold_cycle(previous, cycle_totals(hosts), hosts, T0)
        strict_json(new)
        check_entry(new['cluster'])


# --- consolidation against a plain recomputation ----------------------------------------------------

@SETTINGS
@given(st.lists(st.tuples(st.integers(1, 4000), st.one_of(st.sampled_from([None, 0, 7, 7.25]), st.integers(-50, 10 ** 6),
                                                          st.floats(-1e6, 1e6, allow_nan=False))),
                min_size=1, max_size=120))
def test_consolidated_points_are_the_mean_and_max_of_their_cycles(steps):
    """Cycles at random intervals (seconds to days apart) with random readings: every hourly and
    daily point is the mean and max of the stored readings of its bucket, raw holds the last 2 days."""
    when, readings = T0, []
    series = None
    for gap, value in steps:
        when += gap * 60
        series, warnings = fold(series, {'VCPU.used': value}, when)
        assert warnings == []
        readings.append((when, history.number(value)))
    strict_json(series)
    raw = decode_tier(series['raw'])
    expected_raw = [(t, v) for t, v in readings if t > when - 2 * DAY]
    assert raw['t'] == [t for t, _v in expected_raw]
    assert raw['v'].get('VCPU.used', [None] * len(raw['t'])) == [v for _t, v in expected_raw]
    for tier, step, keep in history.TIERS:
        decoded = decode_tier(series[tier])
        closed = sorted(set(t - t % step for t, _v in readings if t - t % step < when - when % step
                            and t - t % step >= when - when % step - keep))
        assert decoded['t'] == closed
        for index, bucket in enumerate(closed):
            values = [v for t, v in readings if bucket <= t < bucket + step and v is not None]
            mean = decoded['mean'].get('VCPU.used', [None] * len(closed))[index]
            high = decoded['max'].get('VCPU.used', [None] * len(closed))[index]
            if not values:
                assert mean is None and high is None
            else:
                assert high == max(values)
                assert math.isclose(mean, math.fsum(values) / len(values), abs_tol=0.006)


# --- the text of a column --------------------------------------------------------------------------

values = st.lists(st.one_of(st.sampled_from([None, 0, 1, 2.5]), st.integers(-10 ** 12, 10 ** 12),
                            st.floats(-1e9, 1e9, allow_nan=False).map(history.number)), min_size=1, max_size=40)


def test_a_column_repeats_with_an_empty_token_and_marks_unknown_with_a_question_mark():
    assert history.encode([12, 12, None, None, 3.5, 12]) == '12,,?,,3.5,12'
    assert history.decode('12,,?,,3.5,12') == [12, 12, None, None, 3.5, 12]


@SETTINGS
@given(values, st.data())
def test_columns_encode_decode_slice_drop_and_extend_like_lists(column, data):
    text = history.encode(column)
    assert history.decode(text) == column
    start = data.draw(st.integers(0, len(column) - 1))
    stop = data.draw(st.integers(start, len(column)))
    assert history.decode(text, start, stop) == column[start:stop]
    assert history.decode_tail(text, len(column), len(column) - start) == column[start:]
    assert history.decode(history._drop(text, start)) == column[start:]
    more = data.draw(values)
    assert history.decode(history._extend(text, len(column), [history._token(v) for v in more])) == column + more
    assert history.decode(history._extend(None, len(column), [history._token(v) for v in more])) == [None] * len(column) + more
    assert history._all_unknown(text) == all(v is None for v in column)


# --- the simulated example history -------------------------------------------------------------------

def test_the_simulated_example_is_labelled_deterministic_and_a_valid_entry(tmp_path):
    script = os.path.join(ROOT, 'examples', 'simulated_history.py')
    out = [subprocess.run([sys.executable, script, '--end', '2026-01-31', '--days', '120'], check=True,
                          stdout=subprocess.PIPE, universal_newlines=True).stdout for _run in range(2)]
    assert out[0] == out[1]
    entry = json.loads(out[0])
    assert entry['simulated'] is True and all(series['simulated'] for series in entry['groups'].values())
    checked, warnings = check_entry(entry)
    assert warnings == [] and sorted(checked['groups']) == ['east', 'west']
    days = daily_series(checked['groups']['west'])
    assert len(days['t']) == 120 and days['t'][-1] == (DAY0 + 29) * DAY            # ends 2026-01-30
    capacity = days['max']['VCPU.capacity']
    assert capacity[0] < capacity[-1]                                              # west gains a host
    # Folding a real cycle into it keeps the label.
    hosts = cluster_hosts(4)
    new, warnings = fold_cycle({'cluster': entry}, cycle_totals(hosts), hosts, (DAY0 + 30) * DAY + 600)
    assert warnings == [] and new['cluster']['simulated'] is True


def test_host_cpu_utilisation_is_the_growth_of_its_own_cpu_counters():
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.history import cpu_times_utilisation

    before = {'user': 1000, 'kernel': 500, 'idle': 8000, 'iowait': 500}
    after = {'user': 1600, 'kernel': 900, 'idle': 9400, 'iowait': 600}   # busy 1000 of 2500 ns
    assert cpu_times_utilisation(before, after) == 40.0
    assert cpu_times_utilisation(after, before) is None, 'counters went back (a reboot): unknown, not negative'
    assert cpu_times_utilisation(None, after) is None
    assert cpu_times_utilisation(dict(before, idle=-1), after) is None
    assert cpu_times_utilisation(before, before) is None, 'no time passed'


def test_the_hosts_history_keeps_its_cpu_counters_and_the_next_cycle_has_utilisation():
    import copy

    from cluster_data import host

    from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import cluster_totals
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.history import fold_cycle, latest_point

    facts = host(cluster='east')
    facts['hypervisor_hostname'] = 'hv-1'
    facts['cpu_times'] = {'user': 1000, 'kernel': 500, 'idle': 8000, 'iowait': 500}
    later = copy.deepcopy(facts)
    later['cpu_times'] = {'user': 1600, 'kernel': 900, 'idle': 9400, 'iowait': 600}
    first, _ = fold_cycle({}, cluster_totals({'hv-1': facts}), {'hv-1': facts}, 1700000000)
    assert first['hosts']['hv-1']['cpu_times'] == facts['cpu_times']
    second, warnings = fold_cycle(json.loads(json.dumps(first)), cluster_totals({'hv-1': later}), {'hv-1': later},
                                  1700003600)
    assert warnings == []
    assert latest_point(second['hosts']['hv-1'])[1]['cpu_util'] == 40.0
    assert latest_point(second['cluster']['cluster'])[1]['cpu_util'] == 40.0
