"""Shared storage detection (issue 15): disk_source_detail and shared_id.

Real where this machine allows it: libvirt's test driver (a real driver) answers for the netfs,
rbd and dir pools of tests/unit/nodes/shared_{a,b}.xml, the module runs as ansible-test runs it,
and two simulated hosts measure one real filesystem (this test's temporary directory).

Recorded, not live: the mountinfo lines of NFS, CephFS and GlusterFS mounts. This machine's kernel
has no nfs/nfsd/ceph filesystem (/proc/filesystems lists none), and a single-node Ceph with a libvirt
rbd pool needs a running libvirtd with the rbd backend, which these tests may not start; the lines
below have the exact format the kernel writes (fields as in proc(5)), and detection reads only them.
"""

import os

import libvirt
import pytest

from ansible_collections.hypervisor.stats.plugins.module_utils.host_gather import (
    filesystem_shared_id, mount_of, parse_mountinfo, pool_detail, read_disk_source)
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import cluster_totals

from host_resources_run import facts_of, node_uri, run_module

libvirt.registerErrorHandler(lambda ctx, err: None, None)

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
29 22 0:26 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
312 22 0:52 / /var/lib/nova/instances rw,relatime shared:170 - nfs4 192.168.1.10:/export/nova/ rw,vers=4.2,sec=sys
313 22 0:53 / /var/lib/libvirt/images rw,relatime shared:171 - nfs nfs1.example:/srv/images rw,vers=3
400 22 0:60 / /mnt/cephfs rw,relatime shared:200 - ceph 10.0.0.2:6789,10.0.0.1:6789:/ rw,name=admin,acl
401 22 0:61 / /mnt/ceph\\040new rw,relatime shared:201 - ceph admin@5a1e-fsid.cephfs=/vms rw,acl
402 22 0:62 / /mnt/gluster rw,relatime shared:202 - fuse.glusterfs gluster2:/gv0 rw,user_id=0
403 22 8:16 / /srv/local rw,relatime shared:203 - xfs /dev/sdb rw,attr2
404 312 8:32 / /var/lib/nova/instances/_base rw,relatime shared:204 - ext4 /dev/sdc rw
"""


def test_mountinfo_is_parsed_with_escapes():
    mounts = parse_mountinfo(MOUNTINFO)
    assert [m['mount'] for m in mounts][4:6] == ['/mnt/cephfs', '/mnt/ceph new']
    assert mounts[2] == {'mount': '/var/lib/nova/instances', 'fstype': 'nfs4',
                         'source': '192.168.1.10:/export/nova/', 'device': '0:52'}


@pytest.mark.parametrize('path, mount, shared_id', [
    ('/var/lib/nova/instances', '/var/lib/nova/instances', 'nfs:192.168.1.10:/export/nova'),
    ('/var/lib/nova/instances/abc', '/var/lib/nova/instances', 'nfs:192.168.1.10:/export/nova'),
    ('/var/lib/nova/instances/_base/x', '/var/lib/nova/instances/_base', None),   # a local mount on top
    ('/var/lib/nova/instancesX', '/', None),                                       # a prefix is not a parent
    ('/var/lib/libvirt/images', '/var/lib/libvirt/images', 'nfs:nfs1.example:/srv/images'),
    ('/mnt/cephfs/vms', '/mnt/cephfs', 'cephfs:10.0.0.1:6789,10.0.0.2:6789:/'),
    ('/mnt/ceph new', '/mnt/ceph new', 'cephfs:5a1e-fsid.cephfs=/vms'),
    ('/mnt/gluster', '/mnt/gluster', 'glusterfs:gv0'),
    ('/srv/local', '/srv/local', None),
    ('/home', '/', None),
])
def test_detection_on_recorded_mounts(path, mount, shared_id):
    found = mount_of(path, parse_mountinfo(MOUNTINFO))
    assert found['mount'] == mount
    assert filesystem_shared_id(found['fstype'], found['source']) == shared_id


def test_cluster_filesystems_need_their_uuid_and_local_ones_are_never_shared():
    assert filesystem_shared_id('ocfs2', '/dev/mapper/lun1', 'c0ffee') == 'ocfs2:c0ffee'
    assert filesystem_shared_id('gfs2', '/dev/dm-3', None) is None
    assert filesystem_shared_id('gpfs', 'gpfs0') == 'gpfs:gpfs0'
    for fstype in ('ext4', 'xfs', 'btrfs', 'tmpfs', 'zfs', None):
        assert filesystem_shared_id(fstype, 'server:/export') is None


POOL = "<pool type='%s'><name>%s</name><uuid>%s</uuid><source>%s</source></pool>"


@pytest.mark.parametrize('pool_type, source, shared_id', [
    ('rbd', "<host name='mon2' port='6789'/><host name='MON1'/><name>vms</name>", 'rbd:mon1,mon2/vms'),
    ('netfs', "<host name='nfs.example'/><dir path='/export/'/><format type='nfs'/>", 'nfs:nfs.example:/export'),
    ('netfs', "<host name='nfs.example'/><dir path='/export'/><format type='auto'/>", 'nfs:nfs.example:/export'),
    ('netfs', "<host name='g1'/><dir path='gv0'/><format type='glusterfs'/>", 'glusterfs:gv0'),
    ('gluster', "<host name='g2'/><dir path='/'/><name>gv0</name>", 'glusterfs:gv0'),
    ('iscsi', "<host name='san'/><device path='iqn.2013-06.com.example:lun1'/>", 'iscsi:iqn.2013-06.com.example:lun1'),
    ('dir', '', None),
    ('logical', "<device path='/dev/sdb'/><name>vg0</name>", None),
])
def test_pool_identity_comes_from_type_and_source_never_name_or_uuid(pool_type, source, shared_id):
    a = pool_detail(POOL % (pool_type, 'name-on-a', '1' * 32, source))
    b = pool_detail(POOL % (pool_type, 'other-on-b', '2' * 32, source))
    assert a[1] == b[1] == shared_id
    assert a[0]['kind'] == 'pool' and a[0]['pool_type'] == pool_type and a[0]['pool_name'] == 'name-on-a'


@pytest.mark.parametrize('pool, shared_id', [('nfs-a', 'nfs:nfs.example:/export/vms'),
                                             ('ceph-a', 'rbd:mon1.example,mon2.example/vms'),
                                             ('local', None)])
def test_read_disk_source_on_the_test_driver(pool, shared_id):
    conn = libvirt.openReadOnly(node_uri('shared_a.xml'))
    try:
        disk = read_disk_source(conn, storage_pool=pool)
    finally:
        conn.close()
    assert disk['shared_id'] == shared_id
    assert disk['detail']['pool_name'] == pool
    assert disk['detail']['shared_by'] == ('detected' if shared_id else None)
    assert disk['total_bytes'] > 0


def test_declared_identity_wins_and_a_missing_path_is_unavailable(tmp_path):
    conn = libvirt.openReadOnly(node_uri('shared_a.xml'))
    try:
        declared = read_disk_source(conn, storage_pool='local', shared_storage_id='san-lun-7')
        missing = read_disk_source(conn, instances_path=str(tmp_path / 'nope'), shared_storage_id='x')
    finally:
        conn.close()
    assert declared['shared_id'] == 'san-lun-7' and declared['detail']['shared_by'] == 'declared'
    assert missing['shared_id'] is None and missing['detail']['kind'] == 'unavailable'


def test_a_path_reads_its_mount_from_the_given_mountinfo(tmp_path):
    mountinfo = tmp_path / 'mountinfo'
    mountinfo.write_text('22 1 8:1 / / rw - ext4 /dev/sda1 rw\n'
                         '90 22 0:52 / %s rw - nfs4 filer:/vol/nova rw\n' % os.path.realpath(str(tmp_path)))
    disk = read_disk_source(None, instances_path=str(tmp_path), mountinfo=str(mountinfo))
    assert disk['detail'] == {'kind': 'filesystem', 'mount': os.path.realpath(str(tmp_path)), 'fstype': 'nfs4',
                              'source': 'filer:/vol/nova', 'shared_by': 'detected'}
    assert disk['shared_id'] == 'nfs:filer:/vol/nova'
    st = os.statvfs(str(tmp_path))
    assert disk['total_bytes'] == st.f_frsize * st.f_blocks


def test_this_hosts_own_root_filesystem_is_local():
    disk = read_disk_source(None, instances_path='/')
    assert disk['detail']['kind'] == 'filesystem' and disk['detail']['mount'] == '/'
    if disk['detail']['fstype'] not in ('nfs', 'nfs4', 'ceph', 'glusterfs', 'fuse.glusterfs'):
        assert disk['shared_id'] is None


def test_two_test_driver_hosts_on_one_export_and_one_ceph_pool_count_once(tmp_path):
    """The module itself, on two hosts whose pools differ in name and UUID; then cluster_totals."""
    for pool_a, pool_b in (('nfs-a', 'instances'), ('ceph-a', 'rbd-vms')):
        a = facts_of(run_module({'uri': node_uri('shared_a.xml'), 'storage_pool': pool_a}, tmp_path))
        b = facts_of(run_module({'uri': node_uri('shared_b.xml'), 'storage_pool': pool_b}, tmp_path))
        assert a['shared_id'] == b['shared_id'] is not None
        assert a['disk_source_detail']['pool_name'] == pool_a and a['disk_source_detail']['shared_by'] == 'detected'
        totals = cluster_totals({'a': a, 'b': b}, flavors={'f': {'vcpus': 1, 'memory_mb': 1, 'disk_gb': 10}})
        assert totals['count'] == 2
        assert totals['local_gb'] == a['local_gb']
        assert totals['inventory']['DISK_GB']['total'] == a['inventory']['DISK_GB']['total']
        assert totals['vcpus'] == a['vcpus'] + b['vcpus']       # everything else still adds up
        assert totals['shared_storage'][a['shared_id']]['hosts'] == ['a', 'b']
        assert totals['fits']['f'] == min(a['inventory']['DISK_GB']['free'] // 10,
                                          sum(min(h['inventory']['VCPU']['free'], h['inventory']['MEMORY_MB']['free'])
                                              for h in (a, b)))


def test_two_hosts_on_one_real_filesystem_declared_shared_count_it_once(tmp_path):
    """Stand-in for an NFS export mounted by two hosts (no nfs in this kernel): two test-driver hosts
    measure the same real directory with instances_path and declare one shared_storage_id."""
    shared = tmp_path / 'export'
    shared.mkdir()
    hosts = dict((name, facts_of(run_module({'uri': node_uri(node), 'instances_path': str(shared),
                                             'shared_storage_id': 'nfs:filer:/vol/nova'}, tmp_path)))
                 for name, node in (('h1', 'shared_a.xml'), ('h2', 'shared_b.xml')))
    assert hosts['h1']['disk_source_detail']['shared_by'] == 'declared'
    assert hosts['h1']['local_gb'] == hosts['h2']['local_gb']
    totals = cluster_totals(hosts)
    assert totals['local_gb'] == hosts['h1']['local_gb']
    assert totals['inventory']['DISK_GB']['capacity'] == hosts['h1']['inventory']['DISK_GB']['capacity']
    undeclared = dict((name, dict(facts, shared_id=None)) for name, facts in hosts.items())
    assert cluster_totals(undeclared)['local_gb'] == 2 * hosts['h1']['local_gb']
