"""A libvirt rbd pool on a real Ceph cluster (issue 15): host_resources and cluster_totals.

Real: a throwaway single-node Ceph on 127.0.0.1 (ceph_cluster.py: one monitor, one manager, two
memstore OSDs of 3 GiB, the RBD pool replicated twice, no cephx), a real libvirtd with its rbd storage
backend, the real host_resources module. Two hosts are simulated by two libvirt pools of different local
names over the same Ceph pool, as two hypervisors would each define it.

Checked against the cluster itself (`rados df` for librados' cluster stat, `ceph df` for the pool):
- libvirt's capacity and available are the cluster's raw figures (every OSD, before replication), its
  allocation the pool's stored bytes; the module's facts are those figures in GiB, so the free figure the
  collection reports is raw, not Nova's replication-aware `max_avail` (docs/shared-storage.md says why);
- both hosts get shared_id `rbd:127.0.0.1/POOL`, and cluster_totals counts the pool's DISK_GB once.
"""

import os
import time
import xml.etree.ElementTree as ET

import pytest

from ceph_cluster import CephCluster, missing_binaries
from host_resources_run import facts_of, run_module
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import cluster_totals

libvirt = pytest.importorskip('libvirt')
libvirt.registerErrorHandler(lambda ctx, err: None, None)

GIB = 1024 ** 3
MIB = 1024 ** 2
OSD_BYTES = 3 * GIB
REPLICAS = 2
DATA_BYTES = 64 * MIB
PREFIX = 'hs-ceph-%d-' % os.getpid()
HOSTS = ('hv1', 'hv2')


@pytest.fixture(scope='module')
def ceph(tmp_path_factory):
    missing = missing_binaries()
    if missing:
        pytest.skip('Ceph is not installed here (missing %s): run `make bootstrap-test`' % ', '.join(missing))
    cluster = CephCluster(tmp_path_factory.mktemp('ceph'), osd_bytes=OSD_BYTES, size=REPLICAS).start()
    try:
        # One image of incompressible data, so that the pool holds something and the copies show.
        image = os.path.join(cluster.dir, 'image.raw')
        with open(image, 'wb') as f:
            f.write(os.urandom(DATA_BYTES))
        cluster.rbd('import', image, cluster.pool + '/vol-a')
        os.unlink(image)
        # The OSDs report pool statistics to the manager every few seconds: until they have, `ceph df` and
        # librados still show the empty pool (seen in a CI run: 19 bytes stored, steady over two readings).
        cluster._wait('the image in the pool statistics', lambda: (
            lambda c: c['stored'] >= DATA_BYTES and c['pool_num_bytes'] >= DATA_BYTES
            and c['total_used_bytes'] >= REPLICAS * DATA_BYTES)(ceph_figures(cluster)), 120)
        yield cluster
    finally:
        cluster.stop()


def pool_xml(name, cluster):
    return ("<pool type='rbd'><name>%s</name><source><host name='127.0.0.1' port='%d'/><name>%s</name>"
            "</source></pool>" % (name, cluster.port, cluster.pool))


@pytest.fixture(scope='module')
def rbd_pools(libvirtd, ceph):
    """{inventory host: libvirt pool name}: the same Ceph pool defined twice, under each host's own name."""
    conn = libvirt.open(libvirtd)
    pools = {}
    try:
        for host in HOSTS:
            name = PREFIX + host
            try:
                pool = conn.storagePoolDefineXML(pool_xml(name, ceph), 0)
            except libvirt.libvirtError as exc:
                if 'missing backend' in str(exc):
                    pytest.skip('libvirtd has no rbd storage backend (%s): install libvirt-daemon-driver-storage-rbd '
                                'and restart libvirtd' % exc)
                raise
            pools[host] = name
            pool.create(0)
        yield pools
    finally:
        for name in pools.values():
            try:
                pool = conn.storagePoolLookupByName(name)
                if pool.isActive():
                    pool.destroy()
                pool.undefine()
            except libvirt.libvirtError:
                pass
        conn.close()


def ceph_figures(cluster):
    """What the cluster says: librados' cluster stat (`rados df`, KiB) and `ceph df`'s pool figures."""
    rados = cluster.rados_df()
    df = cluster.ceph('df')
    rpool = [p for p in rados['pools'] if p['name'] == cluster.pool][0]
    dpool = [p for p in df['pools'] if p['name'] == cluster.pool][0]['stats']
    return {'kb': rados['total_space'], 'kb_avail': rados['total_avail'], 'pool_num_bytes': rpool['size_bytes'],
            'total_bytes': df['stats']['total_bytes'], 'total_avail_bytes': df['stats']['total_avail_bytes'],
            'total_used_bytes': df['stats']['total_used_bytes'],
            'stored': dpool['stored'], 'max_avail': dpool['max_avail']}


