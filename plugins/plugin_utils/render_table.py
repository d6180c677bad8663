# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Renderers of the capacity report document built by ``report_model.build_report``.

Each takes the plain document and returns text: ``render_table`` (80 columns,
no colour, for the job log), ``render_json``, ``render_prometheus`` (text
exposition format for node_exporter's textfile collector) and ``render_html``
(one self-contained page: inline CSS and static inline SVG, nothing fetched).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import re
import textwrap

try:
    from html import escape as _html_escape
except ImportError:  # pragma: no cover - Python 2 has cgi.escape only
    from cgi import escape as _html_escape

# What each resource class is called, and how its inventory unit (vCPU, MiB, GiB)
# is shown in the table and the page.
RESOURCE_DISPLAY = (
    ('VCPU', 'vCPU', 'vCPU'),
    ('PCPU', 'pCPU', 'pCPU'),
    ('MEMORY_MB', 'RAM', 'GiB'),
    ('DISK_GB', 'Disk', 'GiB'),
)
TABLE_RESOURCES = ('VCPU', 'MEMORY_MB', 'DISK_GB')
HEADROOM_UNITS = {'VCPU': 'vCPUs', 'MEMORY_MB': 'GiB RAM', 'DISK_GB': 'GiB disk'}
KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


# --- shared formatting -------------------------------------------------------

def utc_text(epoch):
    return datetime.datetime.utcfromtimestamp(epoch).strftime('%Y-%m-%d %H:%M UTC')


def amount(rc, value):
    """An inventory amount as shown: vCPUs as they are, MiB as GiB with one decimal, GiB as they are."""
    if value is None:
        return '-'
    if rc == 'MEMORY_MB':
        return '%.1f' % (value / 1024.0)
    return '%d' % value if value == int(value) else '%.1f' % value


def kib_text(kib):
    """1536 -> '1.5 MiB'; binary units, as libvirt counts."""
    if kib is None:
        return '-'
    value = float(kib) * KIB
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if abs(value) < 1024 or unit == 'TiB':
            return ('%d %s' % (value, unit)) if unit == 'B' else ('%.1f %s' % (value, unit))
        value /= 1024.0
    return '-'  # pragma: no cover


def count_text(value):
    """Request counts, short: 1234 -> '1234', 1234567 -> '1.2M'."""
    if value is None:
        return '-'
    for limit, suffix in ((1e15, 'P'), (1e12, 'T'), (1e9, 'G'), (1e6, 'M'), (1e4, 'k')):
        if value >= limit:
            return '%.1f%s' % (value / limit, suffix)
    return '%d' % value


def duration_text(ns):
    if ns is None:
        return '-'
    seconds = int(ns // 1000000000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return '%dh%02dm' % (hours, minutes)
    return '%dm%02ds' % (minutes, seconds) if minutes else '%ds' % seconds


def percent_text(value):
    return '-' if value is None else '%.1f%%' % value


TOP_TITLES = {
    'cpu': {'cpu_utilization': 'by CPU utilisation', 'cpu_time_ns': 'by CPU time since each domain started'},
    'disk': {'cumulative': 'by disk I/O, cumulative across restarts',
             'totals': 'by disk I/O since each domain started'},
    'network': {'cumulative': 'by network I/O, cumulative across restarts',
                'totals': 'by network I/O since each domain started'},
}


def top_title(doc, kind):
    top = doc['top'][kind]
    return 'Top %d VMs %s' % (doc['options']['top'], TOP_TITLES[kind].get(top['basis'], ''))


def top_rows(doc, kind):
    """Header and rows of one top-VM list, shared by the table and the page."""
    top = doc['top'][kind]
    if kind == 'cpu':
        if top['basis'] == 'cpu_utilization':
            header = ['VM', 'HOST', 'vCPU', 'CPU %']
            rows = [[e['name'], e['host'], amount('VCPU', e['vcpus']), percent_text(e['value'])] for e in top['vms']]
        else:
            header = ['VM', 'HOST', 'vCPU', 'CPU time']
            rows = [[e['name'], e['host'], amount('VCPU', e['vcpus']), duration_text(e['value'])] for e in top['vms']]
    elif kind == 'disk':
        header = ['VM', 'HOST', 'read', 'written', 'read req', 'write req']
        rows = [[e['name'], e['host'], kib_text(e['read_kb']), kib_text(e['write_kb']),
                 count_text(e['read_ios']), count_text(e['write_ios'])] for e in top['vms']]
    else:
        header = ['VM', 'HOST', 'read', 'written']
        rows = [[e['name'], e['host'], kib_text(e['read_kb']), kib_text(e['write_kb'])] for e in top['vms']]
    return header, rows


def ordered_hosts(doc):
    """Hosts by group, then name, so a group's hosts stand together."""
    return sorted(doc['hosts'].values(), key=lambda h: (h['group'] or '', h['host']))


def problem_text(problem):
    text = '%s %s' % (problem['host'], problem['status'])
    if problem.get('task'):
        text += " in task '%s'" % problem['task']
    if problem.get('ignored'):
        text += ' (ignored)'
    if problem.get('message'):
        text += ': %s' % problem['message']
    return text


def summary_text(doc):
    cluster = doc['cluster']
    hosts, vms = len(doc['hosts']), cluster.get('running_vms') or 0
    text = '%d host%s, %d running VM%s' % (hosts, '' if hosts == 1 else 's', vms, '' if vms == 1 else 's')
    if doc['problems']:
        text += ', %d with problems' % len(doc['problems'])
    return text


# --- table -------------------------------------------------------------------

def _fit(text, width):
    """Cut in the middle with ~, so names that share a prefix stay apart (compute-0001 ... compute-0002)."""
    text = str(text)
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + '~' + text[len(text) - (width - 1 - head):]


def column_widths(header, rows, width=80, indent='', squeeze=(0,)):
    """Widths from content; the widest of the ``squeeze`` columns is cut, in turn, until the table fits."""
    widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
    excess = len(indent) + sum(widths) + 2 * (len(widths) - 1) - width
    while excess > 0:
        column = max(squeeze, key=lambda i: widths[i])
        if widths[column] <= 6:
            break
        widths[column] -= 1
        excess -= 1
    return widths


def text_columns(header, rows, right, width=80, indent='', squeeze=(0,), widths=None):
    """Lines of a plain text table, two spaces between columns, cut cells end in ~."""
    widths = widths or column_widths(header, rows, width, indent, squeeze)
    lines = []
    for row in [header] + rows:
        parts = []
        for i, cell in enumerate(row):
            cell = _fit(cell, widths[i])
            parts.append(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]))
        lines.append((indent + '  '.join(parts)).rstrip())
    return lines


