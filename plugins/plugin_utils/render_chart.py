# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity chart of the cluster or of one group: one self-contained SVG (no script, no
font, nothing fetched; every text escaped), for the HTML report (docs/forecast.md).

One panel per resource class (vCPU, RAM, disk): the daily used (mean) and capacity (max)
over the last ``days_back`` days, then, from now on, the forecast line with its planned
steps, Sen's band around it, the capacity it is forecast against, and a "full on" marker.
"""

import datetime
from html import escape

from ansible_collections.hypervisor.stats.plugins.plugin_utils import history
from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_text import RESOURCE_NAMES, amount

CHART_RESOURCES = ('VCPU', 'MEMORY_MB', 'DISK_GB')
WIDTH = 720
PANEL_HEIGHT = 150
HEADER = 44
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 16, 22, 22
DAY = history.DAY
COLOURS = {'used': '#3a70b5', 'capacity': '#1d2733', 'forecast': '#d0701a', 'band': '#f3c89b', 'full': '#c8372d',
           'grid': '#e6eaee', 'text': '#445566', 'today': '#9aa3ad', 'simulated': '#8a1f17'}
FONT = 'font-family="system-ui,sans-serif"'


def _h(text):
    return escape('' if text is None else str(text), quote=True)


def _date(day):
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=int(day))).isoformat()


def _day_of(iso):
    return (datetime.date.fromisoformat(iso) - datetime.date(1970, 1, 1)).days


class _Panel(object):
    """Coordinates of one panel: x in days since the epoch, y in the resource's amount."""

    def __init__(self, top, first_day, last_day, top_value):
        self.top = top
        self.first, self.last = first_day, last_day
        self.top_value = top_value or 1.0
        self.left, self.right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
        self.y0, self.y1 = top + PANEL_HEIGHT - MARGIN_BOTTOM, top + MARGIN_TOP

    def x(self, day):
        return self.left + (self.right - self.left) * (day - self.first) / float(self.last - self.first)

    def y(self, value):
        return self.y0 - (self.y0 - self.y1) * min(max(value, 0.0), self.top_value) / self.top_value

    def point(self, day, value):
        return '%.1f,%.1f' % (self.x(day), self.y(value))


def _runs(days, values):
    """Runs of consecutive days with known values (a missed day breaks the line: a gap, not a zero)."""
    runs, previous = [], None
    for day, value in zip(days, values):
        if value is None:
            previous = None
            continue
        if previous is None or day != previous + 1:
            runs.append([])
        runs[-1].append((day, value))
        previous = day
    return runs


def _forecast_path(record, start, end, rate):
    """[(day, value)] of the forecast from ``start`` (now, in days) to ``end`` at ``rate`` per day,
    with the planned amounts already due and each later planned step."""
    level = (record.get('trend_today') or 0) + (record.get('planned_due') or 0)
    path = [(start, level)]
    for iso, step in record.get('planned_steps') or ():
        at = _day_of(iso) - 0.5   # a planned date starts at midnight; a day's point is at its middle
        if not start < at < end:
            continue
        level_before = level + rate * (at - start)
        path += [(at, level_before), (at, level_before + step)]
        level += step
    path.append((end, level + rate * (end - start)))
    return path


