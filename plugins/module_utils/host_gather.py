# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt I/O for ``host_resources``: read a host into plain data.

Everything returned is plain Python (ints, strings, lists, dicts) so that
``host_capacity.host_facts`` can compute on it without libvirt.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time
import xml.etree.ElementTree as ET

from ansible_collections.hypervisor.stats.plugins.module_utils.domain_xml import parse_domain
from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import CapacityError, parse_cpu_set
from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    DISK_UNAVAILABLE, LOCAL_DISK_TYPES, NODE_CPU_TIMES, is_count)

try:
    import libvirt
except ImportError:  # reported by LibvirtModule via missing_required_lib
    libvirt = None


def version_text(number):
    """libvirt's packed version (major * 1e6 + minor * 1e3 + release) as 'M.m.r'."""
    return '%d.%d.%d' % (number // 1000000, (number // 1000) % 1000, number % 1000)


def _not_supported(exc):
    return exc.get_error_code() in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED)


_UNITS_KIB = {'b': 1.0 / 1024, 'bytes': 1.0 / 1024, 'kib': 1, 'k': 1, 'kb': 1000.0 / 1024,
              'mib': 1024, 'm': 1024, 'mb': 1000.0 ** 2 / 1024,
              'gib': 1024 ** 2, 'g': 1024 ** 2, 'gb': 1000.0 ** 3 / 1024,
              'tib': 1024 ** 3, 't': 1024 ** 3, 'tb': 1000.0 ** 4 / 1024}


def _to_kib(value, unit):
    return int(value * _UNITS_KIB.get((unit or 'KiB').lower(), 1))


def parse_capabilities(xml_text):
    """cpu_info, numa_topology and the list of present CPU ids from capabilities XML.

    cpu_info follows Nova's ``_get_cpu_info``: arch, model, vendor, topology
    (cells, sockets, cores, threads) and the feature names.
    """
    root = ET.fromstring(xml_text)
    cpu = root.find('host/cpu')
    if cpu is None:
        cpu = ET.Element('cpu')
    topology = cpu.find('topology')
    cpu_info = {
        'arch': cpu.findtext('arch'),
        'model': cpu.findtext('model'),
        'vendor': cpu.findtext('vendor'),
        'topology': None,
        # Real drivers list <feature name=.../>; the test driver nests <features><pae/>.
        'features': sorted(set(
            [f.get('name') for f in cpu.findall('feature') if f.get('name')] +
            [f.tag for f in cpu.findall('features/*')])),
    }
    cells, cpu_ids = [], []
    for cell in root.findall('host/topology/cells/cell'):
        ids, siblings = [], set()
        for c in cell.findall('cpus/cpu'):
            ids.append(int(c.get('id')))
            if c.get('siblings'):
                siblings.add(tuple(parse_cpu_set(c.get('siblings'), 'capabilities siblings')))
        ids.sort()
        cpu_ids.extend(ids)
        mem = cell.find('memory')
        memory_kb = _to_kib(int(mem.text), mem.get('unit')) if mem is not None else 0
        cells.append({'id': int(cell.get('id')), 'cpus': ids, 'memory_mb': memory_kb // 1024,
                      'siblings': [list(s) for s in sorted(siblings)]})
    if topology is not None:
        cpu_info['topology'] = dict((k, int(topology.get(k)))
                                    for k in ('sockets', 'cores', 'threads') if topology.get(k))
        cpu_info['topology']['cells'] = len(cells) or 1  # Nova adds the NUMA cell count
    return cpu_info, {'cells': cells}, sorted(cpu_ids)


def _fill_topology_from_nodeinfo(cpu_info, info):
    # nodeinfo: [model, memory MiB, cpus, mhz, nodes, sockets per node, cores, threads].
    # Capabilities' sockets are per NUMA node as well (libvirt fills them from nodeinfo).
    if not cpu_info.get('topology'):
        cpu_info['topology'] = {'cells': info[4], 'sockets': info[5], 'cores': info[6], 'threads': info[7]}
    if not cpu_info.get('arch'):
        cpu_info['arch'] = info[0]


def _disk_sizes(conn, dom, disk):
    """(capacity, allocation) in bytes: from the storage volume when the disk lives in a
    pool (works for inactive domains and every driver), else from the domain's block info.

    Nova stats the file (allocation = st_blocks * 512) and asks qemu-img for the
    virtual size; a dir pool's volume info and blockInfo report exactly these.
    """
    if disk['type'] not in LOCAL_DISK_TYPES:
        return None, None  # not instance storage of this host: not counted, not measured
    if disk['path']:
        try:
            _type, capacity, allocation = conn.storageVolLookupByPath(disk['path']).info()
            return capacity, allocation
        except libvirt.libvirtError:
            pass
    if disk['target']:
        try:
            capacity, allocation, _physical = dom.blockInfo(disk['target'])
            return capacity, allocation
        except libvirt.libvirtError:
            pass
    return None, None