def _capacity_row(label, vms, inventory):
    row = [label, '-' if vms is None else str(vms)]
    for rc in TABLE_RESOURCES:
        record = inventory.get(rc) or {}
        row += [amount(rc, record.get('used')), amount(rc, record.get('capacity')), amount(rc, record.get('free'))]
    return row


def _capacity_table(doc, width):
    header = ['HOST', 'VMS'] + ['used', 'cap', 'free'] * len(TABLE_RESOURCES)
    hosts = ordered_hosts(doc)
    marks = ['' if host['status'] == 'ok' else ' (%s)' % host['status'] for host in hosts]
    rows = [_capacity_row(host['host'] + mark, host['running_vms'], host['inventory'])
            for host, mark in zip(hosts, marks)]
    cluster = doc['cluster']
    totals = [_capacity_row('[%s]' % group, data['running_vms'], data['inventory'])
              for group, data in cluster['groups'].items()]
    totals.append(_capacity_row('CLUSTER (%s)' % ('-' if cluster['count'] is None else cluster['count']),
                                cluster['running_vms'], cluster['inventory']))
    widths = column_widths(header, rows + totals, width)
    for row, host, mark in zip(rows, hosts, marks):  # cut the name, never the status mark
        row[0] = _fit(host['host'], widths[0] - len(mark)) + mark
    lines = text_columns(header, rows + totals, right=set(range(1, len(header))), widths=widths)
    # A caption over each resource's used/cap/free, and a rule above the totals.
    captions, column = ' ' * (widths[0] + 2 + widths[1] + 2), 2
    for name in ('vCPU', 'RAM GiB', 'Disk GiB'):
        span = sum(widths[column:column + 3]) + 4
        captions += (' %s ' % name).center(span, '-') + '  '
        column += 3
    out = [captions.rstrip(), lines[0]] + lines[1:1 + len(rows)]
    for problem in doc['problems']:
        if problem['host'] not in doc['hosts']:
            out.append(_fit('%s  %s, no capacity data' % (problem['host'], problem['status'].upper()), width))
    out.append('-' * len(lines[0]))
    return out + lines[1 + len(rows):]


