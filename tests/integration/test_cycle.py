"""The collection cycle (issue 4): playbooks/collect.yml run again and again, a new
ansible-playbook process each cycle (as after a controller restart), on simulated
clusters of libvirt's test driver, with the real host_resources and vm_stats modules.

The test driver's per-domain counters grow with wall-clock time, so every
expectation is computed from the raw vm_stats facts the same cycle left in the
fact cache: cumulative = sum of (current - previous) on the same domain instance,
or + current after a reboot or migration.
"""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLAYBOOK = os.path.join(ROOT, 'playbooks', 'collect.yml')
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
NICS_OR_DISKS = (('network_read_kb', 'nics', 'rx_bytes', 1024.0), ('network_write_kb', 'nics', 'tx_bytes', 1024.0),
                 ('disk_read_kb', 'disks', 'rd_bytes', 1024.0), ('disk_write_kb', 'disks', 'wr_bytes', 1024.0),
                 ('disk_read_ios', 'disks', 'rd_req', 1), ('disk_write_ios', 'disks', 'wr_req', 1))

DOMAIN = '''  <domain type="test">
    <name>{name}</name>
    <uuid>{uuid}</uuid>
    <memory unit="MiB">1024</memory>
    <vcpu>2</vcpu>
    <os><type>hvm</type></os>
    <devices>
      <disk type="file" device="disk"><source file="/var/lib/libvirt/images/{name}.qcow2"/><target dev="vda" bus="virtio"/></disk>
      <interface type="network"><source network="default"/><target dev="vnet-{name}"/></interface>
    </devices>
  </domain>
'''
NODE = '''<?xml version="1.0"?>
<node>
  <cpu><mhz>2000</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>2</threads><active>8</active></cpu>
  <memory>33554432</memory>
{domains}  <pool type="dir">
    <name>default-pool</name>
    <uuid>{pool_uuid}</uuid>
    <target><path>/var/lib/libvirt/images</path></target>
  </pool>
</node>
'''


def uuid_of(name):
    return '00000000-0000-4000-8000-%012x' % (sum(ord(c) << (8 * i) for i, c in enumerate(name)) % (1 << 48))


def untag(value):
    """ansible-core 2.19 keeps the origin of tagged values in the cache; the tests only need the values."""
    if isinstance(value, dict):
        if '__ansible_type' in value and 'value' in value:
            return untag(value['value'])
        return dict((k, untag(v)) for k, v in value.items())
    if isinstance(value, list):
        return [untag(v) for v in value]
    return value


