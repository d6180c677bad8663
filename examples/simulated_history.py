# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write a SIMULATED capacity history for the example cluster, so that the demo has charts and
forecasts to show on its first run (a real history needs weeks of cycles).

    .venv/bin/python examples/simulated_history.py [--days 120] [--end 2026-01-31] [--seed 12]
                                                  [--totals cluster.json] [--output history.json]

The output is the store host's history entry (the ``hypervisor_stats_history`` fact, the
format of plugins/plugin_utils/history.py) with ``"simulated": true`` at its top and in each
series: the report and the forecasts say so, and real cycles folded into it keep the flag.

What is simulated, per group of the example inventory (examples/inventory.yml: east, west):
``--days`` daily points ending the day before ``--end`` (default: today, UTC), in which the
allocated vCPUs, memory and disk grow linearly to the group's present allocation, with seeded
noise (the same arguments give the same bytes), and ``west`` gains a host 60 days before the
end (a capacity step). Capacity and the end values come from ``--totals``, a ``cluster_totals``
output as JSON (for example ``hypervisor_stats_cluster.totals`` from the fact cache, so that the
simulated past meets the real present), else from the example cluster itself (its node files read
through libvirt's test driver, as host_resources reads them). The cluster's series is the sum of the groups'.
"""

import argparse
import datetime
import json
import math
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, '.collections'))

from ansible_collections.hypervisor.stats.plugins.plugin_utils import history  # noqa: E402

RESOURCES = ('VCPU', 'MEMORY_MB', 'DISK_GB')
DAY = history.DAY
INVENTORY = os.path.join(ROOT, 'examples', 'inventory.yml')


def example_totals():
    """The example cluster's present cluster_totals, read from its node files through libvirt's test
    driver and host_resources' own code, with the inventory's labels, pool and flavors: the present
    the simulated past leads up to."""
    import libvirt
    import yaml

    from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import host_facts
    from ansible_collections.hypervisor.stats.plugins.module_utils.host_gather import gather_host
    from ansible_collections.hypervisor.stats.plugins.module_utils.schema import HOST_OPTION_DEFAULTS
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import cluster_totals

    with open(INVENTORY) as handle:
        inventory = yaml.safe_load(handle)['all']
    hypervisors = inventory['children']['hypervisors']
    facts = {}
    for name, variables in sorted(hypervisors['hosts'].items()):
        uri = 'test://%s' % os.path.join(ROOT, 'examples', 'nodes', name + '.xml')
        conn = libvirt.openReadOnly(uri)
        try:
            raw = gather_host(conn, uri, storage_pool=hypervisors['vars']['hypervisor_stats_storage_pool'])
        finally:
            conn.close()
        facts[name] = host_facts(raw, dict(HOST_OPTION_DEFAULTS, labels=variables['hypervisor_stats_labels']))
    return cluster_totals(facts, group_by='labels.cluster', flavors=inventory['vars']['hypervisor_stats_flavors'])


# What each group had at the start of the simulated history, as a share of its present allocation.
START_SHARE = {'east': 0.55, 'west': 0.35}
STEP_DAYS_BEFORE_END = 60
STEP_GROUP = 'west'


def group_days(section, name, days, rng):
    """[point] of one group, oldest first: allocations growing to the present ones, with noise."""
    inventory = section['inventory']
    share = START_SHARE.get(name, 0.5)
    hosts = section.get('count') or 1
    points = []
    for day in range(days):
        progress = (day + 1) / float(days)   # the last day is just below today's figures
        level = share + (1 - share) * progress
        # Before the step, one host fewer: its share of the capacity missing.
        fewer = name == STEP_GROUP and hosts > 1 and day < days - STEP_DAYS_BEFORE_END
        scale = (hosts - 1) / float(hosts) if fewer else 1.0
        point = {history.HOSTS: hosts - 1 if fewer else hosts}
        free_share = []
        for rc in RESOURCES:
            record = inventory.get(rc) or {}
            total = int(record.get('total', 0) * scale)
            reserved = record.get('reserved', 0)
            capacity = int(record.get('capacity', 0) * scale)
            noise = rng.gauss(0, 0.02) * record.get('used', 0)
            used = max(min(int(round(record.get('used', 0) * level + noise)), capacity), 0)
            point.update({history.rc_metric(rc, 'total'): total, history.rc_metric(rc, 'reserved'): reserved,
                          history.rc_metric(rc, 'capacity'): capacity, history.rc_metric(rc, 'used'): used,
                          history.rc_metric(rc, 'free'): capacity - used})
            if record.get('capacity'):
                free_share.append((capacity - used) / float(max(record['capacity'] - record.get('used', 0), 1)))
        point['vms'] = int(round(section.get('running_vms', 0) * level))
        point['mem_used_mb'] = int(round(section.get('memory_mb_used', 0) * level))
        point['disk_used_gb'] = int(round(section.get('local_gb_used', 0) * level))
        point[history.CPU_UTIL] = round(min(max(20 + 40 * level + rng.gauss(0, 4), 0), 100), 1)
        # Fits shrink with the free resources (the mean of their shares of today's free).
        share_free = sum(free_share) / len(free_share) if free_share else 1.0
        for flavor, fits in (section.get('fits') or {}).items():
            point[history.fits_metric(flavor)] = int(math.floor(fits * share_free))
        points.append(point)
    return points


def daily_tier(first_day, points):
    """A daily tier of these points, one per day from ``first_day`` (days since the epoch); a
    simulated day is one reading, so its max is its mean (the CPU's a little above)."""
    metrics = sorted(set(metric for point in points for metric in point))
    mean = dict((m, history.encode([history.number(p.get(m)) for p in points])) for m in metrics)
    high = dict(mean)
    high[history.CPU_UTIL] = history.encode([min(p[history.CPU_UTIL] + 10, 100) for p in points])
    return {'t': ','.join(str((first_day + index) * DAY) for index in range(len(points))),
            'n': ','.join('1' for _point in points), 'mean': mean, 'max': high,
            'p95': {history.CPU_UTIL: history.encode([min(p[history.CPU_UTIL] + 8, 100) for p in points])}}


def cluster_points(per_group):
    """The sum of the groups' points, day by day (CPU utilisation: the plain mean)."""
    summed = []
    for points in zip(*per_group):
        total = {}
        for point in points:
            for metric, value in point.items():
                total[metric] = total.get(metric, 0) + value
        total[history.CPU_UTIL] = round(total[history.CPU_UTIL] / len(points), 1)
        summed.append(total)
    return summed


def simulated_entry(totals, days, end, seed):
    """The history entry: ``days`` simulated daily points per group ending the day before ``end``."""
    rng = random.Random(seed)
    end_day = (end - datetime.date(1970, 1, 1)).days
    first_day = end_day - days
    groups = totals.get('groups') or {'all': totals}
    per_group = dict((name, group_days(groups[name], name, days, rng)) for name in sorted(groups))
    entry = {'version': history.VERSION, 'group_by': totals.get('group_by'), 'simulated': True,
             'cluster': dict(history.empty_series(), simulated=True, daily=daily_tier(first_day, cluster_points(
                 [per_group[name] for name in sorted(per_group)]))),
             'groups': dict((name, dict(history.empty_series(), simulated=True, daily=daily_tier(first_day, points)))
                            for name, points in per_group.items())}
    if not totals.get('groups'):
        entry['groups'] = {}
    problems = history.check_entry(entry)[1]
    if problems:
        raise ValueError('the simulated history does not check: %s' % '; '.join(problems))
    return entry


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--days', type=int, default=120, help='simulated days (default 120)')
    parser.add_argument('--end', type=datetime.date.fromisoformat, default=None,
                        help='the day after the last simulated one, YYYY-MM-DD (default: today, UTC)')
    parser.add_argument('--seed', type=int, default=12, help='seed of the noise (default 12)')
    parser.add_argument('--totals', help='a cluster_totals output as JSON to end at (default: the example cluster now)')
    parser.add_argument('--output', help='file to write (default: standard output)')
    args = parser.parse_args(argv)
    if not 1 <= args.days <= history.MAX_FORECAST_DAYS:
        parser.error('--days must be from 1 to %d' % history.MAX_FORECAST_DAYS)
    if args.totals:
        with open(args.totals) as handle:
            totals = json.load(handle)
        totals = totals.get('totals', totals)   # a whole hypervisor_stats_cluster record, or its totals
    else:
        totals = example_totals()
    end = args.end or datetime.datetime.now(datetime.timezone.utc).date()
    text = json.dumps(simulated_entry(totals, args.days, end, args.seed), sort_keys=True, allow_nan=False)
    if args.output:
        with open(args.output, 'w') as handle:
            handle.write(text + '\n')
    else:
        sys.stdout.write(text + '\n')


if __name__ == '__main__':
    main()
