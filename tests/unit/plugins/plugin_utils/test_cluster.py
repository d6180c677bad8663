"""Rules of cluster_totals, its grouping and flavor fits (plugin_utils.cluster, issue 4).

The realistic input comes from a real run of host_resources on the example
cluster (libvirt's test driver); the corner cases use small dicts.
"""

import json
import os
import subprocess
import sys

import pytest

from cluster_data import BAD_ARGUMENTS, host

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import INVENTORY_FIELDS, STATISTICS_FIELDS
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import (
    ClusterError, cluster_totals, group_of, host_fits)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))

LABELS = {'compute-a1': 'east', 'compute-a2': 'east', 'compute-b1': 'west', 'compute-b2': 'west'}


@pytest.fixture(scope='module')
def example_hosts(tmp_path_factory):
    """host_resources facts of the example cluster, from a real run of the module."""
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json',
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'), ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               ANSIBLE_CACHE_PLUGIN='ansible.builtin.memory')
    out = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), 'ansible'), 'hypervisors', '-i', os.path.join(ROOT, 'examples', 'inventory.yml'),
         '-m', 'hypervisor.stats.host_resources',
         '-a', '{"uri": "{{ hypervisor_stats_uri }}", "storage_pool": "default-pool", "labels": "{{ hypervisor_stats_labels }}"}'],
        env=env, cwd=str(tmp_path_factory.mktemp('adhoc')), capture_output=True, text=True, timeout=120, check=True).stdout
    hosts = json.loads(out)['plays'][0]['tasks'][0]['hosts']
    assert sorted(hosts) == sorted(LABELS)
    return [hosts[name]['ansible_facts']['host_resources'] for name in sorted(hosts)]


def test_sums_equal_a_plain_loop_over_the_example_cluster(example_hosts):
    totals = cluster_totals(example_hosts)
    assert totals['count'] == 4
    for field in STATISTICS_FIELDS:
        assert totals[field] == sum(h[field] for h in example_hosts), field
    for rc in ('VCPU', 'MEMORY_MB', 'DISK_GB'):
        for field in INVENTORY_FIELDS:
            assert totals['inventory'][rc][field] == sum(h['inventory'][rc][field] for h in example_hosts)
    assert totals['running_vms'] > 0 and 'groups' not in totals and 'fits' not in totals


def test_group_by_label_gives_the_same_fields_per_group(example_hosts):
    totals = cluster_totals(example_hosts, group_by='labels.cluster')
    assert sorted(totals['groups']) == ['east', 'west']
    east = [h for h in example_hosts if h['labels']['cluster'] == 'east']
    assert totals['groups']['east']['count'] == 2
    assert totals['groups']['east']['vcpus_used'] == sum(h['vcpus_used'] for h in east)
    assert totals['groups']['east']['inventory']['MEMORY_MB']['free'] == sum(h['inventory']['MEMORY_MB']['free'] for h in east)
    for field in STATISTICS_FIELDS:
        assert sum(g[field] for g in totals['groups'].values()) == totals[field]


@pytest.mark.parametrize('expression,expected', [
    ('cpu_info.arch', {'x86_64': 2, 'aarch64': 1}),
    ('hypervisor_type', {'QEMU': 3}),
    ('labels.rack', {'null': 3}),
])
def test_group_by_other_expressions(expression, expected):
    hosts = [host(), host(), host(arch='aarch64')]
    totals = cluster_totals(hosts, group_by=expression)
    assert dict((k, g['count']) for k, g in totals['groups'].items()) == expected


def test_fits_are_counted_host_by_host_not_from_the_sums():
    # Two hosts with 1 free vCPU each: the sum says 2, but a 2-vCPU flavor fits nowhere.
    hosts = [host(vcpu_free=1), host(vcpu_free=1)]
    totals = cluster_totals(hosts, flavors={'two': {'vcpus': 2, 'memory_mb': 512, 'disk_gb': 1}})
    assert totals['inventory']['VCPU']['free'] == 2
    assert totals['fits'] == {'two': 0}


