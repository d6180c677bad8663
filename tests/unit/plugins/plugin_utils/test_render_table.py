"""The capacity report as plain text (plugin_utils.render_table), on plain dicts."""

import pytest

from report_data import full_doc

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
