"""Forecasts (plugin_utils.forecast, issue 12): known slopes against hand-computed exhaustion days,
robustness to a wild point, gaps, capacity steps, fits, planned workloads and their checks, damaged
histories, and Theil-Sen and its order statistics against the plain definition (Hypothesis)."""

import datetime
import json
import math
import statistics

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from history_data import DAY, DAY0, FLAVORS, FORECAST_BAD_ARGUMENTS, daily, entry, linear, noon

from ansible_collections.hypervisor.stats.plugins.plugin_utils import forecast as fc
from ansible_collections.hypervisor.stats.plugins.plugin_utils.forecast import (
    ForecastError, check_planned, forecast, pairwise_slopes, sen_band_ranks, slope_order_statistics, theil_sen,
    theil_sens)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@pytest.fixture(autouse=True, scope='module', params=['pure Python', 'numpy'])
def slope_arithmetic(request):
    """Every test here runs on both ways the trends' slopes are computed: the pure-Python selection,
    and numpy's arrays where numpy (optional) is installed."""
    installed = fc.numpy
    if request.param == 'numpy' and installed is None:
        pytest.skip('numpy is not installed (an optional dependency)')
    if request.param == 'pure Python':
        fc.numpy = None
    yield request.param
    fc.numpy = installed


def iso(day):
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).isoformat()


def cluster_forecast(series, now, **kwargs):
    section, warnings = forecast(entry(series), now, **kwargs)
    assert warnings == []
    json.dumps(section, allow_nan=False)
    return section['cluster']


# --- known slopes ------------------------------------------------------------------------------

@pytest.mark.parametrize('days,start,slope,capacity', [(90, 100, 5, 1000), (60, 50, 2.5, 800), (30, 0, 40, 10000),
                                                        (200, 1000, 0.5, 1500)])
def test_exhaustion_day_of_a_straight_line_is_the_hand_computed_one(days, start, slope, capacity):
    record = cluster_forecast(linear(days, start, slope, capacity=capacity), noon(days - 1))['VCPU']
    # Used today (the last day) is start + slope * (days - 1); the rest of the capacity at `slope` a day.
    expected = (capacity - (start + slope * (days - 1))) / float(slope)
    assert abs(record['days_until_full'] - expected) <= 1
    assert record['full_on'] == iso(DAY0 + days - 1 + int(math.floor(expected + 0.5)))
    assert record['slope_per_day'] == slope and record['capacity'] == capacity
    assert record['points'] == min(days, 90) and record['reason'] is None


def test_alternating_noise_keeps_the_date_within_a_day():
    series = linear(90, 100, 5, **{})
    noisy = [100 + 5 * day + (3 if day % 2 else -3) for day in range(90)]
    series = daily({'VCPU.used': noisy, 'VCPU.capacity': [1000] * 90})
    record = cluster_forecast(series, noon(89))['VCPU']
    assert abs(record['days_until_full'] - 91) <= 1
    assert record['full_on_pessimistic'] <= record['full_on'] <= record['full_on_optimistic']
    assert record['slope_low'] <= record['slope_per_day'] <= record['slope_high']


@pytest.mark.parametrize('where', [0, 44, 88, 89])
def test_one_wild_point_moves_the_date_by_less_than_5_percent(where):
    used = [100 + 5 * day + (7 if day % 3 == 0 else -4 if day % 3 == 1 else 1) for day in range(90)]
    calm = cluster_forecast(daily({'VCPU.used': used, 'VCPU.capacity': [1000] * 90}), noon(89))['VCPU']
    for wild in (used[where] * 100, 0):
        spoiled = list(used)
        spoiled[where] = wild
        record = cluster_forecast(daily({'VCPU.used': spoiled, 'VCPU.capacity': [1000] * 90}), noon(89))['VCPU']
        assert abs(record['days_until_full'] - calm['days_until_full']) < 0.05 * calm['days_until_full']


