"""host_resources against a real libvirtd with the QEMU driver.

Compared with what virsh says (nodeinfo, capabilities, nodememstats, version,
domstats) and with an independent Nova-style computation of the disk
over-commitment (qemu-img info for virtual sizes, stat for allocated bytes).
A few QEMU domains with qcow2 and raw disks made by qemu-img are defined, not
started. Other tests may run guests on the same libvirtd meanwhile, so figures
that depend on running guests are read before and after the module run and
compared only when nothing changed in between (retried a few times).
"""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.hypervisor.stats.plugins.plugin_utils.reclaimable import reclaimable, stopped_since

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, '.collections')
MODULE = 'ansible_collections.hypervisor.stats.plugins.modules.host_resources'
GIB = 1024 ** 3
PREFIX = 'hr-test-%d-' % os.getpid()

libvirt = pytest.importorskip('libvirt')
libvirt.registerErrorHandler(lambda ctx, err: None, None)


def virsh(uri, *args):
    return subprocess.run(['virsh', '-r', '-c', uri] + list(args), capture_output=True, text=True,
                          check=True, timeout=60).stdout


def run_module(args, workdir):
    path = os.path.join(str(workdir), 'args.json')
    with open(path, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, f)
    proc = subprocess.run([sys.executable, '-m', MODULE, path], env=dict(os.environ, PYTHONPATH=COLLECTIONS),
                          capture_output=True, text=True, timeout=120)
    assert 'Traceback' not in proc.stdout + proc.stderr, proc.stderr
    result = json.loads(proc.stdout)
    assert not result.get('failed'), result.get('msg')
    assert result['changed'] is False
    return result['ansible_facts']['host_resources']


def colon_fields(text):
    return dict((k.strip(), v.strip()) for k, _, v in (line.partition(':') for line in text.splitlines()) if v)


def active_domain_stats(uri):
    """{name: (vcpus, max memory KiB)} of the active domains, from one `virsh domstats`."""
    stats, name = {}, None
    for line in virsh(uri, 'domstats', '--list-active', '--vcpu', '--balloon').splitlines():
        line = line.strip()
        if line.startswith('Domain:'):
            name = line.split("'")[1]
            stats[name] = {}
        elif '=' in line and name:
            key, _, value = line.partition('=')
            stats[name][key] = value
    return dict((n, (int(s['vcpu.current']), int(s['balloon.maximum']))) for n, s in stats.items())


def node_memory(uri):
    kib = dict((k, int(v.split()[0])) for k, v in colon_fields(virsh(uri, 'nodememstats')).items())
    return kib['total'] // 1024, kib['total'] // 1024 - (kib['free'] + kib['buffers'] + kib['cached']) // 1024


def nova_over_commit(domains):
    """Nova's _get_disk_over_committed_size_total, done by hand: for the domains' file-backed
    qcow2/ploop disks, qemu-img's virtual size minus the bytes allocated on disk."""
    total = 0
    for dom in domains:
        try:
            root = ET.fromstring(dom.XMLDesc(0))
        except libvirt.libvirtError:
            continue  # vanished meanwhile
        for disk in root.findall('devices/disk'):
            driver, source = disk.find('driver'), disk.find('source')
            if disk.get('type') != 'file' or driver is None or driver.get('type') not in ('qcow2', 'ploop'):
                continue
            path = source.get('file') if source is not None else None
            if not path or not os.path.exists(path):
                continue  # Nova skips disks removed meanwhile
            info = json.loads(subprocess.run(['qemu-img', 'info', '-U', '--output=json', path],
                                             capture_output=True, text=True, check=True).stdout)
            total += info['virtual-size'] - os.stat(path).st_blocks * 512
    return total


def consistent(uri, conn, read):
    """Run ``read`` between two snapshots of the active domains; retry while other tests change them."""
    for _attempt in range(6):
        before = active_domain_stats(uri)
        over_before = nova_over_commit(conn.listAllDomains())
        result = read()
        if active_domain_stats(uri) == before:
            return result, before, over_before, nova_over_commit(conn.listAllDomains())
    pytest.fail('the set of active domains kept changing under the test')


@pytest.fixture(scope='module')
def conn(libvirtd):
    c = libvirt.openReadOnly(libvirtd)
    try:
        yield c
    finally:
        c.close()


def _domain_xml(name, vcpus, disks):
    devices = []
    for index, (path, fmt) in enumerate(disks):
        driver = "<driver name='qemu' type='%s'/>" % fmt if fmt else ''
        devices.append("<disk type='file' device='disk'>%s<source file='%s'/><target dev='vd%s' bus='virtio'/></disk>"
                       % (driver, path, 'abcdefgh'[index]))
    devices.append("<disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='sda' bus='sata'/>"
                   "<readonly/></disk>")
    return ("<domain type='qemu'><name>%s</name><memory unit='MiB'>128</memory><vcpu>%d</vcpu>"
            "<os><type arch='x86_64'>hvm</type></os><devices>%s</devices></domain>"
            % (name, vcpus, ''.join(devices)))


