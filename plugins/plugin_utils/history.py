# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded capacity history, consolidated like RRD, for the forecasts (docs/forecast.md).

Every cycle folds one *point* (metric name -> number or None) into a *series* of three tiers:

* ``raw``: every cycle of the last 2 days;
* ``hourly``: one point per UTC hour for 35 days;
* ``daily``: one point per UTC day for three years (``MAX_FORECAST_DAYS`` days).

As in RRD, each consolidated tier is computed from the cycles themselves: when a cycle starts
a new hour (day), the cycles of each earlier hour (day) not yet consolidated, all still in
``raw``, become one point with the mean and the max of every metric, and the p95 of the CPU
utilisation. So a series never grows with the number of cycles, only with the tiers' spans.

Columnar and in text, to stay small and cheap in the fact cache (Ansible encodes a string in
one step, a list number by number: 20 times faster for this data)::

    {'version': 1,
     'raw':    {'t': '1700000000,1700000300', 'v': {'VCPU.used': '12,14', 'cpu_util': ',37.5'}},
     'hourly': {'t': '<bucket starts>', 'n': '<cycles in each>',
                'mean': {metric: text}, 'max': {metric: text}, 'p95': {'cpu_util': text}},
     'daily':  {same as hourly}}

``t`` holds epoch seconds (a consolidated point: the start of its UTC hour or day); every
column has one comma-separated value per ``t``, at most 2 decimals, empty for a reading that
was unknown. A missed cycle is a missing ``t`` (a gap), never a zero; a metric unknown
throughout a tier has no column. Metric names: ``<RC>.<field>`` for the placement inventory
(``VCPU.used``; fields ``total``, ``reserved``, ``capacity``, ``used``, ``free``), ``cpu_util``
(percent of the hosts' CPUs), ``mem_used_mb``, ``disk_used_gb``, ``vms`` (running), ``hosts``
(how many were summed) and ``fits.<flavor>``.

The store host keeps an *entry* (``HISTORY_FACT``), the cluster's series and one per group;
each hypervisor keeps its own series (``HOST_HISTORY_FACT``) in its own fact cache entry, so
no entry grows with the cluster::

    {'version': 1, 'group_by': 'labels.cluster', 'cluster': series, 'groups': {name: series}}

An entry written by ``examples/simulated_history.py`` has ``'simulated': True`` (so do its
series); folding real cycles into it keeps the flag: its points stay simulated.
"""

import json
import math
import time
from bisect import bisect_left, bisect_right

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    INVENTORY_FIELDS, MAX_FORECAST_DAYS, MAX_TOTAL, NODE_CPU_TIMES, RESOURCE_CLASSES, is_bounded_number, is_count)
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import (
    ClusterError, check_flavors, compile_group_by, group_of, host_fits, is_host_facts)

VERSION = 1
HOUR = 3600
DAY = 86400
# Facts the role keeps them in: the store host's entry, and each hypervisor's own series.
HISTORY_FACT = 'hypervisor_stats_history'
HOST_HISTORY_FACT = 'hypervisor_stats_host_history'
# A host's series keeps its last CPU time counters, the baseline of its next CPU utilisation.
CPU_TIMES = 'cpu_times'

RAW_SECONDS = 2 * DAY
# (tier, bucket seconds, seconds kept), finest first.
TIERS = (('hourly', HOUR, 35 * DAY), ('daily', DAY, MAX_FORECAST_DAYS * DAY))
TIER_NAMES = ('raw',) + tuple(name for name, _step, _keep in TIERS)
STATS = ('mean', 'max', 'p95')
# Metrics whose p95 is kept: a percentile of a percentage means something, of a sum it does not.
P95_METRICS = ('cpu_util',)

CPU_UTIL = 'cpu_util'
FITS_PREFIX = 'fits.'
# point metric -> host_resources / cluster_totals field
USAGE_FIELDS = (('mem_used_mb', 'memory_mb_used'), ('disk_used_gb', 'local_gb_used'), ('vms', 'running_vms'))
HOSTS = 'hosts'
DECIMALS = 2

# What a column may contain (everything else: letters of NaN, inf, exponents, quotes... is damage).
_NOT_NUMBER_TEXT = str.maketrans('', '', '0123456789.,-?')
_NOT_COUNT_TEXT = str.maketrans('', '', '0123456789,')


class HistoryError(ValueError):
    """A bad argument (not a damaged history, which costs only that history); the message names it."""


class Damage(ValueError):
    """A damaged history; the message says where."""


def rc_metric(rc, field):
    """The metric name of one inventory field: ``VCPU.used``."""
    return '%s.%s' % (rc, field)


def fits_metric(flavor):
    return FITS_PREFIX + flavor


def number(value):
    """A finite number as it is stored (floats to DECIMALS places, whole ones as ints), else None."""
    if not is_bounded_number(value):
        return None
    if isinstance(value, int):
        return int(value)
    value = round(float(value), DECIMALS)
    return int(value) if value.is_integer() else value


def percent(value):
    """A CPU utilisation as stored: a finite number clamped to 0-100, else None."""
    value = number(value)
    return None if value is None else min(max(value, 0), 100)


# --- the text of a column ----------------------------------------------------------------
# A column is one token per point, comma-separated: a number (at most 2 decimals), ``?`` for a
# reading that was unknown, or nothing for "the same as the point before" (so a capacity that
# does not change costs one comma a point). The first token is never empty. ``t`` and ``n``
# are plain comma-separated whole numbers.

UNKNOWN = '?'


def _token(value):
    """The text of a ``number()``: ints and whole floats without a point, others with up to 2 decimals."""
    if value is None:
        return UNKNOWN
    if isinstance(value, int) or value.is_integer():
        return '%d' % value
    return ('%.2f' % value).rstrip('0')


def _last_token(column):
    """The explicit token the end of a column repeats."""
    return column.rstrip(',').rsplit(',', 1)[-1]


def _compress(tokens, previous=None):
    """Tokens equal to the one before them left empty."""
    compressed = []
    for token in tokens:
        compressed.append('' if token == previous else token)
        previous = token
    return compressed


def encode(values):
    """A column's text: ``[12, 12, None, 3.5]`` -> ``'12,,?,3.5'``."""
    return ','.join(_compress([_token(value) for value in values]))


def _parse(token):
    if token == UNKNOWN:
        return None
    value = float(token) if '.' in token else int(token)
    if not -MAX_TOTAL < value < MAX_TOTAL:
        raise ValueError(token)
    return value


def _fill(tokens, seed):
    """The values of tokens, an empty one repeating the value before it (``seed`` before the first)."""
    if '' not in tokens and UNKNOWN not in tokens:
        # Every token a number (a column that changes each point): parsed in C. Anything JSON
        # refuses ('3.', '01'...) goes to the loop below, which alone decides what is malformed.
        text = ','.join(tokens)
        if not text.translate(_NOT_NUMBER_TEXT):
            try:
                values = json.loads('[%s]' % text)
            except ValueError:
                values = None
            if values is not None and (not values or -MAX_TOTAL < min(values) and max(values) < MAX_TOTAL):
                return values
    values = []
    append = values.append
    value = seed
    for token in tokens:
        if token:
            if token == UNKNOWN:
                value = None
            else:   # _parse, inlined: this loop reads every value a forecast or chart uses
                value = float(token) if '.' in token else int(token)
                if not -MAX_TOTAL < value < MAX_TOTAL:
                    raise ValueError(token)
        append(value)
    return values


def decode(text, start=0, stop=None):
    """The values of a column's text (None for the unknown ones), from index start to stop;
    Damage when a number is malformed (a check on read costs only characters and commas)."""
    tokens = text.split(',')
    try:
        seed = None
        if start and not tokens[start]:
            seed = _parse(_last_token(','.join(tokens[:start])))
        return _fill(tokens[start:stop], seed)
    except (ValueError, IndexError):
        raise Damage('a column holds a malformed number')


def decode_tail(text, size, count):
    """The last ``count`` values of a column of ``size`` values, splitting off only those; Damage
    when the column has another number of values (a light ``check_series`` leaves that to here)."""
    if text.count(',') != size - 1:
        raise Damage('a column has another number of values than its times')
    if count >= size:
        return decode(text)
    if count <= 0:
        return []
    pieces = text.rsplit(',', count)
    head, tail = pieces[0], pieces[1:]
    try:
        return _fill(tail, _parse(_last_token(head)) if not tail[0] else None)
    except (ValueError, IndexError):
        raise Damage('a column holds a malformed number')


def times(text):
    """The whole numbers of a ``t`` or ``n`` text."""
    return list(map(int, text.split(','))) if text else []


def length(tier):
    """How many points a tier has."""
    return tier['t'].count(',') + 1 if tier['t'] else 0


def _extend_plain(text, tokens):
    return ','.join(tokens) if not text else text + ',' + ','.join(tokens)


def _extend(column, size, tokens):
    """``column`` (None: ``size`` unknown values) with the ``tokens`` (uncompressed) after it."""
    if column is None:
        if not size:
            return ','.join(_compress(tokens))
        column = UNKNOWN + ',' * (size - 1)
    return column + ',' + ','.join(_compress(tokens, _last_token(column)))


def _drop_plain(text, count):
    """A ``t`` or ``n`` text without its first ``count`` values (at least one stays)."""
    return text.split(',', count)[count] if count else text


def _drop(column, count):
    """A column without its first ``count`` values (at least one stays); its new first token explicit."""
    if not count:
        return column
    parts = column.split(',', count)
    rest = parts[count]
    if rest.startswith(',') or not rest:
        rest = _last_token(','.join(parts[:count])) + rest
    return rest


def _all_unknown(column):
    # The first token is explicit: a column all unknown starts with one.
    return column.startswith(UNKNOWN) and not column.replace(UNKNOWN, '').replace(',', '')


# --- points -----------------------------------------------------------------------------

def point_from_totals(section, cpu_util=None):
    """The point of a ``cluster_totals`` output, or of one of its ``groups``.

    A sum some host lacked (``missing``) is stored as None, not as the smaller sum of the
    others: a host missing a reading must not look like capacity lost."""
    missing = section.get('missing') if isinstance(section.get('missing'), dict) else {}
    point = {}
    inventory = section.get('inventory') if isinstance(section.get('inventory'), dict) else {}
    for rc in RESOURCE_CLASSES:
        record = inventory.get(rc)
        if not isinstance(record, dict):
            continue
        partial = missing.get('inventory') or missing.get('inventory.%s' % rc)
        for field in INVENTORY_FIELDS:
            bad = partial or missing.get('inventory.%s.%s' % (rc, field))
            point[rc_metric(rc, field)] = None if bad else number(record.get(field))
    for metric, field in USAGE_FIELDS:
        point[metric] = None if missing.get(field) else number(section.get(field))
    point[HOSTS] = number(section.get('count'))
    point[CPU_UTIL] = percent(cpu_util)
    fits = section.get('fits')
    if isinstance(fits, dict):
        for flavor, count in fits.items():
            point[fits_metric(str(flavor))] = number(count)
    return point


def point_from_host(facts, flavors=None, cpu_util=None):
    """The point of one host's ``host_resources`` facts; ``flavors`` as ``cluster.check_flavors`` returns them."""
    point = {}
    inventory = facts.get('inventory') if isinstance(facts.get('inventory'), dict) else {}
    for rc in RESOURCE_CLASSES:
        record = inventory.get(rc)
        if isinstance(record, dict):
            for field in INVENTORY_FIELDS:
                point[rc_metric(rc, field)] = number(record.get(field))
    for metric, field in USAGE_FIELDS:
        point[metric] = number(facts.get(field))
    point[HOSTS] = 1
    point[CPU_UTIL] = percent(cpu_util)
    for name, flavor in (flavors or {}).items():
        point[fits_metric(name)] = host_fits(facts, flavor)
    return point


def weighted_utilisation(readings):
    """The CPU utilisation of several hosts from their (percent, CPU count) readings: weighted by
    the count (host_resources ``vcpus``); None when no host has both."""
    weight = total = 0.0
    for util, cpus in readings:
        util = percent(util)
        if util is None or not is_bounded_number(cpus) or cpus <= 0:
            continue
        weight += cpus
        total += util * cpus
    return percent(total / weight) if weight else None


# --- checking what the cache gave back -----------------------------------------------------

def _text(value, where, size, table=_NOT_NUMBER_TEXT):
    """A column's text (Ansible's tagged strings made plain), or Damage: another number of values
    than ``size``, an empty first token, or (with a table) other characters than the table's."""
    if not isinstance(value, str):
        raise Damage('%s is %s, not text' % (where, type(value).__name__))
    value = str(value)
    if table is not None and (value.translate(table) or value.count(',') != size - 1) or value[:1] in ('', ','):
        raise Damage('%s is not %d comma-separated numbers' % (where, size))
    return value


def _check_tier(tier, name, full=True):
    if tier is None:
        return _empty_tier(name)
    if not isinstance(tier, dict):
        raise Damage('%s is %s, not a dict' % (name, type(tier).__name__))
    text = tier.get('t', '')
    if not isinstance(text, str) or str(text).translate(_NOT_COUNT_TEXT):
        raise Damage('%s.t is not comma-separated epoch seconds' % name)
    text = str(text)
    size = text.count(',') + 1 if text else 0
    if full:
        try:
            seconds = times(text)
        except ValueError:
            raise Damage('%s.t is not comma-separated epoch seconds' % name)
        if seconds and (seconds[-1] >= MAX_TOTAL or not all(map(int.__lt__, seconds, seconds[1:]))):
            raise Damage('%s.t is not strictly increasing' % name)
    checked = {'t': text}
    if name != 'raw':
        counts = _text(tier.get('n', ''), name + '.n', size, _NOT_COUNT_TEXT) if size else ''
        try:
            if full and size and min(times(counts)) < 1:
                raise ValueError(counts)
        except ValueError:
            raise Damage('%s.n is not the positive counts of cycles of each point' % name)
        checked['n'] = counts
    for stat in (('v',) if name == 'raw' else STATS):
        columns = tier.get(stat, {})
        if not isinstance(columns, dict):
            raise Damage('%s.%s is not a dict of metric -> values' % (name, stat))
        checked[stat] = {}
        for metric, column in columns.items():
            if not isinstance(metric, str):
                raise Damage('%s.%s has a metric name that is not text: %r' % (name, stat, metric))
            checked[stat][str(metric)] = _text(column, '%s.%s[%r]' % (name, stat, metric), size,
                                               _NOT_NUMBER_TEXT if full else None)
    return checked


def check_series(series, full=True):
    """(series, None) with every tier checked (numbers are parsed where they are read), an empty
    series for None or {}, or (empty series, what is wrong) when it is damaged.

    ``full`` False checks the structure only, for a reader that checks what it reads (a forecast,
    a chart: ``decode_tail``, ``daily_series``, ``latest_point``), so that reading the last days of
    three years costs those days only."""
    if series is None or series == {}:
        return empty_series(), None
    try:
        if not isinstance(series, dict):
            raise Damage('it is %s, not a dict' % type(series).__name__)
        if series.get('version') != VERSION:
            raise Damage('version %r is not %d' % (series.get('version'), VERSION))
        checked = {'version': VERSION}
        for name in TIER_NAMES:
            checked[name] = _check_tier(series.get(name), name, full)
    except Damage as exc:
        return empty_series(), str(exc)
    if series.get('simulated') is True:
        checked['simulated'] = True
    if cpu_times_reading(series.get(CPU_TIMES)) is not None:
        checked[CPU_TIMES] = series[CPU_TIMES]
    return checked, None


def check_entry(entry, full=True, consequence='it starts afresh'):
    """(entry, warnings): the store host's entry with each damaged series replaced by an empty one,
    a warning naming it and saying ``consequence`` (``full``: as ``check_series``)."""
    if entry is None or entry == {}:
        return empty_entry(), []
    if not isinstance(entry, dict) or entry.get('version') != VERSION:
        what = 'version %r' % (entry.get('version'),) if isinstance(entry, dict) else type(entry).__name__
        return empty_entry(), ['the cluster history is damaged (%s); %s' % (what, consequence)]
    warnings = []
    cluster, problem = check_series(entry.get('cluster'), full)
    if problem:
        warnings.append('the history of the cluster is damaged (%s); %s' % (problem, consequence))
    groups = {}
    given = entry.get('groups')
    if given is not None and not isinstance(given, dict):
        warnings.append('the group histories are damaged (%s, not a dict); %s' % (type(given).__name__, consequence))
        given = {}
    for name, series in (given or {}).items():
        checked, problem = check_series(series, full)
        if problem:
            warnings.append('the history of group %r is damaged (%s); %s' % (name, problem, consequence))
        else:
            groups[str(name)] = checked
    group_by = entry.get('group_by')
    checked = {'version': VERSION, 'group_by': str(group_by) if isinstance(group_by, str) else None,
               'cluster': cluster, 'groups': groups}
    if entry.get('simulated') is True:
        checked['simulated'] = True
    return checked, warnings


def _empty_tier(name):
    if name == 'raw':
        return {'t': '', 'v': {}}
    return {'t': '', 'n': '', 'mean': {}, 'max': {}, 'p95': {}}


def empty_series():
    return dict([('version', VERSION)] + [(name, _empty_tier(name)) for name in TIER_NAMES])


def empty_entry():
    return {'version': VERSION, 'group_by': None, 'cluster': empty_series(), 'groups': {}}


def is_empty(series):
    return not any(series[name]['t'] for name in TIER_NAMES)


# --- folding one point ----------------------------------------------------------------------

def newest(series):
    """The last second a (checked) series covers, or None: its newest raw time, or the end of
    its newest consolidated bucket (a cycle inside that bucket could not be consolidated)."""
    latest = None
    if series['raw']['t']:
        latest = int(series['raw']['t'].rsplit(',', 1)[-1])
    for name, step, _keep in TIERS:
        text = series[name]['t']
        if text:
            end = int(text.rsplit(',', 1)[-1]) + step - 1
            latest = end if latest is None else max(latest, end)
    return latest


def _p95(values):
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(int(math.ceil(0.95 * len(ordered))) - 1, 0)]


