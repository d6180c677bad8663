"""Renderers of the capacity report (report_render) and the callback's file writer, on plain dicts.

promtool is the real Prometheus checker from Debian's prometheus package (scripts/bootstrap.sh test).
"""

import html.parser
import json
import os
import re
import stat
import subprocess

import pytest

from test_report_data import cluster_inputs, counters_entry, vm, vm_stats

from ansible_collections.hypervisor.stats.plugins.callback.capacity_report import write_atomic
from ansible_collections.hypervisor.stats.plugins.module_utils.cluster import cluster_totals
from ansible_collections.hypervisor.stats.plugins.module_utils.report_model import ReportInputs, build_report
from ansible_collections.hypervisor.stats.plugins.module_utils.report_render import (
    BAR_WIDTH, bar_segments, render_html, render_json, render_prometheus, render_table)

NOW = 1700000100
PROMTOOL = '/usr/bin/promtool'
FLAVORS = {'m1.small': {'vcpus': 1, 'memory_mb': 2048, 'disk_gb': 20}}


def full_doc(group_by='labels.cluster', top=5, long_names=False):
    hosts, vms = cluster_inputs()
    if long_names:
        hosts = dict(('hv-' + 'x' * 60 + name, facts) for name, facts in hosts.items())
        for v in vms.values():
            v['name'] = v['name'] + '-' + 'y' * 70
    names = sorted(hosts)
    inputs = ReportInputs()
    for name in names:
        inputs.add_facts(name, {'host_resources': hosts[name]})
    inputs.add_facts(names[0], {'vm_stats': vm_stats(names[0], vms['web'], vms['idle'])})
    inputs.add_facts(names[2], {'vm_stats': vm_stats(names[2], vms['db'], vms['batch'])})
    inputs.add_facts(names[2], {'hypervisor_stats_counters': counters_entry(
        (vms['db'], {'disk_read_kb': 3 * 1024 ** 2, 'cpu_time_ns': 7 * 10 ** 12}, 40.0), (vms['batch'], {}, None))})
    inputs.add_facts('localhost', {'hypervisor_stats_cluster': cluster_totals(
        [hosts[n] for n in names], group_by='labels.cluster', flavors=FLAVORS)})
    inputs.add_problem('hv-c9', 'unreachable', 'Read capacity', 'Failed to connect: "no route" \\ to host')
    inputs.add_problem(names[1], 'failed', 'Read VM statistics', 'libvirt error')
    return build_report(inputs, NOW, top=top, group_by=group_by)


# --- table -------------------------------------------------------------------

@pytest.mark.parametrize('long_names', [False, True])
@pytest.mark.parametrize('group_by', [None, 'labels.cluster'])
def test_table_fits_80_columns_without_colour(long_names, group_by):
    text = render_table(full_doc(group_by=group_by, long_names=long_names))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80, [line for line in lines if len(line) > 80]
    assert '\x1b' not in text
    assert all(ord(c) < 128 for c in text)


def test_table_rows_carry_the_numbers():
    doc = full_doc()
    lines = render_table(doc).splitlines()
    for name, host in doc['hosts'].items():
        row = next(line for line in lines if line.startswith(name))
        cells = row[len(name):].split()
        if host['status'] != 'ok':
            assert cells[0] == '(%s)' % host['status']
            cells = cells[1:]
        inv = host['inventory']
        assert cells == [str(host['running_vms']),
                         str(inv['VCPU']['used']), str(inv['VCPU']['capacity']), str(inv['VCPU']['free']),
                         '%.1f' % (inv['MEMORY_MB']['used'] / 1024.0), '%.1f' % (inv['MEMORY_MB']['capacity'] / 1024.0),
                         '%.1f' % (inv['MEMORY_MB']['free'] / 1024.0),
                         str(inv['DISK_GB']['used']), str(inv['DISK_GB']['capacity']), str(inv['DISK_GB']['free'])]
    cluster_row = next(line for line in lines if line.startswith('CLUSTER (4)'))
    assert cluster_row.split()[2] == str(doc['cluster']['running_vms'])
    assert any(line.startswith('[east]') for line in lines) and any(line.startswith('[west]') for line in lines)
    text = '\n'.join(lines)
    assert 'hv-c9  UNREACHABLE' in text
    assert "! hv-c9 unreachable in task 'Read capacity'" in text
    fits = doc['cluster']['fits']['m1.small']
    assert next(line for line in lines if line.startswith('  m1.small')).split() == [
        'm1.small', str(fits['total']), str(fits['groups']['east']), str(fits['groups']['west'])]
    assert 'Top 5 VMs by CPU utilisation:' in text
    assert 'Headroom: %d vCPUs' % doc['cluster']['inventory']['VCPU']['free'] in text