def fits_rows(doc):
    """Header and rows of the flavor fits: one row per flavor, the cluster then each group."""
    fits = doc['cluster']['fits']
    groups = sorted(set(g for entry in fits.values() for g in entry['groups']))
    rows = [[flavor, entry['total']] + [entry['groups'].get(g) for g in groups] for flavor, entry in fits.items()]
    return ['FLAVOR', 'CLUSTER'] + groups, [['-' if c is None else str(c) for c in row] for row in rows]


def _fits_table(doc, width):
    header, rows = fits_rows(doc)
    if not rows:
        return []
    if sum(len(h) + 2 for h in header) + 2 > width:  # too many groups for one line: the cluster only
        header, rows = header[:2], [row[:2] for row in rows]
    return (['', 'Flavor fits (how many more instances, counted host by host):']
            + text_columns(header, rows, right=set(range(1, len(header))), width=width, indent='  '))


def render_table(doc, width=80):
    """The report as plain text at most ``width`` columns wide, without colour."""
    lines = ['%s. %s.' % (utc_text(doc['generated_at']), summary_text(doc))]
    if doc['cluster']['group_by'] and doc['cluster']['groups']:
        lines.append('Groups by %s.' % doc['cluster']['group_by'])
    if doc['hosts'] or doc['problems']:
        lines.append('')
        lines += _capacity_table(doc, width)
    inventory = doc['cluster']['inventory']
    if inventory:
        free = ', '.join('%s %s' % (amount(rc, inventory[rc]['free']), HEADROOM_UNITS[rc])
                         for rc in TABLE_RESOURCES if rc in inventory)
        lines += [''] + textwrap.wrap('Headroom: %s free in the cluster.' % free, width)
    lines += _fits_table(doc, width)
    for kind in ('cpu', 'disk', 'network'):
        header, rows = top_rows(doc, kind)
        if rows:
            lines += ['', top_title(doc, kind) + ':']
            lines += text_columns(header, rows, right=set(range(2, len(header))), width=width, indent='  ',
                                  squeeze=(0, 1))
    if doc['problems']:
        lines += ['', 'Hosts with problems (%d):' % len(doc['problems'])]
        for problem in doc['problems']:
            lines += textwrap.wrap(problem_text(problem), width, initial_indent='  ! ', subsequent_indent='    ',
                                   break_on_hyphens=False)
    return '\n'.join(line.rstrip() for line in lines)


# --- JSON --------------------------------------------------------------------

PRETTY_JSON_MAX_VMS = 1000


def render_json(doc):
    """Indented for a small cluster; compact beyond PRETTY_JSON_MAX_VMS VMs, where Python's
    indenting encoder (pure Python, unlike the compact one) would take seconds."""
    if len(doc['vms']) <= PRETTY_JSON_MAX_VMS:
        return json.dumps(doc, indent=2, sort_keys=True) + '\n'
    return json.dumps(doc, sort_keys=True, separators=(',', ':')) + '\n'


# --- Prometheus --------------------------------------------------------------

PROM_PREFIX = 'hypervisor_stats_'
# resource class -> metric stem, factor from the inventory unit to the base unit, unit suffix
PROM_RESOURCES = (
    ('VCPU', 'vcpus', 1, ''),
    ('PCPU', 'pcpus', 1, ''),
    ('MEMORY_MB', 'memory', MIB, '_bytes'),
    ('DISK_GB', 'disk', GIB, '_bytes'),
)
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


def _prom_value(value):
    if isinstance(value, bool):
        return '1' if value else '0'
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    return text if text not in ('inf', '-inf', 'nan') else {'inf': '+Inf', '-inf': '-Inf', 'nan': 'NaN'}[text]


