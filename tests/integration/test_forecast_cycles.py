"""History and forecasts over simulated days: real collect.yml cycles on the test-driver cluster,
with hypervisor_stats_now stepping one day at a time and node XML files that grow their VMs
day by day, then the report's charts rendered in headless Chromium.

Hand-computed: two hosts of 8 CPUs (cpu_allocation_ratio 4: 64 vCPUs of capacity), each running
2 + d domains of 2 vCPUs on day d, so the group uses 8 + 4d vCPUs: full on day 14. After the
cycle of day 7 (8 daily points, one more than hypervisor_stats_forecast_min_points) the vCPUs
run full in 7 days; memory (1 GiB a domain, 32 GiB a host) in (2 * 32256 - 2048 * 9) / 2048 = 22.5 days.
"""

import json
import uuid

import pytest

from test_capacity_report import (COLLECT, cached_facts, prom_samples, promtool_check, read_png, report,
                                  run_chromium, run_playbook, table_of)

START = 1767225600   # 2026-01-01T00:00:00Z
DAY = 86400
HOSTS = ('grow-1', 'grow-2')
DOMAIN = ('<domain type="test"><name>%(name)s</name><uuid>%(uuid)s</uuid><memory unit="MiB">1024</memory>'
          '<vcpu>2</vcpu><os><type>hvm</type></os></domain>')
NODE = '''<?xml version="1.0"?>
<node>
  <cpu><mhz>2000</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets><cores>8</cores>
    <threads>1</threads><active>8</active></cpu>
  <memory>33554432</memory>
  %s
  <pool type="dir"><name>instances</name><target><path>/srv/instances</path></target></pool>
</node>
'''
FORECAST_RGB = (0xd0, 0x70, 0x1a)   # render_chart's forecast line
USED_RGB = (0x3a, 0x70, 0xb5)       # and its used series


def write_nodes(directory, day):
    for host in HOSTS:
        names = ['%s-vm%02d' % (host, i) for i in range(2 + day)]
        domains = '\n  '.join(DOMAIN % {'name': n, 'uuid': uuid.uuid5(uuid.NAMESPACE_DNS, n)} for n in names)
        (directory / ('%s.xml' % host)).write_text(NODE % domains)


def rgb_count(path, rgb):
    width, _height, rows, channels = read_png(path)
    return sum(1 for line in rows for x in range(0, width * channels, channels) if tuple(line[x:x + 3]) == rgb)


@pytest.fixture(scope='module')
def days(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('forecast')
    nodes = tmp_path / 'nodes'
    nodes.mkdir()
    host_vars = dict((host, {'hypervisor_stats_uri': 'test://%s/%s.xml' % (nodes, host)}) for host in HOSTS)
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(json.dumps({'all': {
        'vars': {'hypervisor_stats_flavors': {'m1.medium': {'vcpus': 2, 'memory_mb': 4096}}},
        'children': {'hypervisors': {'vars': {
            'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}',
            'hypervisor_stats_storage_pool': 'instances', 'hypervisor_stats_labels': {'cluster': 'lab'}},
            'hosts': host_vars}}}}))
    runs = []
    for day in range(8):
        write_nodes(nodes, day)
        runs.append(run_playbook(tmp_path, COLLECT, inventory, ['-e', 'hypervisor_stats_now=%d' % (START + day * DAY + 3600)]))
    return {'dir': tmp_path, 'runs': runs, 'facts': cached_facts(tmp_path)}


def test_forecast_of_the_grown_cluster_matches_the_hand_computed_days(days):
    cluster = days['facts']['localhost']['hypervisor_stats_cluster']
    forecast = cluster['forecast']
    assert cluster['collected_at'] == START + 7 * DAY + 3600
    assert forecast['today'] == '2026-01-08' and forecast['simulated'] is False
    for scope in (forecast['cluster'], forecast['groups']['lab']):
        vcpu, ram = scope['VCPU'], scope['MEMORY_MB']
        assert vcpu['points'] == 8 and vcpu['slope_per_day'] == pytest.approx(4.0)
        assert 6 <= vcpu['days_until_full'] <= 8, vcpu
        assert vcpu['full_on'] in ('2026-01-14', '2026-01-15', '2026-01-16')
        assert ram['slope_per_day'] == pytest.approx(2048.0)
        assert 21.5 <= ram['days_until_full'] <= 23.5, ram
    # the hosts' own histories grew too, one point a day
    for host in HOSTS:
        assert days['facts'][host]['hypervisor_stats_host_history']['daily']['t'].count(',') == 6


def test_the_report_shows_full_in_days_a_gauge_and_charts_chromium_draws(days):
    doc, prom, page = report(days['dir'])
    lab = doc['forecast']['groups']['lab']['VCPU']
    lines = table_of(days['runs'][-1].stdout)
    row = next(line for line in lines if line.startswith('  [lab]'))
    assert row.split()[1] == str(int(lab['days_until_full']))
    promtool_check(prom)
    samples = prom_samples(prom)
    full = samples[('hypervisor_stats_forecast_full_timestamp_seconds',
                    frozenset({('resource', 'VCPU'), ('group', 'lab')}))]
    assert full == int(doc['forecast']['now'] + lab['days_until_full'] * DAY)
    assert not [k for k in samples if k[0] == 'hypervisor_stats_forecast_full_timestamp_seconds'
                and ('resource', 'DISK_GB') in k[1]], 'disk use does not grow: never, so absent'

    # The charts alone, on a page of their own, screenshotted: Chromium draws the used series and
    # the forecast line of both charts (cluster and lab) in their colours.
    charts = page[page.index('<figure class="chart"'):page.index('</section>', page.index('<figure class="chart"'))]
    assert charts.count('<figure class="chart"') == 2
    standalone = days['dir'] / 'charts.html'
    standalone.write_text('<!DOCTYPE html><html><body style="margin:0">%s</body></html>' % charts)
    shot = days['dir'] / 'charts.png'
    run_chromium(days['dir'], '--screenshot=%s' % shot, '--window-size=800,1100', standalone.as_uri())
    assert rgb_count(str(shot), FORECAST_RGB) > 200
    assert rgb_count(str(shot), USED_RGB) > 200
