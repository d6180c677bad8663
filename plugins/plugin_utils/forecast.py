# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""When each resource class of the cluster and of each group runs full, from the daily history
(``history.py``), with a robust trend, a confidence band and planned workloads (docs/forecast.md).

The trend is Theil-Sen: the median of the slopes between every two daily points, which one
wild point cannot move. Its band is Sen's confidence interval: the slopes at the ranks the
normal approximation of Kendall's S gives (95 %). A capacity step (hosts added or removed)
splits the points into segments of equal capacity; only pairs within a segment give slopes,
so the step itself is never read as growth, and the line is anchored on the newest segment.

Exact order statistics of the pairwise slopes without sorting all n(n-1)/2 of them: a sample
of pairs brackets the ranks wanted, one pass counts the slopes below the bracket and lists
those inside it (``_scan``), and only those are sorted. For 90 points that is about a quarter
of the pairs; ``pairwise_slopes`` is the plain definition the tests compare it with. Where
numpy is installed (optional, docs/dependencies.md), the trends of a scope that share their
days are computed at once instead (``_array_order_statistics``), with the same results.
"""

import datetime
import math
import random
from bisect import bisect_left, bisect_right
from itertools import repeat
from operator import sub, truediv

try:
    import numpy
except ImportError:   # optional: without it the same numbers, from the pure-Python selection (slopes ~5x slower)
    numpy = None

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    DEFAULT_FORECAST_DAYS, DEFAULT_FORECAST_MIN_POINTS, FLAVOR_RESOURCES, MAX_FORECAST_DAYS, RESOURCE_CLASSES,
    is_number)
from ansible_collections.hypervisor.stats.plugins.plugin_utils import history
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import ClusterError, check_flavors, group_key

DAY = history.DAY
# Two-sided 95 % quantile of the normal distribution.
Z95 = 1.959963984540054
# Beyond this a date is no forecast: three months of points say nothing about 2040.
HORIZON_DAYS = 3653
NOT_ENOUGH = 'not enough history'
NOT_GROWING = 'not growing'
BEYOND = 'not within 10 years'
DAMAGED = 'damaged history'
PLANNED_FIELDS = ('flavor', 'count', 'group', 'date')
MAX_PLANNED_COUNT = 10 ** 9
# Below this many pairs, the slopes are simply all computed and sorted.
BRUTE_FORCE_PAIRS = 600
SAMPLE_PAIRS = 300
# numpy computes slopes in float64: exactly Python's for integers up to this (and for any float).
EXACT_FLOAT_INTEGER = 2 ** 53
# Slopes computed at once by numpy: bounds the memory of one batch (8 bytes a slope).
ARRAY_BATCH_SLOPES = 2 ** 20


class ForecastError(ValueError):
    """A bad argument; the message names it (``planned[2].flavor``, ``forecast_days``...)."""


# --- Theil-Sen ----------------------------------------------------------------------------

def pairwise_slopes(x, y):
    """Every slope (y[j] - y[i]) / (x[j] - x[i]), i < j: the definition, for small inputs and tests."""
    return [(y[j] - y[i]) / (x[j] - x[i]) for i in range(len(x)) for j in range(i + 1, len(x))]


_SAMPLES = {}


def _sample_pairs(size, count):
    """A fixed random sample of ``count`` index pairs i < j of ``size`` points (the same every run),
    as two lists: the i and the j of each pair."""
    key = (size, count)
    cache = _SAMPLES
    if key not in cache:
        total = size * (size - 1) // 2
        chosen = sorted(random.Random(size).sample(range(total), min(count, total)))
        pairs, row, row_start = [], 0, 0
        for index in chosen:   # the index-th pair in row-major order
            while index >= row_start + size - 1 - row:
                row_start += size - 1 - row
                row += 1
            pairs.append((row, row + 1 + index - row_start))
        cache[key] = ([i for i, _j in pairs], [j for _i, j in pairs])
    return cache[key]


def _scan(x, y, low, high):
    """(slopes <= low, [slopes in (low, high]]) of one segment; None bounds are -inf and +inf.

    For i < j, slope(i, j) <= t exactly when y[j] - t x[j] <= y[i] - t x[i]: visiting the points
    in the order of y - low x, a pair is below the bracket when its later point has the smaller x
    (counted with a sorted list of the x seen), and inside it when, ordered by y - high x, the
    two swap (the points seen with a larger key at ``high`` are a slice of another sorted list)."""
    size = len(x)
    low_keys = x if low is None else [b - low * a for a, b in zip(x, y)]
    high_keys = [-a for a in x] if high is None else [b - high * a for a, b in zip(x, y)]
    seen_x, seen_keys, key_x, key_y = [], [], [], []
    below = 0
    inside = []
    for visited, point in enumerate(sorted(range(size), key=low_keys.__getitem__)):
        xp, yp = x[point], y[point]
        position = bisect_right(seen_x, xp)
        below += visited - position
        seen_x.insert(position, xp)
        key = high_keys[point]
        position = bisect_right(seen_keys, key)
        if position < visited:
            inside.extend(map(truediv, map(sub, repeat(yp), key_y[position:]), map(sub, repeat(xp), key_x[position:])))
        seen_keys.insert(position, key)
        key_x.insert(position, xp)
        key_y.insert(position, yp)
    return below, inside


def slope_order_statistics(segments, ranks):
    """The slopes at the given 0-based ``ranks`` among the pairwise slopes within each segment
    (a list of (x, y) with x strictly increasing), smallest first, as sorting them all would give."""
    total = sum(len(x) * (len(x) - 1) // 2 for x, _y in segments)
    if total <= BRUTE_FORCE_PAIRS:
        slopes = sorted(slope for x, y in segments for slope in pairwise_slopes(x, y))
        return [slopes[rank] for rank in ranks]
    sample = []
    for x, y in segments:
        pairs = len(x) * (len(x) - 1) // 2
        if pairs:
            first, second = _sample_pairs(len(x), max(1, SAMPLE_PAIRS * pairs // total))
            sample.extend(map(truediv, map(sub, map(y.__getitem__, second), map(y.__getitem__, first)),
                              map(sub, map(x.__getitem__, second), map(x.__getitem__, first))))
    sample.sort()

    def start(rank, side):
        # The sample quantile of this rank, moved 2.5 standard deviations outwards.
        q = (rank + 0.5) / total
        return int(q * len(sample) + side * (2.5 * math.sqrt(q * (1 - q) * len(sample)) + 1))

    lowest, highest = min(ranks), max(ranks)
    low_index, high_index = start(lowest, -1), start(highest, 1)
    if 0 <= low_index < len(sample):
        # Strictly below a value the sample holds twice: a block of equal slopes (equal days) on the
        # lower bound would count below it and miss the bracket.
        low_index = bisect_left(sample, sample[low_index]) - 1
    step = 1
    while True:
        low = sample[low_index] if low_index >= 0 else None
        high = sample[high_index] if high_index < len(sample) else None
        below, inside = 0, []
        for x, y in segments:
            count, found = _scan(x, y, low, high)
            below += count
            inside.extend(found)
        # A bracket that missed (the sample, or a block of equal slopes on a bound) moves to a
        # sample value strictly further out, further each time.
        if below > lowest and low is not None:
            low_index = bisect_left(sample, low) - step
        elif below + len(inside) <= highest and high is not None:
            high_index = bisect_right(sample, high) + step - 1
        else:
            break
        step *= 4
    inside.sort()
    return [inside[rank - below] for rank in ranks]


def sen_band_ranks(sizes, z=Z95):
    """(lower, upper) 0-based ranks of Sen's confidence limits among the pairwise slopes of
    segments of these sizes: Var(S) = sum n(n-1)(2n+5)/18 (no tie correction: ties only widen
    the band), C = z sqrt(Var S), limits at the (N - C)/2-th and (N + C)/2 + 1-th slopes."""
    pairs = sum(n * (n - 1) // 2 for n in sizes)
    spread = z * math.sqrt(sum(n * (n - 1) * (2 * n + 5) for n in sizes) / 18.0)
    lower = max(int(math.floor((pairs - spread) / 2.0)) - 1, 0)
    upper = min(int(math.ceil((pairs + spread) / 2.0)), pairs - 1)
    return lower, upper


def theil_sen(segments, z=Z95):
    """(slope, low, high): the Theil-Sen slope of the pairs within each segment ((x, y) lists) and
    Sen's band around it; None without any pair."""
    return theil_sens([segments], z)[0]