class _Exposition:
    """Metric families in first-seen order; each printed once with its HELP and TYPE."""

    def __init__(self):
        self.families = {}
        self.order = []

    def add(self, name, kind, help_text, labels, value):
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


def render_prometheus(doc):
    """Text exposition format: gauges for capacity and utilisation, counters for VM totals."""
    expo = _Exposition()
    expo.add('report_generated_timestamp_seconds', 'gauge', 'When this report was written.', [],
             doc['generated_at'])
    expo.add('report_problem_hosts', 'gauge', 'Hosts that failed or were unreachable in the run.', [],
             len(doc['problems']))
    group_of = dict((name, host['group']) for name, host in doc['hosts'].items())
    for host in ordered_hosts(doc):
        labels = [('host', host['host']), ('group', host['group'])]
        info = [('host', host['host']), ('hypervisor_hostname', host['hypervisor_hostname']),
                ('hypervisor_type', host['hypervisor_type'])]
        info += sorted(('label_' + _prom_label_name(k), v) for k, v in host['labels'].items())
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
        if problem['host'] not in doc['hosts']:
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
    for vm in sorted(doc['vms'].values(), key=lambda v: (v['host'], v['name'], v['uuid'])):
        labels = [('host', vm['host']), ('vm', vm['name']), ('uuid', vm['uuid']), ('group', group_of.get(vm['host']))]
        expo.add('vm_info', 'gauge', 'VM state; always 1.', labels + [('state', vm['state'])], 1)
        expo.add('vm_vcpus', 'gauge', 'vCPUs of the VM.', labels, vm['vcpus'])
        expo.add('vm_cpu_utilization_ratio', 'gauge', 'CPU used over the VM\'s vCPUs, 0 to 1, over the '
                 'sample window or the last collection cycle.', labels,
                 None if vm['cpu_utilization'] is None else vm['cpu_utilization'] / 100.0)
        expo.add('vm_timed_out', 'gauge', '1 when the VM\'s device statistics timed out.', labels, vm['timed_out'])
        for field, name, help_text in PROM_VM_MEMORY:
            value = vm['memory'].get(field)
            expo.add('vm_' + name, 'gauge', help_text + '.', labels, None if value is None else value * KIB)
        for source, field, name, factor, help_text in PROM_VM_COUNTER_SERIES:
            data = vm if (source, field) == ('totals', 'cpu_time_ns') else (vm[source] or {})
            value = data.get(field)
            expo.add(name, 'counter', help_text, labels, None if value is None else value * factor)
    return expo.text()


# --- HTML --------------------------------------------------------------------

BAR_WIDTH = 240
BAR_HEIGHT = 16
LEVELS = ((0.9, 'full'), (0.75, 'high'), (0.0, 'ok'))
SEGMENT_TITLES = {'used': 'used', 'free': 'free', 'reserved': 'reserved for the host'}

PAGE_CSS = '''
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;color:#1d2733;background:#f4f6f8}
header{background:#1f3b57;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.85}
main{padding:8px 28px 28px;max-width:1280px}
h2{font-size:17px;margin:24px 0 10px}
section.panel{background:#fff;border:1px solid #dde3e9;border-radius:6px;padding:12px 16px;margin-bottom:16px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e6eaee;vertical-align:middle}
thead th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#5a6776}
th[scope=row]{font-weight:600;white-space:nowrap}td.missing{color:#8a1f17}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.cap{font-size:12px;color:#445;white-space:nowrap}
svg.bar{display:block}
svg.bar rect.used.ok{fill:#3a70b5}svg.bar rect.used.high{fill:#e2a018}svg.bar rect.used.full{fill:#c8372d}
svg.bar rect.free{fill:#cde8cd}svg.bar rect.reserved{fill:#9aa3ad}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px;border-radius:2px}
.cards{display:flex;flex-wrap:wrap;gap:14px}
.card{flex:1 1 260px;background:#f8fafb;border:1px solid #e1e6eb;border-radius:6px;padding:10px 14px}
.card .big{font-size:26px;font-weight:600}
.problems{background:#fdecea;border:1px solid #f1b0aa;border-radius:6px;padding:10px 16px;margin:16px 0}
.problems h2{margin:0 0 6px;color:#8a1f17}
.badge{display:inline-block;font-size:11px;padding:1px 6px;border-radius:8px;background:#c8372d;color:#fff;margin-left:6px}
.group{color:#5a6776;font-size:12px}
.tops{display:flex;flex-wrap:wrap;gap:16px}.tops section{flex:1 1 380px}.tops h2{margin-top:4px}
footer{color:#6b7785;font-size:12px;padding:0 28px 20px}
'''


