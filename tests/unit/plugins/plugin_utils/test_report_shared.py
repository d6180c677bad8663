"""The capacity report shows shared storage counted once (issue 15), whether the run stored a
cluster_totals result or the report sums the hosts itself."""

from test_cluster_shared import NFS, hosts
from test_report_model import NOW, inputs_with

from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import cluster_totals
from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_model import build_report


def test_report_sums_shared_storage_once_from_the_hosts():
    facts = hosts()
    for name, host in facts.items():
        host['hypervisor_hostname'] = name
    cluster = build_report(inputs_with(facts), NOW)['cluster']
    assert cluster['source'] == 'hosts'
    assert cluster['local_gb'] == 1500
    assert cluster['inventory']['DISK_GB']['capacity'] == 1500 and cluster['inventory']['DISK_GB']['used'] == 280
    # each host still shows the whole export, as its facts say
    doc = build_report(inputs_with(facts), NOW)
    assert doc['hosts']['h1']['local_gb'] == doc['hosts']['h2']['local_gb'] == 1000


def test_report_shows_the_stored_cluster_totals_with_shared_storage_once():
    facts = hosts()
    totals = cluster_totals(facts, group_by='labels.cluster',
                            flavors={'f': {'vcpus': 1, 'memory_mb': 1024, 'disk_gb': 100}})
    assert NFS in totals['shared_storage']
    cluster = build_report(inputs_with(facts, cluster=totals), NOW)['cluster']
    assert cluster['source'] == 'cluster_totals'
    assert cluster['inventory']['DISK_GB']['free'] == 1220
    assert cluster['groups']['east']['local_gb'] == 1000
    assert cluster['fits']['f']['total'] == 12


def test_the_table_and_the_page_name_each_shared_storage_its_hosts_and_its_single_count():
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_html import render_html
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_table import render_table
    facts = hosts()
    doc = build_report(inputs_with(facts, cluster=cluster_totals(facts)), NOW)
    shared = doc['cluster']['shared_storage'][NFS]
    assert shared['hosts'] == ['h1', 'h2', 'h3'] and shared['DISK_GB']['capacity'] == 1000
    sentence = 'Shared storage %s, seen by h1, h2, h3, counted once: 1000 GiB disk, 820 free.' % NFS
    assert sentence in ' '.join(render_table(doc, width=200).split())
    assert sentence in render_html(doc)
