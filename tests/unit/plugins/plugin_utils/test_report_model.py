"""Rules of the capacity report document (plugin_utils.report_model), on plain dicts."""

import copy
import re

import pytest

from report_data import cluster_inputs, counters_entry, vm, vm_stats

from ansible_collections.hypervisor.stats.plugins.module_utils.libvirt_client import redact_uri
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import ClusterError, cluster_totals
from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_inputs import ReportInputs
from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_model import build_report

NOW = 1700000100


def inputs_with(hosts=None, stats=None, counters=None, cluster=None):
    inputs = ReportInputs()
    for name, facts in (hosts or {}).items():
        assert inputs.add_facts(name, {'host_resources': facts, 'unrelated': 1})
    for name, facts in (stats or {}).items():
        assert inputs.add_facts(name, {'vm_stats': facts})
    for name, entry in (counters or {}).items():
        assert inputs.add_facts(name, {'hypervisor_stats_counters': entry})
    if cluster is not None:
        assert inputs.add_facts('localhost', {'hypervisor_stats_cluster': cluster})
    return inputs


def test_hosts_carry_the_facts_numbers():
    hosts, _vms = cluster_inputs()
    doc = build_report(inputs_with(hosts), NOW)
    assert sorted(doc['hosts']) == sorted(hosts)
    for name, facts in hosts.items():
        entry = doc['hosts'][name]
        assert entry['status'] == 'ok'
        assert entry['running_vms'] == facts['running_vms']
        assert entry['disk_available_least'] == facts['disk_available_least']
        for rc, record in facts['inventory'].items():
            for field in ('total', 'reserved', 'capacity', 'used', 'free', 'allocation_ratio'):
                assert entry['inventory'][rc][field] == record[field], (name, rc, field)
            assert entry['inventory'][rc]['utilization'] == pytest.approx(record['used'] / record['capacity'], abs=1e-4)
    assert doc['generated_at'] == NOW and doc['schema_version'] == 1


def test_cluster_summed_from_hosts_without_cluster_totals():
    hosts, _vms = cluster_inputs()
    cluster = build_report(inputs_with(hosts), NOW)['cluster']
    assert cluster['source'] == 'hosts'
    assert cluster['count'] == 4
    assert cluster['running_vms'] == sum(h['running_vms'] for h in hosts.values())
    for rc in ('VCPU', 'MEMORY_MB', 'DISK_GB'):
        for field in ('total', 'reserved', 'capacity', 'used', 'free'):
            assert cluster['inventory'][rc][field] == sum(h['inventory'][rc][field] for h in hosts.values())
    assert cluster['groups'] == {} and cluster['fits'] == {}


def test_cluster_totals_fact_wins_and_fits_are_read():
    hosts, _vms = cluster_inputs()
    totals = cluster_totals(list(hosts.values()), group_by='labels.cluster',
                            flavors={'m1.small': {'vcpus': 1, 'memory_mb': 2048, 'disk_gb': 20},
                                     'm1.huge': {'vcpus': 16, 'memory_mb': 262144, 'disk_gb': 50}})
    totals['running_vms'] = 999  # proves where the number came from
    cluster = build_report(inputs_with(hosts, cluster=totals), NOW)['cluster']
    assert cluster['source'] == 'cluster_totals'
    assert cluster['running_vms'] == 999
    assert set(cluster['groups']) == {'east', 'west'}
    assert cluster['fits']['m1.small']['total'] == totals['fits']['m1.small']
    assert cluster['fits']['m1.small']['groups'] == {'east': totals['groups']['east']['fits']['m1.small'],
                                                     'west': totals['groups']['west']['fits']['m1.small']}
    assert cluster['fits']['m1.huge']['total'] == totals['fits']['m1.huge']


def test_fits_in_nested_shape():
    hosts, _vms = cluster_inputs()
    totals = cluster_totals(list(hosts.values()))
    totals['fits'] = {'m1.small': {'total': 12, 'groups': {'east': 5, 'west': 7}}}
    assert build_report(inputs_with(hosts, cluster=totals), NOW)['cluster']['fits'] == {
        'm1.small': {'total': 12, 'groups': {'east': 5, 'west': 7}}}


def test_group_by_labels_hosts_and_sums_groups():
    hosts, _vms = cluster_inputs()
    doc = build_report(inputs_with(hosts), NOW, group_by='labels.cluster')
    assert {n: h['group'] for n, h in doc['hosts'].items()} == {
        'hv-a1': 'east', 'hv-a2': 'east', 'hv-b1': 'west', 'hv-b2': 'west'}
    east = doc['cluster']['groups']['east']
    assert east['count'] == 2
    assert east['inventory']['VCPU']['used'] == hosts['hv-a1']['inventory']['VCPU']['used'] + \
        hosts['hv-a2']['inventory']['VCPU']['used']
    assert doc['cluster']['group_by'] == 'labels.cluster'
    assert doc['options']['group_by'] == 'labels.cluster'