class Cluster(object):
    """A simulated cluster: node XML files, an inventory, and a fact cache of its own."""

    def __init__(self, tmp_path, nodes, cache='jsonfile', redis=None, store_host=None):
        self.dir = tmp_path
        self.nodes = dict((host, list(vms)) for host, vms in nodes.items())
        self.host_vars = dict((host, {}) for host in nodes)
        self.cache_dir = str(tmp_path / 'facts')
        self.redis = redis
        self.store_host = store_host
        self.env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'),
                        ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_CACHE_PLUGIN_TIMEOUT='0',
                        ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', ANSIBLE_HOST_KEY_CHECKING='False')
        if cache == 'jsonfile':
            self.env.update(ANSIBLE_CACHE_PLUGIN='ansible.builtin.jsonfile', ANSIBLE_CACHE_PLUGIN_CONNECTION=self.cache_dir)
        else:
            self.env.update(ANSIBLE_CACHE_PLUGIN='community.general.redis', ANSIBLE_CACHE_PLUGIN_CONNECTION=redis.connection,
                            ANSIBLE_CACHE_PLUGIN_PREFIX='cycletest_')
        self.cycles = 0

    def write(self):
        os.makedirs(str(self.dir / 'nodes'), exist_ok=True)
        hosts = {}
        for index, (host, vms) in enumerate(sorted(self.nodes.items())):
            path = self.dir / 'nodes' / ('%s.xml' % host)
            if vms is None:
                if path.exists():
                    path.unlink()     # the URI now names a missing file: host_resources fails
            else:
                path.write_text(NODE.format(domains=''.join(DOMAIN.format(name=n, uuid=uuid_of(n)) for n in vms),
                                            pool_uuid='00000000-0000-4000-9000-%012d' % index))
            hosts[host] = dict(self.host_vars[host], hypervisor_stats_labels={'cluster': 'c%d' % (index % 2)})
        inventory = {'all': {'children': {'hypervisors': {
            'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}',
                     'hypervisor_stats_uri': 'test://{{ inventory_dir }}/nodes/{{ inventory_hostname }}.xml',
                     'hypervisor_stats_storage_pool': 'default-pool'},
            'hosts': hosts}}}}
        if self.store_host:
            inventory['all']['hosts'] = {self.store_host: {'ansible_connection': 'local',
                                                          'ansible_python_interpreter': '{{ ansible_playbook_python }}'}}
        (self.dir / 'inventory.yml').write_text(json.dumps(inventory, indent=1))

    def cycle(self, check=True, **extra_vars):
        self.write()
        if self.store_host:
            extra_vars.setdefault('hypervisor_stats_store_host', self.store_host)
        result = subprocess.run(
            [ANSIBLE_PLAYBOOK, '-i', str(self.dir / 'inventory.yml'), PLAYBOOK, '-e', json.dumps(extra_vars)],
            env=self.env, cwd=str(self.dir), capture_output=True, text=True, timeout=300)
        self.cycles += 1
        self.output = result.stdout + result.stderr
        (self.dir / ('cycle%d.log' % self.cycles)).write_text(self.output)
        if check:
            assert result.returncode == 0, self.output[-6000:]
        return result

    def raw_entry(self, host):
        if self.redis is None:
            path = os.path.join(self.cache_dir, 's1_' + host)
            if not os.path.exists(path):
                return None
            with open(path) as handle:
                return handle.read()
        import redis
        value = redis.Redis(host='127.0.0.1', port=self.redis.port).get('cycletest_s1_' + host)
        return value.decode() if value is not None else None

    def facts(self, host):
        raw = self.raw_entry(host)
        return untag(json.loads(json.loads(raw)['__payload__'])) if raw is not None else {}

    def counters(self, host):
        return self.facts(host)['hypervisor_stats_counters']

    def vm(self, host, name):
        return self.counters(host)['vms'][uuid_of(name)]

    def raw(self, host, name):
        """The vm_stats sample of one VM from the last cycle (cached by the module's facts)."""
        return self.facts(host)['vm_stats']['vms'][uuid_of(name)]

    def cluster(self):
        return self.facts(self.store_host or 'localhost')['hypervisor_stats_cluster']


def current(raw_vm):
    """What a sample counts when it is not the same instance as the baseline: all of it."""
    values = {'cpu_time_ns': raw_vm['cpu_time_ns']}
    for total, group, counter, divisor in NICS_OR_DISKS:
        summed = sum(dev[counter] for dev in raw_vm[group].values())
        values[total] = summed / divisor if divisor != 1 else summed
    return values


def grown(before, after):
    return dict((k, after[k] - before[k]) for k in before)


def assert_counters(actual, expected):
    assert set(expected) <= set(actual)
    for name, value in expected.items():
        assert actual[name] == pytest.approx(value, rel=1e-12, abs=1e-6), name