def _panel(parts, panel, rc, daily, record, now_day):
    name, unit = RESOURCE_NAMES[rc]
    days = [t // DAY for t in daily['t']]
    used = daily['mean'].get(history.rc_metric(rc, 'used'), [None] * len(days))
    capacity = daily['max'].get(history.rc_metric(rc, 'capacity'), [None] * len(days))
    top = panel.top
    parts.append('<text x="%d" y="%d" font-size="12" font-weight="600" fill="%s" %s>%s (%s)</text>'
                 % (MARGIN_LEFT, top + 14, COLOURS['text'], FONT, _h(name), _h(unit)))
    for fraction in (0.0, 0.5, 1.0):
        value = panel.top_value * fraction
        y = panel.y(value)
        parts.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>' % (panel.left, y, panel.right, y, COLOURS['grid']))
        parts.append('<text x="%d" y="%.1f" font-size="10" text-anchor="end" fill="%s" %s>%s</text>'
                     % (panel.left - 4, y + 3, COLOURS['text'], FONT, _h(amount(rc, value))))
    ticks = (panel.first, (panel.first + now_day) // 2, now_day, (now_day + panel.last) // 2, panel.last)
    for day, anchor in zip(ticks, ('start', 'middle', 'middle', 'middle', 'end')):
        parts.append('<text x="%.1f" y="%d" font-size="10" text-anchor="%s" fill="%s" %s>%s</text>'
                     % (panel.x(day), panel.y0 + 14, anchor, COLOURS['text'], FONT, _h(_date(day))))
    now_x = panel.x(now_day)
    parts.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="2,3"/>'
                 % (now_x, panel.y1, now_x, panel.y0, COLOURS['today']))
    if record and record.get('slope_per_day') is not None:
        end = float(panel.last)
        low = _forecast_path(record, now_day, end, record['slope_low'])
        high = _forecast_path(record, now_day, end, record['slope_high'])
        parts.append('<polygon points="%s" fill="%s" fill-opacity="0.6"><title>band (Sen, 95%%)</title></polygon>'
                     % (' '.join(panel.point(d, v) for d, v in low + high[::-1]), COLOURS['band']))
        parts.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2" stroke-dasharray="6,3">'
                     '<title>forecast, %s per day</title></polyline>'
                     % (' '.join(panel.point(d, v) for d, v in _forecast_path(record, now_day, end, record['slope_per_day'])),
                        COLOURS['forecast'], _h(amount(rc, record['slope_per_day']))))
    if record and record.get('capacity') is not None:
        parts.append('<line x1="%.1f" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-dasharray="4,3"/>'
                     % (now_x, panel.y(record['capacity']), panel.right, panel.y(record['capacity']), COLOURS['capacity']))
    for values, colour, label in ((capacity, COLOURS['capacity'], 'capacity'), (used, COLOURS['used'], 'used')):
        for run in _runs(days, values):
            if len(run) == 1:
                parts.append('<circle cx="%.1f" cy="%.1f" r="2" fill="%s"/>' % (panel.x(run[0][0]), panel.y(run[0][1]), colour))
                continue
            parts.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="%s"><title>%s</title></polyline>'
                         % (' '.join(panel.point(d, v) for d, v in run), colour, '1.5' if label == 'capacity' else '2', label))
    note = None
    if not record:
        note = 'no forecast'
    elif record.get('full_on'):
        full_day = _day_of(record['full_on'])
        note = 'full on %s (band %s to %s)' % (record['full_on'], record.get('full_on_pessimistic') or '-',
                                               record.get('full_on_optimistic') or 'never')
        if full_day <= panel.last:
            x = panel.x(full_day)
            parts.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>'
                         % (x, panel.y1, x, panel.y0, COLOURS['full']))
            parts.append('<text x="%.1f" y="%.1f" font-size="10" text-anchor="end" fill="%s" %s>%s</text>'
                         % (x - 3, panel.y1 + 10, COLOURS['full'], FONT, _h('full on ' + record['full_on'])))
    elif record.get('reason'):
        note = record['reason']
    if note:
        parts.append('<text x="%d" y="%d" font-size="11" text-anchor="end" fill="%s" %s>%s</text>'
                     % (panel.right, top + 14, COLOURS['full'] if record and record.get('full_on') else COLOURS['text'],
                        FONT, _h(note)))


def _top_value(rc, daily, record, now_day, last_day):
    candidates = [v for stat, field in (('mean', 'used'), ('max', 'capacity'))
                  for v in daily[stat].get(history.rc_metric(rc, field), ()) if v is not None]
    if record:
        candidates += [v for v in (record.get('capacity'), record.get('used')) if v is not None]
        if record.get('slope_per_day') is not None:
            for rate in (record['slope_per_day'], record['slope_low'], record['slope_high']):
                candidates += [v for _d, v in _forecast_path(record, now_day, float(last_day), rate)]
    top = max(candidates) if candidates else 1.0
    # Never taller than twice the capacity: a steep band would flatten everything else.
    if record and record.get('capacity'):
        top = min(top, 2.0 * record['capacity'])
    return max(top * 1.05, 1.0)


