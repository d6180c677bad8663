# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Formatting the renderers of the capacity report share: amounts in their display units,
times, counts, titles and rows of the top-VM lists, the order of hosts, one-line texts.

Every renderer (``render_table``, ``render_json``, ``render_prometheus``, ``render_html``)
takes the plain document ``report_model.build_report`` returns.
"""

import datetime

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import GIB, KIB, MIB, RESOURCE_CLASSES

# What each resource class is called, and the unit its inventory amount (vCPU, MiB, GiB)
# is shown in, in the table and the page: (class, name, unit), in the schema's order.
RESOURCE_NAMES = {'VCPU': ('vCPU', 'vCPU'), 'PCPU': ('pCPU', 'pCPU'), 'MEMORY_MB': ('RAM', 'GiB'),
                  'DISK_GB': ('Disk', 'GiB')}
RESOURCE_DISPLAY = tuple((rc,) + RESOURCE_NAMES[rc] for rc in RESOURCE_CLASSES)
# The resource classes the table and the page show per host (PCPU only when dedicated).
TABLE_RESOURCES = ('VCPU', 'MEMORY_MB', 'DISK_GB')
TOP_KINDS = ('cpu', 'disk', 'network')


def utc_text(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')


def amount(rc, value):
    """An inventory amount as shown: vCPUs as they are, MiB as GiB with one decimal, GiB as they are."""
    if value is None:
        return '-'
    if rc == 'MEMORY_MB':
        return '%.1f' % (value * MIB / float(GIB))
    return '%d' % value if value == int(value) else '%.1f' % value


def shared_storage_texts(cluster):
    """A sentence per shared storage: which hosts see it, and that it is counted once."""
    return ['Shared storage %s, seen by %s, counted once: %s GiB disk, %s free.' % (
        sid, ', '.join(shared['hosts']), amount('DISK_GB', shared['DISK_GB']['capacity']),
        amount('DISK_GB', shared['DISK_GB']['free'])) for sid, shared in sorted(cluster.get('shared_storage', {}).items())]


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


def fits_rows(doc):
    """Header and rows of the flavor fits: one row per flavor, the cluster then each group."""
    fits = doc['cluster']['fits']
    groups = sorted(set(g for entry in fits.values() for g in entry['groups']))
    rows = [[flavor, entry['total']] + [entry['groups'].get(g) for g in groups] for flavor, entry in fits.items()]
    return ['FLAVOR', 'CLUSTER'] + groups, [['-' if c is None else str(c) for c in row] for row in rows]


def failover_verdict(doc, record):
    """'survives the loss of 1 host: yes' / '...: no (3 VMs unplaced)' / '...: unknown'."""
    k = doc['failover']['failures']
    text = 'survives the loss of %s host%s: ' % ('-' if k is None else k, '' if k == 1 else 's')
    if record['survives'] is None:
        return text + 'unknown'
    if record['survives']:
        return text + 'yes'
    count = record['unplaced']['count']
    return text + 'no (%s VM%s unplaced)' % ('-' if count is None else count, '' if count == 1 else 's')


def failover_rows(doc):
    """(label, record) of each group, then the cluster; none without a failover simulation."""
    failover = doc.get('failover')
    if not failover:
        return []
    rows = [('[%s]' % group, record) for group, record in failover['groups'].items()]
    return rows + [('CLUSTER', failover['cluster'])]


def fits_after_text(record):
    return ', '.join('%s %s' % (flavor, '-' if n is None else n) for flavor, n in record['fits_after'].items())


FORECAST_RESOURCES = ('VCPU', 'MEMORY_MB', 'DISK_GB')


def full_in_text(record):
    """A forecast record as a table cell: '45 d', 'now', 'never', or 'too new' without enough history."""
    if not isinstance(record, dict):
        return '-'
    days = record.get('days_until_full')
    if days is None:
        return 'too new' if record.get('reason') == 'not enough history' else 'never'
    return 'now' if days <= 0 else '%d d' % days


def forecast_scopes(doc):
    """(label, scope) of each group, then the cluster; none without a forecast."""
    forecast = doc.get('forecast')
    if not forecast:
        return []
    return [('[%s]' % group, scope) for group, scope in forecast['groups'].items()] + [('CLUSTER', forecast['cluster'])]


def first_full(scope):
    """(date, resource name) of the earliest forecast exhaustion of a scope, or None."""
    dated = [(scope[rc]['full_on'], RESOURCE_NAMES[rc][0]) for rc in FORECAST_RESOURCES
             if isinstance(scope.get(rc), dict) and scope[rc].get('full_on')]
    return min(dated) if dated else None


def forecast_rows(doc):
    """Header and rows of the 'full in' table: each group, then the cluster."""
    header = ['GROUP'] + ['%s full in' % RESOURCE_NAMES[rc][0] for rc in FORECAST_RESOURCES] + ['first full on']
    rows = []
    for label, scope in forecast_scopes(doc):
        first = first_full(scope)
        rows.append([label] + [full_in_text(scope.get(rc)) for rc in FORECAST_RESOURCES]
                    + ['%s (%s)' % first if first else '-'])
    return header, rows


def forecast_title(doc):
    forecast = doc['forecast']
    return 'Forecast, Theil-Sen over %s days of daily points%s' % (
        forecast.get('forecast_days'), ', SIMULATED history' if forecast.get('simulated') else '')


def planned_lines(doc):
    """One text per scope of the headroom before and after the planned workloads already due."""
    forecast = doc.get('forecast')
    if not forecast or not forecast.get('planned'):
        return []
    lines = []
    for label, scope in forecast_scopes(doc):
        room = scope.get('headroom') or {}
        before, after = room.get('free') or {}, room.get('free_after_planned') or {}
        parts = ['%s %s -> %s' % (RESOURCE_NAMES[rc][0], amount(rc, before.get(rc)), amount(rc, after.get(rc)))
                 for rc in FORECAST_RESOURCES if rc in before]
        fits, fits_after = room.get('fits') or {}, room.get('fits_after_planned') or {}
        parts += ['%s fits %s -> %s' % (f, fits[f], fits_after.get(f, '-')) for f in sorted(fits)]
        lines.append('%s free before -> after planned: %s' % (label, ', '.join(parts) or '-'))
    return lines


# --- reclaimable capacity (issue 14) -------------------------------------------------------------

RECLAIMABLE_CATEGORIES = (('idle', 'idle'), ('oversized', 'oversized'), ('stopped', 'stopped'),
                          ('total', 'total'), ('thin_gap', 'thin gap (apart)'))


def reclaimable_title(doc):
    """The section's title; data of libvirt's test driver is simulated, and says so."""
    test_driver = any(str(host.get('uri') or '').startswith('test:') for host in doc['hosts'].values())
    section = doc['reclaimable']
    thresholds = section.get('thresholds') or {}
    return 'Reclaimable capacity (idle: p95 CPU < %s%% over %s days)%s' % (
        thresholds.get('idle_cpu_percent', '-'), thresholds.get('idle_days', '-'),
        ', SIMULATED data of the libvirt test driver' if test_driver else '')


def reclaimable_rows(doc):
    """Header and rows: each category of the cluster (total = idle + oversized + stopped)."""
    section = doc.get('reclaimable')
    if not section:
        return None, []
    header = ['CATEGORY', 'VMs', 'vCPU', 'RAM GiB', 'disk GiB']
    rows = []
    for key, label in RECLAIMABLE_CATEGORIES:
        record = (section.get('cluster') or {}).get(key) or {}
        rows.append([label, count_text(record.get('vms'))] + [amount(rc, record.get(rc)) for rc in TABLE_RESOURCES])
    return header, rows


def reclaimable_vm_rows(doc, limit=10):
    """Header and rows of the largest reclaimable VMs, each with its reason."""
    section = doc.get('reclaimable') or {}
    vms = [vm for vm in section.get('vms') or [] if vm.get('category') != 'thin_gap'][:limit]
    header = ['VM', 'HOST', 'CATEGORY', 'vCPU', 'RAM GiB', 'disk GiB', 'REASON']
    return header, [[str(vm.get('name') or vm.get('uuid')), str(vm.get('host')), str(vm.get('category'))]
                    + [amount(rc, vm.get(rc)) for rc in TABLE_RESOURCES] + [str(vm.get('reason') or '')]
                    for vm in vms]


def steal_rows(doc):
    """Per host the p95 steal over its VMs beside its vCPU allocation ratio (allocated per physical)."""
    section = doc.get('reclaimable') or {}
    header = ['HOST', 'VMs', 'p95 steal', 'vCPU ratio']
    rows = []
    for host, record in sorted((section.get('hosts') or {}).items()):
        ratio = record.get('vcpu_allocation_ratio')
        rows.append([host, count_text(record.get('vms')), percent_text(record.get('p95_steal_percent')),
                     '-' if ratio is None else '%.2f' % ratio])
    return header, rows


def reclaimable_fits_text(doc):
    fits = (doc.get('reclaimable') or {}).get('fits') or {}
    return ', '.join('%s %s' % (name, count) for name, count in sorted(fits.items()))