def test_growth_reboot_migration_deletion_and_retention(tmp_path):
    cluster = Cluster(tmp_path, {'hv1': ['vm-a', 'vm-b'], 'hv2': ['vm-c']})

    cluster.cycle()
    first = dict((n, cluster.raw(h, n)) for h, n in (('hv1', 'vm-a'), ('hv1', 'vm-b'), ('hv2', 'vm-c')))
    for host, name in (('hv1', 'vm-a'), ('hv1', 'vm-b'), ('hv2', 'vm-c')):
        entry = cluster.vm(host, name)
        assert set(entry['cumulative'].values()) == {0}, 'first sight sets only the baseline'
        assert entry['cpu_utilization'] is None and entry['first_seen'] == entry['last_seen']
    totals = cluster.cluster()['totals']
    assert totals['count'] == 2 and totals['running_vms'] == 3
    assert sorted(totals['groups']) == ['c0', 'c1']

    # Steady growth, read back by a new process.
    cluster.cycle()
    second = cluster.raw('hv1', 'vm-a')
    growth = grown(current(first['vm-a']), current(second))
    assert growth['network_read_kb'] > 0 and growth['disk_write_ios'] > 0
    assert_counters(cluster.vm('hv1', 'vm-a')['cumulative'], growth)
    assert 0 <= cluster.vm('hv1', 'vm-a')['cpu_utilization'] <= 100
    assert 'by network I/O, cumulative across restarts' in cluster.output, 'the summary shows the counters'

    # Reboot: a domain defined before vm-a gives it a new domain id; its counters count whole.
    cumulative_before = cluster.vm('hv1', 'vm-a')['cumulative']
    cluster.nodes['hv1'] = ['vm-new', 'vm-a', 'vm-b']
    cluster.cycle()
    third = cluster.raw('hv1', 'vm-a')
    assert third['domain_id'] != second['domain_id'], 'the simulated reboot must change the domain id'
    assert_counters(cluster.vm('hv1', 'vm-a')['cumulative'],
                    dict((k, cumulative_before[k] + v) for k, v in current(third).items()))
    assert cluster.vm('hv1', 'vm-a')['cpu_utilization'] is None
    assert set(cluster.vm('hv1', 'vm-new')['cumulative'].values()) == {0}

    # Migration: vm-b moves to hv2 and appears once, there, with its totals carried over.
    b_before = cluster.vm('hv1', 'vm-b')
    cluster.nodes['hv1'] = ['vm-new', 'vm-a']
    cluster.nodes['hv2'] = ['vm-c', 'vm-b']
    cluster.cycle()
    assert uuid_of('vm-b') not in cluster.counters('hv1')['vms']
    moved = cluster.vm('hv2', 'vm-b')
    assert moved['first_seen'] == b_before['first_seen']
    assert_counters(moved['cumulative'], dict((k, b_before['cumulative'][k] + v)
                                              for k, v in current(cluster.raw('hv2', 'vm-b')).items()))

    # Deletion: vm-c is kept as gone, its totals frozen, until the retention has passed.
    c_before = cluster.vm('hv2', 'vm-c')
    cluster.nodes['hv2'] = ['vm-b']
    cluster.cycle()
    gone = cluster.vm('hv2', 'vm-c')
    assert gone['state'] == 'gone' and gone['cumulative'] == c_before['cumulative']
    assert gone['last_seen'] == c_before['last_seen']
    cluster.cycle(hypervisor_stats_retention_seconds='0')   # a survey answer is text
    assert uuid_of('vm-c') not in cluster.counters('hv2')['vms']
    assert uuid_of('vm-b') in cluster.counters('hv2')['vms']


def closed_port():
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]   # closed as soon as the socket is: connections are refused


def test_unreachable_and_failed_hosts_do_not_stop_the_cycle_and_keep_their_counters(tmp_path):
    cluster = Cluster(tmp_path, {'hv1': ['vm-a'], 'hv2': ['vm-b'], 'hv3': ['vm-c']})
    cluster.cycle()
    cluster.cycle()
    kept = dict((host, cluster.raw_entry(host)) for host in ('hv2', 'hv3'))
    a_before = cluster.vm('hv1', 'vm-a')['cumulative']

    # hv2: unreachable (ssh to a closed port on 127.0.0.1); hv3: reachable but its module fails (bad URI).
    cluster.host_vars['hv2'] = {'ansible_connection': 'ssh', 'ansible_host': '127.0.0.1', 'ansible_port': closed_port(),
                                'ansible_user': 'nobody',
                                'ansible_ssh_common_args': '-o ConnectTimeout=5 -o BatchMode=yes -o UserKnownHostsFile=/dev/null'}
    cluster.nodes['hv3'] = None
    result = cluster.cycle()
    assert 'UNREACHABLE' in cluster.output
    # The capacity report's table (the end-of-run summary) marks both as not collected.
    assert 'hv3.xml' in cluster.output and 'hv3  FAILED, no capacity data' in cluster.output
    assert 'hv2  UNREACHABLE, no capacity data' in cluster.output
    for host in ('hv2', 'hv3'):
        assert cluster.raw_entry(host) == kept[host], '%s: the counters of a host not collected must not change' % host
    assert cluster.vm('hv1', 'vm-a')['cumulative']['network_read_kb'] > a_before['network_read_kb']
    record = cluster.cluster()
    assert record['hosts_collected'] == ['hv1'] and sorted(record['hosts_missed']) == ['hv2', 'hv3']
    assert record['totals']['count'] == 1
    assert result.returncode == 0