def consolidate(values, p95=True):
    """(mean, max, p95) of one bucket's readings, None ignored; all None when none is known
    (p95 None unless asked for)."""
    known = [value for value in values if value is not None]
    if not known:
        return None, None, None
    return number(math.fsum(known) / len(known)), max(known), _p95(known) if p95 else None


def _consolidate_raw(raw, raw_times, tier, step, current, metrics=None):
    """``tier`` with one point per bucket of ``raw`` after the tier's newest and before ``current``
    (a new dict; ``tier`` is not changed). ``metrics``: only those (default all)."""
    after = int(tier['t'].rsplit(',', 1)[-1]) + step if tier['t'] else -1
    start, end = bisect_left(raw_times, after), bisect_left(raw_times, current)
    if start >= end:
        return tier
    spans = []   # (bucket start, first index, end index) of each new point
    index = start
    while index < end:
        bucket = raw_times[index] - raw_times[index] % step
        stop = bisect_left(raw_times, bucket + step, index, end)
        spans.append((bucket, index - start, stop - start))
        index = stop
    size = length(tier)
    new = {'t': _extend_plain(tier['t'], [str(bucket) for bucket, _i, _j in spans]),
           'n': _extend_plain(tier['n'], [str(j - i) for _bucket, i, j in spans])}
    names = set(raw['v']).union(*(tier[stat] for stat in STATS))
    if metrics is not None:
        names &= set(metrics)
    for stat in STATS:
        new[stat] = dict((metric, column) for metric, column in tier[stat].items() if metric in names)
    for metric in names:
        column = raw['v'].get(metric)
        values = decode(column, start, end) if column is not None else []
        results = dict((stat, []) for stat in STATS)
        for _bucket, i, j in spans:
            for stat, value in zip(STATS, consolidate(values[i:j], metric in P95_METRICS)):
                results[stat].append(value)
        for stat in STATS:
            if stat == 'p95' and metric not in P95_METRICS:
                continue
            # A metric never known in a tier gets no column there.
            if metric in tier[stat] or any(value is not None for value in results[stat]):
                new[stat][metric] = _extend(tier[stat].get(metric), size, [_token(v) for v in results[stat]])
    return new