def theil_sens(segment_lists, z=Z95):
    """``theil_sen`` of each list of segments. With numpy, the lists with the same days (a scope's
    trends, mostly) are computed together."""
    fits = [None] * len(segment_lists)
    together = {}   # days -> (their ranks, indexes of the lists over those days)
    for index, segments in enumerate(segment_lists):
        sizes = [len(x) for x, _y in segments]
        pairs = sum(n * (n - 1) // 2 for n in sizes)
        if not pairs:
            continue
        ranks = _fit_ranks(sizes, pairs, z)
        if numpy is None or pairs <= BRUTE_FORCE_PAIRS:
            fits[index] = _fit(slope_order_statistics(segments, ranks))
        else:
            together.setdefault(tuple(tuple(x) for x, _y in segments), (ranks, []))[1].append(index)
    for xs, (ranks, indexes) in together.items():
        found = _array_order_statistics(xs, [segment_lists[index] for index in indexes], ranks)
        for index, values in zip(indexes, found):
            fits[index] = _fit(values if values is not None
                               else slope_order_statistics(segment_lists[index], ranks))
    return fits


def _fit_ranks(sizes, pairs, z):
    """The ranks a fit needs: Sen's lower and upper limits, then the one or two middle ranks."""
    lower, upper = sen_band_ranks(sizes, z)
    return [lower, upper] + sorted({(pairs - 1) // 2, pairs // 2})


def _fit(values):
    """(slope, low, high) from the slopes at ``_fit_ranks``: the median is the middle ones' mean."""
    middle = values[2:]
    return sum(middle) / len(middle), values[0], values[1]


_ARRAY_PAIRS = {}


def _array_pairs(sizes):
    """(i, j) index arrays of every pair within each segment of these sizes, laid end to end."""
    if sizes not in _ARRAY_PAIRS:
        firsts, seconds, offset = [], [], 0
        for size in sizes:
            first, second = numpy.triu_indices(size, 1)
            firsts.append(first + offset)
            seconds.append(second + offset)
            offset += size
        _ARRAY_PAIRS[sizes] = (numpy.concatenate(firsts), numpy.concatenate(seconds))
    return _ARRAY_PAIRS[sizes]


def _array_order_statistics(xs, segment_lists, ranks):
    """``slope_order_statistics`` of several lists of segments over the same days ``xs``, with
    numpy: a list of values per list, or None for a list whose integers float64 would round."""
    first, second = _array_pairs(tuple(len(x) for x in xs))
    days = numpy.array([day for x in xs for day in x], dtype=float)
    spans = days[second] - days[first]
    found = []
    step = max(1, ARRAY_BATCH_SLOPES // len(first))
    for start in range(0, len(segment_lists), step):
        batch = segment_lists[start:start + step]
        values = numpy.array([[value for _x, y in segments for value in y] for segments in batch], dtype=float)
        slopes = numpy.empty((len(batch), len(first)))
        for row, row_values in enumerate(values):
            # Row by row: a gather with one row's index arrays stays in cache (the 2-D gather does not).
            numpy.subtract(row_values[second], row_values[first], out=slopes[row])
        slopes /= spans
        slopes.sort(axis=1)   # numpy's vectorised sort beats a partition at several ranks here
        picked = slopes[:, ranks].tolist()
        exact = (numpy.abs(values).max(axis=1) <= EXACT_FLOAT_INTEGER).tolist()
        for row, segments in enumerate(batch):
            found.append(picked[row] if exact[row] or not any(isinstance(value, int) for _x, y in segments for value in y)
                         else None)
    return found


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


# --- planned workloads --------------------------------------------------------------------

def _whole(value):
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if is_number(value) and value == int(value):
        return int(value)
    return None


def _iso_day(value, where):
    """Days since the epoch of an ISO date (text or a YAML date), or ForecastError."""
    if isinstance(value, datetime.datetime):
        value = value.date()
    elif isinstance(value, str):
        try:
            value = datetime.date.fromisoformat(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, datetime.date):
        raise ForecastError('%s must be an ISO date (YYYY-MM-DD), got %r' % (where, value))
    return (value - datetime.date(1970, 1, 1)).days


def check_planned(planned, flavors, groups=None):
    """The planned workloads as ``[{flavor, count, group, date, day, demand}]`` (``day``: days since
    the epoch or None, ``demand``: RC -> amount), or ForecastError naming ``planned[i].field``.

    ``flavors``: the cycle's flavors (every planned flavor must be one); ``groups``: the group
    names a planned group must be one of (None: not checked)."""
    if planned is None:
        return []
    if not isinstance(planned, (list, tuple)):
        raise ForecastError('planned must be a list of {flavor, count, group, date}, got %s' % type(planned).__name__)
    try:
        flavors = check_flavors(flavors)
    except ClusterError as exc:
        raise ForecastError(str(exc))
    if planned and not flavors:
        raise ForecastError('planned needs flavors: each entry names one')
    checked = []
    for index, entry in enumerate(planned):
        where = 'planned[%d]' % index
        if not isinstance(entry, dict):
            raise ForecastError('%s must be a dict with flavor, count, group and date, got %r' % (where, entry))
        unknown = sorted(str(key) for key in entry if key not in PLANNED_FIELDS)
        if unknown:
            raise ForecastError('%s.%s is not a field of a planned workload (%s)' % (where, unknown[0], ', '.join(PLANNED_FIELDS)))
        flavor = entry.get('flavor')
        if not isinstance(flavor, str) or flavor not in flavors:
            raise ForecastError('%s.flavor %r is not one of the flavors (%s)' % (where, flavor, ', '.join(sorted(flavors))))
        count = _whole(entry.get('count'))
        if count is None or not 1 <= count <= MAX_PLANNED_COUNT:
            raise ForecastError('%s.count must be a whole number from 1 to %d, got %r'
                                % (where, MAX_PLANNED_COUNT, entry.get('count')))
        group = entry.get('group')
        if group is not None:
            group = group_key(group)
            if groups is not None and group not in groups:
                raise ForecastError('%s.group %r is not a group of the cluster (%s)'
                                    % (where, group, ', '.join(sorted(groups)) or 'no groups'))
        date = entry.get('date')
        day = None if date is None or date == '' else _iso_day(date, where + '.date')
        demand = dict((rc, count * flavors[flavor][field]) for field, rc in FLAVOR_RESOURCES)
        checked.append({'flavor': flavor, 'count': count, 'group': group, 'day': day,
                        'date': None if day is None else iso_date(day * DAY), 'demand': demand})
    return checked


def applies(entry, group):
    """Whether a planned entry counts for the cluster (group None) or this group."""
    return group is None or entry['group'] == group


def flavor_units(entry, flavor):
    """An entry's demand in instances of ``flavor`` (a checked flavor), by its scarcest resource:
    as if perfectly packed, an estimate (an instance never spans hosts)."""
    units = [entry['demand'][rc] / float(flavor[field]) for field, rc in FLAVOR_RESOURCES if flavor[field]]
    return max(units) if units else 0.0


def headroom(point, planned, flavors, group=None):
    """Today's free capacity and fits, and what is left of them once the planned entries already
    due (``planned``: checked entries with ``day`` None or not after today) are placed, for the
    cluster (``group`` None) or one group. ``point``: the newest history point of that scope."""
    due = [entry for entry in planned if applies(entry, group)]
    free, demand, after = {}, {}, {}
    for rc in RESOURCE_CLASSES:
        value = point.get(history.rc_metric(rc, 'free'))
        if value is None:
            continue
        free[rc] = value
        demand[rc] = sum(entry['demand'].get(rc, 0) for entry in due)
        after[rc] = history.number(value - demand[rc])
    fits, fits_after = {}, {}
    for name, flavor in (flavors or {}).items():
        value = point.get(history.fits_metric(name))
        if value is None:
            continue
        fits[name] = value
        used = math.ceil(sum(flavor_units(entry, flavor) for entry in due) - 1e-9)
        fits_after[name] = max(int(value) - used, 0)
    return {'free': free, 'planned': demand, 'free_after_planned': after, 'fits': fits, 'fits_after_planned': fits_after}


# --- forecasting --------------------------------------------------------------------------

def iso_date(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).date().isoformat()


def _significant(value, digits=6):
    return None if value is None else float('%.*g' % (digits, value))


def _crossing(level, slope, limit, steps):
    """Days from now until level + slope * days + the steps so far reaches ``limit``, or None.
    ``steps``: (days from now, amount), sorted, all > 0."""
    if level >= limit:
        return 0.0
    for at, amount in steps:
        if slope > 0 and (limit - level) / slope < at:
            return (limit - level) / slope
        level += amount
        if level + slope * at >= limit:
            return float(at)
    return (limit - level) / slope if slope > 0 else None


def _runs(keys):
    """(start, end) of each run of consecutive points with the same capacity key."""
    runs, start = [], 0
    for end in range(1, len(keys) + 1):
        if end == len(keys) or keys[end] != keys[end - 1]:
            runs.append((start, end))
            start = end
    return runs


def _segments(days, values, runs):
    """[(x, y)] of each run (``_runs``), unknown values left out."""
    segments = []
    for start, end in runs:
        x, y = days[start:end], values[start:end]
        if None in y:
            x = [day for day, value in zip(x, y) if value is not None]
            y = [value for value in y if value is not None]
        if x:
            segments.append((x, y))
    return segments


def trend_record(segments, fit, x_now, limit, due=0, steps=(), sign=1):
    """One forecast record: when ``sign * value`` (+ the planned amounts) reaches ``limit``.

    ``segments``: the daily points, [(x, y)] of each run of equal capacity (a day's mean stands
    for its middle: x = the day number); ``fit``: their ``theil_sen``, None when there are too
    few points; ``x_now``: now in the same days; ``due``: the planned amount already due;
    ``steps``: [(x, amount)] of later planned amounts. Used capacity has sign 1 and limit the
    capacity; fits have sign -1 and limit 0 (full: no instance fits any more), their planned
    amounts counted in instances of the flavor."""
    points = sum(len(x) for x, _y in segments)
    # Planned steps beyond the horizon cannot change a date within it.
    ahead = sorted((at - x_now, amount) for at, amount in steps if x_now < at <= x_now + HORIZON_DAYS)
    record = {'days_until_full': None, 'full_on': None, 'full_on_optimistic': None, 'full_on_pessimistic': None,
              'slope_per_day': None, 'slope_low': None, 'slope_high': None, 'trend_today': None, 'points': points,
              'planned_due': history.number(due),
              'planned_steps': [[iso_date((x_now + at) * DAY + DAY / 2), history.number(amount)] for at, amount in ahead],
              'reason': None}
    if fit is None:
        record['reason'] = NOT_ENOUGH
        return record
    slope, low, high = fit
    # The line through the newest segment (after the last capacity step) with the trend's slope.
    newest_x, newest_y = segments[-1]
    today = median([value - slope * day for day, value in zip(newest_x, newest_y)]) + slope * x_now
    record.update(slope_per_day=_significant(slope), slope_low=_significant(low), slope_high=_significant(high),
                  trend_today=history.number(today))
    central, first, second = [_crossing(sign * today + due, sign * rate, limit, ahead) for rate in (slope, low, high)]
    now = (x_now + 0.5) * DAY
    if central is None:
        record['reason'] = NOT_GROWING
    elif central > HORIZON_DAYS:
        record['reason'] = BEYOND
    else:
        record['days_until_full'] = round(central, 1)
        record['full_on'] = iso_date(now + central * DAY)
    # The band's two dates: optimistic the later, pessimistic the earlier (None: never, or beyond 10 years).
    band = [days_ for days_ in (first, second) if days_ is not None and days_ <= HORIZON_DAYS]
    if band:
        record['full_on_pessimistic'] = iso_date(now + min(band) * DAY)
    if len(band) == 2:
        record['full_on_optimistic'] = iso_date(now + max(band) * DAY)
    return record


def _check_whole(name, value, low, high):
    number = _whole(value)
    if number is None or not low <= number <= high:
        raise ForecastError('%s must be a whole number from %d to %d, got %r' % (name, low, high, value))
    return number


def _scope(series, name, group, window_start, x_now, min_points, flavors, due, future, warnings):
    """The forecast records of one series (the cluster's or a group's), or None when it is damaged."""
    try:
        # Only what is used is read: the newest point's used, capacity, free and fits...
        newest = set(history.rc_metric(rc, field) for rc in RESOURCE_CLASSES for field in ('used', 'capacity', 'free'))
        at, point = history.latest_point(series, lambda metric: metric in newest or metric.startswith(history.FITS_PREFIX))
        flavor_names = sorted(flavors) if flavors else sorted(
            metric[len(history.FITS_PREFIX):] for metric in point if metric.startswith(history.FITS_PREFIX))
        # ...and the window's daily mean of used and fits, and max of capacity.
        used = [history.rc_metric(rc, 'used') for rc in RESOURCE_CLASSES]
        daily = history.daily_series(series, window_start, None, {
            'mean': used + [history.fits_metric(flavor) for flavor in flavor_names],
            'max': [history.rc_metric(rc, 'capacity') for rc in RESOURCE_CLASSES]})
    except history.Damage as exc:
        warnings.append('%s is damaged (%s): no forecast for it' % (name, exc))
        return None
    if at is None:
        return {}
    days = [t // DAY for t in daily['t']]
    unknown = [None] * len(days)
    capacities = [daily['max'].get(history.rc_metric(rc, 'capacity'), unknown) for rc in RESOURCE_CLASSES]
    keys = list(zip(*capacities))
    runs = _runs(keys)
    # Each trend: (its place in the scope, values, limit, planned amount due, later planned steps, sign).
    trends = []
    for rc, capacity in zip(RESOURCE_CLASSES, capacities):
        # The limit: the largest capacity of the newest day (one cycle missing a host does not lower it).
        limit = capacity[-1] if days and capacity[-1] is not None else point.get(history.rc_metric(rc, 'capacity'))
        if not limit or limit <= 0:
            continue
        trends.append((rc, daily['mean'].get(history.rc_metric(rc, 'used'), unknown), limit,
                       sum(entry['demand'][rc] for entry in due if applies(entry, group)),
                       [(entry['day'] - 0.5, entry['demand'][rc]) for entry in future if applies(entry, group)], 1))
    for flavor in flavor_names:
        size = (flavors or {}).get(flavor)   # None only without flavors, and then nothing is planned
        trends.append((flavor, daily['mean'].get(history.fits_metric(flavor), unknown), 0,
                       sum(flavor_units(entry, size) for entry in due if applies(entry, group)) if size else 0,
                       [(entry['day'] - 0.5, flavor_units(entry, size)) for entry in future if applies(entry, group)]
                       if size else (), -1))
    segment_lists = [_segments(days, values, runs) for _place, values, _limit, _due, _steps, _sign in trends]
    fits = theil_sens([segments if sum(len(x) for x, _y in segments) >= min_points else []
                       for segments in segment_lists])
    scope, fits_records = {'at': at}, {}
    for (place, _values, limit, planned_due, steps, sign), segments, fit in zip(trends, segment_lists, fits):
        record = trend_record(segments, fit, x_now, limit, planned_due, steps, sign)
        if sign > 0:
            record.update(capacity=limit, used=point.get(history.rc_metric(place, 'used')))
            scope[place] = record
        else:
            record['fits'] = point.get(history.fits_metric(place))
            fits_records[place] = record
    scope['fits'] = fits_records
    scope['headroom'] = headroom(point, due, flavors, group)
    return scope


def forecast(entry, now, forecast_days=DEFAULT_FORECAST_DAYS, min_points=DEFAULT_FORECAST_MIN_POINTS,
             planned=None, flavors=None):
    """(section, warnings): the forecasts of the cluster and of each group of a history entry
    (the store host's, ``history.fold_cycle``'s ``cluster``) at ``now`` (epoch seconds).

    ``forecast_days``: days of daily points the trends look back on; ``min_points``: fewest
    daily points a trend is made from; ``planned``: planned workloads (``check_planned``);
    ``flavors``: the cycle's flavors (needed by ``planned``; default the flavors in the history).

    The section: ``{'now', 'today', 'forecast_days', 'min_points', 'simulated', 'planned',
    'cluster': scope, 'groups': {name: scope}}``; a scope: ``{'at': newest point's time,
    <RC>: record, 'fits': {flavor: record}, 'headroom': headroom()}`` (docs/forecast.md).
    A damaged series costs its scope only (left out, with a warning)."""
    try:
        now = history.check_now(now)
        flavors = check_flavors(flavors)
    except (history.HistoryError, ClusterError) as exc:
        raise ForecastError(str(exc))
    forecast_days = _check_whole('forecast_days', forecast_days, 1, MAX_FORECAST_DAYS)
    min_points = _check_whole('min_points', min_points, 2, MAX_FORECAST_DAYS)
    # The values a forecast uses are checked as they are read (history.check_series).
    entry, warnings = history.check_entry(entry, full=False, consequence='no forecast for it')
    planned = check_planned(planned, flavors, set(entry['groups']))
    today = int(now // DAY)
    due = [item for item in planned if item['day'] is None or item['day'] <= today]
    future = [item for item in planned if item['day'] is not None and item['day'] > today]
    window_start = (today - forecast_days + 1) * DAY
    x_now = now / float(DAY) - 0.5
    arguments = (window_start, x_now, min_points, flavors, due, future, warnings)
    section = {'now': int(now), 'today': iso_date(now), 'forecast_days': forecast_days, 'min_points': min_points,
               'simulated': bool(entry.get('simulated')),
               'planned': [dict((key, item[key]) for key in PLANNED_FIELDS) for item in planned],
               'cluster': _scope(entry['cluster'], 'the history of the cluster', None, *arguments) or {},
               'groups': {}}
    for name in sorted(entry['groups']):
        scope = _scope(entry['groups'][name], 'the history of group %r' % (name,), name, *arguments)
        if scope is not None:
            section['groups'][name] = scope
    return section, warnings
