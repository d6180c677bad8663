"""The capacity_report callback's faults, through ansible-playbook: blank environment options, a group_by
that fails at run time, a failure on the store host. The playbooks set host_resources facts themselves
(the callback knows them by name), so no hypervisor is needed.

Before: an empty HYPERVISOR_STATS_REPORT_DIR wrote the files into the working directory, an empty
HYPERVISOR_STATS_REPORT_FORMATS silently wrote and printed nothing, a group_by valid as JMESPath but
failing on the facts (abs(labels.cluster)) dropped the whole report, and a store-host failure showed as
a hypervisor row "FAILED, no capacity data".
"""

import json
import os
import subprocess
import sys

from report_data import host_facts

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')


def run(tmp_path, plays, **env):
    playbook = tmp_path / 'play.yml'
    playbook.write_text(json.dumps(plays))
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(json.dumps({'all': {'hosts': dict((h, {'ansible_connection': 'local'}) for h in ('hv1', 'hv2'))}}))
    environ = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'),
                   ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_CACHE_PLUGIN='ansible.builtin.memory',
                   ANSIBLE_NOCOLOR='1', ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING='0',
                   HYPERVISOR_STATS_REPORT_DIR=str(tmp_path / 'report'))
    environ.pop('HYPERVISOR_STATS_REPORT_FORMATS', None)
    environ.pop('HYPERVISOR_STATS_REPORT_GROUP_BY', None)
    environ.update(env)
    work = tmp_path / 'work'
    work.mkdir(exist_ok=True)
    result = subprocess.run([ANSIBLE_PLAYBOOK, '-i', str(inventory), str(playbook)], env=environ, cwd=str(work),
                            capture_output=True, text=True, timeout=300)
    return result, result.stdout + result.stderr, work


def facts_play(hosts='hv1,hv2'):
    return {'hosts': hosts, 'gather_facts': False, 'tasks': [{
        'name': 'Capacity', 'ansible.builtin.set_fact': {
            'host_resources': '{{ facts[inventory_hostname] }}'},
        'vars': {'facts': {'hv1': host_facts('hv1', 'east', 32, 4, 65536, 4096, 100, 10),
                           'hv2': host_facts('hv2', 'west', 16, 2, 32768, 2048, 100, 10)}}}]}


def test_blank_report_dir_is_unset_not_the_working_directory(tmp_path):
    config = tmp_path / 'ansible.cfg'   # the callback enabled, no output_dir: the blank variable is all there is
    config.write_text('[defaults]\ncallbacks_enabled = hypervisor.stats.capacity_report\n')
    result, output, work = run(tmp_path, [facts_play()], HYPERVISOR_STATS_REPORT_DIR='', ANSIBLE_CONFIG=str(config))
    assert result.returncode == 0, output[-3000:]
    assert os.listdir(str(work)) == [], 'nothing written into the working directory'
    assert 'output_dir is not set' in ' '.join(output.split()) and 'CAPACITY REPORT' in output


def test_blank_formats_are_the_default_not_nothing(tmp_path):
    result, output, _work = run(tmp_path, [facts_play()], HYPERVISOR_STATS_REPORT_FORMATS=' ')
    assert result.returncode == 0, output[-3000:]
    assert 'CAPACITY REPORT' in output and 'hv2' in output
    assert sorted(os.listdir(str(tmp_path / 'report'))) == ['capacity.html', 'capacity.json', 'capacity.prom']


def test_a_group_by_failing_at_run_time_costs_the_groups_only(tmp_path):
    result, output, _work = run(tmp_path, [facts_play()], HYPERVISOR_STATS_REPORT_GROUP_BY='abs(labels.cluster)')
    assert result.returncode == 0, output[-3000:]
    flat = ' '.join(output.split())
    assert 'CAPACITY REPORT' in output and 'CLUSTER (2)' in output, output[-3000:]
    assert 'abs(labels.cluster)' in flat and 'without groups' in flat
    with open(str(tmp_path / 'report' / 'capacity.json')) as handle:
        doc = json.load(handle)
    assert doc['cluster']['groups'] == {} and sorted(doc['hosts']) == ['hv1', 'hv2']


def test_a_failure_on_the_store_host_is_no_hypervisor_row(tmp_path):
    store = {'hosts': 'localhost', 'gather_facts': False, 'tasks': [
        {'name': 'Store the counters', 'ansible.builtin.fail': {'msg': 'disk full'}}]}
    result, output, _work = run(tmp_path, [facts_play(), store])
    assert result.returncode != 0
    assert 'CAPACITY REPORT' in output, output[-3000:]
    assert 'localhost  FAILED' not in output and "localhost failed in task 'Store the counters': disk full" in output
    with open(str(tmp_path / 'report' / 'capacity.prom')) as handle:
        assert 'host="localhost"' not in handle.read()
