# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt I/O for ``host_resources``: read a host into plain data.

Everything returned is plain Python (ints, strings, lists, dicts) so that
``capacity.host_facts`` can compute on it without libvirt.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time
import xml.etree.ElementTree as ET

try:
    import libvirt
except ImportError:  # reported by LibvirtModule via missing_required_lib
    libvirt = None


def version_text(number):
    """libvirt's packed version (major * 1e6 + minor * 1e3 + release) as 'M.m.r'."""
    return '%d.%d.%d' % (number // 1000000, (number // 1000) % 1000, number % 1000)


def _not_supported(exc):
    return exc.get_error_code() in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED)


def parse_capabilities(xml_text):
    """cpu_info, numa_topology and the list of present CPU ids from capabilities XML."""
    root = ET.fromstring(xml_text)
    cpu = root.find('host/cpu')
    topology = cpu.find('topology') if cpu is not None else None
    cpu_info = {
        'arch': cpu.findtext('arch') if cpu is not None else None,
        'model': cpu.findtext('model') if cpu is not None else None,
        'vendor': cpu.findtext('vendor') if cpu is not None else None,
        'topology': None,
        'features': sorted(set(
            [f.get('name') for f in cpu.findall('feature') if f.get('name')] +
            [f.tag for f in cpu.findall('features/*')])) if cpu is not None else [],
    }
    if topology is not None:
        cpu_info['topology'] = dict((k, int(topology.get(k)))
                                    for k in ('sockets', 'cores', 'threads') if topology.get(k))
    cells, cpu_ids = [], []
    for cell in root.findall('host/topology/cells/cell'):
        ids = sorted(int(c.get('id')) for c in cell.findall('cpus/cpu'))
        cpu_ids.extend(ids)
        mem = cell.find('memory')
        memory_kb = int(mem.text) if mem is not None else 0
        if mem is not None and mem.get('unit', 'KiB') != 'KiB':
            memory_kb = _to_kib(memory_kb, mem.get('unit'))
        cells.append({'id': int(cell.get('id')), 'cpus': ids, 'memory_mb': memory_kb // 1024})
    return cpu_info, {'cells': cells}, sorted(cpu_ids)


_UNITS_KIB = {'b': 1.0 / 1024, 'bytes': 1.0 / 1024, 'kib': 1, 'k': 1, 'mib': 1024, 'm': 1024,
              'gib': 1024 ** 2, 'g': 1024 ** 2, 'tib': 1024 ** 3, 't': 1024 ** 3}


def _to_kib(value, unit):
    return int(value * _UNITS_KIB.get((unit or 'KiB').lower(), 1))


def _fill_topology_from_nodeinfo(cpu_info, info):
    # nodeinfo: [model, memory MiB, cpus, mhz, nodes, sockets per node, cores, threads]
    if not cpu_info.get('topology'):
        cpu_info['topology'] = {'sockets': info[4] * info[5], 'cores': info[6], 'threads': info[7]}
    if not cpu_info.get('arch'):
        cpu_info['arch'] = info[0]


def domain_devices(xml_text):
    """Disks (device='disk' only) and vCPU pinning from a domain's XML."""
    root = ET.fromstring(xml_text)
    disks = []
    for disk in root.findall('devices/disk'):
        if disk.get('device', 'disk') != 'disk':
            continue  # CD-ROMs, floppies and LUN pass-through hold no instance data
        target = disk.find('target')
        source = disk.find('source')
        driver = disk.find('driver')
        disks.append({
            'target': target.get('dev') if target is not None else None,
            'type': disk.get('type', 'file'),
            'format': driver.get('type') if driver is not None else None,
            'path': (source.get('file') or source.get('dev')) if source is not None else None,
        })
    pinned = set()
    for pin in root.findall('cputune/vcpupin'):
        cpuset = pin.get('cpuset')
        if cpuset:
            pinned.update(_expand_cpuset(cpuset))
    return disks, sorted(pinned)


def _expand_cpuset(text):
    cpus, excluded = set(), set()
    for item in text.split(','):
        item = item.strip()
        if item.startswith('^'):
            excluded.add(int(item[1:]))
        elif '-' in item:
            lo, hi = item.split('-', 1)
            cpus.update(range(int(lo), int(hi) + 1))
        elif item:
            cpus.add(int(item))
    return cpus - excluded


def _disk_sizes(conn, dom, disk):
    """(capacity, allocation) in bytes: from the storage volume when the disk lives in a
    pool (works for inactive domains and every driver), else from the domain's block info."""
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


def read_domain(conn, dom, active):
    """Plain data for one domain, or None when it vanished while being read."""
    try:
        _state, max_kb, _cur_kb, vcpus, _cpu_time = dom.info()
        disks, pinned = domain_devices(dom.XMLDesc(0))
        for disk in disks:
            disk['capacity'], disk['allocation'] = _disk_sizes(conn, dom, disk)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise
    return {
        'name': dom.name(),
        'active': active,
        'vcpus': vcpus,
        'memory_kb': max_kb,
        'disks': disks,
        'pinned_cpus': pinned,
    }


def read_disk_source(conn, instances_path=None, storage_pool=None):
    """Total, used and free bytes of the instance storage.

    A libvirt storage pool answers over the connection (so it works for remote
    URIs and the test driver); a path is measured with statvfs on the machine
    running the module, as Nova does on its compute host.
    """
    if storage_pool:
        try:
            pool = conn.storagePoolLookupByName(storage_pool)
        except libvirt.libvirtError as exc:
            raise LookupError("storage_pool '%s' not found on this host: %s" % (storage_pool, exc))
        _state, capacity, allocation, available = pool.info()
        return {'source': 'pool:%s' % storage_pool, 'total_bytes': capacity,
                'used_bytes': allocation, 'free_bytes': available}
    try:
        st = os.statvfs(instances_path)
    except OSError as exc:
        raise LookupError("instances_path '%s' cannot be measured: %s" % (instances_path, exc.strerror))
    return {'source': 'path:%s' % instances_path,
            'total_bytes': st.f_frsize * st.f_blocks,
            'used_bytes': (st.f_blocks - st.f_bfree) * st.f_frsize,
            'free_bytes': st.f_bavail * st.f_frsize}


def online_cpu_ids(conn, online_count, present):
    """Ids of the online host CPUs.

    nodeinfo's CPU count is authoritative (Nova uses it); the CPU map gives the
    ids when it agrees with that count, else the capabilities' cells, else 0..n-1
    (the test driver's CPU map is a fixed fake that ignores its node XML).
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


def gather_host(conn, uri, instances_path=None, storage_pool=None):
    """Read everything ``capacity.host_facts`` needs from one connection."""
    collected_at = int(time.time())
    info = conn.getInfo()
    cpu_info, numa, present = parse_capabilities(conn.getCapabilities())
    _fill_topology_from_nodeinfo(cpu_info, info)
    online = online_cpu_ids(conn, info[2], present)
    try:
        node_memory = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)
    except libvirt.libvirtError as exc:
        if not _not_supported(exc):
            raise
        node_memory = None
    # nodeinfo rounds memory down to MiB; node memory stats are exact.
    memory_kb = (node_memory or {}).get('total') or info[1] * 1024

    # Two listings tell active from inactive exactly, with no call per domain.
    domains = []
    for flag, active in ((libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE, True),
                         (libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE, False)):
        for dom in conn.listAllDomains(flag):
            record = read_domain(conn, dom, active)
            if record is not None:
                domains.append(record)

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
        'memory_kb': memory_kb,
        'node_memory': node_memory,
        'cpu_info': cpu_info,
        'numa_topology': numa,
        'disk': read_disk_source(conn, instances_path, storage_pool),
        'domains': domains,
    }