@pytest.fixture(scope='module')
def defined_domains(libvirtd, tmp_path_factory):
    """Three shut-off QEMU domains with qcow2 (sparse, fully allocated, format-less) and raw disks."""
    images = tmp_path_factory.mktemp('hr-images')
    os.chmod(str(images), 0o755)

    def image(name, fmt, size, *options):
        path = str(images / name)
        subprocess.run(['qemu-img', 'create', '-q', '-f', fmt] + list(options) + [path, size], check=True)
        return path

    domains = {
        PREFIX + 'sparse': (48, [(image('sparse.qcow2', 'qcow2', '10G'), 'qcow2'),
                                 (image('data.raw', 'raw', '2G'), 'raw')]),
        PREFIX + 'falloc': (2, [(image('falloc.qcow2', 'qcow2', '256M', '-o', 'preallocation=falloc'), 'qcow2')]),
        PREFIX + 'noformat': (1, [(image('noformat.qcow2', 'qcow2', '5G'), None)]),
    }
    rw = libvirt.open(libvirtd)
    defined = []
    try:
        for name, (vcpus, disks) in domains.items():
            defined.append(rw.defineXML(_domain_xml(name, vcpus, disks)))
        yield {'dir': str(images), 'names': sorted(domains)}
    finally:
        for dom in defined:
            try:
                dom.undefine()
            except libvirt.libvirtError:
                pass
        rw.close()


def test_host_matches_virsh(libvirtd, conn, tmp_path):
    uri = libvirtd
    total_before, used_before = node_memory(uri)
    facts, _before, _o1, _o2 = consistent(uri, conn, lambda: run_module({'uri': uri}, tmp_path))
    total_after, used_after = node_memory(uri)

    nodeinfo = colon_fields(virsh(uri, 'nodeinfo'))
    assert facts['vcpus'] == int(nodeinfo['CPU(s)'])
    assert facts['inventory']['VCPU']['total'] == int(nodeinfo['CPU(s)'])

    # The QEMU driver has node memory stats: both figures come from them.
    assert facts['memory_mb_used_source'] == 'node_memory_stats'
    assert facts['memory_mb'] == total_before == total_after
    # Other processes allocate meanwhile: bracket the module's figure, with 256 MiB of slack
    # (test_host_capacity.py checks the formula exactly).
    assert min(used_before, used_after) - 256 <= facts['memory_mb_used'] <= max(used_before, used_after) + 256
    assert facts['free_ram_mb'] == facts['memory_mb'] - facts['memory_mb_used']

    caps = ET.fromstring(virsh(uri, 'capabilities'))
    cpu = caps.find('host/cpu')
    topology = cpu.find('topology')
    assert facts['cpu_info']['arch'] == cpu.findtext('arch')
    assert facts['cpu_info']['model'] == cpu.findtext('model')
    assert facts['cpu_info']['vendor'] == cpu.findtext('vendor')
    assert facts['cpu_info']['topology'] == {
        'sockets': int(topology.get('sockets')), 'cores': int(topology.get('cores')),
        'threads': int(topology.get('threads')), 'cells': int(nodeinfo['NUMA cell(s)'])}
    assert facts['cpu_info']['features'] == sorted(f.get('name') for f in cpu.findall('feature'))
    cells = caps.findall('host/topology/cells/cell')
    assert [c['id'] for c in facts['numa_topology']['cells']] == [int(c.get('id')) for c in cells]
    for fact_cell, cell in zip(facts['numa_topology']['cells'], cells):
        assert fact_cell['cpus'] == sorted(int(c.get('id')) for c in cell.findall('cpus/cpu'))
        assert fact_cell['memory_mb'] == int(cell.findtext('memory')) // 1024
    assert sum(len(c['cpus']) for c in facts['numa_topology']['cells']) == facts['vcpus']

    version = colon_fields(virsh(uri, 'version', '--daemon'))
    major, minor, release = (int(x) for x in version['Running hypervisor'].split()[-1].split('.'))
    assert facts['hypervisor_type'] == 'QEMU'
    assert facts['hypervisor_version'] == major * 1000000 + minor * 1000 + release
    assert facts['libvirt_version'] == version['Running against daemon']
    assert facts['hypervisor_hostname'] == virsh(uri, 'hostname').strip()


