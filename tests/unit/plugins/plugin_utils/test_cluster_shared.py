"""cluster_totals counts each shared storage once (issue 15): hand-computed cases and properties."""

from hypothesis import given, settings, strategies as st

from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import inventory_record
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import cluster_totals


def host(shared_id=None, disk_total=1000, disk_used_fs=300, disk_alloc=0, dal=None, collected_at=100,
         cluster='east', vcpu_free=10, mem_free=8192):
    return {
        'hypervisor_hostname': 'x', 'collected_at': collected_at, 'labels': {'cluster': cluster},
        'shared_id': shared_id, 'running_vms': 1, 'vcpus': 16, 'vcpus_used': 16 - vcpu_free,
        'memory_mb': 65536, 'memory_mb_used': 65536 - mem_free, 'free_ram_mb': mem_free,
        'local_gb': disk_total, 'local_gb_used': disk_used_fs, 'free_disk_gb': disk_total - disk_used_fs,
        'disk_available_least': disk_total - disk_used_fs if dal is None else dal,
        'inventory': {'VCPU': inventory_record(16, 0, 1.0, 16 - vcpu_free),
                      'MEMORY_MB': inventory_record(65536, 0, 1.0, 65536 - mem_free),
                      'DISK_GB': inventory_record(disk_total, 0, 1.0, disk_alloc)},
    }


NFS = 'nfs:filer:/export'
FLAVORS = {'f': {'vcpus': 1, 'memory_mb': 1024, 'disk_gb': 100}, 'g': {'vcpus': 1, 'memory_mb': 1024}}


def hosts():
    return {
        'h1': host(NFS, disk_alloc=100, dal=690, collected_at=100, cluster='east'),
        'h2': host(NFS, disk_alloc=50, dal=680, collected_at=200, cluster='east'),
        'h3': host(NFS, disk_alloc=30, dal=695, collected_at=150, cluster='west'),
        'h4': host(None, disk_total=500, disk_used_fs=100, disk_alloc=100, cluster='west'),
    }


def test_hand_computed_cluster_totals():
    t = cluster_totals(hosts(), flavors=FLAVORS)
    assert t['count'] == 4 and t['vcpus'] == 64 and t['running_vms'] == 4
    # The export once (h2's figures: the latest collected_at) plus h4's local disk.
    assert (t['local_gb'], t['local_gb_used'], t['free_disk_gb'], t['disk_available_least']) == (1500, 400, 1100, 1080)
    # used: every sharer's own instances (100 + 50 + 30) plus h4's 100.
    assert t['inventory']['DISK_GB'] == {'total': 1500, 'reserved': 0, 'used': 280, 'capacity': 1500, 'free': 1220}
    assert t['shared_storage'] == {NFS: {'hosts': ['h1', 'h2', 'h3'], 'figures_from': 'h2', 'DISK_GB': dict(
        inventory_record(1000, 0, 1.0, 180))}}
    # f: the sharers hold 8 each by memory (24), the export's 820 GiB free hold 8 once; h4 holds 4 (400 GiB).
    # g (no disk) is unchanged: 8 per host.
    assert t['fits'] == {'f': 12, 'g': 32}
    assert t['missing'] == {}


def test_hand_computed_groups():
    t = cluster_totals(hosts(), group_by='labels.cluster', flavors=FLAVORS)
    east, west = t['groups']['east'], t['groups']['west']
    assert east['local_gb'] == 1000 and east['disk_available_least'] == 680
    assert east['inventory']['DISK_GB']['used'] == 150 and east['inventory']['DISK_GB']['free'] == 850
    assert east['fits'] == {'f': 8, 'g': 16}
    assert west['local_gb'] == 1500 and west['inventory']['DISK_GB']['used'] == 130
    assert west['disk_available_least'] == 695 + 400
    assert west['fits'] == {'f': 8 + 4, 'g': 16}
    # the cluster counts the export once, even though it is in both groups
    assert t['local_gb'] == 1500 < east['local_gb'] + west['local_gb']


def test_list_input_names_hosts_by_hostname_and_ties_go_to_the_first_name():
    a = dict(host(NFS, dal=1), hypervisor_hostname='b-host')
    b = dict(host(NFS, dal=2), hypervisor_hostname='a-host')
    t = cluster_totals([a, b])
    assert t['shared_storage'][NFS]['figures_from'] == 'a-host' and t['disk_available_least'] == 2


def test_without_shared_id_nothing_changes():
    plain = dict((name, dict(facts, shared_id=None)) for name, facts in hosts().items())
    t = cluster_totals(plain, flavors=FLAVORS)
    assert t['local_gb'] == 3500 and 'shared_storage' not in t
    assert t['fits'] == {'f': 28, 'g': 32}


def test_ten_hosts_on_one_100_tb_export_report_100_tb():
    t = cluster_totals(dict(('h%d' % i, host(NFS, disk_total=100000, disk_used_fs=0)) for i in range(10)))
    assert t['local_gb'] == 100000 and t['inventory']['DISK_GB']['total'] == 100000


def test_a_flavor_larger_than_the_storage_fits_nowhere():
    t = cluster_totals({'a': host(NFS), 'b': host(NFS)}, flavors={'huge': {'vcpus': 1, 'memory_mb': 1, 'disk_gb': 1001}})
    assert t['fits'] == {'huge': 0}


allocs = st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(allocs, st.integers(min_value=1, max_value=300), st.lists(st.integers(0, 20), min_size=12, max_size=12))
def test_n_sharers_count_like_one_host_holding_all_their_instances(used, demand, vcpu_free):
    sharers = dict(('h%02d' % i, host(NFS, disk_alloc=u, vcpu_free=vcpu_free[i])) for i, u in enumerate(used))
    flavor = {'f': {'vcpus': 1, 'memory_mb': 1, 'disk_gb': demand}}
    t = cluster_totals(sharers, flavors=flavor)
    one = host(None, disk_alloc=sum(used))
    assert t['inventory']['DISK_GB'] == dict((k, one['inventory']['DISK_GB'][k])
                                             for k in ('total', 'reserved', 'used', 'capacity', 'free'))
    for field in ('local_gb', 'local_gb_used', 'free_disk_gb', 'disk_available_least'):
        assert t[field] == one[field]
    free = 1000 - sum(used)
    assert t['fits']['f'] == min(sum(vcpu_free[:len(used)]), max(free // demand, 0))


@settings(max_examples=100, deadline=None)
@given(allocs, st.integers(min_value=0, max_value=400))
def test_adding_a_sharer_adds_no_disk_capacity(used, extra):
    before = cluster_totals(dict(('h%02d' % i, host(NFS, disk_alloc=u)) for i, u in enumerate(used)))
    after = cluster_totals(dict(('h%02d' % i, host(NFS, disk_alloc=u)) for i, u in enumerate(used + [extra])))
    assert after['inventory']['DISK_GB']['capacity'] == before['inventory']['DISK_GB']['capacity']
    assert after['inventory']['DISK_GB']['free'] == before['inventory']['DISK_GB']['free'] - extra
    assert after['count'] == before['count'] + 1 and after['vcpus'] == before['vcpus'] + 16
