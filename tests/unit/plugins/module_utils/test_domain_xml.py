"""domain_xml.parse_domain, the one reader of domain XML, against ElementTree.

It cuts the few elements it needs out with regular expressions; every test here
compares it with a real XML parser, on hand-written awkward XML and on every
domain libvirt's test driver writes for the test hosts.
"""

import os
import xml.etree.ElementTree as ET

import libvirt
import pytest

from ansible_collections.hypervisor.stats.plugins.module_utils.domain_xml import parse_domain
from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import CapacityError

NODES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'nodes')
NODE_FILES = ['host_numa_smt.xml', 'host_small.xml', 'host_many.xml', 'vm_stats_node.xml']

libvirt.registerErrorHandler(lambda ctx, err: None, None)


def node_uri(name):
    return 'test://' + os.path.join(NODES, name)


def reference_devices(xml_text, vcpus):
    """parse_domain's disks and pinning done the slow, obvious way with ElementTree."""
    root = ET.fromstring(xml_text)
    disks = []
    for disk in root.findall('devices/disk'):
        if disk.get('device', 'disk') != 'disk':
            continue
        source, target, driver = disk.find('source'), disk.find('target'), disk.find('driver')
        disks.append({'target': target.get('dev') if target is not None else None,
                      'type': disk.get('type', 'file'),
                      'format': driver.get('type') if driver is not None else None,
                      'path': (source.get('file') or source.get('dev')) if source is not None else None})
    vcpu = root.find('vcpu')
    default = vcpu.get('cpuset') if vcpu is not None else None
    pins = dict((p.get('vcpu'), p.get('cpuset')) for p in root.findall('cputune/vcpupin'))
    cpus = set()
    for index in range(vcpus):
        cpuset = pins.get(str(index)) or default
        if not cpuset:
            return disks, []
        included, excluded = set(), set()
        for part in cpuset.split(','):
            lo, _, hi = part.lstrip('^').partition('-')
            (excluded if part.startswith('^') else included).update(range(int(lo), int(hi or lo) + 1))
        cpus |= included - excluded
    return disks, sorted(cpus)


def reference_interfaces(xml_text):
    """parse_domain's interfaces done with ElementTree: each <devices>/<interface>'s own <target dev>."""
    root = ET.fromstring(xml_text)
    targets = [interface.find('target') for interface in root.findall('devices/interface')]
    return [t.get('dev') for t in targets if t is not None and t.get('dev')]


def devices(xml_text, vcpus):
    """(disks, pinned CPUs) as parse_domain reads them."""
    domain = parse_domain(xml_text, vcpus)
    return domain.disks, domain.pinned_cpus


TRICKY_DOMAINS = [
    # metadata of another tool holding look-alike elements, a backing chain, an escaped path
    ('''<domain type='kvm'><name>a</name><metadata><x:i xmlns:x="urn:x"><vcpu cpuset="9">1</vcpu>
     <devices><disk type='file' device='disk'><source file='/decoy'/></disk></devices></x:i></metadata>
     <memory unit='KiB'>1024</memory><vcpu placement='static' cpuset='2-3'>2</vcpu>
     <vcpus><vcpu id='0' enabled='yes' hotpluggable='no' order='1'/><vcpu id='1' enabled='yes'/></vcpus>
     <cputune><vcpupin vcpu='0' cpuset='4'/><emulatorpin cpuset='0'/></cputune>
     <devices><emulator>/usr/bin/qemu</emulator>
     <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/>
       <source file='/var/lib/nova/instances/R&amp;D &apos;x&apos;/disk' index='2'/>
       <backingStore type='file' index='3'><format type='raw'/><source file='/base/image'/><backingStore/></backingStore>
       <mirror type='file' file='/copy' format='raw' job='copy'><format type='raw'/><source file='/copy'/></mirror>
       <target dev='vda' bus='virtio'/><alias name='virtio-disk0'/></disk>
     <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/vg/lv'/>
       <target dev='vdb' bus='virtio'/></disk>
     <disk type='network' device='disk'><driver name='qemu' type='raw'/>
       <source protocol='rbd' name='pool/img'><host name='127.0.0.1' port='6789'/></source>
       <target dev='vdc' bus='virtio'/></disk>
     <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><target dev='sda' bus='sata'/><readonly/></disk>
     <disk type="file" device="disk"><driver name="qemu" type="qcow2"/><source file="/double/quoted"/>
       <target dev="vdd"/></disk>
     <disk type='volume' device='disk'><source pool='p' volume='v'/><target dev='vde'/></disk>
     <interface type='network'><source network='default'/><target dev='vnet0'/></interface>
     </devices></domain>''', 2),
    # every vCPU pinned, no default cpuset
    ("<domain><vcpu>2</vcpu><cputune><vcpupin vcpu='1' cpuset='8-9,^9'/><vcpupin vcpu='0' cpuset='7'/>"
     "</cputune><devices/></domain>", 2),
    # partly pinned: floats
    ("<domain><vcpu>3</vcpu><cputune><vcpupin vcpu='0' cpuset='1'/></cputune><devices></devices></domain>", 3),
    # no devices at all
    ("<domain><vcpu>1</vcpu></domain>", 1),
]