def _append(raw, point, when):
    """``raw`` with one more cycle (a new dict)."""
    size = length(raw)
    columns = {}
    for metric in set(raw['v']) | set(point):
        value = point.get(metric)
        if metric in raw['v'] or value is not None:   # a metric never known gets no column
            columns[metric] = _extend(raw['v'].get(metric), size, [_token(value)])
    return {'t': _extend_plain(raw['t'], [str(when)]), 'v': columns}


def _keep_from(tier, start, stats):
    """The tier without its first ``start`` points, and without the metrics then all unknown."""
    if start >= length(tier):
        return _empty_tier('raw' if 'v' in tier else 'daily')
    kept = dict((key, _drop_plain(tier[key], start)) for key in ('t', 'n') if key in tier)
    for stat in stats:
        kept[stat] = {}
        for metric, column in tier[stat].items():
            column = _drop(column, start)
            if not _all_unknown(column):
                kept[stat][metric] = column
    return kept


def _count_before(text, cutoff):
    """How many of a ``t`` text's leading times are before ``cutoff``, reading only those."""
    count = position = 0
    while position < len(text):
        comma = text.find(',', position)
        if int(text[position:comma] if comma >= 0 else text[position:]) >= cutoff:
            break
        count += 1
        if comma < 0:
            break
        position = comma + 1
    return count


