"""Benchmark (issue 12): forecasts for 1,000 groups x 3 years of daily points, against sorting every
pairwise slope (the textbook Theil-Sen) in the same run; and the size of the store host's history
entry after 10,000 cycles, against the entry after three years of daily points.

Targets: the forecasts <= 1 s CPU; the entry after 10,000 cycles no larger than after three years.

    .venv/bin/python bench/bench_forecast.py [--groups 1000] [--cycles 10000] [--cluster-groups 10]

1. An entry of ``--groups`` groups, each with a full daily tier (1098 days of VCPU, MEMORY_MB and
   DISK_GB inventories, usage and two flavors' fits, noisy growth); ``forecast`` over it with the
   default 90-day window, with and without flavors, planned workloads included.
2. ``fold_cycle`` of a cluster of ``--cluster-groups`` groups (10 hosts each), ``--cycles`` cycles
   every 5 minutes from an empty history (34.7 days); then the same number of cycles every 3 hours
   (3.4 years), with the entry's size when its daily tier first holds three years and at the end.
   Also the CPU of one steady-state cycle (history + forecast) of that cluster and of its hosts'
   own histories, for the cycle's budget (history adds <= 5 %: bench_cycle.py).
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, '.collections'))

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import MAX_FORECAST_DAYS  # noqa: E402
from ansible_collections.hypervisor.stats.plugins.plugin_utils import forecast as fc  # noqa: E402
from ansible_collections.hypervisor.stats.plugins.plugin_utils import history  # noqa: E402

DAY = history.DAY
T0 = 1767225600   # 2026-01-01
RESOURCES = (('VCPU', 640, 4.0), ('MEMORY_MB', 2621440, 1.0), ('DISK_GB', 20000, 1.0))
FLAVORS = {'m1.small': {'vcpus': 1, 'memory_mb': 2048, 'disk_gb': 20},
           'm1.large': {'vcpus': 4, 'memory_mb': 8192, 'disk_gb': 80}}


def group_section(rng, share, hosts=10):
    """One group of cluster_totals: ``share`` of each capacity used, a little noise."""
    inventory = {}
    for rc, total, ratio in RESOURCES:
        capacity = int(total * ratio)
        used = int(capacity * min(share, 1.0) * rng.uniform(0.98, 1.02))
        inventory[rc] = {'total': total, 'reserved': 0, 'capacity': capacity, 'used': used, 'free': capacity - used}
    free = min(inventory['VCPU']['free'] // 1, inventory['MEMORY_MB']['free'] // 2048)
    return {'count': hosts, 'running_vms': int(share * 400), 'memory_mb_used': int(inventory['MEMORY_MB']['used'] * 0.7),
            'local_gb_used': int(inventory['DISK_GB']['used'] * 0.5), 'vcpus': 640, 'inventory': inventory,
            'fits': {'m1.small': max(free, 0), 'm1.large': max(free // 4, 0)}, 'missing': {}}


def cluster_of(groups):
    totals = {'count': sum(g['count'] for g in groups.values()), 'group_by': 'labels.cluster', 'groups': groups,
              'missing': {}, 'inventory': {}, 'fits': {}}
    for rc, _total, _ratio in RESOURCES:
        totals['inventory'][rc] = dict((f, sum(g['inventory'][rc][f] for g in groups.values()))
                                       for f in ('total', 'reserved', 'capacity', 'used', 'free'))
    for field in ('running_vms', 'memory_mb_used', 'local_gb_used'):
        totals[field] = sum(g[field] for g in groups.values())
    for flavor in FLAVORS:
        totals['fits'][flavor] = sum(g['fits'][flavor] for g in groups.values())
    return totals


def daily_group(rng, days):
    """A group's series with ``days`` daily points (mean, max) ending yesterday, noisy growth."""
    first = T0 // DAY - days
    growth = rng.uniform(0.0002, 0.0008)
    points = [history.point_from_totals(group_section(rng, 0.3 + growth * day)) for day in range(days)]
    metrics = sorted(set(m for p in points for m in p))
    mean = dict((m, history.encode([p.get(m) for p in points])) for m in metrics)
    return {'version': 1, 'raw': {'t': '', 'v': {}},
            'hourly': {'t': '', 'n': '', 'mean': {}, 'max': {}, 'p95': {}},
            'daily': {'t': ','.join(str((first + d) * DAY) for d in range(days)), 'n': ','.join(['288'] * days),
                      'mean': mean, 'max': dict(mean), 'p95': {}}}


