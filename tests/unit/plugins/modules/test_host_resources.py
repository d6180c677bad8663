"""host_resources run for real against libvirt's test driver.

The module is executed as ansible-test does (``python -m <module> args.json``)
or through ansible-playbook. Expected values are computed here, independently
of the module: from the node XML files (parsed with ElementTree), from libvirt
answers read directly, or from statvfs.

Nothing is mocked. The one thing that cannot exist here, a root-owned libvirt
socket, is a real Unix socket this test binds itself (mode 0600) and connects
to as the unprivileged user ``nobody``.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import libvirt
import pytest

from host_resources_run import COLLECTIONS, MODULE, NODES, ROOT, facts_of, node_uri, run_module

CLIENT = 'ansible_collections.hypervisor.stats.plugins.module_utils.libvirt_client'
GIB = 1024 ** 3
TEST_NS = '{http://libvirt.org/schemas/domain/test/1.0}'
NODE_FILES = ['host_numa_smt.xml', 'host_small.xml', 'host_many.xml']
UNITS = {'KiB': 1024, 'MiB': 1024 ** 2, 'GiB': 1024 ** 3, 'bytes': 1, 'b': 1}

libvirt.registerErrorHandler(lambda ctx, err: None, None)


# --- an independent reading of the node files ---------------------------------------------------

def _bytes(element):
    return int(element.text) * UNITS[element.get('unit', 'KiB')] if element is not None else None


def read_node(path):
    """What a node XML says, read with ElementTree: the oracle for the module's answers."""
    root = ET.parse(path).getroot()
    cpu = root.find('cpu')
    volumes = {}
    for pool in root.findall('pool'):
        for vol in pool.findall('volume'):
            volumes[pool.findtext('target/path') + '/' + vol.findtext('name')] = (
                _bytes(vol.find('capacity')), _bytes(vol.find('allocation')))
    domains = []
    for dom in root.findall('domain'):
        max_b = _bytes(dom.find('memory'))
        disks = []
        for disk in dom.findall('devices/disk'):
            if disk.get('device', 'disk') != 'disk':
                continue
            path = disk.find('source').get('file') if disk.find('source') is not None else None
            cap, alloc = volumes.get(path, (None, None))
            disks.append({'type': disk.get('type'), 'format': disk.find('driver').get('type'),
                          'capacity': cap, 'allocation': alloc})
        pins = [int(p.get('cpuset')) for p in dom.findall('cputune/vcpupin')]
        domains.append({
            'name': dom.findtext('name'),
            'active': int(dom.findtext(TEST_NS + 'runstate') or 1) != 5,
            'vcpus': int(dom.findtext('vcpu')),
            'max_kib': max_b // 1024,
            'current_kib': (_bytes(dom.find('currentMemory')) or max_b) // 1024,
            'disks': disks,
            'pins': pins,
        })
    return {
        'cpus': int(cpu.findtext('active')),
        'topology': dict((k, int(cpu.findtext(k))) for k in ('sockets', 'cores', 'threads')),
        'cells': int(cpu.findtext('nodes')),
        'memory_mb': int(root.findtext('memory')) // 1024,
        'domains': domains,
        'volume_allocation': sum(a for _c, a in volumes.values()),
    }