def prune(series, now):
    """The series without the points its tiers no longer keep at time ``now`` (a new dict)."""
    pruned = dict(series)
    start = _count_before(series['raw']['t'], now - RAW_SECONDS + 1)
    if start:
        pruned['raw'] = _keep_from(series['raw'], start, ('v',))
    for name, step, keep in TIERS:
        start = _count_before(series[name]['t'], now - now % step - keep)
        if start:
            pruned[name] = _keep_from(series[name], start, STATS)
    return pruned


def fold(series, point, now, name='the history'):
    """(new series, warnings): ``point`` (metric -> number or None) taken at ``now`` (epoch
    seconds) added to ``series`` (None or {} for none yet), consolidated and pruned.

    A damaged series starts afresh with a warning naming ``name``; a point no newer than what
    the series covers (a clock that went back, a cycle replayed) is dropped with a warning."""
    series, problem = check_series(series)
    warnings = ['%s is damaged (%s); it starts afresh' % (name, problem)] if problem else []
    series, notes = _fold_checked(series, point, now, name)
    return series, warnings + notes


def _fold_checked(series, point, now, name):
    """``fold`` of a series ``check_series`` returned."""
    warnings = []
    when = int(now)
    latest = newest(series)
    if latest is not None and when <= latest:
        warnings.append('%s already covers %d, this cycle is at %d (the clock went back, or a cycle was '
                        'replayed): the cycle is not added to it' % (name, latest, when))
        return series, warnings
    clean = dict((str(metric), number(value)) for metric, value in point.items())
    new = dict(series)
    new['raw'] = _append(series['raw'], clean, when)
    previous = int(series['raw']['t'].rsplit(',', 1)[-1]) if series['raw']['t'] else None
    raw_times = None
    try:
        for tier, step, _keep in TIERS:
            # Only a cycle in a new bucket closes buckets (most cycles: none).
            if previous is not None and when // step > previous // step:
                raw_times = raw_times or times(new['raw']['t'])
                new[tier] = _consolidate_raw(new['raw'], raw_times, series[tier], step, when - when % step)
    except Damage as exc:
        warnings.append('%s is damaged (%s); it starts afresh' % (name, exc))
        new = empty_series()
        new['raw'] = _append(new['raw'], clean, when)
    return prune(new, when), warnings