def test_corrupt_cache_entries_start_afresh_for_that_host_only(tmp_path):
    cluster = Cluster(tmp_path, {'hv1': ['vm-a'], 'hv2': ['vm-b'], 'hv3': ['vm-c']}, store_host='store')
    cluster.cycle()
    cluster.cycle()
    c_before = cluster.vm('hv3', 'vm-c')['cumulative']
    c_raw = cluster.raw('hv3', 'vm-c')
    assert c_before['network_read_kb'] > 0
    # hv1: not even JSON (Ansible removes the file); hv2: JSON, but the counters are malformed.
    for host in ('hv1', 'store'):
        with open(os.path.join(cluster.cache_dir, 's1_' + host), 'w') as handle:
            handle.write('{"__payload__": "{\\"hypervisor_stats_cou')
    with open(os.path.join(cluster.cache_dir, 's1_hv2'), 'w') as handle:
        handle.write(json.dumps({'__payload__': json.dumps({'hypervisor_stats_counters': {'vms': 'garbage', 'collected_at': 1}})}))
    cluster.cycle()
    assert 'was corrupt' in cluster.output
    assert cluster.cluster()['totals']['count'] == 3, 'the store host entry is written anew'
    assert 'hypervisor.stats.accumulate' in cluster.output and 'hv2' in cluster.output
    for host, name in (('hv1', 'vm-a'), ('hv2', 'vm-b')):
        assert set(cluster.vm(host, name)['cumulative'].values()) == {0}, host
    assert_counters(cluster.vm('hv3', 'vm-c')['cumulative'],
                    dict((k, c_before[k] + v) for k, v in grown(current(c_raw), current(cluster.raw('hv3', 'vm-c'))).items()))
    # And the fresh start counts again from the next cycle.
    cluster.cycle()
    assert cluster.vm('hv1', 'vm-a')['cumulative']['network_read_kb'] > 0


def test_redis_cache_keeps_the_counters_across_a_redis_restart(tmp_path, redis_server):
    cluster = Cluster(tmp_path, {'hv1': ['vm-a'], 'hv2': ['vm-b']}, cache='redis', redis=redis_server, store_host='store')
    cluster.cycle()
    cluster.cycle()
    before = cluster.vm('hv1', 'vm-a')['cumulative']
    raw_before = cluster.raw('hv1', 'vm-a')
    assert before['network_read_kb'] > 0

    redis_server.restart()
    cluster.cycle()
    expected = dict((k, before[k] + v) for k, v in grown(current(raw_before), current(cluster.raw('hv1', 'vm-a'))).items())
    assert_counters(cluster.vm('hv1', 'vm-a')['cumulative'], expected)
    # The totals live on the store host, an inventory host as AWX requires; hypervisors hold only their own VMs.
    assert cluster.cluster()['totals']['count'] == 2
    assert list(cluster.counters('hv1')['vms']) == [uuid_of('vm-a')]
    assert 'hypervisor_stats_cluster' not in cluster.facts('hv1')