def libvirt_figures(uri, names):
    conn = libvirt.open(uri)
    try:
        out = {}
        for host, name in names.items():
            pool = conn.storagePoolLookupByName(name)
            pool.refresh(0)
            _state, capacity, allocation, available = pool.info()
            out[host] = {'capacity': capacity, 'allocation': allocation, 'available': available,
                         'volumes': sorted(pool.listVolumes()), 'xml': pool.XMLDesc(0)}
        return out
    finally:
        conn.close()


def test_rbd_pool_on_real_ceph(libvirtd, ceph, rbd_pools, tmp_path):
    # The module and libvirt read the cluster at slightly different moments: keep a reading only when
    # the cluster's figures did not change around it.
    for _attempt in range(10):
        before = ceph_figures(ceph)
        lv = libvirt_figures(libvirtd, rbd_pools)
        facts = dict((host, facts_of(run_module({'uri': libvirtd, 'storage_pool': name}, tmp_path)))
                     for host, name in sorted(rbd_pools.items()))
        after = ceph_figures(ceph)
        if before == after:
            break
        time.sleep(1)
    else:
        pytest.fail('the Ceph cluster figures never stayed still around a reading: %r -> %r' % (before, after))
    c = before
    print('ceph: %r' % c)
    print('libvirt: %r' % dict((h, dict((k, v) for k, v in f.items() if k != 'xml')) for h, f in lv.items()))

    # The cluster itself: 2 OSDs of OSD_BYTES, the image stored once and written twice (raw).
    assert c['total_bytes'] == 2 * OSD_BYTES == c['kb'] * 1024
    assert c['stored'] >= DATA_BYTES and c['pool_num_bytes'] == c['stored']
    assert c['total_used_bytes'] >= REPLICAS * DATA_BYTES
    # max_avail is replication-aware: at most the raw free space over the replica count.
    assert 0 < c['max_avail'] <= c['total_avail_bytes'] // REPLICAS

    for host in HOSTS:
        fig = lv[host]
        assert 'vol-a' in fig['volumes']          # libvirt really lists the Ceph pool
        # libvirt's rbd backend: capacity/available from rados_cluster_stat (KiB), allocation = pool num_bytes.
        assert fig['capacity'] == c['kb'] * 1024 == c['total_bytes']
        assert fig['available'] == c['kb_avail'] * 1024 == c['total_avail_bytes'] // 1024 * 1024
        assert fig['allocation'] == c['pool_num_bytes'] == c['stored']

        f = facts[host]
        assert f['disk_source'] == 'pool:' + rbd_pools[host]
        assert f['shared_id'] == 'rbd:127.0.0.1/%s' % ceph.pool
        assert f['disk_source_detail'] == {'kind': 'pool', 'pool_type': 'rbd', 'pool_name': rbd_pools[host],
                                           'source': '127.0.0.1/%s' % ceph.pool, 'shared_by': 'detected'}
        # The collection's figures are libvirt's, in whole GiB as Nova rounds them: the raw ones.
        assert f['local_gb'] == fig['capacity'] // GIB == 6
        assert f['local_gb_used'] == fig['allocation'] // GIB == 0
        assert f['free_disk_gb'] == f['local_gb'] - f['local_gb_used']
        assert f['disk_available_least'] == fig['available'] // GIB == 5
        assert f['inventory']['DISK_GB']['total'] == f['local_gb']
        # ... not Nova's get_pool_info free figure (max_avail, replication-aware): about half of it here.
        assert c['max_avail'] // GIB == 2 < f['disk_available_least']

    assert facts['hv1']['shared_id'] == facts['hv2']['shared_id']
    # The pool's identity comes from its source: the two hosts' local pool names differ.
    assert ET.fromstring(lv['hv1']['xml']).findtext('name') != ET.fromstring(lv['hv2']['xml']).findtext('name')

    # cluster_totals counts the pool once, not once per host.
    sid = facts['hv1']['shared_id']
    one = facts['hv1']['local_gb']
    flavors = {'disk1': {'vcpus': 1, 'memory_mb': 64, 'disk_gb': 1}, 'nodisk': {'vcpus': 1, 'memory_mb': 64}}
    totals = cluster_totals(facts, flavors=flavors)
    assert totals['count'] == 2
    assert totals['local_gb'] == one and totals['local_gb'] != 2 * one
    assert totals['disk_available_least'] == facts['hv1']['disk_available_least']
    assert totals['inventory']['DISK_GB']['total'] == one
    assert totals['inventory']['DISK_GB']['capacity'] == facts['hv1']['inventory']['DISK_GB']['capacity']
    assert totals['shared_storage'][sid]['hosts'] == list(HOSTS)
    assert totals['shared_storage'][sid]['figures_from'] in HOSTS
    # Disk fits come from the pool's free DISK_GB once: the hosts' CPU/memory fits, capped by it.
    by_cpu_mem = sum(cluster_totals({h: facts[h]}, flavors={'f': flavors['nodisk']})['fits']['f'] for h in HOSTS)
    assert totals['fits']['nodisk'] == by_cpu_mem
    assert totals['fits']['disk1'] == min(by_cpu_mem, totals['inventory']['DISK_GB']['free'])
