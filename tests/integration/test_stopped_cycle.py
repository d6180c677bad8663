"""Stopped VMs still holding capacity (issue 14) through the real cycle: playbooks/collect.yml run
cycle after cycle on libvirt's test driver, its clock stepped with hypervisor_stats_now. A defined,
shut-off domain with a disk comes out as stopped, with how long it has been stopped, kept in the
fact cache from one ansible-playbook process to the next."""

from test_cycle import Cluster, uuid_of

DAY = 86400
NOW = 1800000000
GIB = 1024 ** 3
STOPPED = '''  <domain type="test" xmlns:test="http://libvirt.org/schemas/domain/test/1.0">
    <name>{name}</name><uuid>{uuid}</uuid><memory unit="MiB">2048</memory><vcpu>2</vcpu><os><type>hvm</type></os>
    <devices><disk type="file" device="disk"><driver name="qemu" type="qcow2"/>
      <source file="/var/lib/libvirt/images/{name}.qcow2"/><target dev="vda" bus="virtio"/></disk></devices>
    <test:runstate>5</test:runstate>
  </domain>
'''
VOLUME = ('    <volume type="file"><name>{name}.qcow2</name><capacity unit="GiB">30</capacity>'
          '<allocation unit="GiB">12</allocation><target><format type="qcow2"/></target></volume>\n')
POOL_END = '<target><path>/var/lib/libvirt/images</path></target>\n  </pool>'


class StoppedCluster(Cluster):
    """test_cycle's cluster, with host -> [names] of domains defined but shut off, each with a 12 GiB disk."""

    def __init__(self, tmp_path, nodes, stopped):
        super(StoppedCluster, self).__init__(tmp_path, nodes)
        self.stopped = stopped

    def write(self):
        super(StoppedCluster, self).write()
        for host, names in self.stopped.items():
            path = self.dir / 'nodes' / ('%s.xml' % host)
            text = path.read_text()
            assert POOL_END in text
            text = text.replace('  <pool type="dir">', ''.join(STOPPED.format(name=n, uuid=uuid_of(n)) for n in names)
                                + '  <pool type="dir">')
            path.write_text(text.replace(POOL_END, POOL_END.replace(
                '\n  </pool>', '\n' + ''.join(VOLUME.format(name=n) for n in names) + '  </pool>')))


def stopped_vms(cluster):
    return dict((vm['name'], vm) for vm in cluster.cluster()['reclaimable']['vms'] if vm['category'] == 'stopped')


def test_a_shut_off_domain_with_a_disk_is_stopped_holding_capacity_for_as_long_as_it_stays_off(tmp_path):
    cluster = StoppedCluster(tmp_path, {'hv1': ['web'], 'hv2': ['db']}, {'hv1': ['old-1']})
    cluster.cycle(hypervisor_stats_now=NOW)
    record = cluster.cluster()
    assert record['totals']['running_vms'] == 2          # the shut-off one is not running...
    assert uuid_of('old-1') not in cluster.counters('hv1')['vms']   # ...and vm_stats keeps to running VMs
    assert record['reclaimable']['cluster']['stopped'] == {'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': 12.0, 'vms': 1}
    old = stopped_vms(cluster)['old-1']
    assert (old['host'], old['stopped_since'], old['stopped_days']) == ('hv1', NOW, 0.0)
    assert old['allocations'] == {'VCPU': 2, 'MEMORY_MB': 2048, 'DISK_GB': 30}

    # Three simulated days later, in a new process: old-1 still off, old-2 newly shut off.
    cluster.stopped['hv1'] = ['old-1', 'old-2']
    cluster.cycle(hypervisor_stats_now=NOW + 3 * DAY)
    vms = stopped_vms(cluster)
    assert (vms['old-1']['stopped_days'], vms['old-2']['stopped_days']) == (3.0, 0.0)
    assert 'shut off for at least 3.0 days' in vms['old-1']['reason']
    assert cluster.cluster()['reclaimable']['cluster']['stopped']['DISK_GB'] == 24.0
    assert cluster.facts('hv1')['hypervisor_stats_stopped'] == {uuid_of('old-1'): NOW, uuid_of('old-2'): NOW + 3 * DAY}

    # old-1 started: no longer stopped, and its time is forgotten; old-2 keeps its own.
    cluster.nodes['hv1'] = ['web', 'old-1']
    cluster.stopped['hv1'] = ['old-2']
    cluster.cycle(hypervisor_stats_now=NOW + 4 * DAY)
    assert list(stopped_vms(cluster)) == ['old-2'] and stopped_vms(cluster)['old-2']['stopped_days'] == 1.0
    assert cluster.facts('hv1')['hypervisor_stats_stopped'] == {uuid_of('old-2'): NOW + 3 * DAY}