def test_table_top_lists_in_order():
    lines = render_table(full_doc()).splitlines()
    start = lines.index('Top 5 VMs by CPU utilisation:')
    assert [line.split()[0] for line in lines[start + 2:start + 5]] == ['web', 'db', 'idle']
    start = next(i for i, line in enumerate(lines) if line.startswith('Top 5 VMs by disk I/O'))
    assert 'cumulative' in lines[start]
    assert lines[start + 2].split()[:4] == ['db', 'hv-b1', '3.0', 'GiB']


# --- JSON --------------------------------------------------------------------

def test_json_is_the_document():
    doc = full_doc()
    text = render_json(doc)
    assert json.loads(text) == json.loads(json.dumps(doc))
    assert text.startswith('{\n  "cluster"')  # indented, keys sorted
    many = dict(doc, vms=dict(('u%d' % i, doc['vms'][next(iter(doc['vms']))]) for i in range(1001)))
    text = render_json(many)
    assert '\n' not in text.rstrip('\n') and json.loads(text) == json.loads(json.dumps(many))


# --- Prometheus --------------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text):
    """{(name, frozenset(labels)): value} and {name: type}; asserts HELP and TYPE come once, first."""
    samples, types, helped = {}, {}, set()
    for line in text.splitlines():
        if line.startswith('# HELP '):
            name = line.split()[2]
            assert name not in helped, name
            helped.add(name)
        elif line.startswith('# TYPE '):
            _h, _t, name, kind = line.split()
            assert name in helped and name not in types, name
            types[name] = kind
        else:
            match = SAMPLE.match(line)
            assert match, line
            name, labels, value = match.groups()
            assert name in types, name
            labels = dict((k, v.replace('\\"', '"').replace('\\n', '\n').replace('\\\\', '\\'))
                          for k, v in LABEL.findall(labels or ''))
            samples[(name, frozenset(labels.items()))] = float(value)
    return samples, types


def test_prometheus_values_match_the_document():
    doc = full_doc()
    samples, types = parse_exposition(render_prometheus(doc))
    assert all(name.startswith('hypervisor_stats_') for name in types)
    assert all(kind == 'counter' for name, kind in types.items() if name.endswith('_total'))
    assert all(kind == 'gauge' for name, kind in types.items() if not name.endswith('_total'))

    def value(name, **labels):
        return samples[('hypervisor_stats_' + name, frozenset(labels.items()))]

    for name, host in doc['hosts'].items():
        labels = dict(host=name, group=host['group'])
        inv = host['inventory']
        assert value('host_vcpus_used', **labels) == inv['VCPU']['used']
        assert value('host_vcpus_capacity', **labels) == inv['VCPU']['capacity']
        assert value('host_memory_free_bytes', **labels) == inv['MEMORY_MB']['free'] * 1024 ** 2
        assert value('host_disk_bytes', **labels) == inv['DISK_GB']['total'] * 1024 ** 3
        assert value('host_running_vms', **labels) == host['running_vms']
        assert value('host_up', **labels) == (1 if host['status'] == 'ok' else 0)
    assert value('host_up', host='hv-c9') == 0
    assert value('cluster_vcpus_free') == doc['cluster']['inventory']['VCPU']['free']
    assert value('cluster_flavor_fits', flavor='m1.small') == doc['cluster']['fits']['m1.small']['total']
    assert value('group_memory_used_bytes', group_by='labels.cluster', group='east') == \
        doc['cluster']['groups']['east']['inventory']['MEMORY_MB']['used'] * 1024 ** 2
    db = next(v for v in doc['vms'].values() if v['name'] == 'db')
    labels = dict(host=db['host'], vm='db', uuid=db['uuid'], group='west')
    assert value('vm_disk_read_bytes_total', **labels) == db['totals']['disk_read_kb'] * 1024
    assert value('vm_cumulative_disk_read_bytes_total', **labels) == db['cumulative']['disk_read_kb'] * 1024
    assert value('vm_cumulative_cpu_seconds_total', **labels) == pytest.approx(7000.0)
    assert value('vm_cpu_utilization_ratio', **labels) == pytest.approx(0.42)
    assert value('vm_info', state='running', **labels) == 1


def test_prometheus_escapes_label_values():
    hosts, _vms = cluster_inputs()
    inputs = ReportInputs()
    odd = 'hv "quoted" \\ back\nslash'
    inputs.add_facts(odd, {'host_resources': dict(hosts['hv-a1'], labels={'te-am': 'a"b'})})
    samples, _types = parse_exposition(render_prometheus(build_report(inputs, NOW)))
    assert samples[('hypervisor_stats_host_up', frozenset({'host': odd}.items()))] == 1
    info = [labels for (name, labels) in samples if name == 'hypervisor_stats_host_info'][0]
    assert ('label_te_am', 'a"b') in info


