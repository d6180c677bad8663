# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity report as one plain document, built from what a run returned.

``build_report`` turns a ``report_inputs.ReportInputs`` into the document that every
renderer (``render_table``, ``render_json``, ``render_prometheus``, ``render_html``)
draws from and that ``capacity.json`` holds (schema: docs/report-schema.md). Nothing
here does I/O, so every rule can be tested on dicts.

Groups have one owner: the ``cluster_totals`` result of the run, which names the
expression it grouped by; each host's group is that expression on its facts, through
``cluster.group_of``. Only a run without a ``cluster_totals`` result is summed (and
grouped by the report's own ``group_by``) here, by ``cluster_totals`` itself.
"""

from ansible_collections.hypervisor.stats.plugins.module_utils.libvirt_client import redact_uri
from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    COUNTERS, GONE, INVENTORY_FIELDS, MEMORY_FIELDS, RESOURCE_CLASSES, STATISTICS_FIELDS, VM_TOTAL_FIELDS,
    is_finite_number, number_or_none as number)
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import (
    ClusterError, cluster_totals, compile_group_by, group_of)

SCHEMA_VERSION = 1
# A VM's contention figures in the report: the last cycle's rates and their p95 (accumulate).
CONTENTION_FIELDS = ('steal_percent', 'read_latency_ms', 'write_latency_ms', 'flush_latency_ms',
                     'p95_steal_percent', 'p95_read_latency_ms', 'p95_write_latency_ms')


def _dict(value):
    return value if isinstance(value, dict) else {}


def ratio(used, capacity):
    """used / capacity, or None when capacity is not positive."""
    used, capacity = number(used), number(capacity)
    if used is None or not capacity or capacity <= 0:
        return None
    return round(float(used) / capacity, 4)


def _inventory_record(record, with_ratio=True):
    """One inventory record with its utilisation; sums over hosts have no allocation ratio."""
    record = _dict(record)
    out = dict((field, number(record.get(field))) for field in INVENTORY_FIELDS)
    if with_ratio:
        out['allocation_ratio'] = number(record.get('allocation_ratio'))
    out['utilization'] = ratio(out['used'], out['capacity'])
    return out


def _host_entry(name, facts, grouping):
    inventory = _dict(facts.get('inventory'))
    entry = {
        'host': name,
        'status': 'ok',
        'group': group_of(grouping, facts),
        'hypervisor_hostname': facts.get('hypervisor_hostname'),
        'hypervisor_type': facts.get('hypervisor_type'),
        'uri': redact_uri(facts.get('uri')),
        'collected_at': number(facts.get('collected_at')),
        'labels': dict((str(k), str(v)) for k, v in _dict(facts.get('labels')).items()),
        'pcpus': number(facts.get('pcpus')),
        'inventory': dict((rc, _inventory_record(inventory[rc])) for rc in RESOURCE_CLASSES if rc in inventory),
        'vms': None,
    }
    for field in STATISTICS_FIELDS:
        entry[field] = number(facts.get(field))
    return entry


def _totals_section(data):
    """One cluster or group section in the report's shape, from cluster_totals output."""
    data = _dict(data)
    out = {'count': number(data.get('count'))}
    for field in STATISTICS_FIELDS:
        out[field] = number(data.get(field))
    inventory = _dict(data.get('inventory'))
    out['inventory'] = dict((rc, _inventory_record(inventory[rc], with_ratio=False)) for rc in RESOURCE_CLASSES if rc in inventory)
    return out


def _fits(data):
    """Flavor fits, overall and per group; cluster_totals gives {flavor: n} with per-group counts
    under groups.<g>.fits, and {flavor: {total, groups}} is read as well."""
    group_fits = dict((str(g), _dict(_dict(v).get('fits'))) for g, v in _dict(data.get('groups')).items())
    fits = {}
    for flavor, value in sorted(_dict(data.get('fits')).items(), key=lambda item: str(item[0])):
        if isinstance(value, dict):
            total, groups = number(value.get('total')), _dict(value.get('groups'))
        else:
            total = number(value)
            groups = dict((g, f[flavor]) for g, f in group_fits.items() if flavor in f)
        fits[str(flavor)] = {'total': total,
                             'groups': dict((str(g), number(n)) for g, n in sorted(groups.items()))}
    return fits


def _by_name(data):
    """Items of a dict sorted by their key's text."""
    return sorted(_dict(data).items(), key=lambda item: str(item[0]))


def _names(values):
    return [str(v) for v in values or [] if v is not None]


def _failover_record(record):
    record = _dict(record)
    unplaced = _dict(record.get('unplaced'))
    survives, exhaustive = record.get('survives'), record.get('exhaustive')
    vms = [vm for vm in unplaced.get('vms') or [] if isinstance(vm, dict)]
    return {
        'survives': survives if isinstance(survives, bool) else None,
        'exhaustive': exhaustive if isinstance(exhaustive, bool) else None,
        'worst_hosts': _names(record.get('worst_hosts')),
        'unknown_hosts': _names(record.get('unknown_hosts')),
        'unplaced': {'count': number(unplaced.get('count')),
                     'vms': [dict((k, None if vm.get(k) is None else str(vm[k])) for k in ('name', 'uuid', 'host'))
                             for vm in vms]},
        'headroom_after': dict((rc, number(v)) for rc, v in _by_name(record.get('headroom_after'))
                               if rc in RESOURCE_CLASSES),
        'fits_after': dict((str(f), number(n)) for f, n in _by_name(record.get('fits_after'))),
    }


def _failover(data):
    """The failover simulation of the run's cluster_totals (``failures`` > 0), or None."""
    data = _dict(data)
    if not data:
        return None
    return {'failures': number(data.get('failures')),
            'cluster': _failover_record(data.get('cluster')),
            'groups': dict((str(g), _failover_record(r)) for g, r in _by_name(data.get('groups')))}


def plain(value, depth=0):
    """A JSON-safe copy of plain data: dicts with text keys, lists, text, booleans and finite
    numbers (NaN, infinities and anything else become null), at most 12 levels deep."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if is_finite_number(value):
        return value
    if depth >= 12:
        return None
    if isinstance(value, dict):
        return dict((str(k), plain(v, depth + 1)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    return None


def _forecast(section):
    """The forecast section of the run (hypervisor_stats_forecast_* and planned workloads), or None."""
    if not isinstance(section, dict):
        return None
    out = plain(section)
    out['cluster'] = _dict(out.get('cluster'))
    out['groups'] = dict((g, _dict(v)) for g, v in sorted(_dict(out.get('groups')).items()))
    return out


def _stored_grouping(data):
    """The expression a cluster_totals output was grouped by, or None (no groups, or not one we can read)."""
    group_by = data.get('group_by')
    if not isinstance(group_by, str) or not isinstance(data.get('groups'), dict):
        return None, None
    try:
        return group_by, compile_group_by(group_by)
    except ClusterError:
        return None, None


def _cluster(inputs, expression, group_by):
    """The cluster section, the grouping its hosts go by and the failover simulation: the run's cluster_totals output with the
    groups and fits it computed, or, without one, cluster_totals of the hosts here by ``group_by``."""
    if isinstance(inputs.cluster, dict):
        source, data = 'cluster_totals', inputs.cluster
        group_by, expression = _stored_grouping(data)
    else:
        facts = [f for _name, f in sorted(inputs.host_resources.items()) if isinstance(f, dict)]
        source, data = 'hosts', cluster_totals(facts, group_by=group_by)
    cluster = _totals_section(data)
    groups = _dict(data.get('groups'))
    cluster['source'] = source
    cluster['group_by'] = group_by
    cluster['groups'] = dict((str(g), _totals_section(v)) for g, v in sorted(groups.items(), key=lambda i: str(i[0])))
    cluster['fits'] = _fits(data)
    cluster['shared_storage'] = _shared_storage(data.get('shared_storage'))
    return cluster, expression, _failover(data.get('failover'))


def _shared_storage(section):
    """shared_id -> the hosts that see it, whose figures were used, and its DISK_GB record, counted once."""
    return dict((str(sid), {'hosts': _names(_dict(record).get('hosts')),
                            'figures_from': _dict(record).get('figures_from') and str(record['figures_from']),
                            'DISK_GB': _inventory_record(_dict(record).get('DISK_GB'))})
                for sid, record in _by_name(section))


def _vm_entry(uuid, host):
    entry = {'uuid': uuid, 'host': host, 'name': None, 'state': None, 'domain_id': None, 'vcpus': None,
             'cpu_utilization': None, 'cpu_time_ns': None, 'timed_out': False,
             'memory': dict((f, None) for f in MEMORY_FIELDS),
             'totals': None, 'cumulative': None, 'first_seen': None, 'last_seen': None,
             'contention': dict.fromkeys(CONTENTION_FIELDS)}
    return entry


def _totals(data, fields):
    data = _dict(data)
    return dict((f, number(data.get(f))) for f in fields)


def _memory(data):
    data = _dict(data)
    return dict((f, number(data.get(f))) for f in MEMORY_FIELDS)


def _vms(inputs):
    """Every domain instance the run saw, one per (host, UUID): during a live migration, or with
    cloned XML, one UUID is on two hosts, and each host's counters are its own (as in the cache)."""
    vms = {}
    for host, stats in sorted(inputs.vm_stats.items()):
        for uuid, vm in sorted(_dict(_dict(stats).get('vms')).items()):
            vm = _dict(vm)
            entry = vms.setdefault((host, str(uuid)), _vm_entry(str(uuid), host))
            entry.update({
                'name': vm.get('name'), 'state': vm.get('state'), 'domain_id': number(vm.get('domain_id')),
                'vcpus': number(vm.get('vcpus')), 'cpu_utilization': number(vm.get('cpu_utilization')),
                'cpu_time_ns': number(vm.get('cpu_time_ns')), 'timed_out': bool(vm.get('timed_out')),
                'memory': _memory(vm.get('memory')),
                'totals': _totals(vm.get('totals'), VM_TOTAL_FIELDS),
            })
    for host, counters in sorted(inputs.counters.items()):
        for uuid, vm in sorted(_dict(_dict(counters).get('vms')).items()):
            vm = _dict(vm)
            live = (host, str(uuid)) in vms
            entry = vms.setdefault((host, str(uuid)), _vm_entry(str(uuid), host))
            entry['cumulative'] = _totals(vm.get('cumulative'), COUNTERS)
            entry['first_seen'] = number(vm.get('first_seen'))
            entry['last_seen'] = number(vm.get('last_seen'))
            # accumulate's rates of the last cycle and their p95 over its window (issue 14)
            rates, p95 = _dict(vm.get('rates')), _dict(vm.get('p95'))
            entry['contention'] = dict(
                [(f, _rate(rates.get(f))) for f in CONTENTION_FIELDS if not f.startswith('p95_')]
                + [(f, _rate(p95.get(f[4:]))) for f in CONTENTION_FIELDS if f.startswith('p95_')])
            if entry['cpu_utilization'] is None:
                # vm_stats without a sample window has none; accumulate's is over the last cycle
                entry['cpu_utilization'] = number(vm.get('cpu_utilization'))
            if not live:
                entry.update({'name': vm.get('name'), 'state': vm.get('state'), 'vcpus': number(vm.get('vcpus')),
                              'memory': _memory(vm.get('memory'))})
    for entry in vms.values():
        if entry['name'] is None:
            entry['name'] = entry['uuid']
        entry['name'] = str(entry['name'])
    hosts_of = {}
    for host, uuid in vms:
        hosts_of.setdefault(uuid, []).append(host)
    # keyed by UUID, as users look VMs up; a UUID on several hosts gets one key per host
    return dict((uuid if len(hosts_of[uuid]) == 1 else '%s@%s' % (uuid, host), entry)
                for (host, uuid), entry in vms.items())


def _rate(value):
    return value if is_finite_number(value) and value >= 0 else None


def _reclaimable(section):
    """The cycle's reclaimable filter output, finite numbers only (plain), or None."""
    if not isinstance(section, dict):
        return None
    out = plain(section)
    out['cluster'] = _dict(out.get('cluster'))
    out['groups'] = dict((g, _dict(v)) for g, v in sorted(_dict(out.get('groups')).items()))
    out['hosts'] = dict((h, _dict(v)) for h, v in sorted(_dict(out.get('hosts')).items()))
    out['vms'] = [vm for vm in (out.get('vms') if isinstance(out.get('vms'), list) else []) if isinstance(vm, dict)]
    return out


def _top_entry(vm, value, **extra):
    entry = {'uuid': vm['uuid'], 'name': vm['name'], 'host': vm['host'], 'vcpus': vm['vcpus'], 'value': value}
    entry.update(extra)
    return entry


def _ranked(entries, limit):
    entries = [e for e in entries if e['value'] is not None and e['value'] > 0]
    entries.sort(key=lambda e: (-e['value'], e['name'], e['uuid']))
    return entries[:limit]


def _io_top(vms, read_field, write_field, ios_fields, limit):
    """Top VMs by read + write KiB: cumulative counters (survive reboots) when any is non-zero,
    else the since-start totals of vm_stats."""
    def pick(vm, basis):
        data = vm[basis]
        if not data:
            return None
        read, write = data.get(read_field), data.get(write_field)
        if read is None and write is None:
            return None
        extra = {'read_kb': read, 'write_kb': write}
        if ios_fields:
            extra.update(read_ios=data.get(ios_fields[0]), write_ios=data.get(ios_fields[1]))
        return _top_entry(vm, (read or 0) + (write or 0), **extra)

    for basis in ('cumulative', 'totals'):
        entries = [e for e in (pick(vm, basis) for vm in vms) if e is not None]
        if any(e['value'] > 0 for e in entries):
            return {'basis': basis, 'vms': _ranked(entries, limit)}
    return {'basis': None, 'vms': []}


def _top(vms, limit):
    current = [vm for vm in vms.values() if vm['state'] != GONE]
    util = [_top_entry(vm, vm['cpu_utilization']) for vm in current if vm['cpu_utilization'] is not None]
    if util:
        cpu = {'basis': 'cpu_utilization', 'vms': _ranked(util, limit)}
    else:
        cpu_time = [_top_entry(vm, vm['cpu_time_ns']) for vm in current if vm['cpu_time_ns'] is not None]
        cpu = {'basis': 'cpu_time_ns' if cpu_time else None, 'vms': _ranked(cpu_time, limit)}
    return {
        'cpu': cpu,
        'disk': _io_top(current, 'disk_read_kb', 'disk_write_kb', ('disk_read_ios', 'disk_write_ios'), limit),
        'network': _io_top(current, 'network_read_kb', 'network_write_kb', None, limit),
    }


def build_report(inputs, generated_at, top=5, group_by=None):
    """The report document (see docs/report-schema.md) from a ``ReportInputs``.

    ``group_by`` (the report's own option) groups only a run without a ``cluster_totals``
    result; a bad one raises ``ClusterError``. Facts of unexpected shape give nulls, never
    an exception: a report is what an operator reads after a run, so a half-understood
    host must not hide the others.
    """
    group_by = group_by or None
    cluster, grouping, failover = _cluster(inputs, compile_group_by(group_by), group_by)
    hosts = {}
    for name, facts in sorted(inputs.host_resources.items()):
        hosts[name] = _host_entry(name, _dict(facts), grouping)
    vms = _vms(inputs)
    for name in set(inputs.vm_stats) | set(inputs.counters):  # read, even if it has no VM
        if name in hosts:
            hosts[name]['vms'] = 0
    for vm in vms.values():
        if vm['host'] in hosts:
            hosts[vm['host']]['vms'] = (hosts[vm['host']]['vms'] or 0) + 1
    problems = []
    for name, problem in sorted(inputs.problems.items()):
        if name in hosts:
            hosts[name]['status'] = problem['status']
        problems.append(dict(problem, host=name))
    return {
        'schema_version': SCHEMA_VERSION,
        'generated_at': int(generated_at),
        'options': {'top': int(top), 'group_by': group_by},
        'hosts': hosts,
        'problems': problems,
        'cluster': cluster,
        'failover': failover,
        'forecast': _forecast(inputs.forecast),
        'reclaimable': _reclaimable(inputs.reclaimable),
        # the bounded history the charts are drawn from (docs/forecast.md), as the fact cache keeps it
        'history': plain(inputs.history) if isinstance(inputs.history, dict) else None,
        'vms': vms,
        'top': _top(vms, int(top)),
    }