# --- one cycle ---------------------------------------------------------------------------------

def now_of(value):
    """A filter's ``now`` option: None or blank is the controller's clock, text is read as a number
    (``hypervisor_stats_now`` may arrive as a survey answer); the number is ``check_now``'s to judge."""
    if value is None or value == '':
        return time.time()
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise HistoryError('now must be epoch seconds, got %r' % (value,))
    return value


def check_now(now):
    """``now`` as epoch seconds, or HistoryError."""
    if not is_bounded_number(now) or now <= 0:
        raise HistoryError('now must be epoch seconds (a positive number), got %r' % (now,))
    return now


def cpu_times_reading(value):
    """A host's CPU time counters (host_resources' ``cpu_times``) as {name: ns}, or None unless every
    one is a whole number >= 0."""
    if not isinstance(value, dict):
        return None
    reading = dict((name, value.get(name)) for name in NODE_CPU_TIMES)
    if not all(is_count(v) for v in reading.values()):
        return None
    return reading


def cpu_times_utilisation(before, after):
    """Percent of the host's CPU time busy (user + kernel) between two ``cpu_times`` readings, or
    None when either is missing or a counter went back (a reboot)."""
    before, after = cpu_times_reading(before), cpu_times_reading(after)
    if before is None or after is None:
        return None
    delta = dict((name, after[name] - before[name]) for name in NODE_CPU_TIMES)
    elapsed = sum(delta.values())
    if min(delta.values()) < 0 or elapsed <= 0:
        return None
    return percent(100.0 * (delta['user'] + delta['kernel']) / elapsed)