@pytest.mark.parametrize('xml_text, vcpus', TRICKY_DOMAINS)
def test_domain_reader_on_tricky_xml(xml_text, vcpus):
    assert devices(xml_text, vcpus) == reference_devices(xml_text, vcpus)
    assert parse_domain(xml_text, vcpus).interfaces == reference_interfaces(xml_text)


def test_domain_reader_on_the_tricky_path():
    disks, pinned = devices(TRICKY_DOMAINS[0][0], 2)
    assert disks[0]['path'] == "/var/lib/nova/instances/R&D 'x'/disk" and disks[0]['format'] == 'qcow2'
    assert [d['target'] for d in disks] == ['vda', 'vdb', 'vdc', 'vdd', 'vde']
    assert pinned == [2, 3, 4]


@pytest.mark.parametrize('uri', ['test:///default'] + [node_uri(n) for n in NODE_FILES + ['../../../examples/nodes/compute-a2.xml']])
def test_domain_reader_agrees_with_a_parser_on_libvirt_output(uri):
    conn = libvirt.openReadOnly(uri)
    try:
        for dom in conn.listAllDomains():
            xml_text, vcpus = dom.XMLDesc(0), dom.info()[3]
            assert devices(xml_text, vcpus) == reference_devices(xml_text, vcpus), dom.name()
            assert parse_domain(xml_text, vcpus).interfaces == reference_interfaces(xml_text), dom.name()
    finally:
        conn.close()


# --- interfaces ------------------------------------------------------------------------------------

NICS = """<domain type='kvm'><name>n</name>
  <metadata><x:nics xmlns:x="urn:x"><devices><interface type='network'><target dev='decoy0'/></interface>
    </devices><interface><target dev='decoy1'/></interface></x:nics></metadata>
  <vcpu>1</vcpu>
  <devices>
    <disk type='file' device='disk'><source file='/d'/><target dev='vda' bus='virtio'/></disk>
    <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default' bridge='virbr0'/>
      <target dev='vnet0'/><model type='virtio'/><alias name='net0'/></interface>
    <interface type='bridge'><source bridge='br0'/><model type='virtio'/></interface>
    <interface type='ethernet'><target dev='tap&amp;1' managed='no'/></interface>
    <interface type='user'/>
    <interface type='direct'><source dev='eth0' mode='vepa'/><target dev='macvtap0'/></interface>
  </devices>
  <seclabel type='dynamic' model='selinux'/>
  <qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
    <interface><target dev='after-devices'/></interface></qemu:commandline>
</domain>"""


def test_interfaces_are_the_target_devs_inside_devices_only():
    domain = parse_domain(NICS)
    # metadata and what follows </devices> are not the domain's NICs; a NIC without a
    # target (not started yet, or a user-mode NIC) has no host-side device to ask;
    # a <source dev> is the host's uplink, not the NIC's own device
    assert domain.interfaces == ['vnet0', 'tap&1', 'macvtap0'] == reference_interfaces(NICS)
    assert [d['target'] for d in domain.disks] == ['vda']


def test_no_interfaces():
    assert parse_domain("<domain><vcpu>1</vcpu><devices><disk type='file' device='disk'/></devices></domain>"
                        ).interfaces == []
    assert parse_domain("<domain><vcpu>1</vcpu><devices/></domain>") == ([], [], [])
    assert parse_domain("<domain><vcpu>1</vcpu></domain>").interfaces == []


def test_pinning_needs_vcpus_and_a_bad_cpu_set_is_an_error():
    pinned = "<domain><vcpu cpuset='2-3'>2</vcpu><devices/></domain>"
    assert parse_domain(pinned).pinned_cpus == []   # vcpus not given: pinning not read
    assert parse_domain(pinned, 2).pinned_cpus == [2, 3]
    with pytest.raises(CapacityError):
        parse_domain("<domain><vcpu cpuset='x'>1</vcpu><devices/></domain>", 1)


def test_interfaces_left_out_when_not_asked_for():
    domain = parse_domain(NICS, interfaces=False)
    assert domain.interfaces is None
    assert domain.disks == parse_domain(NICS).disks