def _h(text):
    return _html_escape('' if text is None else str(text), quote=True)


def usage_level(utilization):
    utilization = utilization or 0.0
    for threshold, name in LEVELS:
        if utilization >= threshold:
            return name
    return 'ok'  # pragma: no cover


def bar_segments(record):
    """Used, free and reserved of one inventory record on one scale (capacity units): the bar spans
    total * allocation_ratio, that is capacity plus the reserved part at the same ratio."""
    used = max(record.get('used') or 0, 0)
    free = max(record.get('free') or 0, 0)
    reserved = max(record.get('reserved') or 0, 0) * (record.get('allocation_ratio') or 1.0)
    return [('used', used), ('free', free), ('reserved', reserved)]


def svg_bar(rc, record, width=BAR_WIDTH, height=BAR_HEIGHT):
    """A static stacked bar; ``data-*`` attributes carry the values the widths are drawn from."""
    segments = bar_segments(record)
    span = float(sum(value for _name, value in segments))
    level = usage_level(record.get('utilization'))
    label = '%s: %s used, %s free, %s reserved' % (rc, amount(rc, record.get('used')),
                                                   amount(rc, record.get('free')), amount(rc, record.get('reserved')))
    parts = ['<svg class="bar" data-resource="%s" %s width="%d" height="%d" viewBox="0 0 %d %d" role="img" '
             'aria-label="%s">' % (rc, ' '.join('data-%s="%s"' % (n, _h(v)) for n, v in segments),
                                   width, height, width, height, _h(label))]
    x = 0.0
    for name, value in segments:
        size = width * value / span if span else 0.0
        if size > 0:
            parts.append('<rect class="%s%s" x="%.2f" y="0" width="%.2f" height="%d"><title>%s %s</title></rect>'
                         % (name, ' ' + level if name == 'used' else '', x, size, height,
                            _h(amount(rc, value)), SEGMENT_TITLES[name]))
        x += size
    if not span:
        parts.append('<rect class="free" x="0" y="0" width="%d" height="%d"/>' % (width, height))
    parts.append('</svg>')
    return ''.join(parts)


def _bar_cell(rc, record):
    if not record:
        return '<td>-</td>'
    unit = dict((r, u) for r, _l, u in RESOURCE_DISPLAY)[rc]
    util = record.get('utilization')
    caption = '%s / %s %s used%s &middot; %s free' % (
        amount(rc, record.get('used')), amount(rc, record.get('capacity')), unit,
        '' if util is None else ' (%d%%)' % round(util * 100), amount(rc, record.get('free')))
    return '<td>%s<div class="cap">%s</div></td>' % (svg_bar(rc, record), caption)


def _legend():
    items = (('#3a70b5', 'used'), ('#e2a018', 'used, over 75%'), ('#c8372d', 'used, over 90%'),
             ('#cde8cd', 'free'), ('#9aa3ad', 'reserved for the host'))
    return '<p class="legend">%s</p>' % ''.join('<span><i style="background:%s"></i>%s</span>' % item
                                                for item in items)


def _capacity_rows(entries, missing=(), first='Host'):
    rows = []
    for label, extra, vms, inventory in entries:
        rows.append('<tr><th scope="row">%s%s</th><td class="num">%s</td>%s</tr>' % (
            _h(label), extra, _h('-' if vms is None else vms),
            ''.join(_bar_cell(rc, inventory.get(rc)) for rc in TABLE_RESOURCES)))
    for problem in missing:
        rows.append('<tr><th scope="row">%s<span class="badge">%s</span></th><td class="num">-</td>'
                    '<td class="missing" colspan="3">no capacity data this run</td></tr>'
                    % (_h(problem['host']), _h(problem['status'])))
    return ('<table class="capacity"><thead><tr><th>%s</th><th class="num">Running VMs</th><th>vCPU</th>'
            '<th>RAM</th><th>Disk</th></tr></thead><tbody>%s</tbody></table>' % (first, ''.join(rows)))