def render_chart(entry, section, group=None, days_back=180, days_ahead=180):
    """The SVG text of one chart: the cluster's (``group`` None) or one group's, from the history
    entry (``history.fold_cycle``'s ``cluster``) and the forecast section (``forecast.forecast``)."""
    entry, _warnings = history.check_entry(entry, full=False)   # what is drawn is checked as it is read
    series = entry['cluster'] if group is None else entry['groups'].get(group, history.empty_series())
    scope = (section or {}).get('cluster') if group is None else ((section or {}).get('groups') or {}).get(group)
    scope = scope or {}
    now = (section or {}).get('now') or history.newest(series) or 0
    now_day = now / float(DAY) - 0.5
    first_day, last_day = int(now_day) - int(days_back), int(now_day) + int(days_ahead)
    try:
        daily = history.daily_series(series, first_day * DAY, None,
                                     [history.rc_metric(rc, f) for rc in CHART_RESOURCES for f in ('used', 'capacity')])
    except history.Damage:
        daily = {'t': [], 'n': [], 'mean': {}, 'max': {}, 'p95': {}}
    title = 'Cluster' if group is None else 'Group %s' % group
    simulated = bool(entry.get('simulated') or (section or {}).get('simulated'))
    height = HEADER + PANEL_HEIGHT * len(CHART_RESOURCES)
    label = '%s: used and capacity per day, forecast from %s' % (title, _date(int(now // DAY)))
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" class="capacity-chart" width="%d" height="%d" viewBox="0 0 %d %d" '
             'role="img" aria-label="%s">' % (WIDTH, height, WIDTH, height, _h(label)),
             '<title>%s</title>' % _h(label),
             '<rect width="%d" height="%d" fill="#ffffff"/>' % (WIDTH, height),
             '<text x="%d" y="18" font-size="14" font-weight="600" fill="%s" %s>%s</text>'
             % (MARGIN_LEFT, COLOURS['capacity'], FONT, _h(title))]
    if simulated:
        parts.append('<text x="%d" y="18" font-size="12" font-weight="700" text-anchor="end" fill="%s" %s>'
                     'SIMULATED HISTORY</text>' % (WIDTH - MARGIN_RIGHT, COLOURS['simulated'], FONT))
    legend = (('used', 'used (daily mean)'), ('capacity', 'capacity (daily max)'), ('forecast', 'forecast'),
              ('band', 'band (95%)'), ('full', 'full on'))
    x = MARGIN_LEFT
    for key, text in legend:
        parts.append('<rect x="%d" y="28" width="10" height="10" fill="%s"/><text x="%d" y="37" font-size="10" fill="%s" %s>%s</text>'
                     % (x, COLOURS[key], x + 14, COLOURS['text'], FONT, _h(text)))
        x += 24 + 6 * len(text)
    for index, rc in enumerate(CHART_RESOURCES):
        record = scope.get(rc)
        panel = _Panel(HEADER + index * PANEL_HEIGHT, first_day, last_day,
                       _top_value(rc, daily, record, now_day, last_day))
        _panel(parts, panel, rc, daily, record, now_day)
    parts.append('</svg>')
    return ''.join(parts)


def render_charts(entry, section, days_back=180, days_ahead=180):
    """``{'cluster': svg, 'groups': {name: svg}}``: a chart for the cluster and for each group of the entry."""
    checked, _warnings = history.check_entry(entry, full=False)
    return {'cluster': render_chart(checked, section, None, days_back, days_ahead),
            'groups': dict((name, render_chart(checked, section, name, days_back, days_ahead))
                           for name in sorted(checked['groups']))}
