"""Histories for the history and forecast tests (plugin_utils and filters): synthetic daily series
with known slopes, cycles of a small cluster, and the bad arguments both layers refuse."""

from cluster_data import host

from ansible_collections.hypervisor.stats.plugins.plugin_utils import history
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import cluster_totals

DAY = history.DAY
# 2026-01-01 00:00 UTC, a Thursday; its day number since the epoch.
T0 = 1767225600
DAY0 = T0 // DAY
FLAVORS = {'small': {'vcpus': 1, 'memory_mb': 1024, 'disk_gb': 10},
           'large': {'vcpus': 4, 'memory_mb': 8192, 'disk_gb': 40}}


def daily(values_by_metric, first_day=DAY0, days=None, maxima=None):
    """A series with only a daily tier: metric -> list of values (None: unknown) from ``first_day``;
    ``days``: the day numbers (default consecutive); ``maxima``: metric -> list (default the means)."""
    size = len(next(iter(values_by_metric.values())))
    days = days if days is not None else [first_day + index for index in range(size)]
    mean = dict((metric, history.encode(values)) for metric, values in values_by_metric.items())
    high = dict(mean)
    high.update((metric, history.encode(values)) for metric, values in (maxima or {}).items())
    series = history.empty_series()
    series['daily'] = {'t': ','.join(str(day * DAY) for day in days), 'n': ','.join('1' for _day in days),
                       'mean': mean, 'max': high, 'p95': {}}
    return series


def linear(days, start, slope, rc='VCPU', capacity=1000, **extra):
    """A daily series of ``days`` points whose ``rc`` used grows from ``start`` by ``slope`` a day."""
    values = {history.rc_metric(rc, 'used'): [start + slope * day for day in range(days)],
              history.rc_metric(rc, 'capacity'): [capacity] * days}
    values.update(extra)
    return daily(values)


def entry(cluster=None, groups=None, group_by='labels.cluster'):
    return {'version': history.VERSION, 'group_by': group_by if groups else None,
            'cluster': cluster or history.empty_series(), 'groups': groups or {}}


def noon(day_index, first_day=DAY0):
    """Epoch seconds at noon of the day_index-th day of a series (x of that day's point)."""
    return (first_day + day_index) * DAY + DAY // 2


def cluster_hosts(count=4, vcpu_free=10):
    """host_resources facts of a small cluster keyed by name, half east, half west."""
    hosts = {}
    for index in range(count):
        name = 'compute-%d' % index
        facts = host(vcpu_free=vcpu_free, cluster='east' if index % 2 == 0 else 'west')
        facts['hypervisor_hostname'] = name
        hosts[name] = facts
    return hosts


def cycle_totals(hosts, flavors=FLAVORS):
    return cluster_totals(list(hosts.values()), group_by='labels.cluster', flavors=flavors)


# (keyword arguments of fold_cycle, what the message names): refused by the function and the filter.
HISTORY_BAD_ARGUMENTS = [
    ({'totals': 'totals'}, 'totals must be'),
    ({'hosts': ['compute-0']}, 'hosts must be'),
    ({'now': -5}, 'now must be'),
    ({'now': float('nan')}, 'now must be'),
    ({'flavors': {'small': {'vcpus': 0, 'memory_mb': 1}}}, "flavors['small'].vcpus"),
    ({'cpu_utilization': [50]}, 'cpu_utilization must be'),
]

# (keyword arguments of forecast, what the message names)
FORECAST_BAD_ARGUMENTS = [
    ({'forecast_days': 0}, 'forecast_days'),
    ({'forecast_days': 5000}, 'forecast_days'),
    ({'min_points': 1}, 'min_points'),
    ({'min_points': 'x'}, 'min_points'),
    ({'planned': 'small'}, 'planned must be a list'),
    ({'planned': [{'flavor': 'small', 'count': 1}]}, 'planned needs flavors'),
    ({'planned': [{'flavor': 'tiny', 'count': 1}], 'flavors': FLAVORS}, 'planned[0].flavor'),
    ({'planned': [{'flavor': 'small', 'count': 0}], 'flavors': FLAVORS}, 'planned[0].count'),
    ({'planned': [{'flavor': 'small', 'count': 1.5}], 'flavors': FLAVORS}, 'planned[0].count'),
    ({'planned': [{'flavor': 'small', 'count': 'many'}], 'flavors': FLAVORS}, 'planned[0].count'),
    ({'planned': [{'flavor': 'small', 'count': 1}, {'flavor': 'small', 'count': 1, 'date': '2026-13-01'}],
      'flavors': FLAVORS}, 'planned[1].date'),
    ({'planned': [{'flavor': 'small', 'count': 1, 'group': 'north'}], 'flavors': FLAVORS}, 'planned[0].group'),
    ({'planned': [{'flavor': 'small', 'count': 1, 'flavour': 'x'}], 'flavors': FLAVORS}, 'planned[0].flavour'),
    ({'planned': ['small'], 'flavors': FLAVORS}, 'planned[0] must be a dict'),
    ({'now': 'yesterday'}, 'now must be'),
]