def test_gaps_leave_the_trend_as_it_is():
    days = [DAY0 + day for day in range(0, 90, 2)]
    series = daily({'VCPU.used': [100 + 5 * (day - DAY0) for day in days], 'VCPU.capacity': [1000] * len(days)}, days=days)
    record = cluster_forecast(series, noon(88))['VCPU']
    assert record['points'] == 45 and abs(record['days_until_full'] - (1000 - 540) / 5.0) <= 1


def test_days_outside_the_window_are_not_used():
    series = linear(300, 0, 1, capacity=10000)
    record = cluster_forecast(series, noon(299), forecast_days=30)['VCPU']
    assert record['points'] == 30


def test_fewer_points_than_min_points_is_not_enough_history():
    record = cluster_forecast(linear(6, 100, 5), noon(5))['VCPU']
    assert record['reason'] == 'not enough history' and record['points'] == 6
    assert all(record[key] is None for key in ('days_until_full', 'full_on', 'full_on_optimistic',
                                               'full_on_pessimistic', 'slope_per_day'))
    assert cluster_forecast(linear(6, 100, 5), noon(5), min_points=6)['VCPU']['reason'] is None


def test_a_capacity_step_is_not_read_as_a_trend():
    # Hosts added on day 60: capacity 1000 -> 2000, used keeps growing 5 a day.
    used = [100 + 5 * day for day in range(90)]
    added = daily({'VCPU.used': used, 'VCPU.capacity': [1000] * 60 + [2000] * 30})
    record = cluster_forecast(added, noon(89))['VCPU']
    assert record['slope_per_day'] == 5 and record['capacity'] == 2000
    assert abs(record['days_until_full'] - (2000 - 545) / 5.0) <= 1
    # Hosts removed with their VMs on day 60: capacity 1000 -> 800 and used 200 lower.
    removed = daily({'VCPU.used': [u - (200 if day >= 60 else 0) for day, u in enumerate(used)],
                     'VCPU.capacity': [1000] * 60 + [800] * 30})
    record = cluster_forecast(removed, noon(89))['VCPU']
    assert record['slope_per_day'] == 5 and abs(record['days_until_full'] - (800 - 345) / 5.0) <= 1
    # Read as one series, the drop would have been a trend (with a little noise, as real days have).
    noisy = [u - (200 if day >= 60 else 0) + (3 if day % 2 else -3) for day, u in enumerate(used)]
    assert theil_sen([(list(range(90)), noisy)])[0] < 4.5
    assert theil_sen([(list(range(60)), noisy[:60]), (list(range(60, 90)), noisy[60:])])[0] == 5


def test_a_host_missed_in_one_cycle_does_not_lower_the_limit():
    # The daily max of capacity is the limit: one cycle without a host lowers the mean only.
    series = daily({'VCPU.used': [100 + 5 * day for day in range(30)], 'VCPU.capacity': [990] * 29 + [900]},
                   maxima={'VCPU.capacity': [1000] * 30})
    assert cluster_forecast(series, noon(29))['VCPU']['capacity'] == 1000


@pytest.mark.parametrize('used', [[500] * 30, [500 - day for day in range(30)]])
def test_flat_or_shrinking_use_is_never_full(used):
    record = cluster_forecast(daily({'VCPU.used': used, 'VCPU.capacity': [1000] * 30}), noon(29))['VCPU']
    assert record['reason'] == 'not growing' and record['days_until_full'] is None and record['full_on'] is None
    assert record['full_on_optimistic'] is None


def test_a_date_beyond_ten_years_is_none():
    record = cluster_forecast(linear(90, 100, 0.01, capacity=10 ** 6), noon(89))['VCPU']
    assert record['reason'] == 'not within 10 years' and record['days_until_full'] is None


def test_already_full_is_zero_days():
    record = cluster_forecast(linear(30, 990, 1, capacity=1000), noon(29))['VCPU']
    assert record['days_until_full'] == 0 and record['full_on'] == iso(DAY0 + 29)