def read_domains(conn):
    """Plain data for every domain, and warnings for those that could not be read.

    Two listings tell active from inactive with no call per domain; then one
    info(), one XMLDesc() and the disk sizes per domain. A domain that vanishes
    meanwhile is skipped silently, one that cannot be read is skipped with a
    warning: one bad guest does not lose the host.
    """
    domains, warnings = [], []
    for flag, active in ((libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE, True),
                         (libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE, False)):
        for dom in conn.listAllDomains(flag):
            try:
                # state, max memory KiB, current memory KiB, vCPUs, CPU time
                _state, max_kb, current_kb, vcpus, _cpu_time = dom.info()
                devices = parse_domain(dom.XMLDesc(0), vcpus, interfaces=False)
                for disk in devices.disks:
                    disk['capacity'], disk['allocation'] = _disk_sizes(conn, dom, disk)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    warnings.append("domain '%s' skipped: %s" % (dom.name(), exc))
                continue
            except CapacityError as exc:
                warnings.append("domain '%s' skipped, unreadable pinning: %s" % (dom.name(), exc))
                continue
            domains.append({
                'name': dom.name(),
                'uuid': dom.UUIDString(),
                'active': active,
                'vcpus': vcpus,
                'memory_kb': max_kb,
                'current_memory_kb': current_kb,
                'disks': devices.disks,
                'pinned_cpus': devices.pinned_cpus,
            })
    return domains, warnings


# Filesystems and libvirt pool types whose storage other hosts may see too (issue 15). A local
# filesystem (ext4, xfs, btrfs, a dir/fs/logical/disk/zfs pool) is never shared.
# (The kernel CephFS client shows as 'ceph' in mountinfo; ceph-fuse's source names no cluster: declare it.)
SHARED_FSTYPES = ('nfs', 'nfs4', 'ceph', 'cephfs', 'glusterfs', 'fuse.glusterfs', 'ocfs2', 'gfs2', 'gpfs')
SHARED_POOL_TYPES = ('rbd', 'netfs', 'gluster', 'iscsi', 'iscsi-direct')
MOUNTINFO = '/proc/self/mountinfo'


def _unescape(field):
    # mountinfo escapes space, tab, newline and backslash as \ooo octal
    out, i = [], 0
    while i < len(field):
        if field[i] == '\\' and len(field[i + 1:i + 4]) == 3 and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return ''.join(out)