def test_promtool_accepts_the_exposition(tmp_path):
    for doc in (full_doc(), full_doc(group_by=None), build_report(ReportInputs(), NOW)):
        result = subprocess.run([PROMTOOL, 'check', 'metrics'], input=render_prometheus(doc),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == '' and result.stderr.strip() == '', result.stdout + result.stderr


# --- HTML --------------------------------------------------------------------

class PageScan(html.parser.HTMLParser):
    """Collects bars (svg data and rect widths), external references and text."""

    def __init__(self):
        super().__init__()
        self.bars, self.external, self.text, self.scripts = [], [], [], 0
        self._bar = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ('src', 'href', 'xlink:href', 'action', 'data'):
            if key in attrs and attrs[key] and not attrs[key].startswith('#'):
                self.external.append((tag, attrs[key]))
        if tag in ('script', 'link', 'iframe', 'img', 'object', 'embed'):
            self.scripts += 1
        if tag == 'svg' and 'bar' in attrs.get('class', ''):
            self._bar = {'attrs': attrs, 'rects': []}
            self.bars.append(self._bar)
        elif tag == 'rect' and self._bar is not None:
            self._bar['rects'].append((attrs['class'].split()[0], float(attrs['width'])))

    def handle_endtag(self, tag):
        if tag == 'svg':
            self._bar = None

    def handle_data(self, data):
        self.text.append(data)


def test_html_is_self_contained_and_bars_are_proportional():
    doc = full_doc()
    page = render_html(doc)
    scan = PageScan()
    scan.feed(page)
    assert scan.external == [] and scan.scripts == 0
    assert 'url(' not in page and '@import' not in page
    # one bar per host and resource, plus the groups' and the cluster headroom cards
    assert len(scan.bars) == 3 * len(doc['hosts']) + 3 * len(doc['cluster']['groups']) + 3
    for bar in scan.bars:
        attrs = bar['attrs']
        values = dict((name, float(attrs['data-' + name])) for name in ('used', 'free', 'reserved'))
        span = sum(values.values())
        drawn = dict(bar['rects'])
        assert sum(drawn.values()) == pytest.approx(BAR_WIDTH, abs=0.05)
        for name, amount in values.items():
            assert drawn.get(name, 0.0) == pytest.approx(BAR_WIDTH * amount / span, abs=0.01)
    host = doc['hosts']['hv-a1']['inventory']['VCPU']
    first = scan.bars[3 + 3 * len(doc['cluster']['groups'])]['attrs']
    assert (first['data-resource'], float(first['data-used']), float(first['data-free'])) == \
        ('VCPU', host['used'], host['free'])
    text = ' '.join(scan.text)
    assert 'hv-c9 unreachable' in text and 'm1.small' in text
    for v in doc['top']['cpu']['vms']:
        assert v['name'] in text


def test_html_escapes_what_it_shows():
    hosts, _vms = cluster_inputs()
    inputs = ReportInputs()
    inputs.add_facts('<script>alert(1)</script>', {'host_resources': hosts['hv-a1']})
    inputs.add_facts('<script>alert(1)</script>', {'vm_stats': vm_stats('x', vm('<img src=x>', 'u1', cpu_utilization=5.0))})
    page = render_html(build_report(inputs, NOW))
    assert '<script>' not in page and '<img' not in page
    assert '&lt;script&gt;alert(1)&lt;/script&gt;' in page


def test_bar_segments_span_total_times_ratio():
    hosts, _vms = cluster_inputs()
    for facts in hosts.values():
        for record in facts['inventory'].values():
            segments = dict(bar_segments(record))
            assert sum(segments.values()) == pytest.approx(record['total'] * record['allocation_ratio'])
            assert segments['used'] == record['used']


# --- files -------------------------------------------------------------------

def test_write_atomic_mode_replace_and_no_leftovers(tmp_path):
    target = tmp_path / 'capacity.prom'
    target.write_text('old')
    old_umask = os.umask(0o077)
    try:
        write_atomic(str(target), 'new\n')
    finally:
        os.umask(old_umask)
    assert target.read_text() == 'new\n'
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ['capacity.prom']


def test_write_atomic_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / 'capacity.json'
    target.write_text('old')

    class Unwritable:
        def __str__(self):
            raise RuntimeError('render failed')

    with pytest.raises(TypeError):
        write_atomic(str(target), Unwritable())
    assert target.read_text() == 'old'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['capacity.json']