def test_defined_domains_and_disk_over_commit(libvirtd, conn, defined_domains, tmp_path):
    uri = libvirtd
    facts, active, over_before, over_after = consistent(
        uri, conn, lambda: run_module({'uri': uri, 'instances_path': defined_domains['dir']}, tmp_path))

    # Shut-off domains use no vCPUs or memory: only the active ones count.
    assert not set(defined_domains['names']) & set(active)
    assert facts['running_vms'] == len(active)
    assert facts['vcpus_used'] == sum(v for v, _m in active.values())
    assert facts['inventory']['MEMORY_MB']['used'] == sum(m for _v, m in active.values()) // 1024

    # Nova: free space minus the over-commitment of every domain's (active or not) qcow2 disks.
    st = os.statvfs(defined_domains['dir'])
    free_gb = st.f_bavail * st.f_frsize // GIB
    ours = nova_over_commit_of(conn, defined_domains['names'])
    assert ours >= 9 * GIB  # the sparse 10G qcow2; the raw and format-less disks count nothing
    expected = [(free_gb * GIB - over) // GIB for over in (over_before, over_after)]
    # Guests of other tests write to their disks, and this filesystem is shared: 1 GiB of slack.
    assert min(expected) - 1 <= facts['disk_available_least'] <= max(expected) + 1
    assert facts['local_gb'] == st.f_blocks * st.f_frsize // GIB
    assert facts['disk_source'] == 'path:%s' % defined_domains['dir']


def test_shut_off_domains_with_a_disk_come_out_as_stopped_holding_capacity(libvirtd, conn, defined_domains, tmp_path):
    facts = run_module({'uri': libvirtd, 'instances_path': defined_domains['dir']}, tmp_path)
    claims = dict((c['name'], dict(c, uuid=uuid)) for uuid, c in facts['stopped_allocations'].items())
    for name in defined_domains['names']:
        dom = conn.lookupByName(name)
        assert not dom.isActive()
        paths = [d.find('source').get('file') for d in ET.fromstring(dom.XMLDesc(0)).findall('devices/disk')
                 if d.get('device') == 'disk']
        # The bytes stat says its disks take (Nova's allocation); the CD-ROM is no local disk of it.
        assert claims[name]['disk_bytes'] == sum(os.stat(p).st_blocks * 512 for p in paths), name
        assert claims[name]['resources']['VCPU'] == dom.info()[3] and claims[name]['resources']['MEMORY_MB'] == 128
    assert not set(claims) & set(d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))

    # Through the controller's logic, as the cycle runs it: each is stopped-holding-capacity, its disk counted.
    hosts = {'hv': facts}
    since, warnings = stopped_since(None, hosts, now=1800000000)
    result = reclaimable({}, hosts=hosts, stopped=since, now=1800000000 + 2 * 86400)
    stopped = dict((vm['name'], vm) for vm in result['vms'] if vm['category'] == 'stopped')
    assert warnings == [] and set(defined_domains['names']) <= set(stopped)
    for name in defined_domains['names']:
        assert stopped[name]['stopped_days'] == 2.0 and stopped[name]['DISK_GB'] == round(
            claims[name]['disk_bytes'] / GIB, 1)
    assert result['cluster']['stopped']['DISK_GB'] >= sum(stopped[n]['DISK_GB'] for n in defined_domains['names']) - 0.2


def nova_over_commit_of(conn, names):
    return nova_over_commit([conn.lookupByName(n) for n in names])


def test_falloc_qcow2_counts_slightly_negative(conn, defined_domains):
    # A fully allocated qcow2 holds its data plus metadata: Nova's over-commit for it is below 0,
    # unclamped. Guard the fixture, which the over-commit comparison above relies on.
    assert nova_over_commit_of(conn, [PREFIX + 'falloc']) < 0


def test_storage_pool_as_instance_storage(libvirtd, conn, defined_domains, tmp_path):
    uri = libvirtd
    name = PREFIX + 'pool'
    rw = libvirt.open(libvirtd)
    pool = rw.storagePoolCreateXML(
        "<pool type='dir'><name>%s</name><target><path>%s</path></target></pool>" % (name, defined_domains['dir']), 0)
    try:
        pool.refresh(0)
        facts, _active, over_before, over_after = consistent(
            uri, conn, lambda: run_module({'uri': uri, 'storage_pool': name}, tmp_path))
        _state, capacity, allocation, available = pool.info()
        # The volumes of the pool now give the disk sizes; they are what qemu-img and stat say.
        for vol_name in pool.listVolumes():
            vol = pool.storageVolLookupByName(vol_name)
            if vol_name.endswith('.qcow2'):
                info = json.loads(subprocess.run(['qemu-img', 'info', '-U', '--output=json', vol.path()],
                                                 capture_output=True, text=True, check=True).stdout)
                assert vol.info()[1] == info['virtual-size']
                assert vol.info()[2] == os.stat(vol.path()).st_blocks * 512
    finally:
        pool.destroy()
        rw.close()
    assert facts['disk_source'] == 'pool:%s' % name
    assert facts['local_gb'] == capacity // GIB
    assert abs(facts['local_gb_used'] - allocation // GIB) <= 1
    expected = [(available // GIB * GIB - over) // GIB for over in (over_before, over_after)]
    assert min(expected) - 1 <= facts['disk_available_least'] <= max(expected) + 1
