# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-VM contention rates between two cycles, and a bounded window of them with its p95 (issue 14).

``accumulate`` (plugin_utils.counters) calls these once per sampled VM. A VM entry gets:

* ``rate_baseline``: the raw readings the next cycle's rates need, compact:
  ``{'at', 'domain_id', 'vm': [cpu_delay_ns, swap_in_kb, swap_out_kb, rx+tx bytes of all NICs],
  'disks': {dev: [rd_req, wr_req, rd_bytes, wr_bytes, rd_times_ns, wr_times_ns, fl_req, fl_times_ns]}}``;
  -1 stands for a reading not reported (shorter than null in the cache, and one int type to check).
* ``rates``: this cycle's rates (RATE_FIELDS), each null where a signal is missing on either side,
  on first sight, after a reboot or migration (another domain instance), when a counter went down
  (a reset) or when no time passed. Never NaN, infinite or negative.
* ``rate_window``: per WINDOW_FIELDS (a list in that order), the field's window of non-null values,
  rounded to 0.1 and kept in tenths (ints): a list of blocks, oldest first, each
  ``[count, value, ...]``: how many values the block took (WINDOW_BLOCK = 42 but the last, the
  current one) and those of them that can still be the p95 (at most WINDOW_KEEP = 9, in no set order).
  Up to RATE_WINDOW (168) values the window holds them all; from then on the oldest block leaves
  whole when a new one starts, so it holds the last 127 to 168 values. The p95 is exact for the
  values it holds: the nearest-rank p95 of n <= 168 values is at most the 9th largest, which is
  always among the kept values (a value leaves a block only when 9 values at least as large are
  in the same block or in newer ones, which stay as long). A full window costs at most 4 x 10 ints
  per field (test_rates' full windows: 350 bytes of JSON for the 7 fields; 5.9 KB as 168 values each).
* ``p95``: per WINDOW_FIELDS, the nearest-rank 95th percentile of its window; null for an empty one.

A cached window of the format before the blocks (field -> list of values) is read as blocks, with the
same p95.

Pure: plain dicts in and out.
"""

import math
from itertools import chain as _chain
from operator import itemgetter

# The rates of one cycle. Latencies in ms per request, I/O in requests/s and KiB/s, steal in percent
# of the VM's vCPU time; io_kbps is disk read + write + network rx + tx, what tells an idle VM.
RATE_FIELDS = ('steal_percent', 'read_latency_ms', 'write_latency_ms', 'flush_latency_ms', 'read_iops',
               'write_iops', 'read_kbps', 'write_kbps', 'net_kbps', 'io_kbps', 'swap_in_kbps', 'swap_out_kbps')
# What the window keeps, and the p95 reports: CPU utilisation (accumulate's cpu_utilization), the
# contention signals, and what reclaimable needs (I/O, guest memory in use).
WINDOW_FIELDS = ('cpu_percent', 'steal_percent', 'read_latency_ms', 'write_latency_ms', 'flush_latency_ms',
                 'io_kbps', 'memory_used_mb')
# Samples a field's window holds at most: a week of hourly cycles (a day of 5-minute ones); the p95
# of a week covers weekly peaks. The window goes in blocks of WINDOW_BLOCK samples: once RATE_WINDOW
# values have come, the oldest block leaves whole when a new one starts (the window then holds 127 to
# 168 values). A block keeps only its values that can still be the p95: at most WINDOW_KEEP, the
# largest rank from the top the p95 of RATE_WINDOW values takes (nearest rank: 168 - 160 + 1 = 9).
RATE_WINDOW = 168
WINDOW_BLOCK = 42
WINDOW_BLOCKS = RATE_WINDOW // WINDOW_BLOCK
P95 = 0.95
# n -> the rank from the top of the nearest-rank p95 of n values.
_RANK = [0] + [n - int(math.ceil(P95 * n)) + 1 for n in range(1, RATE_WINDOW + 1)]
WINDOW_KEEP = max(_RANK)
# A rate at or above this is damage (clock or counter), not a reading: 10**12 KiB/s, 10**12 %.
MAX_RATE = 10.0 ** 12
_DISK_WIDTH = 8
# Window values are kept in tenths, ints below this.
_MAX_FIXED = int(MAX_RATE) * 10
_NO_RATES = dict.fromkeys(RATE_FIELDS)
# A disk's readings, in the order of rate_baseline's lists.
_DISK_KEYS = ('rd_req', 'wr_req', 'rd_bytes', 'wr_bytes', 'rd_total_times_ns', 'wr_total_times_ns', 'fl_req',
              'fl_total_times_ns')
_DISK_GETTER = itemgetter(*_DISK_KEYS)
_LIMIT = 2 ** 64


_INT_SET = {int}


def _count(value):
    """A raw counter as libvirt gives it (an int in [0, 2**64); Ansible's int subclasses too), else None."""
    if value.__class__ is int or (isinstance(value, int) and value.__class__ is not bool):
        return int(value) if 0 <= value < _LIMIT else None
    return None


def _raw(value):
    """A reading for rate_baseline: the counter, or -1 for none."""
    if value.__class__ is int and 0 <= value < _LIMIT:
        return value
    value = _count(value)
    return -1 if value is None else value


def _get(mapping, key):
    return _raw(mapping.get(key)) if isinstance(mapping, dict) else -1


def reading(vm, at, domain_id):
    """The raw readings of one vm_stats VM the next cycle's rates start from."""
    get = vm.get
    pressure = get('memory_pressure')
    net = -1
    nics = get('nics')
    if isinstance(nics, dict):
        net = 0   # (no NICs: no network I/O, known)
        for counters in nics.values():
            rx, tx = _get(counters, 'rx_bytes'), _get(counters, 'tx_bytes')
            if rx < 0 or tx < 0:
                net = -1
                break
            net += rx + tx
        if net >= _LIMIT:
            net = -1
    disks = {}
    devices = get('disks')
    if isinstance(devices, dict):
        for dev, c in devices.items():
            try:
                disks[dev] = [v if v.__class__ is int and 0 <= v < _LIMIT else _raw(v) for v in _DISK_GETTER(c)]
            except (KeyError, TypeError):
                if isinstance(c, dict):
                    disks[dev] = [_get(c, key) for key in _DISK_KEYS]
    return {'at': at, 'domain_id': domain_id,
            'vm': [_get(get('totals'), 'cpu_delay_ns'), _get(pressure, 'swap_in_kb'), _get(pressure, 'swap_out_kb'), net],
            'disks': disks}


def between(before, after, vcpus):
    """The rates from ``before`` to ``after`` (readings of the same domain instance), or nulls.
    A growth is unknown when either reading is (-1) or the counter went down (a reset)."""
    seconds = after['at'] - before['at']
    rates = dict(_NO_RATES)
    if not seconds > 0:
        return rates
    delay, swap_in, swap_out, net = [None if old < 0 or new < old else (new - old) / seconds
                                     for new, old in zip(after['vm'], before['vm'])]
    if delay is not None and vcpus:
        rates['steal_percent'] = min(100.0, delay / (1e7 * vcpus))   # ns/s over vCPUs, in percent
    if swap_in is not None and swap_in < MAX_RATE:
        rates['swap_in_kbps'] = swap_in
    if swap_out is not None and swap_out < MAX_RATE:
        rates['swap_out_kbps'] = swap_out
    if net is not None and net < MAX_RATE:
        rates['net_kbps'] = net / 1024.0
    old_disks, new_disks = before['disks'], after['disks']
    if new_disks and new_disks.keys() == old_disks.keys():
        # Sums over the disks; a sum is unknown when any disk's part is.
        sums = [0] * _DISK_WIDTH
        for dev, values in new_disks.items():
            sums = [None if total is None or old < 0 or new < old else total + new - old
                    for total, new, old in zip(sums, values, old_disks[dev])]
        rd_req, wr_req, rd_bytes, wr_bytes, rd_times, wr_times, fl_req, fl_times = sums
        if rd_req is not None:
            rates['read_iops'] = rd_req / seconds
            if rd_times is not None and rd_req:
                rates['read_latency_ms'] = rd_times / rd_req / 1e6
        if wr_req is not None:
            rates['write_iops'] = wr_req / seconds
            if wr_times is not None and wr_req:
                rates['write_latency_ms'] = wr_times / wr_req / 1e6
        if fl_req is not None and fl_times is not None and fl_req:
            rates['flush_latency_ms'] = fl_times / fl_req / 1e6
        if rd_bytes is not None:
            rates['read_kbps'] = rd_bytes / 1024.0 / seconds
        if wr_bytes is not None:
            rates['write_kbps'] = wr_bytes / 1024.0 / seconds
    elif not new_disks and not old_disks:
        rates['read_kbps'] = rates['write_kbps'] = 0.0   # no disks at all: no disk I/O, known
    if rates['read_kbps'] is not None and rates['write_kbps'] is not None and rates['net_kbps'] is not None:
        rates['io_kbps'] = rates['read_kbps'] + rates['write_kbps'] + rates['net_kbps']
    # Counters below 2**64 over a positive time give finite rates; a tiny time can still make an absurd one.
    for field, value in rates.items():
        if value is not None and not value < MAX_RATE:
            rates[field] = None
    return rates


def memory_used_mb(vm):
    """The guest's memory in use (balloon size less what it could use without swapping, or its unused
    memory), MiB; null when the guest does not report it."""
    memory = vm.get('memory')
    if not isinstance(memory, dict):
        return None
    actual = memory.get('actual_kb')
    pressure = vm.get('memory_pressure')
    free = pressure.get('usable_kb') if isinstance(pressure, dict) else None
    if free is None:
        free = memory.get('unused_kb')
    if _count(actual) is None or _count(free) is None or free > actual:
        return None
    return (actual - free) / 1024.0


def p95(values):
    """Nearest-rank 95th percentile: the smallest value with at least 95 % of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, int(math.ceil(P95 * len(ordered))) - 1)]


def window_size(total):
    """How many of a field's ``total`` non-null values so far its window holds: all up to RATE_WINDOW,
    then whole blocks: the current one (1..WINDOW_BLOCK) and the WINDOW_BLOCKS - 1 full ones before it."""
    if total <= RATE_WINDOW:
        return total
    return (WINDOW_BLOCKS - 1) * WINDOW_BLOCK + (total - 1) % WINDOW_BLOCK + 1


def _fixed(value):
    """A window value in tenths (the 0.1 rounding of the window), or None for one that is no reading."""
    if value.__class__ is float or value.__class__ is int:
        if 0 <= value < MAX_RATE:
            value = int(value * 10.0 + 0.5)
            return value if value < _MAX_FIXED else _MAX_FIXED - 1
        return None
    return _fixed(float(value)) if _number_ok(value) else None


def _pruned(blocks):
    """Full blocks (oldest first, the newest just filled) without the values that can never be the p95 again: a value with
    WINDOW_KEEP values at least as large in newer blocks (which stay in the window longer) never
    ranks above WINDOW_KEEP, and the p95 never ranks lower."""
    newer = sorted(blocks[-1][1:], reverse=True)
    out = [blocks[-1]]
    for block in reversed(blocks[:-1]):
        values = block[1:]
        if len(newer) >= WINDOW_KEEP:
            floor = newer[WINDOW_KEEP - 1]
            values = [v for v in values if v > floor]
            block = [block[0]] + values
        out.append(block)
        if values:
            newer = sorted(newer + values, reverse=True)[:WINDOW_KEEP]
    out.reverse()
    return out


def _appended(blocks, value):
    """A field's blocks with one more value (tenths); new lists, ``blocks`` is not changed. (advance
    has the usual case inline.)"""
    if blocks:
        last = blocks[-1]
        count = last[0]
        if count < WINDOW_BLOCK:
            kept = last[1:]
            kept.append(value)
            if len(kept) > WINDOW_KEEP:
                kept.sort(reverse=True)
                del kept[WINDOW_KEEP:]
            blocks = blocks[:-1]
            blocks.append([count + 1] + kept)
            if count + 1 == WINDOW_BLOCK and len(blocks) > 1:
                return _pruned(blocks)   # full: what it outranks in older blocks can no longer count
            return blocks
        # The current block is full: a new one starts, the oldest goes.
        blocks = blocks[1:] if len(blocks) >= WINDOW_BLOCKS else blocks[:]
        blocks.append([1, value])
        return blocks
    return [[1, value]]


# The fields of WINDOW_FIELDS that are rates, with their index there.
_RATE_INDEXES = tuple((index, field) for index, field in enumerate(WINDOW_FIELDS) if field in RATE_FIELDS)
_CPU_INDEX, _MEMORY_INDEX = WINDOW_FIELDS.index('cpu_percent'), WINDOW_FIELDS.index('memory_used_mb')


def advance(window, values, cpu_percent=None, memory_used_mb=None):
    """The window with this cycle's non-null ``values`` (WINDOW_FIELDS -> number or None; or this
    cycle's rates, with ``cpu_percent`` and ``memory_used_mb`` apart) appended; a new list,
    ``window`` (a checked window, or {} / None for none) is not changed. Runs once per VM per cycle."""
    new = list(window) if window else [[] for _field in WINDOW_FIELDS]
    get = values.get
    if cpu_percent is None:
        cpu_percent = get('cpu_percent')
    if memory_used_mb is None:
        memory_used_mb = get('memory_used_mb')
    for index, value in ((_CPU_INDEX, cpu_percent), (_MEMORY_INDEX, memory_used_mb)):
        if value is not None:
            value = _fixed(value)
            if value is not None:
                new[index] = _appended(new[index], value)
    for index, field in _RATE_INDEXES:
        value = get(field)
        if value is None:
            continue
        if value.__class__ is float and 0 <= value < MAX_RATE:
            value = int(value * 10.0 + 0.5)
            if value >= _MAX_FIXED:
                value = _MAX_FIXED - 1
        else:
            value = _fixed(value)
            if value is None:
                continue
        blocks = new[index]
        if blocks:
            last = blocks[-1]
            count = last[0] + 1
            if count < WINDOW_BLOCK:
                # The usual case: one more value in the current block (in the order they came until
                # there are more than WINDOW_KEEP, then the largest).
                kept = last + [value]
                kept[0] = count
                if len(kept) > WINDOW_KEEP + 1:
                    kept = [count] + sorted(kept[1:], reverse=True)[:WINDOW_KEEP]
                blocks = blocks[:-1]
                blocks.append(kept)
                new[index] = blocks
                continue
        new[index] = _appended(blocks, value)
    return new


_NO_PERCENTILES = dict.fromkeys(WINDOW_FIELDS)
_N_FIELDS = len(WINDOW_FIELDS)


def percentiles(window):
    """Per WINDOW_FIELDS the nearest-rank p95 of its window (a checked one), rounded to 0.1; null
    for an empty field."""
    result = dict(_NO_PERCENTILES)
    if not window:
        return result
    rank = _RANK
    for field, blocks in zip(WINDOW_FIELDS, window):
        if not blocks:
            continue
        if len(blocks) == 1:
            block = blocks[0]
            if len(block) == 2:
                result[field] = block[1] / 10.0
                continue
            values = block[1:]
            values.sort(reverse=True)
            result[field] = values[rank[block[0]] - 1] / 10.0
            continue
        values, total = [], 0
        for block in blocks:
            total += block[0]
            values += block[1:]
        values.sort(reverse=True)
        result[field] = values[rank[total] - 1] / 10.0
    return result


def window_sizes(window):
    """Per WINDOW_FIELDS how many values its window holds (of a checked window)."""
    return dict((field, sum(block[0] for block in blocks)) for field, blocks in zip(WINDOW_FIELDS, window or ()))


# --- checks of what the cache gives back --------------------------------------------------------

def _number_ok(value):
    """A finite number in [0, MAX_RATE); NaN fails the range test."""
    return isinstance(value, (int, float)) and value.__class__ is not bool and 0 <= value < MAX_RATE


def _readings_ok(values, width):
    """A list of ``width`` ints in [-1, 2**64): the usual case in one pass of C, subclasses the careful way."""
    try:
        if len(values) != width or not isinstance(values, list):
            return False
        if set(map(type, values)) == _INT_SET:
            return -1 <= min(values) and max(values) < _LIMIT
    except TypeError:
        return False
    return all(isinstance(v, int) and v.__class__ is not bool and -1 <= v < _LIMIT for v in values)


def baseline_ok(baseline):
    """Whether a cached rate_baseline can be trusted."""
    try:
        at, domain_id, disks = baseline['at'], baseline['domain_id'], baseline['disks']
        if not (len(baseline) == 4 and isinstance(at, (int, float)) and at.__class__ is not bool and -1e30 < at < 1e30
                and (domain_id is None or (isinstance(domain_id, int) and domain_id.__class__ is not bool))
                and _readings_ok(baseline['vm'], 4) and isinstance(disks, dict)):
            return False
        for values in disks.values():
            if not _readings_ok(values, _DISK_WIDTH):
                return False
        return True
    except (KeyError, TypeError):
        return False


def _old_window_ok(window):
    """Whether a cached window of the format before the blocks (field -> list of its last values) can
    be trusted: known fields, each a list of at most RATE_WINDOW finite numbers in [0, MAX_RATE)."""
    for field, values in window.items():
        if field not in WINDOW_FIELDS or not isinstance(values, list) or not 0 < len(values) <= RATE_WINDOW:
            return False
        if not all(map(_number_ok, values)):
            return False
    return True


def _from_old(window):
    """The blocks of a window of the format before them: the same values, the same p95."""
    new = [[] for _field in WINDOW_FIELDS]
    for index, field in enumerate(WINDOW_FIELDS):
        for value in window.get(field, ()):
            new[index] = _appended(new[index], _fixed(value))
    return new


_LIST_SET = {list}
_FULL = [WINDOW_BLOCK] * WINDOW_BLOCKS


def window_ok(window):
    """Whether a cached rate_window can be trusted: per WINDOW_FIELDS a list of at most WINDOW_BLOCKS
    blocks ``[count, value, ...]``, all full (count WINDOW_BLOCK) but the last (1..WINDOW_BLOCK), each
    with at most min(count, WINDOW_KEEP) values, the last with one at least, every number an int
    (values in [0, 10 * MAX_RATE)), and together at least the values the p95 needs. (The order of a
    block's values is not relied upon.) Written for speed: a few passes of C per field."""
    try:
        if window.__class__ is not list or len(window) != _N_FIELDS or set(map(type, window)) != _LIST_SET:
            return False
        blocks = list(_chain(*window))
        if not blocks:
            return True
        flat = list(_chain(*blocks))
        lengths = list(map(len, blocks))
        if set(map(type, blocks)) != _LIST_SET or set(map(type, flat)) != _INT_SET \
                or not (0 <= min(flat) and max(flat) < _MAX_FIXED and max(lengths) <= WINDOW_KEEP + 1):
            return False
        for field in window:
            n = len(field)
            if not n:
                continue
            last = field[-1]
            count = last[0]
            if not (n <= WINDOW_BLOCKS and 1 <= count <= WINDOW_BLOCK and len(last) <= count + 1):
                return False
            if n == 1:
                if len(last) <= min(count, WINDOW_KEEP):
                    return False   # fewer values than its p95 needs
            else:
                if [block[0] for block in field[:-1]] != _FULL[:n - 1]:
                    return False
                if sum(map(len, field)) - n < WINDOW_KEEP or len(last) < 2:
                    return False
    except (IndexError, TypeError):
        return False
    return True


def _plain(window):
    """The window in plain lists and ints, from subclasses of them; None when anything else is in it."""
    out = []
    for field in window:
        if not isinstance(field, list):
            return None
        blocks = []
        for block in field:
            if not isinstance(block, list):
                return None
            for value in block:
                if not isinstance(value, int) or isinstance(value, bool):
                    return None
            blocks.append([int(value) for value in block])
        out.append(blocks)
    return out


def cached_state(entry):
    """(rate_baseline, rate_window) of a cached VM entry, checked: (None, {}) when it has none yet,
    None when either is damaged (its rates restart). A window of the format before the blocks comes
    back as blocks, with the same p95."""
    baseline, window = entry.get('rate_baseline'), entry.get('rate_window')
    if baseline is None and window is None:
        return None, {}
    if baseline is not None and not baseline_ok(baseline):
        return None
    if window is None or window == {}:
        return baseline, {}
    if isinstance(window, list):
        if window_ok(window):
            return baseline, window
        # Ansible hands cached data back in subclasses of list and int (its lazy and tagged types).
        window = _plain(window)
        return (baseline, window) if window is not None and window_ok(window) else None
    if isinstance(window, dict) and _old_window_ok(window):
        return baseline, _from_old(window)
    return None


def checked_rates(rates):
    """A cached ``rates`` dict with every field a finite number in [0, MAX_RATE) or null."""
    if not isinstance(rates, dict):
        return dict(_NO_RATES)
    return dict((field, rates.get(field) if _number_ok(rates.get(field)) else None) for field in RATE_FIELDS)


def no_rates():
    return dict(_NO_RATES)
