# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity report as plain text for the job log: 80 columns, no colour."""

import re
import textwrap
import unicodedata

from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_text import (
    TABLE_RESOURCES, TOP_KINDS, amount, failover_rows, failover_verdict, fits_after_text, fits_rows, forecast_rows,
    forecast_title, ordered_hosts, planned_lines, problem_text, reclaimable_fits_text, reclaimable_rows,
    reclaimable_title, reclaimable_vm_rows, shared_storage_texts, steal_rows, summary_text, top_rows, top_title, utc_text)

HEADROOM_UNITS = {'VCPU': 'vCPUs', 'MEMORY_MB': 'GiB RAM', 'DISK_GB': 'GiB disk'}


_CONTROL = re.compile('[\x00-\x1f\x7f-\x9f\u2028\u2029]')


def one_line(text):
    """A cell on one line: newlines, tabs and other control characters become spaces."""
    return _CONTROL.sub(' ', str(text))


def _char_width(char):
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ('W', 'F') else 1


def text_width(text):
    """Columns a text takes in a terminal: wide (CJK) characters two, combining marks none."""
    text = str(text)
    if text.isascii():
        return len(text)
    return sum(_char_width(c) for c in text)


def _cut(text, width, from_end=False):
    """The longest start (or end) of ``text`` at most ``width`` columns wide."""
    chars = reversed(text) if from_end else iter(text)
    taken, used = [], 0
    for char in chars:
        used += _char_width(char)
        if used > width:
            break
        taken.append(char)
    return ''.join(reversed(taken)) if from_end else ''.join(taken)


def _fit(text, width):
    """Cut in the middle with ~, so names that share a prefix stay apart (compute-0001 ... compute-0002)."""
    text = one_line(text)
    if text_width(text) <= width:
        return text
    if text.isascii():
        head = (width - 1) // 2
        return text[:head] + '~' + text[len(text) - (width - 1 - head):]
    head = _cut(text, (width - 1) // 2)
    tail = _cut(text, width - 1 - text_width(head), from_end=True)
    return head + '~' + tail


def _pad(text, width, right):
    fill = ' ' * max(width - text_width(text), 0)
    return fill + text if right else text + fill


def column_widths(header, rows, width=80, indent='', squeeze=(0,)):
    """Widths from content; the widest of the ``squeeze`` columns is cut, in turn, until the table fits."""
    widths = [max(text_width(one_line(row[i])) for row in [header] + rows) for i in range(len(header))]
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
            parts.append(_pad(cell, widths[i], i in right))
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
    for problem in doc['problems']:   # a hypervisor without facts; the store host's failures are listed below only
        if problem['host'] not in doc['hosts'] and problem.get('hypervisor', True):
            out.append(_fit('%s  %s, no capacity data' % (problem['host'], problem['status'].upper()), width))
    out.append('-' * len(lines[0]))
    return out + lines[1 + len(rows):]


def _fits_table(doc, width):
    header, rows = fits_rows(doc)
    if not rows:
        return []
    if sum(len(h) + 2 for h in header) + 2 > width:  # too many groups for one line: the cluster only
        header, rows = header[:2], [row[:2] for row in rows]
    return (['', 'Flavor fits (how many more instances, counted host by host):']
            + text_columns(header, rows, right=set(range(1, len(header))), width=width, indent='  '))


def _failover_lines(doc, width):
    rows = failover_rows(doc)
    if not rows:
        return []
    lines = ['', 'After losing the worst host%s (VMs re-placed first-fit in their group):'
             % ('' if doc['failover']['failures'] == 1 else 's')]
    for label, record in rows:
        text = '%s %s' % (one_line(label), failover_verdict(doc, record))
        if record['worst_hosts']:
            text += '; worst: %s' % ', '.join(one_line(h) for h in record['worst_hosts'])
        if record['fits_after']:
            text += '; fits after: %s' % one_line(fits_after_text(record))
        lines += textwrap.wrap(text, width, initial_indent='  ', subsequent_indent='    ', break_on_hyphens=False)
    return lines


def _forecast_lines(doc, width):
    header, rows = forecast_rows(doc)
    if not rows:
        return []
    lines = ['', forecast_title(doc) + ':']
    lines += text_columns(header, rows, right=set(range(1, len(header) - 1)), width=width, indent='  ')
    planned = planned_lines(doc)
    if planned:
        lines += ['', 'Planned workloads (%d):' % len(doc['forecast']['planned'])]
        for text in planned:
            lines += textwrap.wrap(one_line(text), width, initial_indent='  ', subsequent_indent='    ')
    return lines


def _reclaimable_lines(doc, width):
    header, rows = reclaimable_rows(doc)
    if not rows:
        return []
    lines = [''] + textwrap.wrap(reclaimable_title(doc) + ':', width)
    lines += text_columns(header, rows, right=set(range(1, len(header))), width=width, indent='  ')
    fits = reclaimable_fits_text(doc)
    if fits:
        lines += textwrap.wrap('Flavor fits regained: %s.' % fits, width, initial_indent='  ', subsequent_indent='    ')
    for vm in reclaimable_vm_rows(doc)[1]:
        lines += textwrap.wrap(one_line('%s on %s, %s: %s vCPU, %s GiB RAM, %s GiB disk; %s'
                                        % tuple(vm[:3] + vm[3:6] + vm[6:])),
                               width, initial_indent='  - ', subsequent_indent='    ')
    header, rows = steal_rows(doc)
    if rows:
        lines += ['', 'Steal per host (p95 over its VMs) and vCPU allocation ratio:']
        lines += text_columns(header, rows, right=set(range(1, len(header))), width=width, indent='  ')
    return lines


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
    for text in shared_storage_texts(doc['cluster']):
        lines += textwrap.wrap(text, width)
    lines += _fits_table(doc, width)
    lines += _failover_lines(doc, width)
    lines += _forecast_lines(doc, width)
    lines += _reclaimable_lines(doc, width)
    for kind in TOP_KINDS:
        header, rows = top_rows(doc, kind)
        if rows:
            lines += ['', top_title(doc, kind) + ':']
            lines += text_columns(header, rows, right=set(range(2, len(header))), width=width, indent='  ',
                                  squeeze=(0, 1))
    if doc['problems']:
        lines += ['', 'Hosts with problems (%d):' % len(doc['problems'])]
        for problem in doc['problems']:
            lines += textwrap.wrap(one_line(problem_text(problem)), width, initial_indent='  ! ', subsequent_indent='    ',
                                   break_on_hyphens=False)
    return '\n'.join(line.rstrip() for line in lines)
