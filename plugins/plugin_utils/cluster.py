# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster totals of ``host_resources`` facts, after Nova's os-hypervisors/statistics, and the grouping.

Sums alone mislead (the reason Nova removed that endpoint): 100 free vCPUs spread
one per host over 100 hosts hold no 2-vCPU instance at all. So ``host_fits``
counts, host by host, how many more instances of a flavor fit, from each host's
placement inventory, and the totals add those counts up.

``group_of`` is the one place a host's group is decided: ``cluster_totals`` sums
groups with it, and the capacity report labels hosts with it, from the expression
``cluster_totals`` put in its output (``group_by``).
"""

import json

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    FLAVOR_RESOURCES, INVENTORY_FIELDS, STATISTICS_FIELDS, is_number)

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:  # pragma: no cover - jmespath is a runtime dependency
    jmespath = None
    HAS_JMESPATH = False


class ClusterError(ValueError):
    """A bad argument; the message names it."""


def compile_group_by(expression):
    """A compiled JMESPath expression (None for None), or ClusterError naming group_by."""
    if expression is None:
        return None
    if not HAS_JMESPATH:
        raise ClusterError('group_by needs the Python library jmespath, which is not installed')
    if not isinstance(expression, str) or not expression.strip():
        raise ClusterError('group_by must be a JMESPath expression string, got %r' % (expression,))
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise ClusterError('group_by %r is not a valid JMESPath expression: %s' % (expression, exc))


def check_flavors(flavors):
    """Return {name: {vcpus, memory_mb, disk_gb}} with int values, or raise naming the flavor and field."""
    if flavors is None:
        return None
    if not isinstance(flavors, dict):
        raise ClusterError('flavors must be a dict of name -> {vcpus, memory_mb, disk_gb}, got %s'
                           % type(flavors).__name__)
    checked = {}
    for name, flavor in flavors.items():
        if not isinstance(flavor, dict):
            raise ClusterError('flavors[%r] must be a dict with vcpus, memory_mb and disk_gb' % (name,))
        checked[name] = {}
        for field, _rc in FLAVOR_RESOURCES:
            value = flavor.get(field, 0 if field == 'disk_gb' else None)
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            if not is_number(value) or value < 0 or value != int(value):
                raise ClusterError('flavors[%r].%s must be a whole number >= 0, got %r' % (name, field, value))
            checked[name][field] = int(value)
        if checked[name]['vcpus'] < 1:
            raise ClusterError('flavors[%r].vcpus must be at least 1' % (name,))
    return checked


def _blank():
    totals = dict((field, 0) for field in ('count',) + STATISTICS_FIELDS)
    totals['inventory'] = {}
    return totals


def _add_host(totals, host):
    totals['count'] += 1
    for field in STATISTICS_FIELDS:
        value = host.get(field)
        if is_number(value):
            totals[field] += value
    for rc, record in (host.get('inventory') or {}).items():
        if not isinstance(record, dict):
            continue
        summed = totals['inventory'].setdefault(rc, dict((field, 0) for field in INVENTORY_FIELDS))
        for field in INVENTORY_FIELDS:
            if is_number(record.get(field)):
                summed[field] += record[field]


def host_fits(host, flavor):
    """How many more instances of ``flavor`` this host holds: the scarcest resource decides."""
    inventory = host.get('inventory') or {}
    fits = None
    for field, rc in FLAVOR_RESOURCES:
        demand = flavor[field]
        if not demand:
            continue
        record = inventory.get(rc)
        if not isinstance(record, dict) or not is_number(record.get('free')):
            return 0
        # Placement refuses an allocation larger than max_unit, whatever is free.
        if is_number(record.get('max_unit')) and demand > record['max_unit']:
            return 0
        count = max(int(record['free'] // demand), 0)
        fits = count if fits is None else min(fits, count)
    return fits or 0


def group_key(value):
    """A group value as a dict key: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def group_of(expression, facts):
    """The group of one host: ``expression`` (a JMESPath string, or what ``compile_group_by``
    returned) evaluated on its ``host_resources`` facts, as a key (``group_key``); None without
    an expression. Every grouping of the collection goes through here."""
    if expression is None:
        return None
    if isinstance(expression, str):
        expression = compile_group_by(expression)
    return group_key(expression.search(facts))


def cluster_totals(hosts, group_by=None, flavors=None):
    """Sum ``host_resources`` facts; with ``group_by`` add ``groups`` and ``group_by`` (the expression,
    so that a reader can group hosts the same way with ``group_of``), with ``flavors`` add ``fits``."""
    if not isinstance(hosts, (list, tuple)):
        raise ClusterError('input must be a list of host_resources facts, got %s' % type(hosts).__name__)
    for index, host in enumerate(hosts):
        if not isinstance(host, dict):
            raise ClusterError('input item %d is not host_resources facts (a dict), got %s'
                               % (index, type(host).__name__))
    expression = compile_group_by(group_by)
    flavors = check_flavors(flavors)

    totals = _blank()
    groups = {}
    if flavors is not None:
        totals['fits'] = dict((name, 0) for name in flavors)
    for host in hosts:
        _add_host(totals, host)
        group = None
        if expression is not None:
            key = group_of(expression, host)
            group = groups.get(key)
            if group is None:
                group = groups[key] = _blank()
                if flavors is not None:
                    group['fits'] = dict((name, 0) for name in flavors)
            _add_host(group, host)
        if flavors is not None:
            for name, flavor in flavors.items():
                count = host_fits(host, flavor)
                totals['fits'][name] += count
                if group is not None:
                    group['fits'][name] += count
    if expression is not None:
        totals['group_by'] = str(group_by)
        totals['groups'] = groups
    return totals