def brute_force(entry, now, days):
    """The same trends with every pairwise slope sorted (no segments, no planned): the baseline."""
    start = (now // DAY - days + 1) * DAY
    for series in [entry['cluster']] + list(entry['groups'].values()):
        daily = history.daily_series(series, start, None, ['%s.used' % rc for rc, _t, _r in RESOURCES]
                                     + ['fits.%s' % f for f in FLAVORS])
        x = [t // DAY for t in daily['t']]
        for column in daily['mean'].values():
            slopes = sorted(fc.pairwise_slopes(x, column))
            lower, upper = fc.sen_band_ranks([len(x)])
            slopes[len(slopes) // 2], slopes[lower], slopes[upper]


def cpu(function, *args, **kwargs):
    start = time.process_time()
    result = function(*args, **kwargs)
    return time.process_time() - start, result


def best_cpu(runs, function, *args, **kwargs):
    """The least CPU of ``runs`` calls (the machine's speed varies by 10-20 % from run to run)."""
    timings = [cpu(function, *args, **kwargs) for _run in range(runs)]
    return min(seconds for seconds, _result in timings), timings[0][1]


def forecasts(args):
    rng = random.Random(5)
    template = [daily_group(rng, MAX_FORECAST_DAYS) for _ in range(20)]   # 20 shapes, shared (size is what counts)
    entry = {'version': 1, 'group_by': 'labels.cluster', 'cluster': template[0],
             'groups': dict(('g%04d' % index, template[index % 20]) for index in range(args.groups))}
    now = T0 + 3600
    planned = [{'flavor': 'm1.large', 'count': 10, 'group': 'g0001'}, {'flavor': 'm1.small', 'count': 50, 'date': '2026-03-01'}]
    without_fits = dict(entry, cluster=_without_fits(entry['cluster']),
                        groups=dict((g, _without_fits(s)) for g, s in entry['groups'].items()))
    installed = fc.numpy
    rows = []
    for label, module in (('numpy', installed), ('pure Python', None)):
        if label == 'numpy' and installed is None:
            print('numpy is not installed: only the pure-Python selection is measured')
            continue
        fc.numpy = module
        with_flavors, (section, warnings) = best_cpu(3, fc.forecast, entry, now, planned=planned, flavors=FLAVORS)
        assert not warnings and len(section['groups']) == args.groups
        assert all(section['groups'][g]['VCPU']['points'] == 89 for g in section['groups'])   # today has none yet
        three, _result = best_cpu(3, fc.forecast, without_fits, now)
        rows.append((label, with_flavors, three, section))
    fc.numpy = installed
    if len(rows) == 2:
        assert rows[0][3] == rows[1][3], 'numpy and the pure-Python selection disagree'
    brute, _none = best_cpu(3, brute_force, entry, now, 90)
    series = (args.groups + 1)
    print('forecasts of %d groups + the cluster, %d daily points each (the last 89 in the 90-day window), best of 3; '
          'load average %.1f' % (args.groups, MAX_FORECAST_DAYS, os.getloadavg()[0]))
    print('%-68s %10s %14s' % ('', 'CPU s', 'CPU us/series'))
    for label, with_flavors, three, _section in rows:
        print('%-68s %10.2f %14.0f' % ('forecast (%s): VCPU, MEMORY_MB, DISK_GB + 2 flavors, planned' % label,
                                       with_flavors, with_flavors / (series * 5) * 1e6))
        print('%-68s %10.2f %14.0f' % ('forecast (%s): VCPU, MEMORY_MB, DISK_GB only' % label, three,
                                       three / (series * 3) * 1e6))
    print('%-68s %10.2f %14.0f' % ('all pairwise slopes sorted, same 5 series each (baseline)', brute,
                                   brute / (series * 5) * 1e6))
    for label, with_flavors, _three, _section in rows:
        print('%-68s %10.2fx' % ('ratio baseline / forecast (%s)' % label, brute / with_flavors))
    print('target: forecasts <= 1 s CPU%s' % (' (the results of both ways are equal)' if len(rows) == 2 else ''))


def _without_fits(series):
    daily = dict(series['daily'])
    for stat in ('mean', 'max'):
        daily[stat] = dict((m, c) for m, c in daily[stat].items() if not m.startswith('fits.'))
    return dict(series, daily=daily)


def run_cycles(cycles, step, groups, probe=None):
    """(entry after ``cycles`` cycles ``step`` seconds apart, {cycle index: entry size} at ``probe``)."""
    rng = random.Random(7)
    shares = [rng.uniform(0.2, 0.5) for _ in range(groups)]
    state, sizes = None, {}
    for index in range(cycles):
        days = index * step / float(DAY)
        sections = dict(('g%02d' % g, group_section(rng, shares[g] + 0.0004 * days)) for g in range(groups))
        state, warnings = history.fold_cycle(state, cluster_of(sections), {}, T0 + index * step)
        assert not warnings, warnings
        if probe and probe(state, index):
            sizes[index] = history.entry_size(state['cluster'])
    return state, sizes


def tiers(state):
    series = state['cluster']['cluster'] if 'cluster' in state['cluster'] else state['cluster']
    return '/'.join(str(history.length(series[name])) for name in history.TIER_NAMES)


def sizes(args):
    start = time.process_time()
    five, _sizes = run_cycles(args.cycles, 300, args.cluster_groups)
    elapsed5 = time.process_time() - start
    seen = []

    def three_years(state, index):
        # The first cycle whose entry holds three years of daily points, and the last cycle.
        full = history.length(state['cluster']['cluster']['daily']) == MAX_FORECAST_DAYS
        if (full and not seen) or index == args.cycles - 1:
            seen.append(index)
            return True
        return False
    slow, three_hourly = run_cycles(args.cycles, 3 * 3600, args.cluster_groups, three_years)
    at_three_years = min(three_hourly)
    # Every tier full: the 5-minute run's raw and hourly points with the 3-hour run's three years of days.
    largest = dict(five['cluster'], cluster=dict(five['cluster']['cluster'], daily=slow['cluster']['cluster']['daily']),
                   groups=dict((name, dict(series, daily=slow['cluster']['groups'][name]['daily']))
                               for name, series in five['cluster']['groups'].items()))
    size5 = history.entry_size(five['cluster'])
    print()
    print('store host history entry (cluster + %d groups of 10 hosts), JSON bytes; raw/hourly/daily points of each series'
          % args.cluster_groups)
    print('%-64s %12s %14s' % ('', 'bytes', 'points'))
    print('%-64s %12d %14s' % ('after %d cycles every 5 minutes (%.1f days)' % (args.cycles, args.cycles * 300.0 / DAY),
                               size5, tiers(five)))
    print('%-64s %12d %14s' % ('after 3 years of daily points (cycle %d of one every 3 hours)' % at_three_years,
                               three_hourly[at_three_years], '-/-/%d' % MAX_FORECAST_DAYS))
    print('%-64s %12d %14s' % ('after %d cycles every 3 hours (%.1f years)' % (args.cycles, args.cycles * 3 / 24.0 / 365),
                               three_hourly[args.cycles - 1], tiers(slow)))
    print('%-64s %12d %14s' % ('every tier full (5-minute raw and hourly, three years of days)', history.entry_size(largest),
                               tiers({'cluster': largest})))
    print('%-64s %12.2f' % ('%d five-minute cycles / three years of daily points' % args.cycles,
                            size5 / float(three_hourly[at_three_years])))
    print('target: no larger than after three years of daily points')
    host, host_elapsed = host_history(args.cycles)
    print('one host\'s own history after %d cycles every 5 minutes: %d bytes (%.2f ms a cycle)'
          % (args.cycles, history.entry_size(host), host_elapsed * 1e3 / args.cycles))
    return five, host, elapsed5


def host_point(rng, index):
    """A host's point: its allocations change every few hours (an instance created or deleted),
    what its guests use changes every cycle."""
    epoch = index // 48
    point = {}
    for rc, total, ratio in RESOURCES:
        capacity = int(total / 10 * ratio)
        used = int(capacity * (0.3 + 0.05 * (epoch % 7)))
        point.update({'%s.total' % rc: total // 10, '%s.reserved' % rc: 0, '%s.capacity' % rc: capacity,
                      '%s.used' % rc: used, '%s.free' % rc: capacity - used})
    point.update({'mem_used_mb': 150000 + rng.randint(0, 5000), 'disk_used_gb': 900 + rng.randint(0, 9),
                  'vms': 20 + epoch % 7, 'hosts': 1, 'cpu_util': round(rng.uniform(10, 60), 1),
                  'fits.m1.small': 40 - epoch % 7, 'fits.m1.large': 10 - epoch % 4})
    return point


def host_history(cycles):
    rng = random.Random(3)
    series = None
    start = time.process_time()
    for index in range(cycles):
        series, warnings = history.fold(series, host_point(rng, index), T0 + 300 * index)
        assert not warnings
    return series, time.process_time() - start


def steady_cycle(args, five, host, elapsed5):
    """One more cycle after the 5-minute run: the store host's history and forecast, and 200 hosts' own."""
    rng = random.Random(9)
    sections = dict(('g%02d' % g, group_section(rng, 0.4)) for g in range(args.cluster_groups))
    now = T0 + args.cycles * 300
    spent, (state, _w) = cpu(history.fold_cycle, five, cluster_of(sections), {}, now)
    forecast_cpu, _result = cpu(fc.forecast, state['cluster'], now, flavors=FLAVORS)
    point = host_point(rng, args.cycles)
    start = time.process_time()
    for _host in range(200):
        history.fold(host, point, now)
    hosts_cpu = time.process_time() - start
    print()
    print('one steady-state cycle after the 5-minute run, CPU ms')
    print('%-64s %12.1f' % ('the store host entry: fold_cycle', spent * 1e3))
    print('%-64s %12.1f' % ('the store host entry: forecast (cluster + %d groups, 2 flavors)' % args.cluster_groups,
                            forecast_cpu * 1e3))
    print('%-64s %12.1f' % ('200 hosts\' own histories: fold', hosts_cpu * 1e3))
    print('(the %d-cycle run of the store host entry took %.1f s, %.2f ms a cycle)'
          % (args.cycles, elapsed5, elapsed5 * 1e3 / args.cycles))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--groups', type=int, default=1000)
    parser.add_argument('--cycles', type=int, default=10000)
    parser.add_argument('--cluster-groups', type=int, default=10)
    args = parser.parse_args()
    forecasts(args)
    five, host, elapsed5 = sizes(args)
    steady_cycle(args, five, host, elapsed5)


if __name__ == '__main__':
    main()