def _host_utilisation(name, facts, cpu_utilization, series):
    """Given (``cpu_utilization``), in the facts, else the growth of the host's own CPU counters
    since the reading its history keeps."""
    if cpu_utilization and name in cpu_utilization:
        return percent(cpu_utilization[name])
    if facts.get('cpu_utilization') is not None:
        return percent(facts.get('cpu_utilization'))
    return cpu_times_utilisation(series.get(CPU_TIMES) if isinstance(series, dict) else None, facts.get(CPU_TIMES))


def fold_cycle(previous, totals, hosts, now, flavors=None, cpu_utilization=None):
    """(new histories, warnings) after one cycle.

    ``previous``: ``{'cluster': entry, 'hosts': {name: series}}`` as this function returned it
    (None, {} or missing keys at first); ``totals``: this cycle's ``cluster_totals`` output;
    ``hosts``: name -> ``host_resources`` facts of the hosts sampled this cycle; ``now``: epoch
    seconds; ``flavors``: the cycle's flavors (each host's fits); ``cpu_utilization``: name ->
    percent or None (default: each host's facts' ``cpu_utilization``, if any).

    Returns ``{'cluster': entry, 'hosts': {name: series}}``, a series for each host of ``hosts``
    (hosts not sampled keep theirs: a gap). The cluster and each group of ``totals`` get a point;
    a group not in ``totals`` gets none (a gap), and goes once its points have aged out.
    """
    now = check_now(now)
    if not isinstance(totals, dict):
        raise HistoryError('totals must be the output of cluster_totals (a dict), got %s' % type(totals).__name__)
    hosts = {} if hosts is None else hosts
    if not isinstance(hosts, dict):
        raise HistoryError('hosts must be a dict of host name -> host_resources facts, got %s' % type(hosts).__name__)
    if cpu_utilization is not None and not isinstance(cpu_utilization, dict):
        raise HistoryError('cpu_utilization must be a dict of host name -> percent, got %s'
                           % type(cpu_utilization).__name__)
    group_by = str(totals['group_by']) if isinstance(totals.get('group_by'), str) else None
    try:
        flavors = check_flavors(flavors)
        expression = compile_group_by(group_by) if group_by else None
    except ClusterError as exc:
        raise HistoryError(str(exc))
    warnings = []
    previous = {} if previous is None else previous
    if not isinstance(previous, dict):
        warnings.append('the previous histories are %s, not a dict; they start afresh' % type(previous).__name__)
        previous = {}
    entry, problems = check_entry(previous.get('cluster'))
    warnings.extend(problems)
    groups = entry['groups']
    if groups and entry['group_by'] != group_by:
        warnings.append('group_by changed from %r to %r: the group histories start afresh' % (entry['group_by'], group_by))
        groups = {}

    previous_hosts = previous.get('hosts') if isinstance(previous.get('hosts'), dict) else {}
    readings = {}   # group -> [(percent, CPU count)] of its hosts, for the CPU utilisation
    sampled = []
    for name, facts in hosts.items():
        if not is_host_facts(facts):
            warnings.append('host %s: not host_resources facts; no point this cycle' % name)
            continue
        util = _host_utilisation(name, facts, cpu_utilization, previous_hosts.get(name))
        sampled.append((str(name), facts, util))
        group = group_of(expression, facts) if expression is not None else None
        readings.setdefault(group, []).append((util, facts.get('vcpus')))

    new_entry = {'version': VERSION, 'group_by': group_by, 'cluster': entry['cluster'], 'groups': {}}
    if entry.get('simulated'):
        new_entry['simulated'] = True
    if totals.get('count'):
        everyone = [reading for group_readings in readings.values() for reading in group_readings]
        new_entry['cluster'], notes = _fold_checked(entry['cluster'], point_from_totals(
            totals, weighted_utilisation(everyone)), now, 'the history of the cluster')
        warnings.extend(notes)
    else:
        new_entry['cluster'] = prune(entry['cluster'], int(now))
    sections = totals.get('groups') if isinstance(totals.get('groups'), dict) else {}
    for name in sorted(set(groups) | set(sections)):
        section = sections.get(name)
        if isinstance(section, dict) and section.get('count'):
            point = point_from_totals(section, weighted_utilisation(readings.get(name, ())))
            series, notes = _fold_checked(groups.get(name) or empty_series(), point, now, 'the history of group %r' % (name,))
            warnings.extend(notes)
        elif name in groups:
            series = prune(groups[name], int(now))
        else:
            continue
        if not is_empty(series):
            new_entry['groups'][name] = series

    new_hosts = {}
    for name, facts, util in sampled:
        new_hosts[name], notes = fold(previous_hosts.get(name), point_from_host(facts, flavors, util), now,
                                      'the history of host %s' % name)
        warnings.extend(notes)
        reading = cpu_times_reading(facts.get(CPU_TIMES))
        if reading is not None:   # the baseline of the next cycle's utilisation
            new_hosts[name] = dict(new_hosts[name], **{CPU_TIMES: reading})
    return {'cluster': new_entry, 'hosts': new_hosts}, warnings


