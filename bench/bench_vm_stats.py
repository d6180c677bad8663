#!/usr/bin/env python3
"""Benchmark of vm_stats (issue 3): one bulk call against the C floor and the per-domain loop.

Four ways to read the same domains, in one run:

* ``vm_stats``: the module's collection work, in-process (connection, host name,
  listing, bulk stats, XML of active domains with disks, per-VM dicts and
  facts, the contention signals of issue 14 included); the Python interpreter
  and Ansible start-up are left out.
* ``virsh domstats``: the same groups with ``--nowait``, the C floor (its wall
  time includes virsh's own start, measured apart as ``virsh start``).
* raw floor: libvirt-python's ``getAllDomainStats`` with the module's groups and
  flags (NOWAIT) on the same domains, nothing done with its answer; on its own
  connection where the module opens one (so both pay the same open), and the
  call alone on an open connection.
* per-domain loop: what CloudStack's KVM agent and most exporters do -
  ``info`` for every domain, then for active ones the XML (device names),
  ``blockStats`` per disk, ``interfaceStats`` per NIC and ``memoryStats``.

Domain sets: the real running guests alone; those plus P paused QEMU
processes (real monitors, disks, NICs and balloons, no guest code); those plus N
defined (stopped) domains on the QEMU driver; and N domains of libvirt's test
driver. One machine cannot run 1000 QEMUs, so the 1000 on the QEMU driver are
stopped ones. Each number
is the median of REPEAT runs. The QEMU part starts libvirtd itself when none is
running (tests/integration/libvirtd.py) and removes everything it created.

    .venv/bin/python bench/bench_vm_stats.py [--domains 1000] [--paused 30] [--repeat 5] [--guests 2]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, '.collections'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

import libvirt  # noqa: E402

from ansible_collections.hypervisor.stats.plugins.module_utils.libvirt_client import open_read_only  # noqa: E402
from ansible_collections.hypervisor.stats.plugins.module_utils.domain_xml import parse_domain  # noqa: E402
from ansible_collections.hypervisor.stats.plugins.module_utils.vm_facts import vm_stats_facts  # noqa: E402
from ansible_collections.hypervisor.stats.plugins.module_utils.vm_gather import (  # noqa: E402
    bulk_groups, collect, host_name)

ALL_STATES = ['running', 'paused', 'shutoff', 'crashed', 'pmsuspended', 'blocked', 'shutdown', 'nostate']
VIRSH_GROUPS = ['--state', '--cpu-total', '--balloon', '--vcpu', '--interface', '--block', '--nowait']
BENCH_PREFIX = 'hs-bench-'

libvirt.registerErrorHandler(lambda ctx, err: None, None)


def module_work(uri, states, conn=None):
    """What vm_stats' main() does between argument parsing and exit_json; with ``conn``,
    on that open connection (the connection's open and close left out)."""
    own = conn is None
    conn = open_read_only(uri) if own else conn
    try:
        hostname = host_name(conn)
        result = collect(conn, states, timeout=60)
        facts = vm_stats_facts(hostname, uri, int(time.time()), result.vms)
    finally:
        if own:
            conn.close()
    return facts


def virsh_domstats(uri, active_only):
    cmd = ['virsh', '-r', '-c', uri, 'domstats'] + VIRSH_GROUPS + (['--list-active'] if active_only else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return out.count("Domain: '")


def raw_floor(uri, active_only, conn=None):
    """One getAllDomainStats call with the module's groups (those of active domains, a superset of
    the stopped ones') and flags (NOWAIT), on the same domains, nothing done with the answer; with
    ``conn``, on that open connection."""
    own = conn is None
    conn = open_read_only(uri) if own else conn
    try:
        flags = getattr(libvirt, 'VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT', 0)
        if active_only:
            flags |= libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE
        return len(conn.getAllDomainStats(bulk_groups(True), flags))
    finally:
        if own:
            conn.close()


def virsh_start(uri):
    subprocess.run(['virsh', '-r', '-c', uri, 'uri'], capture_output=True, check=True)


def per_domain_loop(uri, active_only, every_call=True, conn=None):
    """The per-domain loop: per VM info, the XML (device names), blockStats per disk,
    interfaceStats per NIC and memoryStats. ``every_call=False`` stops at info for
    stopped VMs (their other calls only answer "domain is not running")."""
    own = conn is None
    conn = open_read_only(uri) if own else conn
    try:
        flags = libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE if active_only else 0
        count = 0
        for dom in conn.listAllDomains(flags):
            dom.info()
            count += 1
            if dom.ID() < 0 and not every_call:
                continue
            devices = parse_domain(dom.XMLDesc(0))
            calls = [(dom.blockStats, d['target']) for d in devices.disks]
            calls += [(dom.interfaceStats, dev) for dev in devices.interfaces]
            calls.append((dom.memoryStats, None))
            for call, arg in calls:
                try:
                    call(arg) if arg is not None else call()
                except libvirt.libvirtError:
                    pass   # stopped VM: "domain is not running"
    finally:
        if own:
            conn.close()
    return count


def paused_qemu_xml(index, disk):
    """A real QEMU started paused: monitor, disk, NIC and balloon, but no guest code running."""
    return '''<domain type='qemu'>
  <name>%spaused-%03d</name>
  <memory unit='MiB'>16</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/>
      <source file='%s'/><target dev='vda' bus='virtio'/><readonly/></disk>
    <interface type='ethernet'><model type='virtio'/></interface>
    <memballoon model='virtio'><stats period='10'/></memballoon>
  </devices>
</domain>''' % (BENCH_PREFIX, index, disk)


def inactive_domain_xml(index):
    return '''<domain type='qemu'>
  <name>%s%04d</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/>
      <source file='/var/lib/libvirt/images/%s%04d.raw'/><target dev='vda' bus='virtio'/></disk>
    <interface type='ethernet'><target dev='hsb%04d'/><model type='virtio'/></interface>
  </devices>
</domain>''' % (BENCH_PREFIX, index, BENCH_PREFIX, index, index)


def test_node_xml(count):
    """A test-driver host with ``count`` running domains, each with a disk, a CD-ROM and a NIC."""
    node = ET.Element('node')
    cpu = ET.SubElement(node, 'cpu')
    for tag, value in (('mhz', '2600'), ('model', 'x86_64'), ('nodes', '1'), ('sockets', '2'),
                       ('cores', '32'), ('threads', '2'), ('active', '128')):
        ET.SubElement(cpu, tag).text = value
    ET.SubElement(node, 'memory').text = str(1024 * 1024 * 1024)
    for i in range(count):
        dom = ET.SubElement(node, 'domain', type='test')
        ET.SubElement(dom, 'name').text = 'vm-%04d' % i
        ET.SubElement(dom, 'memory', unit='MiB').text = '1024'
        ET.SubElement(dom, 'vcpu').text = '2'
        os_el = ET.SubElement(dom, 'os')
        ET.SubElement(os_el, 'type').text = 'hvm'
        devices = ET.SubElement(dom, 'devices')
        disk = ET.SubElement(devices, 'disk', type='file', device='disk')
        ET.SubElement(disk, 'source', file='/var/lib/libvirt/images/vm-%04d.qcow2' % i)
        ET.SubElement(disk, 'target', dev='vda', bus='virtio')
        cdrom = ET.SubElement(devices, 'disk', type='file', device='cdrom')
        ET.SubElement(cdrom, 'target', dev='sda', bus='sata')
        nic = ET.SubElement(devices, 'interface', type='network')
        ET.SubElement(nic, 'source', network='default')
        ET.SubElement(devices, 'memballoon', model='virtio')
    return ET.tostring(node, encoding='unicode')


def measure(label, uri, states, active_only, repeat, rows, conn=None):
    """Median seconds of each way, measured in interleaved rounds so that the load of
    a shared machine falls on all of them alike. With ``conn`` the module and the
    loop use that open connection (for the test driver, whose open defines every
    domain of its file in-process); virsh always opens its own."""
    call_conn = conn or open_read_only(uri)
    ways = [
        ('module', lambda: module_work(uri, states, conn)),
        ('virsh', lambda: virsh_domstats(uri, active_only)),
        ('virsh_start', lambda: virsh_start(uri)),
        ('floor', lambda: raw_floor(uri, active_only, conn)),
        ('floor_call', lambda: raw_floor(uri, active_only, call_conn)),
        ('loop', lambda: per_domain_loop(uri, active_only, conn=conn)),
        ('loop_active', lambda: per_domain_loop(uri, active_only, every_call=False, conn=conn)),
    ]
    counts = {'module': len(module_work(uri, states, conn)['vms']), 'virsh': virsh_domstats(uri, active_only),
              'loop': per_domain_loop(uri, active_only, conn=conn), 'floor': raw_floor(uri, active_only, conn)}
    times = dict((name, []) for name, _f in ways)
    try:
        for _round in range(repeat):
            for name, func in ways:
                started = time.perf_counter()
                func()
                times[name].append(time.perf_counter() - started)
    finally:
        if conn is None:
            call_conn.close()
    row = dict((name, statistics.median(values)) for name, values in times.items())
    row.update(label=label, counts=counts)
    rows.append(row)
    print_table([row], header=len(rows) == 1)


def print_table(rows, header=True):
    if header:
        print('| domains | VMs (module / virsh / floor / loop) | vm_stats | virsh domstats (virsh start) | '
              'raw floor (call alone) | per-domain loop | loop, info only when stopped | vm_stats / virsh | '
              'vm_stats / floor | loop / vm_stats | loop info-only / vm_stats |')
        print('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for r in rows:
        c = r['counts']
        print('| %s | %d / %d / %d / %d | %.1f ms | %.1f ms (%.1f ms) | %.1f ms (%.1f ms) | %.1f ms | %.1f ms | '
              '%.2f× | %.2f× | %.1f× | %.1f× |' % (
                  r['label'], c['module'], c['virsh'], c['floor'], c['loop'], r['module'] * 1e3, r['virsh'] * 1e3,
                  r['virsh_start'] * 1e3, r['floor'] * 1e3, r['floor_call'] * 1e3, r['loop'] * 1e3,
                  r['loop_active'] * 1e3, r['module'] / r['virsh'], r['module'] / r['floor'],
                  r['loop'] / r['module'], r['loop_active'] / r['module']))
    sys.stdout.flush()


def bench_qemu(args, rows):
    from libvirtd import Libvirtd, URI
    from guests import GuestPool, IMAGES_DIR
    daemon = Libvirtd().start()
    rw = libvirt.open(URI)
    pool, defined, paused = None, [], []
    paused_disk = os.path.join(IMAGES_DIR, BENCH_PREFIX + 'paused.raw')
    try:
        for dom in rw.listAllDomains(0):
            if dom.name().startswith(BENCH_PREFIX):   # left over from an interrupted run
                if dom.isActive():
                    dom.destroy()
                if dom.isPersistent():
                    dom.undefine()
        pool = GuestPool(rw)
        pool.boot(args.guests)
        time.sleep(3)   # let the guests' traffic loops run
        running = len(rw.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
        measure('qemu:///system: %d running guests (%d booted here)' % (running, args.guests), URI,
                ['running', 'paused'], True, args.repeat, rows)
        with open(paused_disk, 'wb') as f:
            f.truncate(1024 * 1024)
        for i in range(args.paused):
            paused.append(rw.createXML(paused_qemu_xml(i, paused_disk), libvirt.VIR_DOMAIN_START_PAUSED))
        measure('qemu:///system: %d running + %d paused QEMUs' % (running, args.paused), URI,
                ['running', 'paused'], True, args.repeat, rows)
        for i in range(args.domains):
            defined.append(rw.defineXML(inactive_domain_xml(i)))
        measure('qemu:///system: %d active + %d defined (stopped)' % (running + args.paused, args.domains),
                URI, ALL_STATES, False, args.repeat, rows)
    finally:
        for dom in paused:
            try:
                dom.destroy()
            except libvirt.libvirtError:
                pass
        for dom in defined:
            try:
                dom.undefine()
            except libvirt.libvirtError:
                pass
        if os.path.exists(paused_disk):
            os.unlink(paused_disk)
        if pool is not None:
            pool.cleanup()
        rw.close()
        daemon.stop()


def bench_test_driver(args, rows):
    with tempfile.NamedTemporaryFile('w', suffix='.xml', prefix='vm_stats_bench_') as node:
        node.write(test_node_xml(args.domains))
        node.flush()
        uri = 'test://' + node.name
        conn = open_read_only(uri)
        try:
            measure('test driver: %d running (connection open left out but for virsh)' % args.domains, uri,
                    ['running', 'paused'], True, args.repeat, rows, conn=conn)
        finally:
            conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--domains', type=int, default=1000)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--guests', type=int, default=2)
    parser.add_argument('--paused', type=int, default=30, help='paused QEMU processes (about 75 MiB each)')
    parser.add_argument('--skip-qemu', action='store_true', help='test driver only (no libvirtd, no guests)')
    args = parser.parse_args()
    rows = []
    if not args.skip_qemu:
        bench_qemu(args, rows)
    bench_test_driver(args, rows)
    print('\nvm_stats benchmark: median of %d interleaved runs, %d CPUs, libvirt %s, load average %s' % (
        args.repeat, os.cpu_count(), libvirt.getVersion(), ' '.join('%.1f' % x for x in os.getloadavg())))
    print_table(rows)


if __name__ == '__main__':
    main()