def expected_facts(node, pool_info):
    """The Nova figures for a node, computed from the oracle and the pool's libvirt answer."""
    active = [d for d in node['domains'] if d['active']]
    _state, capacity, allocation, available = pool_info
    over_commit = sum(x['capacity'] - x['allocation'] for d in node['domains'] for x in d['disks']
                      if x['type'] == 'file' and x['format'] == 'qcow2')
    return {
        'vcpus': node['cpus'],
        'vcpus_used': sum(d['vcpus'] for d in active),
        'running_vms': len(active),
        'memory_mb': node['memory_mb'],
        'memory_mb_used': sum(d['current_kib'] for d in active) // 1024,
        'memory_mb_used_source': 'domains',
        'local_gb': capacity // GIB,
        'local_gb_used': allocation // GIB,
        'free_disk_gb': capacity // GIB - allocation // GIB,
        'disk_available_least': (available // GIB * GIB - over_commit) // GIB,
        'memory_allocated_mb': sum(d['max_kib'] for d in active) // 1024,
        'disk_allocated_gb': sum(x['capacity'] or 0 for d in active for x in d['disks']) // GIB,
    }


def pool_info(uri, name):
    conn = libvirt.openReadOnly(uri)
    try:
        return conn.storagePoolLookupByName(name).info()
    finally:
        conn.close()


# --- hosts of different shapes --------------------------------------------------------------------

@pytest.mark.parametrize('node_file', NODE_FILES)
def test_node_file_hosts(node_file, tmp_path):
    uri = node_uri(node_file)
    node = read_node(os.path.join(NODES, node_file))
    info = pool_info(uri, 'instances')
    assert info[2] == node['volume_allocation']  # the oracle reads the pool as the driver does
    expected = expected_facts(node, info)

    facts = facts_of(run_module({'uri': uri, 'storage_pool': 'instances', 'labels': {'rack': 'r1'}}, tmp_path))

    for key in ('vcpus', 'vcpus_used', 'running_vms', 'memory_mb', 'memory_mb_used', 'memory_mb_used_source',
                'local_gb', 'local_gb_used', 'free_disk_gb', 'disk_available_least'):
        assert facts[key] == expected[key], key
    inv = facts['inventory']
    assert inv['VCPU'] == {'total': node['cpus'], 'reserved': 0, 'allocation_ratio': 4.0, 'min_unit': 1,
                           'max_unit': node['cpus'], 'step_size': 1, 'used': expected['vcpus_used'],
                           'capacity': node['cpus'] * 4, 'free': node['cpus'] * 4 - expected['vcpus_used']}
    assert inv['MEMORY_MB']['used'] == expected['memory_allocated_mb']
    assert inv['MEMORY_MB']['capacity'] == node['memory_mb'] - 512
    assert inv['DISK_GB']['used'] == expected['disk_allocated_gb']
    assert 'PCPU' not in inv and facts['pcpus'] == 0
    assert facts['cpu_info']['topology'] == dict(node['topology'], cells=node['cells'])
    assert facts['labels'] == {'rack': 'r1'} and facts['uri'] == uri
    assert facts['disk_source'] == 'pool:instances'
    assert facts['hypervisor_type'] == 'TEST' and isinstance(facts['hypervisor_version'], int)


def test_numa_smt_host_is_overcommitted_on_disk(tmp_path):
    # The fixture is meant to show a negative disk_available_least; guard that it still does.
    facts = facts_of(run_module({'uri': node_uri('host_numa_smt.xml'), 'storage_pool': 'instances'}, tmp_path))
    assert facts['disk_available_least'] < 0 < facts['free_disk_gb']
    assert facts['running_vms'] == 4  # the paused domain is active, the shut-off one is not


@pytest.mark.parametrize('node_file', NODE_FILES)
def test_defined_shut_off_domains_with_a_local_disk_are_stopped_allocations(node_file, tmp_path):
    node = read_node(os.path.join(NODES, node_file))
    expected = {}
    for d in node['domains']:
        local = [x for x in d['disks'] if x['type'] in ('file', 'block')]
        if not d['active'] and local:
            sizes = [x['allocation'] if x['allocation'] is not None else x['capacity'] for x in local]
            expected[d['name']] = (d['vcpus'], -(-d['max_kib'] // 1024), None if None in sizes else sum(sizes))
    facts = facts_of(run_module({'uri': node_uri(node_file), 'storage_pool': 'instances'}, tmp_path))
    got = dict((c['name'], (c['resources'].get('VCPU'), c['resources']['MEMORY_MB'], c['disk_bytes']))
               for c in facts['stopped_allocations'].values())
    assert got == expected
    assert facts['running_vms'] == len([d for d in node['domains'] if d['active']])   # they stay out of the counts
    if node_file == 'host_numa_smt.xml':
        assert got == {'stopped': (16, 65536, 2 * 1024 ** 3)}   # its volume's allocation, not its 80 GiB capacity


def test_pinned_domains_consume_pcpu(tmp_path):
    node = read_node(os.path.join(NODES, 'host_many.xml'))
    dedicated = set(range(96, 192))
    active = [d for d in node['domains'] if d['active']]
    pinned = [d for d in active if len(d['pins']) == d['vcpus'] and set(d['pins']) <= dedicated]
    assert pinned  # the fixture has pinned running domains
    facts = facts_of(run_module({'uri': node_uri('host_many.xml'), 'storage_pool': 'instances',
                                 'cpu_shared_set': '0-95', 'cpu_dedicated_set': '96-191',
                                 'reserved_host_cpus': 4, 'cpu_allocation_ratio': 2.0}, tmp_path))
    pcpu_used = sum(d['vcpus'] for d in pinned)
    assert (facts['vcpus'], facts['pcpus']) == (96, 96)
    assert facts['inventory']['PCPU']['used'] == pcpu_used
    assert facts['inventory']['VCPU']['used'] == sum(d['vcpus'] for d in active) - pcpu_used
    assert facts['inventory']['VCPU']['capacity'] == (96 - 4) * 2
    assert facts['cpu_shared_set'] == '0-95' and facts['cpu_dedicated_set'] == '96-191'


def test_pinned_domain_of_the_smt_host(tmp_path):
    facts = facts_of(run_module({'uri': node_uri('host_numa_smt.xml'), 'storage_pool': 'instances',
                                 'cpu_shared_set': '0-23', 'cpu_dedicated_set': '24-31'}, tmp_path))
    # 'pinned' (4 vCPUs on 24-27) is PCPU; 'paused' is restricted to 0-23, the shared set: VCPU
    assert facts['inventory']['PCPU']['used'] == 4
    assert facts['inventory']['VCPU']['used'] == facts['vcpus_used'] - 4


def test_default_test_driver_host(tmp_path):
    conn = libvirt.openReadOnly('test:///default')
    try:
        info = conn.getInfo()
        caps = ET.fromstring(conn.getCapabilities())
        dom = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)[0]
        block_capacity = dom.blockInfo('vda')[0]
        dom_info = dom.info()
    finally:
        conn.close()
    facts = facts_of(run_module({'uri': 'test:///default', 'instances_path': str(tmp_path)}, tmp_path))
    st = os.statvfs(str(tmp_path))

    assert facts['vcpus'] == info[2] and facts['memory_mb'] == info[1]
    assert facts['numa_topology']['cells'] == [
        {'id': int(cell.get('id')), 'cpus': sorted(int(c.get('id')) for c in cell.findall('cpus/cpu')),
         'memory_mb': int(cell.findtext('memory')) // 1024,
         'siblings': sorted([int(c.get('siblings'))] for c in cell.findall('cpus/cpu'))}
        for cell in caps.findall('host/topology/cells/cell')]
    assert facts['cpu_info']['arch'] == caps.findtext('host/cpu/arch')
    assert facts['cpu_info']['features'] == sorted(f.tag for f in caps.findall('host/cpu/features/*'))
    # No node memory stats in the test driver: the domains' current memory stands in.
    assert facts['memory_mb_used_source'] == 'domains' and facts['memory_mb_used'] == dom_info[2] // 1024
    # Its disk is in no pool: its size comes from blockInfo; no driver type means raw, no over-commit.
    assert facts['inventory']['DISK_GB']['used'] == block_capacity // GIB
    assert facts['disk_source'] == 'path:%s' % tmp_path
    assert facts['local_gb'] == st.f_blocks * st.f_frsize // GIB
    # Other processes write to this filesystem meanwhile: allow one GiB of drift.
    assert abs(facts['disk_available_least'] - st.f_bavail * st.f_frsize // GIB) <= 1
    assert abs(facts['local_gb_used'] - (st.f_blocks - st.f_bfree) * st.f_frsize // GIB) <= 1


def test_check_mode_changes_nothing_and_reports_the_same(tmp_path):
    args = {'uri': node_uri('host_numa_smt.xml'), 'storage_pool': 'instances'}
    normal = facts_of(run_module(args, tmp_path))
    checked = facts_of(run_module(args, tmp_path, check_mode=True))
    normal.pop('collected_at')
    checked.pop('collected_at')
    assert checked == normal


# --- bad input: a clear message, never a traceback -----------------------------------------------

@pytest.mark.parametrize('args, message', [
    ({'uri': 'test:///nonexistent/node.xml'},
     "cannot open a read-only libvirt connection to uri 'test:///nonexistent/node.xml'"),
    ({'uri': 'bogus:///system'}, "uri 'bogus:///system'"),
    ({'uri': 'qemu+unix:///system?socket=/nonexistent/libvirt-sock'},
     'libvirtd (or virtqemud) does not seem to be running on that host'),
    ({'uri': 'test:///default', 'instances_path': '/tmp', 'storage_pool': 'default-pool'},
     'parameters are mutually exclusive: instances_path|storage_pool'),
    ({'uri': 'test:///default', 'storage_pool': 'nope'}, "storage_pool 'nope' cannot be read on this host"),
    # The test driver's node file: named when missing, an absolute path hinted when relative.
    ({'uri': 'test:///nonexistent/node.xml'}, "test driver's node file '/nonexistent/node.xml' does not exist"),
    ({'uri': 'test://relative/node.xml'}, 'test:// takes an absolute path, with three slashes: test:///abs/path'),
    ({'uri': ''}, 'uri must not be empty'),
    # Inputs that must never hurt the hypervisor: refused up front, naming the option.
    ({'uri': 'test:///default', 'cpu_shared_set': '0-99999999'}, 'cpu_shared_set: CPU id 99999999 is above 8191'),
    ({'uri': 'test:///default', 'cpu_dedicated_set': '0-' + '9' * 5000}, 'cpu_dedicated_set: CPU id 9999'),
    ({'uri': 'test:///default', 'cpu_allocation_ratio': 'nan'}, 'cpu_allocation_ratio must be a finite number'),
    ({'uri': 'test:///default', 'ram_allocation_ratio': 'inf'}, 'ram_allocation_ratio must be a finite number'),
    ({'uri': 'test:///default', 'disk_allocation_ratio': 1e308}, 'disk_allocation_ratio must be at most 1000'),
    ({'uri': 'test:///default', 'reserved_host_memory_mb': 10 ** 400}, 'reserved_host_memory_mb must be at most'),
    ({'uri': 'test:///default', 'cpu_shared_set': '0-3,x'}, "cpu_shared_set: cannot parse 'x'"),
    # instances_path: the default one may not exist on a test machine without libvirtd.
    ({'uri': node_uri('host_small.xml'), 'cpu_shared_set': '0-7', 'instances_path': '/tmp'},
     'cpu_shared_set names CPUs the host does not have: 4-7 (host CPUs: 0-3)'),
    ({'uri': node_uri('host_small.xml'), 'cpu_shared_set': '0-2', 'cpu_dedicated_set': '2-3'},
     'cpu_shared_set and cpu_dedicated_set overlap on CPUs 2'),
    ({'uri': 'test:///default', 'ram_allocation_ratio': 0}, 'ram_allocation_ratio must be greater than 0'),
    ({'uri': 'test:///default', 'disk_allocation_ratio': -1.5}, 'disk_allocation_ratio must be greater than 0'),
    ({'uri': 'test:///default', 'cpu_allocation_ratio': 'lots'}, 'cpu_allocation_ratio'),
    ({'uri': 'test:///default', 'reserved_host_memory_mb': -1}, 'reserved_host_memory_mb must not be negative'),
    # Options are checked before connecting: the bad option is named, not the missing daemon.
    ({'uri': 'qemu+unix:///system?socket=/nonexistent/libvirt-sock', 'cpu_allocation_ratio': 0},
     'cpu_allocation_ratio must be greater than 0'),
])
def test_bad_input_fails_with_a_clear_message(args, message, tmp_path):
    result = run_module(args, tmp_path)
    assert result['failed'] is True
    assert message in result['msg']
    assert 'ansible_facts' not in result


def _socket_answers(path):
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def test_unknown_uri_scheme_names_the_missing_driver(tmp_path):
    # The client library hands a scheme it does not know to the daemon: with libvirtd
    # up (the integration suite's, or a developer's) the daemon says it has no such
    # driver; without one (unit tests run first in CI) nothing answers on the socket. A
    # daemon killed earlier may leave the socket file behind, so ask the socket itself.
    result = run_module({'uri': 'bogus:///system'}, tmp_path)
    assert result['failed'] and "uri 'bogus:///system'" in result['msg']
    if _socket_answers('/var/run/libvirt/libvirt-sock-ro'):
        assert 'no connection driver' in result['msg'].lower()
        assert 'the URI scheme names a driver this libvirt does not have' in result['msg']
    else:
        assert 'libvirtd (or virtqemud) does not seem to be running on that host' in result['msg']


def _python_for(user_prefix):
    """A Python the unprivileged user may run that can import our collection, ansible and libvirt
    (not the case when the checkout or the venv's interpreter lives under a private home)."""
    import ansible
    paths = os.pathsep.join([COLLECTIONS] + sorted({os.path.dirname(libvirt.__file__),
                                                    os.path.dirname(os.path.dirname(ansible.__file__))}))
    for python in (os.path.realpath(sys.executable), shutil.which('python%d.%d' % sys.version_info[:2]),
                   '/usr/bin/python3'):
        if not python:
            continue
        probe = subprocess.run(list(user_prefix) + [python, '-c', 'import libvirt, ' + CLIENT],
                               env=dict(os.environ, PYTHONPATH=paths), capture_output=True, cwd='/')
        if probe.returncode == 0:
            return python, paths
    return None, None


@pytest.fixture
def root_only_socket():
    """A real Unix socket owned by root with mode 0600, in a directory anyone may enter."""
    directory = tempfile.mkdtemp(prefix='hr-sock-')
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.chmod(directory, 0o755)
        path = os.path.join(directory, 'libvirt-sock-ro')
        sock.bind(path)
        os.chmod(path, 0o600)
        sock.listen(1)
        yield directory, path
    finally:
        sock.close()
        shutil.rmtree(directory, ignore_errors=True)


def test_permission_denied_on_the_socket(root_only_socket):
    if os.geteuid() != 0 or not shutil.which('setpriv'):
        pytest.skip('needs root (to own the socket and switch users) and setpriv')
    directory, path = root_only_socket
    as_nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']
    python, paths = _python_for(as_nobody)
    if python is None:
        pytest.skip('no Python that the user nobody may run with our ansible and libvirt-python')
    uri = 'qemu+unix:///system?socket=%s' % path
    result = run_module({'uri': uri}, directory, python=python, prefix=as_nobody, env={'PYTHONPATH': paths})
    assert result['failed'] is True
    assert "uri '%s'" % uri in result['msg'] and 'Permission denied' in result['msg']
    assert 'may not open the read-only socket' in result['msg']


# --- through ansible-playbook: check mode and libvirt-python missing on the target -----------------

@pytest.fixture(scope='module')
def python_without_libvirt(tmp_path_factory):
    """A real interpreter whose sys.path lacks libvirt: a fresh venv without site packages."""
    venv = str(tmp_path_factory.mktemp('novirt') / 'venv')
    base = getattr(sys, '_base_executable', None) or sys.executable
    subprocess.run([base, '-m', 'venv', '--without-pip', venv], check=True, timeout=120)
    python = os.path.join(venv, 'bin', 'python')
    assert subprocess.run([python, '-c', 'import libvirt'], capture_output=True).returncode != 0
    return python


def test_playbook_check_mode_and_missing_libvirt(python_without_libvirt, tmp_path):
    uri = node_uri('host_numa_smt.xml')
    playbook = tmp_path / 'play.yml'
    playbook.write_text(json.dumps([{
        'hosts': 'localhost', 'connection': 'local', 'gather_facts': False,
        'vars': {'ansible_python_interpreter': '{{ ansible_playbook_python }}'},
        'tasks': [
            {'name': 'normal', 'hypervisor.stats.host_resources': {'uri': uri, 'storage_pool': 'instances'}},
            {'name': 'check', 'check_mode': True,
             'hypervisor.stats.host_resources': {'uri': uri, 'storage_pool': 'instances'}},
            {'name': 'no libvirt', 'ignore_errors': True, 'vars': {'ansible_python_interpreter': python_without_libvirt},
             'hypervisor.stats.host_resources': {'uri': uri}},
        ]}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_CACHE_PLUGIN='ansible.builtin.memory', ANSIBLE_LOCALHOST_WARNING='0',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,',
                           str(playbook)], env=env, capture_output=True, text=True, timeout=300)
    assert 'Traceback' not in proc.stdout + proc.stderr
    tasks = json.loads(proc.stdout)['plays'][0]['tasks']
    normal, checked, missing = [t['hosts']['localhost'] for t in tasks]

    assert normal['changed'] is False and checked['changed'] is False
    normal_facts = dict(normal['ansible_facts']['host_resources'], collected_at=None)
    assert dict(checked['ansible_facts']['host_resources'], collected_at=None) == normal_facts

    assert missing['failed'] is True
    assert 'Failed to import the required Python library (libvirt-python)' in missing['msg']
    assert python_without_libvirt in missing['msg']
    # A clear message: no import traceback attached (ansible-core's own placeholder at most).
    assert 'Traceback' not in missing.get('exception', '') + missing['msg']


OVERFULL_POOL_NODE = '''<node>
  <cpu><mhz>1000</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets>
       <cores>2</cores><threads>1</threads><active>2</active></cpu>
  <memory>4194304</memory>
  <pool type="dir"><name>images</name><uuid>5b1a4e5c-0a01-4c3e-9d01-0000000000aa</uuid>
    <target><path>/srv/images</path></target>
    <volume type="file"><name>big.qcow2</name><capacity unit="GiB">200</capacity>
      <allocation unit="GiB">150</allocation><target><format type="qcow2"/></target></volume>
  </pool>
</node>
'''


def test_overfull_pool_has_no_free_space_rather_than_a_wrapped_number(tmp_path):
    # The test driver's pool is a fixed 100 GiB and reports available as an
    # unsigned capacity - allocation: 150 GiB of volumes wrap it to ~16 EiB.
    node = tmp_path / 'overfull.xml'
    node.write_text(OVERFULL_POOL_NODE)
    facts = facts_of(run_module({'uri': 'test://%s' % node, 'storage_pool': 'images'}, tmp_path))
    assert facts['local_gb'] == 100
    assert facts['local_gb_used'] == 150
    assert facts['free_disk_gb'] == -50
    assert facts['disk_available_least'] <= 0


def test_tls_uri_without_certificates_says_so(tmp_path):
    # No transport in the URI means TLS; libvirt gives up before connecting
    # when its CA certificate is missing, as on this machine.
    if os.path.exists('/etc/pki/CA/cacert.pem'):
        pytest.skip('a libvirt PKI is installed here')
    result = run_module({'uri': 'qemu://127.0.0.1/system'}, tmp_path)
    assert result['failed'] and "uri 'qemu://127.0.0.1/system'" in result['msg']
    assert "transport is TLS" in result['msg'], result['msg']
    assert 'not seem to be running' not in result['msg']


# --- a host whose instance storage cannot be measured (instances on Ceph) -------------------------

def test_missing_instances_path_leaves_disk_unknown_and_keeps_cpu_and_memory(tmp_path):
    missing = str(tmp_path / 'no-such-dir')
    result = run_module({'uri': node_uri('host_small.xml'), 'instances_path': missing}, tmp_path)
    facts = facts_of(result)
    node = read_node(os.path.join(NODES, 'host_small.xml'))
    assert facts['vcpus'] == node['cpus'] and facts['memory_mb'] == node['memory_mb']
    assert sorted(facts['inventory']) == ['MEMORY_MB', 'VCPU'], 'no DISK_GB: unknown is not zero'
    for field in ('local_gb', 'local_gb_used', 'free_disk_gb', 'disk_available_least'):
        assert facts[field] is None, field
    assert facts['disk_source'] == 'unavailable:path:' + missing
    # (ansible-core 2.19 hands warnings over as structures; the text is in them either way)
    assert "instances_path '%s' cannot be measured" % missing in json.dumps(result.get('warnings'))


@pytest.mark.parametrize('disk', [{'instances_path': '/nonexistent/instances'}, {'storage_pool': 'nope'}])
def test_option_errors_are_reported_before_disk_errors(disk, tmp_path):
    result = run_module(dict({'uri': node_uri('host_small.xml'), 'cpu_shared_set': '0-7'}, **disk), tmp_path)
    assert result['failed'] is True
    assert result['msg'].startswith('cpu_shared_set names CPUs the host does not have: 4-7'), result['msg']


# --- secrets in the URI ------------------------------------------------------------------------------

def run_module_raw(args, workdir):
    path = os.path.join(str(workdir), 'args-raw-%d.json' % len(os.listdir(str(workdir))))
    with open(path, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, f)
    proc = subprocess.run([sys.executable, '-m', MODULE, path], env=dict(os.environ, PYTHONPATH=COLLECTIONS),
                          cwd=str(workdir), capture_output=True, text=True, timeout=120)
    return proc.stdout + proc.stderr, json.loads(proc.stdout)


def closed_loopback_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_a_password_in_the_uri_is_in_no_result(tmp_path):
    path = os.path.join(NODES, 'host_small.xml')
    out, result = run_module_raw({'uri': 'test://admin:s3cret@%s?password=qu3ry' % path,
                                  'storage_pool': 'instances'}, tmp_path)
    assert 's3cret' not in out and 'qu3ry' not in out, out
    facts = facts_of(result)
    assert facts['uri'] == 'test://admin@%s?password=********' % path
    # The invocation echo keeps the URI readable, its secrets masked as Ansible masks no_log values.
    assert result['invocation']['module_args']['uri'] == 'test://admin:********@%s?password=********' % path


@pytest.mark.parametrize('args', [
    {'uri': 'qemu+tcp://admin:s3cret@127.0.0.1:%d/system?password=qu3ry' % closed_loopback_port()},
    {'uri': 'test://admin:s3cret@/nonexistent/node.xml'},
    {'uri': 'test://admin:s3cret@relative/node.xml'},
    # failures inside Ansible's own argument validation, and our option checks
    {'uri': 'qemu+tcp://admin:s3cret@127.0.0.1:1/system?password=qu3ry', 'cpu_allocation_ratio': 'lots'},
    {'uri': 'qemu+tcp://admin:s3cret@127.0.0.1:1/system?password=qu3ry', 'cpu_allocation_ratio': 0},
    {'uri': 'qemu+tcp://admin:s3cret@127.0.0.1:1/system?password=qu3ry', 'no_such_option': 1},
])
def test_a_password_in_the_uri_is_in_no_failure(args, tmp_path):
    out, result = run_module_raw(args, tmp_path)
    assert result['failed'] is True
    assert 's3cret' not in out and 'qu3ry' not in out, out


def test_cpu_times_are_the_hosts_own_counters(tmp_path):
    import libvirt
    uri = node_uri('host_small.xml')
    facts = facts_of(run_module({'uri': uri, 'storage_pool': 'instances'}, tmp_path))
    expected = libvirt.openReadOnly(uri).getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS)
    assert facts['cpu_times'] == dict((name, expected[name]) for name in ('user', 'kernel', 'idle', 'iowait'))