# --- reading ------------------------------------------------------------------------------------

def _plain_tail(text, size, count):
    """The last ``count`` whole numbers of a ``t`` or ``n`` text of ``size``."""
    if count >= size:
        return times(text)
    return list(map(int, text.rsplit(',', count)[1:])) if count > 0 else []


def decode_tier(tier, first=0, metrics=None):
    """A tier as plain lists, from point ``first`` on: ``{'t': [...], 'n': [...], stat: {metric: [...]}}``
    (raw: ``v`` instead of the stats); ``metrics``: only those, a list (every stat) or a dict
    stat -> list. Damage when what is read is malformed."""
    size = length(tier)
    count = size - first
    try:
        decoded = {'t': _plain_tail(tier['t'], size, count)}
        if 'n' in tier:
            decoded['n'] = _plain_tail(tier['n'], size, count)
    except ValueError:
        raise Damage('t or n holds something else than whole numbers')
    if not all(map(int.__lt__, decoded['t'], decoded['t'][1:])):
        raise Damage('t is not strictly increasing')
    for stat in ('v',) if 'v' in tier else STATS:
        wanted = metrics.get(stat, ()) if isinstance(metrics, dict) else metrics
        decoded[stat] = dict((metric, decode_tail(column, size, count)) for metric, column in tier[stat].items()
                             if wanted is None or metric in wanted)
    return decoded


