"""The capacity report as one self-contained HTML page (plugin_utils.render_html)."""

import html.parser

import pytest

from report_data import forecast_doc, FAILOVER, NOW, cluster_inputs, full_doc, vm, vm_stats

from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_html import (
    BAR_WIDTH, bar_segments, render_html)
from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_inputs import ReportInputs
from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_model import build_report


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


def test_html_shows_the_failover_verdict_beside_each_groups_bars():
    page = render_html(full_doc(failover=FAILOVER))
    groups = page[page.index('id="groups"'):page.index('id="hosts"')]
    assert groups.count('class="failover no" data-survives="no"') == 1
    assert groups.count('class="failover yes" data-survives="yes"') == 1
    assert 'survives the loss of 1 host: no (3 VMs unplaced)' in groups and 'unplaced: big-0, big-1, big-2' in groups
    assert 'data-survives' not in render_html(full_doc())


def test_html_has_one_forecast_chart_per_group_and_the_cluster():
    doc = forecast_doc()
    page = render_html(doc)
    scan = PageScan()
    scan.feed(page)
    assert scan.external == [] and scan.scripts == 0
    assert page.count('<figure class="chart"') == 1 + len(doc['cluster']['groups'])
    assert 'data-group="east"' in page and 'data-group="west"' in page
    assert 'vCPU full in' in page
    assert '<figure class="chart"' not in render_html(full_doc())
