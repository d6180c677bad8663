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
    DEFAULT_INSTANCES_PATH, DEFAULT_URI, FLAVOR_RESOURCES, INVENTORY_FIELDS, RESOURCE_CLASSES, STATISTICS_FIELDS,
    is_bounded_number, is_number)

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:  # pragma: no cover - jmespath is a runtime dependency
    jmespath = None
    HAS_JMESPATH = False


class ClusterError(ValueError):
    """A bad argument; the message names it."""


def _record(total, used, ratio=1.0):
    capacity = int(total * ratio)
    return {'total': total, 'reserved': 0, 'allocation_ratio': ratio, 'min_unit': 1, 'max_unit': total,
            'step_size': 1, 'used': used, 'capacity': capacity, 'free': capacity - used}


# A full host_resources facts document with every documented field (modules/host_resources.py RETURN),
# on which check_group_by tries an expression before any host is read.
REPRESENTATIVE_HOST_FACTS = dict(
    [(field, 1) for field in STATISTICS_FIELDS],
    hypervisor_hostname='compute-1', hypervisor_type='QEMU', hypervisor_version=8002000,
    libvirt_version='10.0.0', uri=DEFAULT_URI, collected_at=1700000000, labels={'cluster': 'x'},
    pcpus=0, cpu_shared_set=None, cpu_dedicated_set=None, memory_mb_used_source='node_memory_stats',
    disk_source='path:' + DEFAULT_INSTANCES_PATH,
    disk_source_detail={'kind': 'filesystem', 'mount': '/', 'fstype': 'ext4', 'source': '/dev/sda1', 'shared_by': None},
    shared_id=None,
    cpu_info={'arch': 'x86_64', 'model': 'EPYC', 'vendor': 'AMD',
              'topology': {'cells': 1, 'sockets': 1, 'cores': 8, 'threads': 2}, 'features': ['avx2']},
    numa_topology={'cells': [{'id': 0, 'cpus': [0, 1], 'memory_mb': 1024, 'siblings': [[0, 1]]}]},
    inventory=dict((rc, _record(16, 4, 4.0 if rc == 'VCPU' else 1.0)) for rc in RESOURCE_CLASSES))

# The group of a host whose group_by evaluation failed: the same as a host without the value.
FAILED_GROUP = json.dumps(None)


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


def check_group_by(expression):
    """``compile_group_by``, and the compiled expression evaluated on a full host_resources facts
    document (``REPRESENTATIVE_HOST_FACTS``): an expression that compiles but fails at run time on
    such facts (``abs(labels.cluster)``: labels are strings) raises ClusterError naming group_by."""
    compiled = compile_group_by(expression)
    if compiled is None:
        return None
    try:
        compiled.search(REPRESENTATIVE_HOST_FACTS)
    except jmespath.exceptions.JMESPathError as exc:
        raise ClusterError('group_by %r fails on host_resources facts: %s' % (expression, exc))
    return compiled


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
    totals['missing'] = {}
    return totals


def is_host_facts(value):
    """Whether an item of the input is host_resources facts: a dict with at least one host field
    (a failed or skipped task's result has none, or says failed)."""
    if not isinstance(value, dict) or value.get('failed'):
        return False
    return 'inventory' in value or any(field in value for field in STATISTICS_FIELDS)


def _host_fields(host):
    """(field -> value of the fields that add up, the names of those it lacks or has damaged)."""
    values, missing = {}, []
    for field in STATISTICS_FIELDS:
        value = host.get(field)
        if is_bounded_number(value):
            values[field] = value
        else:
            missing.append(field)
    inventory = host.get('inventory')
    records = {}
    if not isinstance(inventory, dict):
        missing.append('inventory')
    else:
        for rc, record in inventory.items():
            if not isinstance(record, dict):
                missing.append('inventory.%s' % rc)
                continue
            summed = records[rc] = {}
            for field in INVENTORY_FIELDS:
                value = record.get(field)
                if is_bounded_number(value):
                    summed[field] = value
                else:
                    missing.append('inventory.%s.%s' % (rc, field))
    return values, records, missing


def _add_host(totals, fields):
    values, records, missing = fields
    totals['count'] += 1
    for field, value in values.items():
        totals[field] += value
    for rc, record in records.items():
        summed = totals['inventory'].setdefault(rc, dict((field, 0) for field in INVENTORY_FIELDS))
        for field, value in record.items():
            summed[field] += value
    for field in missing:
        totals['missing'][field] = totals['missing'].get(field, 0) + 1


