"""The capacity chart (plugin_utils.render_chart, issue 12): one self-contained SVG per group and the
cluster, every text escaped, the forecast, its band and the full-on marker drawn."""

import re
import xml.etree.ElementTree as ElementTree

import pytest

from history_data import DAY0, FLAVORS, daily, entry, linear, noon

from ansible_collections.hypervisor.stats.plugins.plugin_utils.forecast import forecast
from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_chart import render_chart, render_charts

SVG = '{http://www.w3.org/2000/svg}'
ODD = '<script>alert("x")</script> & \'quotes\''


def growing(days=90):
    values = {}
    for rc, capacity, slope in (('VCPU', 1000, 5), ('MEMORY_MB', 262144, 1000), ('DISK_GB', 2000, 4)):
        values['%s.used' % rc] = [capacity / 10 + slope * day for day in range(days)]
        values['%s.capacity' % rc] = [capacity] * days
    return daily(values)


def chart(history_entry, group=None, planned=None, **kwargs):
    section, _warnings = forecast(history_entry, noon(89), planned=planned, flavors=FLAVORS if planned else None)
    svg = render_chart(history_entry, section, group, **kwargs)
    return svg, ElementTree.fromstring(svg), section


def test_the_chart_is_one_self_contained_svg():
    svg, root, _section = chart(entry(growing()))
    assert root.tag == SVG + 'svg' and svg.startswith('<svg') and svg.endswith('</svg>')
    for outside in ('href', 'url(', '<script', '<image', 'foreignObject', '@import', '<style'):
        assert outside not in svg
    assert root.get('role') == 'img' and 'Cluster' in root.get('aria-label')


def test_it_draws_used_capacity_forecast_band_and_the_full_on_marker():
    svg, root, section = chart(entry(growing()))
    titles = [t.text for t in root.iter(SVG + 'title')]
    assert titles.count('used') == 3 and titles.count('capacity') == 3
    assert sum(1 for t in titles if t.startswith('forecast')) == 3 and titles.count('band (Sen, 95%)') == 3
    full_on = section['cluster']['VCPU']['full_on']
    assert 'full on %s' % full_on in svg
    assert len(root.findall(SVG + 'polygon')) == 3
    for text in ('vCPU', 'RAM', 'Disk'):
        assert any(t.text and t.text.startswith(text) for t in root.iter(SVG + 'text'))


def test_a_planned_step_shows_in_the_forecast_line():
    plain, _root, _section = chart(entry(growing()))
    stepped, root, section = chart(entry(growing()), planned=[{'flavor': 'large', 'count': 20, 'date': '2026-05-01'}])
    assert plain != stepped and section['cluster']['VCPU']['planned_steps'] == [['2026-05-01', 80]]
    forecast_line = [p for p in root.iter(SVG + 'polyline') if p.find(SVG + 'title').text.startswith('forecast')][0]
    assert len(forecast_line.get('points').split()) == 4        # now, before the step, after it, the end


def test_every_text_is_escaped():
    history_entry = entry(growing(), {ODD: growing()})
    svg, root, _section = chart(history_entry, ODD)
    assert '<script>' not in svg and '&lt;script&gt;' in svg
    assert any(ODD in (t.text or '') for t in root.iter(SVG + 'text'))


def test_gaps_break_the_lines():
    days = [DAY0 + day for day in range(90) if not 40 <= day < 45]
    series = daily({'VCPU.used': [day - DAY0 for day in days], 'VCPU.capacity': [1000] * len(days)}, days=days)
    _svg, root, _section = chart(entry(series))
    used = [p for p in root.iter(SVG + 'polyline') if p.find(SVG + 'title').text == 'used']
    assert len(used) == 2


def test_simulated_histories_say_so():
    svg, _root, _section = chart(dict(entry(growing()), simulated=True))
    assert 'SIMULATED HISTORY' in svg
    assert 'SIMULATED' not in chart(entry(growing()))[0]


@pytest.mark.parametrize('history_entry', [None, {}, 'garbage', entry(linear(3, 1, 1))])
def test_empty_short_or_broken_histories_still_give_a_chart(history_entry):
    svg, root, _section = chart(history_entry)
    assert root.tag == SVG + 'svg' and ('no forecast' in svg or 'not enough history' in svg)


def test_a_chart_per_group_and_the_cluster():
    charts = render_charts(entry(growing(), {'east': growing(), 'west': linear(90, 1, 1)}), None)
    assert sorted(charts['groups']) == ['east', 'west'] and charts['cluster'].startswith('<svg')
    assert 'Group east' in charts['groups']['east']
    assert not re.search(r'nan|inf', charts['cluster'].replace('font', '').replace('info', ''), re.I)
