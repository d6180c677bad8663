"""The collection cycle counts declared shared storage once (issue 15): hypervisor_stats_shared_storage_id
flows from the inventory through the role to host_resources, and the stored cluster totals count the
storage once. Real: ansible-playbook, libvirt's test driver, the real modules, jsonfile fact cache."""

from test_cycle import Cluster


def test_two_hosts_declaring_one_storage_count_it_once(tmp_path):
    cluster = Cluster(tmp_path, {'hv1': ['vm-a'], 'hv2': ['vm-b'], 'hv3': ['vm-c']})
    for host in ('hv1', 'hv2'):
        cluster.host_vars[host]['hypervisor_stats_shared_storage_id'] = 'san:lun-7'
    cluster.cycle(hypervisor_stats_group_by='')
    facts = dict((h, cluster.facts(h)['host_resources']) for h in ('hv1', 'hv2', 'hv3'))
    assert facts['hv1']['shared_id'] == facts['hv2']['shared_id'] == 'san:lun-7'
    assert facts['hv1']['disk_source_detail']['shared_by'] == 'declared'
    assert facts['hv3']['shared_id'] is None and facts['hv3']['disk_source_detail']['pool_type'] == 'dir'
    totals = cluster.cluster()['totals']
    assert totals['count'] == 3
    assert totals['local_gb'] == facts['hv1']['local_gb'] + facts['hv3']['local_gb']
    assert totals['inventory']['DISK_GB']['total'] == (facts['hv1']['inventory']['DISK_GB']['total']
                                                       + facts['hv3']['inventory']['DISK_GB']['total'])
    assert totals['shared_storage']['san:lun-7']['hosts'] == ['hv1', 'hv2']
