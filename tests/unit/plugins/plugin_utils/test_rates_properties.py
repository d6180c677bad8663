"""Property tests of the per-VM rates of accumulate against a small reference model.

One VM on one host runs random cycles: time steps (zero and backwards included), reboots (a new
domain_id), counters that grow, reset (go down) or are not reported, stuck samples. The model keeps
the previous sample's raw readings and says what each rate must be; the properties: the rates equal
the model's, are never negative, NaN or infinite, the state is JSON, and the p95 is the nearest-rank
p95 of the model's window.
"""

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.hypervisor.stats.plugins.plugin_utils import rates as R

from counters_data import UUID, run, sample, signal_vm

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True)
SIGNALS = ('delay', 'swap_in', 'swap_out', 'rd_req', 'rd_times')

# One counter's next reading: None (not reported), a growth, or a reset to a smaller value.
reading_step = st.one_of(st.none(), st.tuples(st.just('grow'), st.integers(0, 10 ** 12)),
                         st.tuples(st.just('reset'), st.integers(0, 10 ** 6)))
cycle = st.fixed_dictionaries({
    'dt': st.integers(-30, 3600), 'reboot': st.booleans(), 'stuck': st.integers(0, 9).map(lambda n: n == 0),
    'vcpus': st.integers(1, 8), 'steps': st.fixed_dictionaries(dict((s, reading_step) for s in SIGNALS))})


def _next(level, step):
    if step is None:
        return level, None
    kind, amount = step
    level = (level + amount) if kind == 'grow' else min(level, amount) // 2
    return level, level


def _growth(before, after):
    if before is None or after is None or after < before:
        return None
    return after - before


def model_rates(prev, now, vcpus):
    """What the rates must be from ``prev`` to ``now`` (dicts of raw readings with 'at' and 'domain')."""
    expected = dict.fromkeys(('steal_percent', 'swap_in_kbps', 'swap_out_kbps', 'read_iops', 'read_latency_ms'))
    if prev is None or prev['domain'] != now['domain'] or not now['at'] > prev['at']:
        return expected
    dt = now['at'] - prev['at']
    grown = dict((s, _growth(prev[s], now[s])) for s in SIGNALS)
    if grown['delay'] is not None:
        expected['steal_percent'] = min(100.0, grown['delay'] / (dt * 1e9 * vcpus) * 100)
    for s in ('swap_in', 'swap_out'):
        if grown[s] is not None:
            expected[s + '_kbps'] = grown[s] / dt
    if grown['rd_req'] is not None:
        expected['read_iops'] = grown['rd_req'] / dt
        if grown['rd_req'] and grown['rd_times'] is not None:
            expected['read_latency_ms'] = grown['rd_times'] / grown['rd_req'] / 1e6
    return expected


@SETTINGS
@given(st.lists(cycle, min_size=1, max_size=25))
def test_rates_follow_the_model(cycles):
    state, prev, at, domain = {}, None, 1000, 1
    levels = dict.fromkeys(SIGNALS, 0)
    steal_window = []
    for c in cycles:
        at += c['dt']
        if c['reboot']:
            domain += 1
        now = {'at': at, 'domain': domain}
        for s in SIGNALS:
            levels[s], now[s] = _next(levels[s], c['steps'][s])
        v = signal_vm(delay=now['delay'], swap=(now['swap_in'], now['swap_out']), domain_id=domain, vcpus=c['vcpus'],
                      disk=(now['rd_req'], 0, 0, 0, now['rd_times'], 0, 0, 0), timed_out=c['stuck'])
        state, _warnings = run(state, {'h1': sample(at, v)})
        entry = state['h1']['vms'][UUID]
        rates = entry['rates']
        for value in rates.values():
            assert value is None or (math.isfinite(value) and value >= 0)
        if c['stuck']:
            assert set(rates.values()) == {None}
            continue
        expected = model_rates(prev, now, c['vcpus'])
        for field, value in expected.items():
            if value is None or value >= R.MAX_RATE:
                assert rates[field] is None, (field, rates[field])
            else:
                assert rates[field] == pytest.approx(value, rel=1e-9), field
        if expected['steal_percent'] is not None:
            steal_window.append(round(expected['steal_percent'], 1))
        assert R.window_sizes(entry['rate_window']).get('steal_percent', 0) == R.window_size(len(steal_window))
        model_p95 = R.p95(steal_window[-R.window_size(len(steal_window)):])
        if model_p95 is None:
            assert entry['p95']['steal_percent'] is None
        else:
            assert entry['p95']['steal_percent'] == pytest.approx(model_p95, abs=0.051)
        prev = now


