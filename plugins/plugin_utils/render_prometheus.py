# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity report in Prometheus' text exposition format, for node_exporter's textfile collector.

Gauges for capacity and utilisation, counters for the VMs' totals; every family once, with
its HELP and TYPE, in first-seen order.
"""

import math
import re

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    GIB, KIB, MIB, RESOURCE_CLASSES, is_finite_number)
from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_text import ordered_hosts

PROM_PREFIX = 'hypervisor_stats_'
# resource class -> metric stem, factor from the inventory unit to the base unit, unit suffix
PROM_RESOURCE_UNITS = {'VCPU': ('vcpus', 1, ''), 'PCPU': ('pcpus', 1, ''), 'MEMORY_MB': ('memory', MIB, '_bytes'),
                       'DISK_GB': ('disk', GIB, '_bytes')}
PROM_RESOURCES = tuple((rc,) + PROM_RESOURCE_UNITS[rc] for rc in RESOURCE_CLASSES)
PROM_FIELDS = (
    ('total', '', 'Physical amount (placement total)'),
    ('reserved', '_reserved', 'Amount reserved for the host itself'),
    ('capacity', '_capacity', 'Schedulable amount: (total - reserved) * allocation ratio'),
    ('used', '_used', 'Amount allocated to instances'),
    ('free', '_free', 'Schedulable amount left: capacity - used'),
)
PROM_VM_COUNTERS = (
    ('cpu_time_ns', 'cpu_seconds_total', 1e-9, 'CPU time'),
    ('network_read_kb', 'network_read_bytes_total', KIB, 'Bytes read from the network (received)'),
    ('network_write_kb', 'network_write_bytes_total', KIB, 'Bytes written to the network (sent)'),
    ('disk_read_kb', 'disk_read_bytes_total', KIB, 'Bytes read from disks'),
    ('disk_write_kb', 'disk_write_bytes_total', KIB, 'Bytes written to disks'),
    ('disk_read_ios', 'disk_read_requests_total', 1, 'Disk read requests'),
    ('disk_write_ios', 'disk_write_requests_total', 1, 'Disk write requests'),
)
# (report source, field, metric name, factor, HELP) of every VM counter family
PROM_VM_COUNTER_SERIES = tuple(
    (source, field, prefix + name, factor, '%s, %s.' % (help_text, help_suffix))
    for source, prefix, help_suffix in (('totals', 'vm_', 'since the domain started'),
                                        ('cumulative', 'vm_cumulative_', 'accumulated across restarts and migrations'))
    for field, name, factor, help_text in PROM_VM_COUNTERS)
PROM_VM_MEMORY = (
    ('max_kb', 'memory_max_bytes', 'Maximum memory of the domain'),
    ('actual_kb', 'memory_actual_bytes', 'Current balloon size'),
    ('rss_kb', 'memory_rss_bytes', 'Resident set size of the QEMU process'),
    ('available_kb', 'memory_available_bytes', 'Memory the guest sees'),
    ('unused_kb', 'memory_unused_bytes', 'Memory the guest leaves unused'),
)


def _prom_escape(value):
    return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def _prom_label_name(name):
    name = re.sub(r'[^a-zA-Z0-9_]', '_', str(name))
    return name if re.match(r'^[a-zA-Z_]', name) else '_' + name


def _prom_label_names(names, prefix):
    """Sanitised label names, one per name, unique: names that sanitise alike (``rack-key``, ``rack_key``)
    get ``_2``, ``_3``... in the order of the original names, so the same labels always give the same names."""
    taken, out = set(), {}
    for name in sorted(names, key=str):
        base = prefix + _prom_label_name(name)
        label, n = base, 1
        while label in taken:
            n += 1
            label = '%s_%d' % (base, n)
        taken.add(label)
        out[name] = label
    return out


def _finite(value):
    """A sample value, or None for NaN and infinities, which are never written (a dropped sample is absent,
    not a number that poisons every sum over it)."""
    if isinstance(value, bool) or value is None:
        return value
    try:
        return value if math.isfinite(value) else None
    except TypeError:
        return None


def _prom_value(value):
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


class _Exposition:
    """Metric families in first-seen order; each printed once with its HELP and TYPE."""

    def __init__(self):
        self.families = {}
        self.order = []

    def add(self, name, kind, help_text, labels, value):
        value = _finite(value)
        if value is None:
            return
        name = PROM_PREFIX + name
        if name not in self.families:
            self.families[name] = (kind, help_text, [])
            self.order.append(name)
        self.families[name][2].append((labels, value))

    def text(self):
        out = []
        label_texts = {}  # a VM's labels recur in ~25 families: format them once
        for name in self.order:
            kind, help_text, samples = self.families[name]
            out.append('# HELP %s %s' % (name, help_text.replace('\\', '\\\\').replace('\n', ' ')))
            out.append('# TYPE %s %s' % (name, kind))
            for labels, value in samples:
                key = tuple(labels)
                label_text = label_texts.get(key)
                if label_text is None:
                    label_text = label_texts[key] = ','.join(
                        '%s="%s"' % (k, _prom_escape(v)) for k, v in labels if v is not None)
                out.append('%s{%s} %s' % (name, label_text, _prom_value(value)) if label_text
                           else '%s %s' % (name, _prom_value(value)))
        return '\n'.join(out) + '\n'


def _prom_inventory(expo, scope, labels, inventory, with_ratio):
    for rc, stem, factor, unit in PROM_RESOURCES:
        record = inventory.get(rc)
        if not record:
            continue
        for field, suffix, help_text in PROM_FIELDS:
            if record.get(field) is not None:
                expo.add('%s_%s%s%s' % (scope, stem, suffix, unit), 'gauge',
                         '%s, %s (%s).' % (help_text, rc, unit.strip('_') or 'count'), labels, record[field] * factor)
        if with_ratio and record.get('allocation_ratio') is not None:
            expo.add('%s_%s_allocation_ratio' % (scope, stem), 'gauge',
                     'Overcommit ratio of %s.' % rc, labels, record['allocation_ratio'])
        expo.add('%s_%s_utilization_ratio' % (scope, stem), 'gauge',
                 'Used / capacity of %s.' % rc, labels, record.get('utilization'))


def _prom_totals(expo, scope, labels, totals):
    expo.add('%s_running_vms' % scope, 'gauge', 'Running VMs.', labels, totals.get('running_vms'))
    _prom_inventory(expo, scope, labels, totals.get('inventory') or {}, False)
    expo.add('%s_disk_available_least_bytes' % scope, 'gauge',
             'Disk left if every thin disk grew to its size (Nova disk_available_least).',
             labels, None if totals.get('disk_available_least') is None else totals['disk_available_least'] * GIB)


def _prom_failover(expo, failover):
    """The failover simulation: the cluster's series have no group label, each group's have one."""
    if not failover:
        return
    scopes = [([], failover['cluster'])] + [([('group', g)], r) for g, r in failover['groups'].items()]
    for labels, record in scopes:
        expo.add('failover_survives', 'gauge', '1 when every VM of the lost hosts finds a place on the others '
                 '(first-fit decreasing within the group), 0 when not.', labels, record['survives'])
        expo.add('failover_unplaced_vms', 'gauge', 'VMs of the lost hosts that find no place.', labels,
                 record['unplaced']['count'])
    for labels, record in scopes:
        for flavor, count in record['fits_after'].items():
            expo.add('failover_fits', 'gauge', 'More instances of the flavor that fit after the loss and re-placement.',
                     labels + [('flavor', flavor)], count)


def _prom_forecast(expo, forecast):
    """When each resource runs full (absent when never, or without enough history), and the
    headroom once the planned workloads already due are placed."""
    if not forecast or not is_finite_number(forecast.get('now')):
        return
    scopes = [([], forecast['cluster'])] + [([('group', g)], s) for g, s in forecast['groups'].items()]
    for labels, scope in scopes:
        for rc in RESOURCE_CLASSES:
            record = scope.get(rc)
            days = record.get('days_until_full') if isinstance(record, dict) else None
            if is_finite_number(days):
                expo.add('forecast_full_timestamp_seconds', 'gauge', 'When used reaches capacity at the '
                         'Theil-Sen trend of the daily history, as Unix time; absent when never.',
                         [('resource', rc)] + labels, int(forecast['now'] + days * 86400))
    if not forecast.get('planned'):
        return
    for labels, scope in scopes:
        room = scope.get('headroom') if isinstance(scope.get('headroom'), dict) else {}
        for rc, stem, factor, unit in PROM_RESOURCES:
            value = (room.get('free_after_planned') or {}).get(rc)
            if is_finite_number(value):
                expo.add('planned_%s_free_after%s' % (stem, unit), 'gauge', 'Free %s once the planned workloads '
                         'already due are placed (negative: short).' % rc, labels, value * factor)
        for flavor, count in sorted((room.get('fits_after_planned') or {}).items()):
            expo.add('planned_flavor_fits_after', 'gauge', 'More instances of the flavor that fit once the planned '
                     'workloads already due are placed.', labels + [('flavor', flavor)], count)


RECLAIMABLE_REASONS = ('idle', 'oversized', 'stopped', 'thin_gap')
# VM contention gauges: (report field, metric, factor to base units, help)
PROM_VM_CONTENTION = (
    ('steal_percent', 'vm_steal_percent', 1, 'Time the VM\'s vCPUs waited for a host CPU over the last cycle, in '
     'percent of its vCPU time (steal); absent where not reported.'),
    ('read_latency_ms', 'vm_disk_read_latency_seconds', 1e-3, 'Mean time of a disk read over the last cycle.'),
    ('write_latency_ms', 'vm_disk_write_latency_seconds', 1e-3, 'Mean time of a disk write over the last cycle.'),
    ('flush_latency_ms', 'vm_disk_flush_latency_seconds', 1e-3, 'Mean time of a disk flush over the last cycle.'),
    ('p95_steal_percent', 'vm_steal_p95_percent', 1, 'p95 of the VM\'s steal percent over its kept window.'),
)


def _prom_reclaimable(expo, section, host_group):
    """Reclaimable capacity per reason and resource (cluster: no group label), and p95 steal per host."""
    if not section:
        return
    scopes = [([], section.get('cluster') or {})] + [([('group', g)], r) for g, r in sorted(section['groups'].items())]
    for labels, scope in scopes:
        for reason in RECLAIMABLE_REASONS:
            record = scope.get(reason) if isinstance(scope.get(reason), dict) else {}
            for rc in ('VCPU', 'MEMORY_MB', 'DISK_GB'):
                expo.add('reclaimable', 'gauge', 'Capacity idle, oversized and stopped VMs hold (thin_gap: disk given '
                         'but not written, not freeable), in the resource class\'s units (vCPUs, MiB, GiB).',
                         labels + [('resource', rc), ('reason', reason)], record.get(rc))
    for host, record in sorted(section['hosts'].items()):
        expo.add('host_steal_p95_percent', 'gauge', 'p95 over the host\'s VMs of their p95 steal percent.',
                 [('host', host), ('group', host_group.get(host, record.get('group')))], record.get('p95_steal_percent'))


def render_prometheus(doc):
    """Text exposition format: gauges for capacity and utilisation, counters for VM totals."""
    expo = _Exposition()
    expo.add('report_generated_timestamp_seconds', 'gauge', 'When this report was written.', [],
             doc['generated_at'])
    expo.add('report_problem_hosts', 'gauge', 'Hosts that failed or were unreachable in the run.', [],
             len(doc['problems']))
    host_group = dict((name, host['group']) for name, host in doc['hosts'].items())
    for host in ordered_hosts(doc):
        labels = [('host', host['host']), ('group', host['group'])]
        info = [('host', host['host']), ('hypervisor_hostname', host['hypervisor_hostname']),
                ('hypervisor_type', host['hypervisor_type'])]
        names = _prom_label_names(host['labels'], 'label_')
        info += sorted((names[k], v) for k, v in host['labels'].items())
        expo.add('host_info', 'gauge', 'Host description and labels; always 1.', info, 1)
        expo.add('host_up', 'gauge', '1 when the host answered every task of the run, 0 when it failed '
                 'or was unreachable.', labels, 1 if host['status'] == 'ok' else 0)
        expo.add('host_collected_timestamp_seconds', 'gauge', 'When the host was read.', labels,
                 host['collected_at'])
        _prom_inventory(expo, 'host', labels, host['inventory'], True)
        expo.add('host_running_vms', 'gauge', 'Running VMs.', labels, host['running_vms'])
        expo.add('host_disk_available_least_bytes', 'gauge',
                 'Disk left if every thin disk grew to its size (Nova disk_available_least).',
                 labels, None if host['disk_available_least'] is None else host['disk_available_least'] * GIB)
    for problem in doc['problems']:
        if problem['host'] not in doc['hosts'] and problem.get('hypervisor', True):
            expo.add('host_up', 'gauge', '', [('host', problem['host']), ('group', None)], 0)
    cluster = doc['cluster']
    expo.add('cluster_hosts', 'gauge', 'Hosts in the cluster totals.', [], cluster['count'])
    _prom_totals(expo, 'cluster', [], cluster)
    for flavor, fits in cluster['fits'].items():
        expo.add('cluster_flavor_fits', 'gauge', 'More instances of the flavor that fit, host by host.',
                 [('flavor', flavor)], fits['total'])
    for group, totals in cluster['groups'].items():
        labels = [('group_by', cluster['group_by']), ('group', group)]
        expo.add('group_hosts', 'gauge', 'Hosts in the group.', labels, totals['count'])
        _prom_totals(expo, 'group', labels, totals)
    for flavor, fits in cluster['fits'].items():
        for group, count in fits['groups'].items():
            expo.add('group_flavor_fits', 'gauge', 'More instances of the flavor that fit in the group.',
                     [('group_by', cluster['group_by']), ('group', group), ('flavor', flavor)], count)
    _prom_failover(expo, doc.get('failover'))
    _prom_forecast(expo, doc.get('forecast'))
    _prom_reclaimable(expo, doc.get('reclaimable'), host_group)
    for vm in sorted(doc['vms'].values(), key=lambda v: (v['host'], v['name'], v['uuid'])):
        labels = [('host', vm['host']), ('vm', vm['name']), ('uuid', vm['uuid']), ('group', host_group.get(vm['host']))]
        expo.add('vm_info', 'gauge', 'VM state; always 1.', labels + [('state', vm['state'])], 1)
        expo.add('vm_vcpus', 'gauge', 'vCPUs of the VM.', labels, vm['vcpus'])
        expo.add('vm_cpu_utilization_ratio', 'gauge', 'CPU used over the VM\'s vCPUs, 0 to 1, over the '
                 'sample window or the last collection cycle.', labels,
                 None if vm['cpu_utilization'] is None else vm['cpu_utilization'] / 100.0)
        expo.add('vm_timed_out', 'gauge', '1 when the VM\'s device statistics timed out.', labels, vm['timed_out'])
        contention = vm.get('contention') or {}
        for field, name, factor, help_text in PROM_VM_CONTENTION:
            value = contention.get(field)
            expo.add(name, 'gauge', help_text, labels, None if value is None else value * factor)
        for field, name, help_text in PROM_VM_MEMORY:
            value = vm['memory'].get(field)
            expo.add('vm_' + name, 'gauge', help_text + '.', labels, None if value is None else value * KIB)
        for source, field, name, factor, help_text in PROM_VM_COUNTER_SERIES:
            data = vm if (source, field) == ('totals', 'cpu_time_ns') else (vm[source] or {})
            value = data.get(field)
            expo.add(name, 'counter', help_text, labels, None if value is None else value * factor)
    return expo.text()
