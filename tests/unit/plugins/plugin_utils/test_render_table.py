"""The capacity report as plain text (plugin_utils.render_table), on plain dicts."""

import pytest

from report_data import forecast_doc, FAILOVER, full_doc

from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_table import render_table


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


def _columns(line):
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(c) in ('W', 'F') else 1 for c in line)


def test_newlines_and_wide_characters_keep_the_columns():
    from report_data import NOW, cluster_inputs, vm, vm_stats
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_inputs import ReportInputs
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_model import build_report
    hosts, _vms = cluster_inputs()
    inputs = ReportInputs()
    names = {'hv-a1': 'hv-a1\nevil', 'hv-a2': '東京-計算機-01', 'hv-b1': 'hv-b1', 'hv-b2': '北京\t節点'}
    for name, facts in hosts.items():
        inputs.add_facts(names[name], {'host_resources': dict(facts, labels={'cluster': '集群\n1'})})
    inputs.add_facts(names['hv-a2'], {'vm_stats': vm_stats('x', vm('仮想マシン\nweb', 'u-1', cpu_utilization=50.0),
                                                              vm('plain', 'u-2', cpu_utilization=40.0))})
    text = render_table(build_report(inputs, NOW, group_by='labels.cluster'))
    lines = text.splitlines()
    assert max(_columns(line) for line in lines) <= 80, text
    table = lines[lines.index(next(line for line in lines if line.startswith('HOST'))):]
    table = table[:next(i for i, line in enumerate(table) if line.startswith('---'))]
    assert len(table) == 1 + 4, 'one line per host: %r' % table   # header + four hosts, no line broken
    ends = set(_columns(line) for line in table)
    assert len(ends) == 1, 'right-aligned columns end at one column: %r' % table
    assert 'hv-a1 evil' in text and '東京-計算機-01' in text and '仮想マシン web' in text


def test_a_failure_on_the_store_host_is_a_problem_not_a_hypervisor_row():
    from report_data import NOW, cluster_inputs
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_prometheus import render_prometheus
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_html import render_html
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_inputs import ReportInputs
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_model import build_report
    hosts, _vms = cluster_inputs()
    inputs = ReportInputs()
    for name, facts in hosts.items():
        inputs.add_facts(name, {'host_resources': facts})
    inputs.add_problem('localhost', 'failed', 'Store each hypervisor\'s counters', 'disk full', hypervisor=False)
    inputs.add_problem('hv-c9', 'unreachable', 'Read capacity', 'no route', hypervisor=True)
    doc = build_report(inputs, NOW)
    text = render_table(doc)
    assert 'hv-c9  UNREACHABLE, no capacity data' in text
    assert 'localhost  FAILED' not in text and 'localhost failed in task' in text
    prom = render_prometheus(doc)
    assert 'host_up{host="hv-c9"} 0' in prom and 'host="localhost"' not in prom
    assert 'localhost' not in render_html(doc).split('id="problems"')[0]


def test_table_says_per_group_whether_it_survives_the_loss_of_a_host():
    text = render_table(full_doc(failover=FAILOVER))
    assert '[east] survives the loss of 1 host: no (3 VMs unplaced); worst: hv-a2' in text
    assert '[west] survives the loss of 1 host: yes; worst: hv-b2; fits after: m1.small 7' in text
    assert 'CLUSTER survives the loss of 1 host: no (3 VMs unplaced)' in text
    assert all(len(line) <= 80 for line in text.splitlines())
    assert 'survives the loss' not in render_table(full_doc())


def test_table_has_a_full_in_column_per_group_and_the_cluster():
    # east: 136 + 2/day vCPUs used of 256 after 30 days of growth -> 196 used, 30 days left (hand-computed)
    text = render_table(forecast_doc())
    lines = text.splitlines()
    start = lines.index('Forecast, Theil-Sen over 90 days of daily points:')
    assert lines[start + 1].split()[:4] == ['GROUP', 'vCPU', 'full', 'in']
    east = lines[start + 2].split()
    assert east[0] == '[east]' and 29 <= int(east[1]) <= 30 and east[3:5] == ['never', 'never']
    assert lines[start + 4].startswith('  CLUSTER')
    assert 'Planned workloads' not in text


def test_table_shows_headroom_before_and_after_the_planned_workloads():
    text = render_table(forecast_doc(planned=[{'flavor': 'm1.small', 'count': 10, 'group': 'west'}]))
    assert 'Planned workloads (1):' in text
    assert '[west] free before -> after planned: vCPU 226 -> 216' in text
