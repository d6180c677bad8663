"""The vm_stats module through real Ansible on libvirt's test driver (issue 3): the documented shape, failures."""

import json
import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
NODE = os.path.join(ROOT, 'tests', 'unit', 'nodes', 'vm_stats_node.xml')
URI = 'test://' + NODE
APP01 = '7c2d3e4f-0000-0000-0000-000000000001'
APP02 = '7c2d3e4f-0000-0000-0000-000000000002'
OLD03 = '7c2d3e4f-0000-0000-0000-000000000003'


def run_module(args, check=False):
    """Run the module through real Ansible; returns (rc, result dict)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'),
               ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_CACHE_PLUGIN='ansible.builtin.memory',  # keep the shared fact cache out of it
               ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json')
    cmd = [os.path.join(ROOT, '.venv', 'bin', 'ansible'), 'localhost', '-m', 'hypervisor.stats.vm_stats',
           '-a', json.dumps(args), '-e', 'ansible_python_interpreter=' + sys.executable]
    if check:
        cmd.append('--check')
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    out = json.loads(proc.stdout)
    return proc.returncode, out['plays'][0]['tasks'][0]['hosts']['localhost']


def test_module_through_ansible_returns_the_documented_shape():
    rc, res = run_module({'uri': URI, 'states': ['running', 'paused', 'shutoff']}, check=True)
    assert rc == 0 and res['changed'] is False
    facts = res['ansible_facts']['vm_stats']
    assert set(facts) == {'hypervisor_hostname', 'uri', 'collected_at', 'vms'}
    assert facts['uri'] == URI and abs(facts['collected_at'] - time.time()) < 120
    assert set(facts['vms']) == {APP01, APP02, OLD03}
    vm = facts['vms'][APP01]
    assert set(vm) == {'name', 'uuid', 'state', 'domain_id', 'vcpus', 'cpu_time_ns', 'cpu_utilization',
                       'cpu_user_ns', 'cpu_system_ns', 'vcpus_detail', 'memory_pressure',
                       'memory', 'disks', 'nics', 'totals', 'timed_out'}
    assert set(vm['memory']) == {'max_kb', 'actual_kb', 'unused_kb', 'available_kb', 'rss_kb'}
    assert set(vm['memory_pressure']) == {'swap_in_kb', 'swap_out_kb', 'major_faults', 'minor_faults', 'usable_kb',
                                          'disk_caches_kb'}
    assert set(vm['disks']['vda']) == {'rd_bytes', 'wr_bytes', 'rd_req', 'wr_req', 'rd_total_times_ns',
                                       'wr_total_times_ns', 'fl_req', 'fl_total_times_ns', 'capacity',
                                       'allocation', 'physical'}
    assert len(vm['nics']) == 2 and set(list(vm['nics'].values())[1]) == {'rx_bytes', 'tx_bytes', 'rx_packets', 'tx_packets',
                                               'rx_errs', 'tx_errs', 'rx_drop', 'tx_drop'}
    assert set(vm['totals']) == {'network_read_kb', 'network_write_kb', 'disk_read_kb', 'disk_write_kb',
                                 'disk_read_ios', 'disk_write_ios', 'cpu_delay_ns'}
    # The contention signals (issue 14) on the test driver: what its per-domain calls report is
    # there, the rest null (never 0), and a stopped VM has none of them.
    assert vm['cpu_user_ns'] > 0 and vm['cpu_system_ns'] > 0 and vm['memory_pressure']['usable_kb'] > 0
    assert vm['disks']['vda']['capacity'] > 0 and vm['disks']['vda']['fl_req'] is None
    assert vm['vcpus_detail'] == [] and vm['totals']['cpu_delay_ns'] is None
    off = facts['vms'][OLD03]
    assert off['cpu_user_ns'] is None and off['vcpus_detail'] == [] and off['memory_pressure']['swap_in_kb'] is None
    assert off['totals']['cpu_delay_ns'] is None
    assert not res.get('warnings')


@pytest.mark.parametrize('args, words', [
    ({'timeout': 0}, ['timeout']),
    ({'cpu_sample_seconds': -1}, ['cpu_sample_seconds']),
    ({'states': ['sleeping']}, ['states', 'sleeping']),
    ({'uri': 'test:///nonexistent/node.xml'}, ['test:///nonexistent/node.xml', "'/nonexistent/node.xml' does not exist"]),
    # Never hurt the hypervisor: refused up front, naming the option (before: a ValueError or
    # OverflowError of the deadline's arithmetic, or every VM timed out at once).
    ({'timeout': 'nan'}, ['timeout must be a finite number']),
    ({'timeout': 'inf'}, ['timeout must be a finite number']),
    ({'timeout': 1e308}, ['timeout must be', 'at most 3600']),
    ({'cpu_sample_seconds': 'nan'}, ['cpu_sample_seconds must be a finite number']),
    ({'cpu_sample_seconds': 1e308}, ['cpu_sample_seconds must be', 'at most 3600']),
    ({'uri': ''}, ['uri must not be empty']),
])
def test_bad_input_fails_with_a_message_naming_it(args, words):
    rc, res = run_module(dict({'uri': URI}, **args))
    assert rc != 0 and res.get('failed') is True
    assert 'Traceback' not in res['msg']
    for word in words:
        assert word in res['msg']


def test_upper_case_uuids_are_matched():
    rc, res = run_module({'uri': URI, 'domains': [APP01.upper(), 'app-02']})
    assert rc == 0 and sorted(res['ansible_facts']['vm_stats']['vms']) == [APP01, APP02]
    assert not res.get('warnings')


def test_a_password_in_the_uri_is_in_no_result():
    rc, res = run_module({'uri': 'test://admin:s3cret@%s?passwd=qu3ry' % NODE})
    assert rc == 0 and res['ansible_facts']['vm_stats']['uri'] == 'test://admin@%s?passwd=********' % NODE
    assert 's3cret' not in json.dumps(res) and 'qu3ry' not in json.dumps(res)
    import socket
    with socket.socket() as sock:        # a closed port on loopback: refused at once
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    rc, res = run_module({'uri': 'qemu+tcp://admin:s3cret@127.0.0.1:%d/system?passwd=qu3ry' % port})
    assert rc != 0 and 'qemu+tcp://admin@127.0.0.1:%d/system?passwd=********' % port in res['msg']
    assert 's3cret' not in json.dumps(res) and 'qu3ry' not in json.dumps(res)
