# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity report as one self-contained HTML page: the CSS of ``report.css`` inline and
static inline SVG bars; no script and nothing fetched."""

import functools
import os
from html import escape

from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_text import (
    RESOURCE_DISPLAY, TABLE_RESOURCES, TOP_KINDS, amount, failover_verdict, fits_after_text, fits_rows, forecast_rows,
    forecast_title, ordered_hosts, planned_lines, problem_text, reclaimable_fits_text, reclaimable_rows,
    reclaimable_title, reclaimable_vm_rows, shared_storage_texts, steal_rows, summary_text, top_rows, top_title, utc_text)
from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_chart import render_charts

CSS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'report.css')
BAR_WIDTH = 240
BAR_HEIGHT = 16
LEVELS = ((0.9, 'full'), (0.75, 'high'), (0.0, 'ok'))
SEGMENT_TITLES = {'used': 'used', 'free': 'free', 'reserved': 'reserved for the host'}


@functools.lru_cache(maxsize=None)
def page_css():
    """The page's style sheet, ``report.css`` beside this file."""
    with open(CSS_PATH) as handle:
        return handle.read()


def _h(text):
    return escape('' if text is None else str(text), quote=True)


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


def _failover_note(doc, record):
    """The failover verdict of a group or the cluster, shown beside its bars."""
    if record is None:
        return ''
    state = {True: 'yes', False: 'no', None: 'unknown'}[record['survives']]
    details = []
    if record['worst_hosts']:
        details.append('worst: %s' % ', '.join(record['worst_hosts']))
    if record['unplaced']['vms']:
        details.append('unplaced: %s' % ', '.join(vm['name'] or vm['uuid'] or '?' for vm in record['unplaced']['vms']))
    if record['fits_after']:
        details.append('fits after: %s' % fits_after_text(record))
    return '<div class="failover %s" data-survives="%s">%s%s</div>' % (
        state, state, _h(failover_verdict(doc, record)),
        ''.join('<div class="cap">%s</div>' % _h(d) for d in details))


def _simple_table(header, rows, numeric_from, css_class=''):
    head = ''.join('<th%s>%s</th>' % (' class="num"' if i >= numeric_from else '', _h(h)) for i, h in enumerate(header))
    body = ''.join('<tr>%s</tr>' % ''.join('<td%s>%s</td>' % (' class="num"' if i >= numeric_from else '', _h(c))
                                           for i, c in enumerate(row)) for row in rows)
    return '<table class="%s"><thead><tr>%s</tr></thead><tbody>%s</tbody></table>' % (css_class, head, body)


def _forecast_section(doc):
    """The 'full in' table, the planned workloads and one chart per group and the cluster."""
    header, rows = forecast_rows(doc)
    if not rows:
        return ''
    parts = ['<h2>Forecast</h2><section class="panel" id="forecast"><p class="cap">%s.</p>%s' % (
        _h(forecast_title(doc)), _simple_table(header, rows, 1))]
    parts += ['<p class="cap">%s</p>' % _h(line) for line in planned_lines(doc)]
    if doc.get('history'):
        charts = render_charts(doc['history'], doc['forecast'])
        for name, svg in [(None, charts['cluster'])] + sorted(charts['groups'].items()):
            parts.append('<figure class="chart" data-group="%s">%s</figure>' % (_h('' if name is None else name), svg))
    parts.append('</section>')
    return ''.join(parts)


def _reclaimable_section(doc):
    """Totals per category, the largest VMs with their reasons, and steal per host beside its vCPU ratio."""
    header, rows = reclaimable_rows(doc)
    if not rows:
        return ''
    parts = ['<h2>Reclaimable capacity</h2><section class="panel" id="reclaimable"><p class="cap">%s.</p>%s' % (
        _h(reclaimable_title(doc)), _simple_table(header, rows, 1))]
    fits = reclaimable_fits_text(doc)
    if fits:
        parts.append('<p class="cap">Flavor fits regained: %s.</p>' % _h(fits))
    header, rows = reclaimable_vm_rows(doc)
    if rows:
        parts.append(_simple_table(header, rows, 3, 'top'))
    header, rows = steal_rows(doc)
    if rows:
        parts.append('<p class="cap">Steal per host (p95 over its VMs) beside its vCPU allocation ratio.</p>%s'
                     % _simple_table(header, rows, 1))
    parts.append('</section>')
    return ''.join(parts)


def _shared_note(cluster):
    return ''.join('<p class="note shared">%s</p>' % _h(text) for text in shared_storage_texts(cluster))


def render_html(doc):
    """One self-contained page: inline CSS and static SVG, no script and nothing fetched."""
    cluster, failover = doc['cluster'], doc.get('failover')
    when = _h(utc_text(doc['generated_at']))
    out = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>Capacity report %s</title><style>\n%s</style></head><body>' % (when, page_css()),
           '<header><h1>Hypervisor capacity</h1><p>%s &middot; %s</p></header><main>' % (when, _h(summary_text(doc)))]
    if doc['problems']:
        out.append('<section class="problems" id="problems"><h2>Hosts with problems</h2><ul>%s</ul></section>'
                   % ''.join('<li>%s</li>' % _h(problem_text(p)) for p in doc['problems']))
    if cluster['inventory']:
        out.append('<h2>Cluster headroom</h2><section class="panel" id="cluster">%s%s%s</section>' % (
            _cards(cluster), _failover_note(doc, failover['cluster']) if failover else '', _shared_note(cluster)))
    if cluster['groups']:
        entries = [(group, _failover_note(doc, failover['groups'].get(group)) if failover else '',
                    totals['running_vms'], totals['inventory']) for group, totals in cluster['groups'].items()]
        out.append('<h2>Groups%s</h2><section class="panel" id="groups">%s</section>' % (
            _h(' by %s' % cluster['group_by'] if cluster['group_by'] else ''), _capacity_rows(entries, first='Group')))
    if cluster['fits']:
        header, rows = fits_rows(doc)
        out.append('<h2>Flavor fits</h2><section class="panel" id="flavors"><p class="cap">How many more instances '
                   'of each flavor fit, counted host by host (an instance never spans hosts).</p>%s</section>'
                   % _simple_table(header, rows, 1))
    out.append(_forecast_section(doc))
    out.append(_reclaimable_section(doc))
    if doc['hosts']:
        entries = []
        for host in ordered_hosts(doc):
            extra = ''
            if host['group'] is not None:
                extra += ' <span class="group">%s</span>' % _h(host['group'])
            if host['status'] != 'ok':
                extra += '<span class="badge">%s</span>' % _h(host['status'])
            entries.append((host['host'], extra, host['running_vms'], host['inventory']))
        missing = [p for p in doc['problems'] if p['host'] not in doc['hosts'] and p.get('hypervisor', True)]
        out.append('<h2>Hosts</h2><section class="panel" id="hosts">%s%s</section>' % (
            _legend(), _capacity_rows(entries, missing)))
    tops = []
    for kind in TOP_KINDS:
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