def test_bad_group_by_names_the_option():
    with pytest.raises(ClusterError, match='group_by'):
        build_report(ReportInputs(), NOW, group_by='labels.[')


def test_vms_merge_live_stats_and_counters():
    hosts, vms = cluster_inputs()
    web, batch = vms['web'], vms['batch']
    gone = vm('old', '11111111-0000-0000-0000-0000000000ff', state='gone')
    stats = {'hv-a1': vm_stats('hv-a1', web, batch)}
    counters = {'hv-a1': counters_entry((web, {'disk_read_kb': 7000}, 55.0), (batch, {}, 12.5),
                                        (gone, {'network_read_kb': 10 ** 9}, None))}
    doc = build_report(inputs_with(hosts, stats, counters), NOW)
    got = doc['vms']
    assert set(got) == {web['uuid'], batch['uuid'], gone['uuid']}
    # vm_stats has a sampled utilisation: it stays; batch has none: the cycle's from accumulate
    assert got[web['uuid']]['cpu_utilization'] == 87.5
    assert got[batch['uuid']]['cpu_utilization'] == 12.5
    assert got[web['uuid']]['totals']['network_read_kb'] == 9000
    assert got[web['uuid']]['cumulative']['disk_read_kb'] == 7000
    assert got[gone['uuid']]['state'] == 'gone' and got[gone['uuid']]['totals'] is None
    assert doc['hosts']['hv-a1']['vms'] == 3
    assert doc['hosts']['hv-b1']['vms'] is None


def test_a_uuid_on_two_hosts_keeps_each_hosts_row_and_counters():
    # live migration: the domain shows on source and destination, each with its own counters
    hosts, vms = cluster_inputs()
    web = vms['web']
    stats = {'hv-a1': vm_stats('hv-a1', web), 'hv-b1': vm_stats('hv-b1', web)}
    counters = {'hv-a1': counters_entry((web, {'disk_read_kb': 7000}, 55.0)),
                'hv-b1': counters_entry((web, {'disk_read_kb': 30}, 1.0))}
    doc = build_report(inputs_with(hosts, stats, counters), NOW)
    got = doc['vms']
    assert set(got) == {web['uuid'] + '@hv-a1', web['uuid'] + '@hv-b1'}
    assert got[web['uuid'] + '@hv-a1']['host'] == 'hv-a1'
    assert got[web['uuid'] + '@hv-a1']['cumulative']['disk_read_kb'] == 7000
    assert got[web['uuid'] + '@hv-b1']['cumulative']['disk_read_kb'] == 30
    assert doc['hosts']['hv-a1']['vms'] == 1 and doc['hosts']['hv-b1']['vms'] == 1


def test_top_lists_rank_limit_and_skip_gone():
    hosts, vms = cluster_inputs()
    gone = vm('old', '11111111-0000-0000-0000-0000000000ff', state='gone', cpu_utilization=99.0,
              totals={'disk_read_kb': 10 ** 12})
    stats = {'hv-a1': vm_stats('hv-a1', vms['web'], vms['idle'], gone), 'hv-b1': vm_stats('hv-b1', vms['db'], vms['batch'])}
    doc = build_report(inputs_with(hosts, stats), NOW, top=2)
    top = doc['top']
    assert top['cpu']['basis'] == 'cpu_utilization'
    assert [(e['name'], e['value'], e['host']) for e in top['cpu']['vms']] == [('web', 87.5, 'hv-a1'), ('db', 42.0, 'hv-b1')]
    assert top['disk']['basis'] == 'totals'
    assert [e['name'] for e in top['disk']['vms']] == ['db', 'web']
    assert top['disk']['vms'][0]['read_kb'] == 800000 and top['disk']['vms'][0]['write_ios'] == 3000
    assert top['disk']['vms'][0]['value'] == 1200000
    assert [e['name'] for e in top['network']['vms']] == ['batch', 'web']


def test_top_prefers_cumulative_counters_once_they_count():
    hosts, vms = cluster_inputs()
    web, db = vms['web'], vms['db']
    stats = {'hv-a1': vm_stats('hv-a1', web, db)}
    first_cycle = {'hv-a1': counters_entry((web, {}, None), (db, {}, None))}
    doc = build_report(inputs_with(hosts, stats, first_cycle), NOW)
    assert doc['top']['disk']['basis'] == 'totals'  # all cumulative counters still 0
    later = {'hv-a1': counters_entry((web, {'disk_write_kb': 5 * 10 ** 7}, None), (db, {'disk_read_kb': 10}, None))}
    doc = build_report(inputs_with(hosts, stats, later), NOW)
    assert doc['top']['disk']['basis'] == 'cumulative'
    assert [(e['name'], e['value']) for e in doc['top']['disk']['vms']] == [('web', 5 * 10 ** 7), ('db', 10)]