def test_fits_reach_zero_at_their_trend():
    series = linear(90, 100, 5, **{'fits.small': [200 - 2 * day for day in range(90)]})
    record = cluster_forecast(series, noon(89), flavors=FLAVORS)['fits']['small']
    assert record['fits'] == 22 and record['slope_per_day'] == -2 and abs(record['days_until_full'] - 11) <= 1
    # Without flavors, the flavors the history holds.
    assert cluster_forecast(series, noon(89))['fits']['small']['days_until_full'] == record['days_until_full']


def test_resources_without_capacity_get_no_record():
    scope = cluster_forecast(linear(10, 1, 1, **{'PCPU.capacity': [0] * 10, 'PCPU.used': [0] * 10}), noon(9))
    assert 'PCPU' not in scope and 'VCPU' in scope and 'MEMORY_MB' not in scope


# --- planned workloads -------------------------------------------------------------------------------

def planned_series():
    return linear(90, 100, 5, capacity=1000, **{'VCPU.free': [900 - 5 * day for day in range(90)],
                                                 'fits.small': [200 - 2 * day for day in range(90)],
                                                 'fits.large': [50] * 90})


def test_planned_workloads_due_come_off_todays_headroom_and_fits():
    scope = cluster_forecast(planned_series(), noon(89), flavors=FLAVORS,
                             planned=[{'flavor': 'small', 'count': 100}, {'flavor': 'large', 'count': 2, 'date': iso(DAY0)}])
    headroom = scope['headroom']
    assert headroom['free'] == {'VCPU': 455} and headroom['planned'] == {'VCPU': 108}
    assert headroom['free_after_planned'] == {'VCPU': 347}
    # By each flavor's scarcest resource: a large is 8 smalls of memory, a small a quarter large of vCPU and disk.
    assert headroom['fits'] == {'small': 22, 'large': 50}
    assert headroom['fits_after_planned'] == {'small': max(22 - 100 - 2 * 8, 0), 'large': 50 - 25 - 2}
    record = scope['VCPU']
    assert record['planned_due'] == 108 and abs(record['days_until_full'] - (1000 - 545 - 108) / 5.0) <= 1


def test_a_future_planned_workload_is_a_step_on_its_date():
    scope = cluster_forecast(planned_series(), noon(89), flavors=FLAVORS,
                             planned=[{'flavor': 'small', 'count': 500, 'date': iso(DAY0 + 119)}])
    record = scope['VCPU']
    assert record['planned_steps'] == [[iso(DAY0 + 119), 500]]
    assert record['full_on'] == iso(DAY0 + 119) and record['days_until_full'] == 29.5
    assert scope['headroom']['free_after_planned'] == {'VCPU': 455}     # not due yet
    small = scope['fits']['small']['planned_steps']
    assert small == [[iso(DAY0 + 119), 500]]
    # A small step on a date after the trend's own date changes nothing.
    later = cluster_forecast(planned_series(), noon(89), flavors=FLAVORS,
                             planned=[{'flavor': 'small', 'count': 1, 'date': iso(DAY0 + 400)}])
    assert later['VCPU']['days_until_full'] == 91
    # A date past the ten-year horizon cannot change anything (and is no date to print).
    far = cluster_forecast(planned_series(), noon(89), flavors=FLAVORS,
                           planned=[{'flavor': 'small', 'count': 1, 'date': '9999-12-31'}])
    assert far['VCPU']['planned_steps'] == [] and far['VCPU']['days_until_full'] == 91