@SETTINGS
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=400))
def test_p95_is_the_nearest_rank(values):
    result = R.p95(values)
    below = sum(1 for v in values if v <= result)
    assert below >= 0.95 * len(values)
    assert sum(1 for v in values if v < result) < 0.95 * len(values)


# --- the window's blocks (issue 15) against a reference model: every value, the last window_size ---

def _tenths(value):
    """Rounded to 0.1, in tenths; just below MAX_RATE stays below it (never rounded up to it)."""
    return min(int(value * 10.0 + 0.5), int(R.MAX_RATE) * 10 - 1)


window_value = st.one_of(st.none(), st.integers(0, 300).map(lambda n: n / 10.0), st.floats(0, 1e6),
                         st.floats(0, R.MAX_RATE, exclude_max=True))


@SETTINGS
@given(st.lists(st.tuples(window_value, window_value, st.booleans()), min_size=1, max_size=400),
       st.sampled_from(['random', 'falling', 'rising']))
def test_the_window_blocks_give_the_p95_of_the_model(cycles, order):
    if order != 'random':
        values = sorted((v for v, _o, _j in cycles if v is not None), reverse=order == 'falling')
        cycles = [(values.pop(0) if v is not None else None, o, j) for v, o, j in cycles]
    window, model = {}, {'steal_percent': [], 'io_kbps': []}
    for steal, io, through_json in cycles:
        window = R.advance(window, {'steal_percent': steal, 'io_kbps': io, 'cpu_percent': None})
        if through_json:
            window = json.loads(json.dumps(window, allow_nan=False))
        for field, value in (('steal_percent', steal), ('io_kbps', io)):
            if value is not None:
                model[field].append(_tenths(value))
        assert R.window_ok(window)
        sizes = R.window_sizes(window)
        result = R.percentiles(window)
        for field, values in model.items():
            kept = values[-R.window_size(len(values)):]
            assert sizes[field] == len(kept)
            assert result[field] == (None if not kept else R.p95(kept) / 10.0)
        for blocks in window:
            assert len(blocks) <= R.WINDOW_BLOCKS and all(len(block) <= R.WINDOW_KEEP + 1 for block in blocks)
        assert result['cpu_percent'] is None


@SETTINGS
@given(st.dictionaries(st.sampled_from(R.WINDOW_FIELDS), st.lists(st.floats(0, 1e9), min_size=1, max_size=R.RATE_WINDOW)))
def test_a_window_of_the_format_before_the_blocks_reads_with_the_same_p95(old):
    baseline, window = R.cached_state({'rate_window': old})
    assert baseline is None and (R.window_ok(window) if old else window == {})
    result = R.percentiles(window)
    for field in R.WINDOW_FIELDS:
        values = [_tenths(v) for v in old.get(field, [])]
        assert result[field] == (R.p95(values) / 10.0 if values else None)


json_value = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2, 10 ** 14), st.floats(), st.text(max_size=3)),
                          lambda inner: st.one_of(st.lists(inner, max_size=12),
                                                  st.dictionaries(st.sampled_from(R.WINDOW_FIELDS + ('x',)), inner, max_size=3)),
                          max_leaves=60)


@SETTINGS
@given(json_value)
def test_any_cached_window_is_refused_or_gives_finite_p95(window):
    state = R.cached_state({'rate_window': window})
    if state is None:
        return
    result = R.percentiles(state[1])
    for value in result.values():
        assert value is None or (math.isfinite(value) and 0 <= value < R.MAX_RATE)
    json.dumps(R.advance(state[1], dict.fromkeys(R.WINDOW_FIELDS, 1.0)), allow_nan=False)