def test_cpu_time_ranks_when_no_utilisation_is_known():
    hosts, vms = cluster_inputs()
    slow = vm('slow', 'u-1', cpu_time_ns=5 * 10 ** 9)
    busy = vm('busy', 'u-2', cpu_time_ns=9 * 10 ** 12)
    doc = build_report(inputs_with(hosts, {'hv-a1': vm_stats('hv-a1', slow, busy)}), NOW)
    assert doc['top']['cpu']['basis'] == 'cpu_time_ns'
    assert [e['name'] for e in doc['top']['cpu']['vms']] == ['busy', 'slow']


def test_problems_mark_hosts_and_unreachable_outranks_failed():
    hosts, _vms = cluster_inputs()
    inputs = inputs_with(hosts)
    inputs.add_problem('hv-a2', 'failed', 'Read VM statistics', 'libvirt: boom\n  details ' + 'x' * 600)
    inputs.add_problem('hv-c9', 'failed', 'Read capacity', 'first')
    inputs.add_problem('hv-c9', 'unreachable', 'Read capacity', 'no route')
    inputs.add_problem('hv-c9', 'failed', 'Later', 'ignored because unreachable already')
    doc = build_report(inputs, NOW)
    assert doc['hosts']['hv-a2']['status'] == 'failed'
    assert doc['hosts']['hv-a1']['status'] == 'ok'
    problems = {p['host']: p for p in doc['problems']}
    assert problems['hv-c9']['status'] == 'unreachable' and problems['hv-c9']['message'] == 'no route'
    assert len(problems['hv-a2']['message']) <= 300 and '\n' not in problems['hv-a2']['message']
    with pytest.raises(ValueError):
        inputs.add_problem('hv-a1', 'weird', 't', 'm')


def test_malformed_facts_give_nulls_not_exceptions():
    hosts, vms = cluster_inputs()
    broken = copy.deepcopy(hosts['hv-a1'])
    broken['inventory'] = {'VCPU': 'lots', 'MEMORY_MB': {'used': 'x', 'capacity': 0}}
    broken['running_vms'] = True
    inputs = inputs_with({'hv-a1': broken, 'hv-b1': hosts['hv-b1']},
                         {'hv-a1': {'vms': {'u': 'not a vm'}}, 'hv-b1': {'vms': 'nope'}},
                         {'hv-a1': {'vms': {'u': {'cumulative': 'x'}}}})
    doc = build_report(inputs, NOW)
    assert doc['hosts']['hv-a1']['running_vms'] is None
    assert doc['hosts']['hv-a1']['inventory']['VCPU']['used'] is None
    assert doc['hosts']['hv-a1']['inventory']['MEMORY_MB']['utilization'] is None
    assert doc['hosts']['hv-b1']['inventory']['VCPU']['used'] == hosts['hv-b1']['inventory']['VCPU']['used']
    assert doc['vms']['u']['name'] == 'u'


@pytest.mark.parametrize('uri,expected', [
    ('qemu+ssh://admin:s3cret@hv1/system', 'qemu+ssh://admin@hv1/system'),
    ('qemu+tcp://:pw@hv1/system?x=1', 'qemu+tcp://@hv1/system?x=1'),
    ('qemu+ssh://admin@hv1/system', 'qemu+ssh://admin@hv1/system'),
    ('qemu:///system', 'qemu:///system'),
    (None, None),
])
def test_uri_passwords_never_reach_the_report(uri, expected):
    assert redact_uri(uri) == expected
    hosts, _vms = cluster_inputs()
    facts = dict(hosts['hv-a1'], uri=uri)
    assert build_report(inputs_with({'hv-a1': facts}), NOW)['hosts']['hv-a1']['uri'] == expected