def parse_mountinfo(text):
    """[{mount, fstype, source, device}] from /proc/<pid>/mountinfo text, in file order."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if '-' not in fields:
            continue
        sep = fields.index('-')
        if sep < 5 or len(fields) < sep + 3:
            continue
        mounts.append({'mount': _unescape(fields[4]), 'fstype': fields[sep + 1],
                       'source': _unescape(fields[sep + 2]), 'device': fields[2]})
    return mounts


def mount_of(path, mounts):
    """The mount (a ``parse_mountinfo`` item) holding ``path``: the last-mounted longest prefix."""
    best = None
    path = path.rstrip('/') or '/'
    for m in mounts:
        mp = m['mount'].rstrip('/') or '/'
        if path == mp or mp == '/' or path.startswith(mp + '/'):
            if best is None or len(mp) >= len(best['mount'].rstrip('/') or '/'):
                best = m
    return best


def _uuid_of_device(device, by_uuid='/dev/disk/by-uuid'):
    """The filesystem UUID of block device 'major:minor' from /dev/disk/by-uuid, or None."""
    try:
        major, minor = (int(x) for x in device.split(':'))
        for name in sorted(os.listdir(by_uuid)):
            if os.stat(os.path.join(by_uuid, name)).st_rdev == os.makedev(major, minor):
                return name
    except (OSError, ValueError):
        pass
    return None


def filesystem_shared_id(fstype, source, uuid=None):
    """The identity of a network or cluster filesystem, the same on every host that mounts it;
    None for a local filesystem (or a cluster filesystem whose UUID is unknown).

    nfs/nfs4: ``nfs:SERVER:/EXPORT`` (as a libvirt netfs pool of that export); cephfs: the new
    syntax's ``FSID.FSNAME=/PATH`` or the monitors (sorted) and path; glusterfs: the volume name
    (any server of the trusted pool may be named); ocfs2/gfs2: the filesystem UUID; gpfs: the device."""
    fstype = (fstype or '').lower()
    if fstype not in SHARED_FSTYPES:
        return None
    source = source or ''
    if fstype in ('nfs', 'nfs4'):
        server, _sep, export = source.rpartition(':')
        return 'nfs:%s:%s' % (server.strip('[]').lower(), export.rstrip('/') or '/')
    if fstype in ('ceph', 'cephfs'):
        if '@' in source and '=' in source:           # user@fsid.fsname=/path
            return 'cephfs:%s' % source.split('@', 1)[1].rstrip('/')
        monitors, _sep, path = source.rpartition(':')
        return 'cephfs:%s:%s' % (','.join(sorted(m.lower() for m in monitors.split(','))), path.rstrip('/') or '/')
    if fstype in ('glusterfs', 'fuse.glusterfs'):
        return 'glusterfs:%s' % source.rpartition(':')[2].strip('/')
    if fstype == 'gpfs':
        return 'gpfs:%s' % source
    return '%s:%s' % (fstype, uuid) if uuid else None


def pool_detail(xml_text):
    """(detail, shared_id) of a libvirt pool from its XML: type, name and source; the identity comes
    from the type and source only (never the local name or UUID, which differ from host to host)."""
    root = ET.fromstring(xml_text)
    pool_type = root.get('type')
    source = root.find('source')
    if source is None:
        source = ET.Element('source')
    hosts = sorted(h.get('name').lower() for h in source.findall('host') if h.get('name'))
    src_name = source.findtext('name')
    src_dir = source.find('dir').get('path') if source.find('dir') is not None else None
    device = source.find('device').get('path') if source.find('device') is not None else None
    fmt = source.find('format').get('type') if source.find('format') is not None else None
    shared_id = None
    if pool_type == 'rbd' and src_name:
        shared_id = 'rbd:%s/%s' % (','.join(hosts), src_name)
    elif pool_type == 'netfs' and src_dir:
        kind = fmt or 'nfs'
        if kind == 'glusterfs':
            shared_id = 'glusterfs:%s' % src_dir.strip('/')
        elif hosts:
            shared_id = '%s:%s:%s' % ('nfs' if kind == 'auto' else kind, hosts[0], src_dir.rstrip('/') or '/')
    elif pool_type == 'gluster' and src_name:
        shared_id = 'glusterfs:%s%s' % (src_name, (src_dir or '/').rstrip('/'))
    elif pool_type in ('iscsi', 'iscsi-direct') and device:
        shared_id = 'iscsi:%s' % device
    text = None
    if hosts or src_name or src_dir or device:
        text = ','.join(hosts)
        if src_dir:
            text += ':' + src_dir
        if src_name:
            text += ('/' if text else '') + src_name
        if device:
            text += (':' if text else '') + device
    return {'kind': 'pool', 'pool_type': pool_type, 'pool_name': root.findtext('name'), 'source': text}, shared_id


def _with_identity(disk, detail, detected, declared):
    disk['detail'] = detail
    disk['shared_id'] = declared or detected
    detail['shared_by'] = 'declared' if declared else 'detected' if detected else None
    return disk


def read_disk_source(conn, instances_path=None, storage_pool=None, shared_storage_id=None, mountinfo=MOUNTINFO):
    """Total, used and free bytes of the instance storage, with its ``source``, ``detail``
    (kind, mount, fstype and source of a filesystem; kind, pool_type, pool_name and source of a pool)
    and ``shared_id`` (the same on every host that sees the same shared storage, else None).

    A path that cannot be measured gives None figures, a ``source`` starting with
    schema.DISK_UNAVAILABLE and a ``warning``; a pool that cannot be read gives an ``error``
    (reported by ``host_capacity.host_facts`` once the options are checked).

    A libvirt storage pool answers over the connection (so it works for remote
    URIs and the test driver); a path is measured with statvfs on the machine
    running the module, as Nova's get_fs_info does on its compute host, and its
    mount found in ``mountinfo``. ``shared_storage_id`` (declared) wins over detection.
    """
    if storage_pool:
        try:
            pool = conn.storagePoolLookupByName(storage_pool)
            _state, capacity, allocation, available = pool.info()
            detail, detected = pool_detail(pool.XMLDesc(0))
        except libvirt.libvirtError as exc:
            # Raised by host_facts, after the options are checked against the host.
            return {'source': 'pool:%s' % storage_pool,
                    'error': "storage_pool '%s' cannot be read on this host: %s" % (storage_pool, exc)}
        if available > capacity:
            # Some drivers (the test driver among them) compute available as an
            # unsigned capacity - allocation, which wraps once a pool is overfull.
            available = max(capacity - allocation, 0)
        return _with_identity({'source': 'pool:%s' % storage_pool, 'total_bytes': capacity,
                               'used_bytes': allocation, 'free_bytes': available}, detail, detected, shared_storage_id)
    try:
        st = os.statvfs(instances_path)
    except OSError as exc:
        # A host whose instances live elsewhere (Ceph RBD, NFS not mounted yet) has no such
        # directory: its disk is unknown, not zero, and its CPU and memory still count.
        return _with_identity(
            {'source': '%spath:%s' % (DISK_UNAVAILABLE, instances_path),
             'total_bytes': None, 'used_bytes': None, 'free_bytes': None,
             'warning': ("instances_path '%s' cannot be measured: %s; disk figures are null and DISK_GB is "
                         'left out of the inventory (instances on shared storage such as Ceph? then this host '
                         'has no local instance disk; else give instances_path or storage_pool)'
                         % (instances_path, exc.strerror))},
            {'kind': 'unavailable', 'mount': None, 'fstype': None, 'source': None}, None, None)
    try:
        with open(mountinfo) as handle:
            mount = mount_of(os.path.realpath(instances_path), parse_mountinfo(handle.read()))
    except (IOError, OSError):
        mount = None
    mount = mount or {'mount': None, 'fstype': None, 'source': None, 'device': None}
    detected = filesystem_shared_id(mount['fstype'], mount['source'],
                                    _uuid_of_device(mount['device']) if mount['fstype'] in ('ocfs2', 'gfs2') else None)
    detail = {'kind': 'filesystem', 'mount': mount['mount'], 'fstype': mount['fstype'], 'source': mount['source']}
    return _with_identity({'source': 'path:%s' % instances_path,
                           'total_bytes': st.f_frsize * st.f_blocks,
                           'used_bytes': (st.f_blocks - st.f_bfree) * st.f_frsize,
                           'free_bytes': st.f_bavail * st.f_frsize}, detail, detected, shared_storage_id)


def online_cpu_ids(conn, online_count, present):
    """Ids of the online host CPUs.

    nodeinfo's CPU count is authoritative (Nova's get_cpu_count); the CPU map
    gives the ids (Nova's get_online_cpus) when it agrees with that count, else
    the capabilities' cells, else 0..n-1 (the test driver's CPU map is a fixed
    fake that ignores its node XML).
    """
    try:
        _ncpus, online_map, _n = conn.getCPUMap()
        ids = [i for i, up in enumerate(online_map) if up]
    except libvirt.libvirtError as exc:
        if not _not_supported(exc):
            raise
        ids = []
    for candidate in (ids, present):
        if len(candidate) == online_count:
            return candidate
    return list(range(online_count))


def read_node_memory(conn):
    """Node memory stats in KiB (total, free, buffers, cached), or None where the driver has none."""
    try:
        return conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)
    except libvirt.libvirtError as exc:
        if not _not_supported(exc):
            raise
        return None


def read_node_cpu_times(conn):
    """The host's CPU time counters in ns summed over its CPUs (virNodeGetCPUStats: user, kernel,
    idle, iowait), or None where the driver has none. Utilisation is their growth between two
    cycles, computed on the controller, so the module never waits to sample."""
    try:
        stats = conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS)
    except libvirt.libvirtError as exc:
        if not _not_supported(exc):
            raise
        return None
    times = dict((name, stats.get(name)) for name in NODE_CPU_TIMES)
    if not all(is_count(value) for value in times.values()):
        return None
    return times


def gather_host(conn, uri, instances_path=None, storage_pool=None, shared_storage_id=None):
    """Read everything ``host_capacity.host_facts`` needs from one connection."""
    collected_at = int(time.time())
    info = conn.getInfo()
    cpu_info, numa, present = parse_capabilities(conn.getCapabilities())
    _fill_topology_from_nodeinfo(cpu_info, info)
    online = online_cpu_ids(conn, info[2], present)

    domains, warnings = read_domains(conn)
    disk = read_disk_source(conn, instances_path, storage_pool, shared_storage_id)
    if disk.get('warning'):
        warnings.append(disk.pop('warning'))
    try:
        hypervisor_version = conn.getVersion()
    except libvirt.libvirtError:
        hypervisor_version = None
    return {
        'uri': uri,
        'collected_at': collected_at,
        'hostname': conn.getHostname(),
        'hypervisor_type': conn.getType(),
        'hypervisor_version': hypervisor_version,
        'libvirt_version': version_text(conn.getLibVersion()),
        'online_cpus': online,
        'nodeinfo_memory_mb': info[1],
        'node_memory': read_node_memory(conn),
        'cpu_times': read_node_cpu_times(conn),
        'cpu_info': cpu_info,
        'numa_topology': numa,
        'disk': disk,
        'domains': domains,
        'warnings': warnings,
    }