def daily_series(series, start=None, end=None, metrics=None):
    """The daily points of a (checked) series from epoch second ``start`` to ``end`` (None: all),
    decoded (``decode_tier``), the days whose cycles are still only in ``raw`` (today so far)
    consolidated on the fly. Only the points from ``start`` on are read. Damage when what is
    read is malformed."""
    daily = series['daily']
    raw = series['raw']
    try:
        if raw['t']:
            names = set().union(*metrics.values()) if isinstance(metrics, dict) else metrics
            daily = _consolidate_raw(raw, times(raw['t']), daily, DAY, float('inf'), names)
        size = length(daily)
        first = 0
        if start is not None and size:
            # A day has one point at most: the points from start on are among the last this many.
            count = min(size, max(int(daily['t'].rsplit(',', 1)[-1]) - int(start), -DAY) // DAY + 1)
            first = size - count + bisect_left(_plain_tail(daily['t'], size, count), start)
    except ValueError:
        raise Damage('t holds something else than whole numbers')
    decoded = decode_tier(daily, first, metrics)
    if end is not None:
        last = bisect_right(decoded['t'], end)
        decoded['t'], decoded['n'] = decoded['t'][:last], decoded['n'][:last]
        for stat in STATS:
            decoded[stat] = dict((metric, column[:last]) for metric, column in decoded[stat].items())
    return decoded


def latest_point(series, wanted=None):
    """(time, point) of the newest reading of a (checked) series: the newest raw cycle, else the
    newest consolidated point's means; (None, {}) when empty; ``wanted``: a test of the metric
    names to read (default all). Damage when a number is malformed."""
    for name, stat in (('raw', 'v'), ('hourly', 'mean'), ('daily', 'mean')):
        tier = series[name]
        if tier['t']:
            size = length(tier)
            point = dict((metric, decode_tail(column, size, 1)[0]) for metric, column in tier[stat].items()
                         if wanted is None or wanted(metric))
            return int(tier['t'].rsplit(',', 1)[-1]), point
    return None, {}


def entry_size(entry):
    """Bytes of an entry as JSON (what a jsonfile fact cache writes, without indentation)."""
    return len(json.dumps(entry, separators=(',', ':'), allow_nan=False))