def test_fits_take_the_scarcest_resource_per_host_and_group():
    hosts = [host(vcpu_free=40, mem_free=4096, disk_free=500, cluster='east'),   # memory-bound: 2
             host(vcpu_free=3, mem_free=65536, disk_free=500, cluster='east'),   # vcpu-bound: 1
             host(vcpu_free=40, mem_free=65536, disk_free=25, cluster='west')]   # disk-bound: 1
    flavors = {'m': {'vcpus': 2, 'memory_mb': 2048, 'disk_gb': 20}, 'tiny': {'vcpus': 1, 'memory_mb': 512, 'disk_gb': 0}}
    totals = cluster_totals(hosts, group_by='labels.cluster', flavors=flavors)
    assert totals['fits'] == {'m': 2 + 1 + 1, 'tiny': 8 + 3 + 40}
    assert totals['groups']['east']['fits'] == {'m': 3, 'tiny': 11}
    assert totals['groups']['west']['fits'] == {'m': 1, 'tiny': 40}


def test_fits_respect_max_unit_and_overcommitted_hosts():
    big = host(vcpu_free=100, total_vcpus=8)     # free beyond total via the ratio, but max_unit is 8
    assert host_fits(big, {'vcpus': 16, 'memory_mb': 1, 'disk_gb': 0}) == 0
    assert host_fits(host(vcpu_free=-4), {'vcpus': 1, 'memory_mb': 1, 'disk_gb': 0}) == 0


def test_fits_of_the_example_cluster(example_hosts):
    flavor = {'vcpus': 2, 'memory_mb': 4096, 'disk_gb': 10}
    totals = cluster_totals(example_hosts, flavors={'m1.medium': flavor})
    expected = 0
    for h in example_hosts:
        inv = h['inventory']
        expected += max(0, min(inv['VCPU']['free'] // 2, inv['MEMORY_MB']['free'] // 4096, inv['DISK_GB']['free'] // 10))
    assert totals['fits']['m1.medium'] == expected > 0


def test_empty_cluster():
    totals = cluster_totals([], group_by='labels.cluster', flavors={'f': {'vcpus': 1, 'memory_mb': 1}})
    assert totals['count'] == 0 and totals['groups'] == {} and totals['fits'] == {'f': 0}

@pytest.mark.parametrize('kwargs,needle', BAD_ARGUMENTS)
def test_bad_arguments_raise_naming_the_argument(kwargs, needle):
    with pytest.raises(ClusterError) as err:
        cluster_totals([host()], **kwargs)
    assert needle in str(err.value)


def test_group_of_is_the_grouping_cluster_totals_sums_by():
    hosts = [host(), host(cluster='west'), host(arch='aarch64'), host(cluster=None)]
    for expression in ('labels.cluster', 'cpu_info.arch', 'labels.rack', 'hypervisor_type'):
        totals = cluster_totals(hosts, group_by=expression)
        assert totals['group_by'] == expression
        counts = {}
        for facts in hosts:
            key = group_of(expression, facts)
            counts[key] = counts.get(key, 0) + 1
        assert dict((key, group['count']) for key, group in totals['groups'].items()) == counts
    assert group_of('labels.cluster', hosts[3]) == 'null' and group_of('labels.rack', hosts[0]) == 'null'
    assert group_of(None, hosts[0]) is None
    with pytest.raises(ClusterError, match='group_by'):
        group_of('labels.[', hosts[0])
    assert 'group_by' not in cluster_totals(hosts) and 'groups' not in cluster_totals(hosts)


def test_hosts_given_by_inventory_name_are_named_by_it_in_warnings_and_failover():
    hosts = {'hv-2': host(cluster='east'), 'hv-1': host(cluster='east'), 'broken': {'failed': True}}
    for facts in (hosts['hv-1'], hosts['hv-2']):
        facts['hypervisor_hostname'] = 'same-name'   # test-driver hosts all answer this machine's hostname
        facts['allocations'] = {}
    warnings = []
    totals = cluster_totals(hosts, group_by='labels.cluster', warnings=warnings, failures=1)
    assert totals['count'] == 2
    assert warnings == ['input host broken is not host_resources facts (a failed result); skipped']
    assert totals['failover']['groups']['east']['worst_hosts'][0] in ('hv-1', 'hv-2')
    assert totals == cluster_totals([hosts['hv-1'], hosts['hv-2']], group_by='labels.cluster', failures=1) | {
        'failover': totals['failover']}