def host_fits(host, flavor):
    """How many more instances of ``flavor`` this host holds: the scarcest resource decides."""
    inventory = host.get('inventory')
    if not isinstance(inventory, dict):
        return 0
    fits = None
    for field, rc in FLAVOR_RESOURCES:
        demand = flavor[field]
        if not demand:
            continue
        record = inventory.get(rc)
        if not isinstance(record, dict) or not is_bounded_number(record.get('free')):
            return 0
        # Placement refuses an allocation larger than max_unit, whatever is free.
        if is_bounded_number(record.get('max_unit')) and demand > record['max_unit']:
            return 0
        count = max(int(record['free'] // demand), 0)
        fits = count if fits is None else min(fits, count)
    return fits or 0


# Host fields that describe the instance storage: counted once per shared_id (issue 15).
DISK_FIELDS = ('local_gb', 'local_gb_used', 'free_disk_gb', 'disk_available_least')


def shared_id_of(host):
    """The host's ``shared_id`` (its instance storage is shared with the hosts of the same value), or None."""
    value = host.get('shared_id')
    return value if isinstance(value, str) and value else None


def _split_disk(fields):
    """(fields without the disk figures, (disk values, DISK_GB record or None))."""
    values, records, missing = fields
    disk_values = dict((f, values[f]) for f in DISK_FIELDS if f in values)
    return (dict((f, v) for f, v in values.items() if f not in DISK_FIELDS),
            dict((rc, r) for rc, r in records.items() if rc != 'DISK_GB'), missing), \
        (disk_values, records.get('DISK_GB'))


def merge_shared(sharers):
    """One storage's figures from the hosts that share it: ``sharers`` is a list of (name, facts, (disk values,
    DISK_GB record)). The storage's own figures (local_gb ..., DISK_GB total, reserved, capacity) are those of the
    most recently collected host (highest ``collected_at``, then the first name); DISK_GB ``used`` is the sum of every
    sharer's (each host's own instances' disks, as allocations against placement's sharing provider) and ``free`` is
    capacity - that sum. Returns (winner name, disk values, DISK_GB record or None)."""
    def recency(item):
        stamp = item[1].get('collected_at')
        return -(stamp if is_bounded_number(stamp) else float('-inf'))
    winner = sorted(sharers, key=lambda item: (recency(item), item[0]))[0]
    values, record = winner[2]
    if record is not None:
        full = winner[1]['inventory'].get('DISK_GB')
        record = dict(full, **record)   # max_unit, allocation_ratio ... kept; summed fields as checked
        if 'used' in record:
            record['used'] = sum(item[2][1].get('used', 0) for item in sharers if item[2][1] is not None)
        if 'capacity' in record and 'used' in record:
            record['free'] = record['capacity'] - record['used']
    return winner[0], dict(values), record


def _add_disk(totals, values, record):
    for field, value in values.items():
        totals[field] += value
    if record is not None:
        summed = totals['inventory'].setdefault('DISK_GB', dict((field, 0) for field in INVENTORY_FIELDS))
        for field in INVENTORY_FIELDS:
            if is_bounded_number(record.get(field)):
                summed[field] += record[field]


def shared_fits(sharers, record, flavor):
    """Instances of ``flavor`` the hosts sharing one storage hold together: each host's fits by its other
    resources, summed, and no more than the shared storage's free space holds once."""
    no_disk = dict(flavor, disk_gb=0)
    hosts = sum(host_fits(facts, no_disk) if disk[1] is not None else 0 for _name, facts, disk in sharers)
    demand = flavor['disk_gb']
    if not demand:
        return hosts
    if record is None or not is_bounded_number(record.get('free')):
        return 0
    if is_bounded_number(record.get('max_unit')) and demand > record['max_unit']:
        return 0
    return min(hosts, max(int(record['free'] // demand), 0))


def group_key(value):
    """A group value as a dict key: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _group(expression, facts):
    """(group key, None) or (FAILED_GROUP, the error) when the expression fails on these facts."""
    try:
        return group_key(expression.search(facts)), None
    except jmespath.exceptions.JMESPathError as exc:
        return FAILED_GROUP, exc


def group_of(expression, facts):
    """The group of one host: ``expression`` (a JMESPath string, or what ``compile_group_by``
    returned) evaluated on its ``host_resources`` facts, as a key (``group_key``); None without
    an expression; ``FAILED_GROUP`` (``null``) when the expression fails on these facts.
    Every grouping of the collection goes through here."""
    if expression is None:
        return None
    if isinstance(expression, str):
        expression = compile_group_by(expression)
    return _group(expression, facts)[0]


def _host_name(index, facts):
    name = facts.get('hypervisor_hostname')
    return name if isinstance(name, str) and name else 'item %d' % index


def cluster_totals(hosts, group_by=None, flavors=None, warnings=None, failures=0):
    """Sum ``host_resources`` facts; with ``group_by`` add ``groups`` and ``group_by`` (the expression,
    so that a reader can group hosts the same way with ``group_of``), with ``flavors`` add ``fits``,
    with ``failures`` > 0 add ``failover`` (``failover.failover``: the loss of that many hosts per group).

    ``hosts`` is a list of facts, each named by its ``hypervisor_hostname``, or a dict of inventory
    host -> facts, named by their keys (what the main job passes: test-driver hosts, and hosts behind
    one name service, may share a hostname).

    Items that are not host_resources facts are skipped, and a host whose ``group_by`` fails goes
    to the ``null`` group; both add a message to ``warnings`` (a list) when one is given. A field
    a host lacks (or has as no finite number) is not summed: ``missing`` counts those hosts per field.

    Hosts with the same ``shared_id`` see one shared storage: its disk figures (``DISK_FIELDS`` and
    ``inventory.DISK_GB``) are counted once, in the cluster and in each group it appears in (``merge_shared``
    says whose figures win), and their disk fits come from its free space once (``shared_fits``);
    ``shared_storage`` lists each shared_id's hosts, whose figures were used and the merged DISK_GB record.
    """
    if warnings is None:
        warnings = []
    if isinstance(hosts, dict):
        named = [(str(name), facts) for name, facts in sorted(hosts.items(), key=lambda item: str(item[0]))]
    elif isinstance(hosts, (list, tuple)):
        named = [(None, facts) for facts in hosts]
    else:
        raise ClusterError('input must be a list of host_resources facts (or a dict of host -> facts), got %s'
                           % type(hosts).__name__)
    expression = compile_group_by(group_by)
    flavors = check_flavors(flavors)
    # Imported here: failover builds on this module.
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.failover import check_failures, simulate
    failures = check_failures(failures)

    totals = _blank()
    groups = {}
    failed = []
    members = []   # (name, group key, facts) of every host summed, for the failover simulation
    shared = {}         # shared_id -> [(name, facts, (disk values, DISK_GB record))]
    group_shared = {}   # (group key, shared_id) -> the same, per group
    if flavors is not None:
        totals['fits'] = dict((name, 0) for name in flavors)
    for index, (name, host) in enumerate(named):
        if not is_host_facts(host):
            warnings.append('input %s is not host_resources facts (%s); skipped'
                            % ('item %d' % index if name is None else 'host %s' % name,
                               'a failed result' if isinstance(host, dict) and host.get('failed')
                               else 'a dict without host fields' if isinstance(host, dict)
                               else type(host).__name__))
            continue
        fields = _host_fields(host)
        sid = shared_id_of(host)
        if sid is not None:
            # Shared storage: everything but the disk is this host's; the disk is added once per
            # shared_id after the loop (cluster and each group).
            fields, disk = _split_disk(fields)
            sharer = (name or _host_name(index, host), host, disk)
        _add_host(totals, fields)
        group = key = None
        if expression is not None:
            key, error = _group(expression, host)
            if error is not None:
                failed.append((name or _host_name(index, host), error))
            group = groups.get(key)
            if group is None:
                group = groups[key] = _blank()
                if flavors is not None:
                    group['fits'] = dict.fromkeys(flavors, 0)
            _add_host(group, fields)
        if sid is not None:
            shared.setdefault(sid, []).append(sharer)
            if expression is not None:
                group_shared.setdefault((key, sid), []).append(sharer)
        if failures:
            members.append((name or _host_name(index, host), key, host))
        if flavors is not None and sid is None:
            for flavor_name, flavor in flavors.items():
                count = host_fits(host, flavor)
                totals['fits'][flavor_name] += count
                if group is not None:
                    group['fits'][flavor_name] += count
    for sid, sharers in sorted(shared.items()):
        winner, values, record = merge_shared(sharers)
        _add_disk(totals, values, record)
        totals.setdefault('shared_storage', {})[sid] = {
            'hosts': [item[0] for item in sharers], 'figures_from': winner, 'DISK_GB': record}
        if flavors is not None:
            for flavor_name, flavor in flavors.items():
                totals['fits'][flavor_name] += shared_fits(sharers, record, flavor)
    for (key, sid), sharers in sorted(group_shared.items(), key=lambda item: (str(item[0][0]), item[0][1])):
        _winner, values, record = merge_shared(sharers)
        _add_disk(groups[key], values, record)
        if flavors is not None:
            for flavor_name, flavor in flavors.items():
                groups[key]['fits'][flavor_name] += shared_fits(sharers, record, flavor)
    if failed:
        names = [name for name, _error in failed]
        where = 'host %s' % names[0] if len(names) == 1 else '%d hosts (%s)' % (
            len(names), ', '.join(names[:5]) + (', ...' if len(names) > 5 else ''))
        warnings.append('group_by %r failed on %s: %s; counted in group %s' % (group_by, where, failed[0][1], FAILED_GROUP))
    if expression is not None:
        totals['group_by'] = str(group_by)
        totals['groups'] = groups
    if failures:
        totals['failover'] = simulate(members, failures, flavors, grouped=expression is not None, warnings=warnings)
    return totals