def test_groups_fits_and_host_groups_all_come_from_the_runs_cluster_totals():
    """cluster_totals grouped by labels.cluster, the report's own group_by is cpu_info.arch: the groups,
    the flavor fits per group and every host's group (JSON and Prometheus labels) are the labels.cluster
    ones, never fits of one grouping under the labels of the other."""
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_prometheus import render_prometheus

    hosts, _vms = cluster_inputs()
    hosts['hv-b2']['cpu_info'] = {'arch': 'aarch64'}  # arch groups differ from cluster groups
    totals = cluster_totals([hosts[name] for name in sorted(hosts)], group_by='labels.cluster',
                            flavors={'m1.small': {'vcpus': 1, 'memory_mb': 2048, 'disk_gb': 20}})
    doc = build_report(inputs_with(hosts, cluster=totals), NOW, group_by='cpu_info.arch')
    clusters = {'east', 'west'}
    cluster = doc['cluster']
    assert cluster['group_by'] == 'labels.cluster'
    assert set(cluster['groups']) == clusters and set(cluster['fits']['m1.small']['groups']) == clusters
    for name, facts in hosts.items():
        assert doc['hosts'][name]['group'] == facts['labels']['cluster']
    for group, section in cluster['groups'].items():
        assert section['count'] == sum(1 for h in doc['hosts'].values() if h['group'] == group) == \
            totals['groups'][group]['count']
        assert cluster['fits']['m1.small']['groups'][group] == totals['groups'][group]['fits']['m1.small']
    prom = render_prometheus(doc)
    assert set(re.findall(r'\bgroup_by="([^"]*)"', prom)) == {'labels.cluster'}
    assert set(re.findall(r'\bgroup="([^"]*)"', prom)) == clusters
    assert re.search(r'^hypervisor_stats_group_flavor_fits\{group_by="labels.cluster",group="east",flavor="m1.small"\} ',
                     prom, re.M)


def test_without_cluster_totals_the_reports_group_by_groups_through_cluster_totals():
    hosts, _vms = cluster_inputs()
    hosts['hv-b2']['cpu_info'] = {'arch': 'aarch64'}
    doc = build_report(inputs_with(hosts), NOW, group_by='cpu_info.arch')
    expected = cluster_totals([hosts[name] for name in sorted(hosts)], group_by='cpu_info.arch')
    assert doc['cluster']['source'] == 'hosts' and doc['cluster']['group_by'] == 'cpu_info.arch'
    assert dict((g, s['count']) for g, s in doc['cluster']['groups'].items()) == \
        dict((g, s['count']) for g, s in expected['groups'].items()) == {'x86_64': 3, 'aarch64': 1}
    assert doc['hosts']['hv-b2']['group'] == 'aarch64' and doc['hosts']['hv-a1']['group'] == 'x86_64'


def test_cluster_totals_without_groups_leaves_hosts_ungrouped_whatever_the_option():
    hosts, _vms = cluster_inputs()
    doc = build_report(inputs_with(hosts, cluster=cluster_totals(list(hosts.values()))), NOW, group_by='labels.cluster')
    assert doc['cluster']['groups'] == {} and doc['cluster']['group_by'] is None
    assert all(host['group'] is None for host in doc['hosts'].values())
    assert doc['options']['group_by'] == 'labels.cluster'


def test_failover_of_the_cluster_totals_reaches_the_document_and_damage_gives_nulls():
    hosts, _vms = cluster_inputs()
    totals = cluster_totals(list(hosts.values()), group_by='labels.cluster')
    totals['failover'] = {'failures': 1,
                          'cluster': {'survives': 'yes', 'worst_hosts': ['hv-a1', None],
                                      'unplaced': {'count': float('nan'), 'vms': ['junk', {'name': 'web', 'uuid': 'u1'}]},
                                      'headroom_after': {'VCPU': 3, 'BOGUS': 1}},
                          'groups': {'east': 'garbage'}}
    doc = build_report(inputs_with(hosts, cluster=totals), NOW)
    failover = doc['failover']
    assert failover['failures'] == 1
    assert failover['cluster'] == {'survives': None, 'exhaustive': None, 'worst_hosts': ['hv-a1'], 'unknown_hosts': [],
                                   'unplaced': {'count': None, 'vms': [{'name': 'web', 'uuid': 'u1', 'host': None}]},
                                   'headroom_after': {'VCPU': 3}, 'fits_after': {}}
    assert failover['groups']['east']['survives'] is None
    assert build_report(inputs_with(hosts), NOW)['failover'] is None


def test_forecast_and_history_reach_the_document_as_plain_json():
    import json

    from report_data import forecast_doc

    doc = forecast_doc()
    assert set(doc['forecast']['groups']) == {'east', 'west'}
    assert 29 <= doc['forecast']['groups']['east']['VCPU']['days_until_full'] <= 30
    assert doc['history']['group_by'] == 'labels.cluster'
    json.dumps(doc, allow_nan=False)


def test_plain_drops_what_is_not_json():
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_model import plain
    assert plain({'a': float('nan'), 1: [float('inf'), 2, 'x', object()], 'b': {'c': True}}) == \
        {'a': None, '1': [None, 2, 'x', None], 'b': {'c': True}}