def test_a_planned_workload_of_a_group_counts_for_it_and_the_cluster_only():
    history_entry = entry(planned_series(), {'east': planned_series(), 'west': planned_series()})
    section, warnings = forecast(history_entry, noon(89), flavors=FLAVORS,
                                 planned=[{'flavor': 'small', 'count': 10, 'group': 'east'}])
    assert warnings == []
    assert section['cluster']['VCPU']['planned_due'] == 10 and section['groups']['east']['VCPU']['planned_due'] == 10
    assert section['groups']['west']['VCPU']['planned_due'] == 0
    assert section['planned'] == [{'flavor': 'small', 'count': 10, 'group': 'east', 'date': None}]


def test_planned_entries_are_normalised():
    checked = check_planned([{'flavor': 'large', 'count': '3', 'date': datetime.date(2026, 2, 1), 'group': 7},
                             {'flavor': 'small', 'count': 1, 'date': '2026-02-02'}], FLAVORS)
    assert checked[0]['count'] == 3 and checked[0]['date'] == '2026-02-01' and checked[0]['group'] == '7'
    assert checked[0]['demand'] == {'VCPU': 12, 'MEMORY_MB': 24576, 'DISK_GB': 120}
    assert checked[1]['day'] == DAY0 + 32
    assert check_planned(None, None) == [] and check_planned([], None) == []


@pytest.mark.parametrize('kwargs,needle', FORECAST_BAD_ARGUMENTS)
def test_bad_arguments_raise_naming_them(kwargs, needle):
    arguments = dict({'entry': entry(planned_series(), {'east': planned_series()}), 'now': noon(89)}, **kwargs)
    with pytest.raises(ForecastError) as err:
        forecast(**arguments)
    assert needle in str(err.value)


# --- damaged and odd histories ---------------------------------------------------------------------

def test_a_damaged_group_costs_its_forecast_only():
    east = planned_series()
    east['daily']['mean']['VCPU.used'] = '1..2' + east['daily']['mean']['VCPU.used'][3:]
    section, warnings = forecast(entry(planned_series(), {'east': east, 'west': planned_series(),
                                                          'north': 'garbage'}), noon(89))
    assert sorted(section['groups']) == ['west'] and section['cluster']['VCPU']['days_until_full'] == 91
    assert len(warnings) == 2 and any("group 'east'" in w for w in warnings) and any("group 'north'" in w for w in warnings)


@pytest.mark.parametrize('broken', [None, {}, 'garbage', {'version': 1}])
def test_no_or_broken_history_gives_an_empty_forecast(broken):
    section, _warnings = forecast(broken, noon(0))
    assert section['cluster'] == {} and section['groups'] == {}
    json.dumps(section, allow_nan=False)


def test_the_simulated_flag_reaches_the_forecast():
    history_entry = dict(entry(linear(10, 1, 1)), simulated=True)
    section, _warnings = forecast(history_entry, noon(9))
    assert section['simulated'] is True and section['today'] == iso(DAY0 + 9)


def test_the_forecast_of_a_folded_history_uses_today_so_far():
    from history_data import T0
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.history import fold
    series = None
    for index in range(10 * 24):   # hourly cycles for 10 days, used growing 24 a day
        series, _w = fold(series, {'VCPU.used': 100 + index, 'VCPU.capacity': 1000}, T0 + 3600 * index)
    record = cluster_forecast(series, T0 + 3600 * 239 + 60)['VCPU']
    assert record['points'] == 10 and record['slope_per_day'] == 24
    assert abs(record['days_until_full'] - (1000 - 339) / 24.0) <= 1


# --- Theil-Sen against the definition -------------------------------------------------------------

def test_sen_band_ranks_of_ten_points():
    # N = 45, Var S = 10 * 9 * 25 / 18 = 125, C = 1.96 * sqrt(125) = 21.9: ranks (45 -+ 21.9) / 2.
    assert sen_band_ranks([10]) == (10, 34)
    lower, upper = sen_band_ranks([90])
    assert lower < 4005 // 2 < upper and lower + upper in (4003, 4004, 4005)


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