def test_bad_inputs_are_refused_up_front_naming_the_variable(tmp_path):
    cluster = Cluster(tmp_path, {'hv1': ['vm-a']})
    for extra, needle in (({'hypervisor_stats_group': 'nosuchgroup'}, 'hypervisor_stats_group'),
                          ({'hypervisor_stats_cpu_allocation_ratio': 'lots'}, 'hypervisor_stats_cpu_allocation_ratio'),
                          ({'hypervisor_stats_ram_allocation_ratio': '0'}, 'hypervisor_stats_ram_allocation_ratio'),
                          ({'hypervisor_stats_retention_seconds': '-5'}, 'hypervisor_stats_retention_seconds'),
                          ({'hypervisor_stats_flavors': '{small: [1'}, 'hypervisor_stats_flavors'),
                          ({'hypervisor_stats_flavors': '{"small": {"memory_mb": 512}}'}, "flavors['small'].vcpus"),
                          ({'hypervisor_stats_group_by': 'labels.[x'}, 'group_by')):
        result = cluster.cycle(check=False, **extra)
        assert result.returncode != 0, extra
        assert needle in cluster.output, (extra, cluster.output[-3000:])
        assert 'Traceback' not in cluster.output
        assert not os.path.exists(os.path.join(cluster.cache_dir, 's1_hv1')), 'nothing may run after a bad input'


def test_flavors_as_yaml_text_give_fits(tmp_path):
    cluster = Cluster(tmp_path, {'hv1': ['vm-a'], 'hv2': []})
    cluster.cycle(hypervisor_stats_flavors='big: {vcpus: 8, memory_mb: 1024, disk_gb: 0}\n'
                                           'small: {vcpus: 1, memory_mb: 1024}\nhuge: {vcpus: 9, memory_mb: 1}\n'
                                           'disky: {vcpus: 1, memory_mb: 1, disk_gb: 50}')
    totals = cluster.cluster()['totals']
    # 8 host CPUs x ratio 4 = 32 vCPUs per host, hv1 uses 2; 32 GiB - 512 MiB reserved, hv1 uses 1 GiB.
    assert totals['inventory']['VCPU']['free'] == 30 + 32
    assert totals['fits']['big'] == 3 + 4
    assert totals['fits']['small'] == 30 + 31
    assert totals['fits']['huge'] == 0, 'more vCPUs than a host has (max_unit) never fit'
    hv2_disk_free = totals['groups']['c1']['inventory']['DISK_GB']['free']
    assert totals['fits']['disky'] == hv2_disk_free // 50 + max(totals['groups']['c0']['inventory']['DISK_GB']['free'] // 50, 0)
    assert totals['groups']['c1']['fits']['disky'] == hv2_disk_free // 50 > 0


def test_blank_survey_answers_mean_not_set(tmp_path):
    # AWX sends an unanswered optional survey question as an empty string.
    blank = dict((name, '') for name in (
        'hypervisor_stats_retention_seconds', 'hypervisor_stats_cpu_allocation_ratio',
        'hypervisor_stats_ram_allocation_ratio', 'hypervisor_stats_disk_allocation_ratio',
        'hypervisor_stats_reserved_host_cpus', 'hypervisor_stats_reserved_host_memory_mb',
        'hypervisor_stats_reserved_host_disk_mb', 'hypervisor_stats_vm_timeout',
        'hypervisor_stats_cpu_shared_set', 'hypervisor_stats_cpu_dedicated_set',
        'hypervisor_stats_flavors'))
    cluster = Cluster(tmp_path, {'hv1': ['vm-a']})
    result = cluster.cycle(check=False, **blank)
    assert result.returncode == 0, cluster.output[-3000:]
    assert 'no capacity data' not in cluster.output and 'CAPACITY REPORT' in cluster.output, cluster.output[-3000:]
    inventory = cluster.cluster()['totals']['inventory']
    # The module's defaults apply: cpu ratio 4.0, 512 MiB reserved.
    assert inventory['VCPU']['capacity'] == 4 * inventory['VCPU']['total']
    assert inventory['MEMORY_MB']['reserved'] == 512