def _cards(cluster):
    cards = []
    for rc, label, unit in RESOURCE_DISPLAY:
        record = cluster['inventory'].get(rc)
        if not record or rc == 'PCPU':
            continue
        cards.append('<div class="card"><div>%s headroom</div><div class="big">%s %s free</div>%s'
                     '<div class="cap">%s of %s %s used</div></div>' % (
                         label, amount(rc, record.get('free')), unit, svg_bar(rc, record),
                         amount(rc, record.get('used')), amount(rc, record.get('capacity')), unit))
    return '<div class="cards">%s</div>' % ''.join(cards)


def _simple_table(header, rows, numeric_from, css_class=''):
    head = ''.join('<th%s>%s</th>' % (' class="num"' if i >= numeric_from else '', _h(h)) for i, h in enumerate(header))
    body = ''.join('<tr>%s</tr>' % ''.join('<td%s>%s</td>' % (' class="num"' if i >= numeric_from else '', _h(c))
                                           for i, c in enumerate(row)) for row in rows)
    return '<table class="%s"><thead><tr>%s</tr></thead><tbody>%s</tbody></table>' % (css_class, head, body)


def render_html(doc):
    """One self-contained page: inline CSS and static SVG, no script and nothing fetched."""
    cluster = doc['cluster']
    when = _h(utc_text(doc['generated_at']))
    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>Capacity report %s</title><style>%s</style></head><body>' % (when, PAGE_CSS),
           '<header><h1>Hypervisor capacity</h1><p>%s &middot; %s</p></header><main>' % (when, _h(summary_text(doc)))]
    if doc['problems']:
        out.append('<section class="problems" id="problems"><h2>Hosts with problems</h2><ul>%s</ul></section>'
                   % ''.join('<li>%s</li>' % _h(problem_text(p)) for p in doc['problems']))
    if cluster['inventory']:
        out.append('<h2>Cluster headroom</h2><section class="panel" id="cluster">%s</section>' % _cards(cluster))
    if cluster['groups']:
        entries = [(group, '', totals['running_vms'], totals['inventory']) for group, totals in cluster['groups'].items()]
        out.append('<h2>Groups%s</h2><section class="panel" id="groups">%s</section>' % (
            _h(' by %s' % cluster['group_by'] if cluster['group_by'] else ''), _capacity_rows(entries, first='Group')))
    if cluster['fits']:
        header, rows = fits_rows(doc)
        out.append('<h2>Flavor fits</h2><section class="panel" id="flavors"><p class="cap">How many more instances '
                   'of each flavor fit, counted host by host (an instance never spans hosts).</p>%s</section>'
                   % _simple_table(header, rows, 1))
    if doc['hosts']:
        entries = []
        for host in ordered_hosts(doc):
            extra = ''
            if host['group'] is not None:
                extra += ' <span class="group">%s</span>' % _h(host['group'])
            if host['status'] != 'ok':
                extra += '<span class="badge">%s</span>' % _h(host['status'])
            entries.append((host['host'], extra, host['running_vms'], host['inventory']))
        missing = [p for p in doc['problems'] if p['host'] not in doc['hosts']]
        out.append('<h2>Hosts</h2><section class="panel" id="hosts">%s%s</section>' % (
            _legend(), _capacity_rows(entries, missing)))
    tops = []
    for kind in ('cpu', 'disk', 'network'):
        header, rows = top_rows(doc, kind)
        if rows:
            tops.append('<section class="panel" id="top-%s"><h2>%s</h2>%s</section>' % (
                kind, _h(top_title(doc, kind)), _simple_table(header, rows, 2, 'top')))
    if tops:
        out.append('<div class="tops">%s</div>' % ''.join(tops))
    out.append('</main><footer>hypervisor.stats capacity report, schema version %d. Values as the run collected them; '
               'capacity = (total &minus; reserved) &times; allocation ratio, as OpenStack placement counts.</footer>'
               '</body></html>\n' % doc['schema_version'])
    return '\n'.join(out)