segment = st.integers(1, 70).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 400), min_size=n, max_size=n, unique=True).map(sorted),
    st.lists(st.one_of(st.integers(-5, 5), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)),
             min_size=n, max_size=n)))


@SETTINGS
@given(st.lists(segment, min_size=1, max_size=3), st.data())
def test_order_statistics_are_those_of_all_pairwise_slopes(segments, data):
    slopes = sorted(s for x, y in segments for s in pairwise_slopes(x, y))
    if not slopes:
        assert theil_sen(segments) is None
        return
    ranks = sorted(set(data.draw(st.lists(st.integers(0, len(slopes) - 1), min_size=1, max_size=4))))
    got = slope_order_statistics(segments, ranks)
    assert all(close(a, slopes[r]) for a, r in zip(got, ranks))
    slope, low, high = theil_sen(segments)
    assert close(slope, statistics.median(slopes))
    lower, upper = sen_band_ranks([len(x) for x, _y in segments])
    assert close(low, slopes[lower]) and close(high, slopes[upper])


@SETTINGS
@given(st.integers(20, 120), st.floats(-50, 50), st.integers(0, 2 ** 32))
def test_large_inputs_take_the_selection_path_and_agree(size, slope, seed):
    import random
    rng = random.Random(seed)
    x = sorted(rng.sample(range(1000), size))
    y = [slope * v + rng.gauss(0, 10) + (1000 if rng.random() < 0.05 else 0) for v in x]
    slopes = sorted(pairwise_slopes(x, y))
    got = theil_sen([(x, y)])
    lower, upper = sen_band_ranks([size])
    assert close(got[0], statistics.median(slopes)) and close(got[1], slopes[lower]) and close(got[2], slopes[upper])


def test_the_sample_of_pairs_is_fixed_and_valid():
    pairs = list(zip(*fc._sample_pairs(90, 300)))
    assert pairs == list(zip(*fc._sample_pairs(90, 300))) and len(set(pairs)) == 300
    assert all(0 <= i < j < 90 for i, j in pairs)
    assert sorted(zip(*fc._sample_pairs(5, 300))) == [(i, j) for i in range(5) for j in range(i + 1, 5)]


def test_trends_over_the_same_days_computed_together_equal_each_computed_alone():
    import random
    rng = random.Random(3)
    x = [day for day in range(200) if day % 7]          # gaps: the same days for every trend
    lists = [[(x[:60], [rng.gauss(slope * day, 5) for day in x[:60]]),
              (x[60:150], [rng.gauss(slope * day + 900, 5) for day in x[60:150]])] for slope in range(-3, 12)]
    lists.append([(x[:100], [rng.randint(0, 10 ** 6) for _day in x[:100]])])      # other days, integers
    lists.append([(x[:5], [1, 2, 3, 5, 4])])                                       # few pairs
    lists.append([(x[:1], [7])])                                                   # no pair
    expected = []
    for segments in lists:
        slopes = sorted(s for seg_x, seg_y in segments for s in pairwise_slopes(seg_x, seg_y))
        if not slopes:
            expected.append(None)
            continue
        lower, upper = sen_band_ranks([len(seg_x) for seg_x, _y in segments])
        expected.append((statistics.median(slopes), slopes[lower], slopes[upper]))
    got = theil_sens(lists)
    assert got[-1] is None and expected[-1] is None
    for fit, want in zip(got[:-1], expected[:-1]):
        assert fit[1:] == want[1:] and close(fit[0], want[0])
    assert got == [theil_sen(segments) for segments in lists]


def test_integers_beyond_float_precision_are_left_to_the_pure_python_selection(monkeypatch):
    # float64 would round these before subtracting (2 ** 60 + 1 == 2 ** 60): numpy must not take them.
    x = list(range(60))
    y = [2 ** 60 + day * 3 + (day % 5) for day in x]
    got = theil_sen([(x, y)])
    monkeypatch.setattr(fc, 'numpy', None)
    assert got == theil_sen([(x, y)])
