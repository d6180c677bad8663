"""The capacity_report callback with playbooks written as a user would, on the simulated test-driver cluster.

The user's playbooks call the modules and filters directly, store the filters' outputs under
their own variable names, and put each hypervisor's counters on it in their own way (a loop
variable of their own, an index into a group, or no delegation at all). Their report must be
the one playbooks/collect.yml gives: the callback reads facts as Ansible sets them and tells
the filters' outputs by their shape, not by a name or a delegate_to text of ours.

Every run here also sets the callback's own group_by (cpu_info.arch) while cluster_totals
groups by labels.cluster: every group in every format must then be a labels.cluster one.
"""

import copy
import json
import os
import re

import pytest

from test_capacity_report import (COLLECT, HOSTS, copy_examples, promtool_check, prom_samples, report,
                                  run_playbook)

FLAVORS = {'m1.small': {'vcpus': 1, 'memory_mb': 2048, 'disk_gb': 10},
           'm1.large': {'vcpus': 4, 'memory_mb': 8192, 'disk_gb': 40}}
CLUSTERS = {'compute-a1': 'east', 'compute-a2': 'east', 'compute-b1': 'west', 'compute-b2': 'west'}
REPORT_GROUP_BY = 'cpu_info.arch'

READ = '''
- name: Read every hypervisor
  hosts: hypervisors
  gather_facts: false
  tasks:
    - name: Capacity
      hypervisor.stats.host_resources:
        uri: "{{ hypervisor_stats_uri }}"
        storage_pool: "{{ hypervisor_stats_storage_pool }}"
        labels: "{{ hypervisor_stats_labels }}"
    - name: VM counters
      hypervisor.stats.vm_stats:
        uri: "{{ hypervisor_stats_uri }}"
'''

SUM = '''
- name: Sum up on the controller
  hosts: localhost
  gather_facts: false
  vars:
    hvs: "{{ groups['hypervisors'] }}"
    flavors: %(flavors)s
  tasks:
    - name: Read what the fact cache kept of last run's counters
      ansible.builtin.set_fact:
        kept: >-
          {%% set kept = {} %%}{%% for h in hvs %%}{%% set _ = kept.update({h: hostvars[h].ansible_facts.%(name)s | default(none)}) %%}{%% endfor %%}{{ kept }}
    - name: Add this run's samples to them, and sum the cluster
      ansible.builtin.set_fact:
        all_counters: "{{ kept | hypervisor.stats.accumulate(dict(hvs | zip(hvs | map('extract', hostvars, ['ansible_facts', 'vm_stats'])))) }}"
        my_totals: >-
          {{ hvs | map('extract', hostvars, ['ansible_facts', 'host_resources']) | list
             | hypervisor.stats.cluster_totals(group_by='labels.cluster', flavors=flavors) }}
'''

# Three ways to keep each hypervisor's counters in its own fact cache entry.
STORE = {
    # a loop variable of the user's own
    'loop_var': SUM + '''
    - name: Keep each hypervisor's counters
      ansible.builtin.set_fact:
        my_counters: "{{ all_counters[target_host] }}"
        cacheable: true
      delegate_to: "{{ target_host }}"
      delegate_facts: true
      loop: "{{ hvs }}"
      loop_control:
        loop_var: target_host
''',
    # an expression the callback could never read itself (and collect.yml's fact name)
    'index': SUM + '''
    - name: Keep each hypervisor's counters
      ansible.builtin.set_fact:
        hypervisor_stats_counters: "{{ all_counters[item] }}"
        cacheable: true
      delegate_to: "{{ groups['hypervisors'][ansible_loop.index0] }}"
      delegate_facts: true
      loop: "{{ hvs }}"
      loop_control:
        extended: true
''',
    # no delegation: each hypervisor takes its own entry
    'no_delegation': SUM + '''
- name: Each hypervisor keeps its own counters
  hosts: hypervisors
  gather_facts: false
  tasks:
    - name: Keep this hypervisor's counters
      ansible.builtin.set_fact:
        counters_of_mine: "{{ hostvars['localhost'].all_counters[inventory_hostname] }}"
        cacheable: true
''',
}
FACT_NAMES = {'loop_var': 'my_counters', 'index': 'hypervisor_stats_counters', 'no_delegation': 'counters_of_mine'}


def user_playbook(tmp_path, style):
    text = READ + STORE[style] % {'flavors': json.dumps(FLAVORS), 'name': FACT_NAMES[style]}
    path = tmp_path / ('%s.yml' % style)
    path.write_text(text)
    return path


def two_cycles(tmp_path, playbook, args=()):
    """Two runs on a fresh copy of the example cluster (the second one has counters from the first)."""
    inventory = copy_examples(tmp_path)
    for _cycle in range(2):
        run_playbook(tmp_path, playbook, inventory, args, HYPERVISOR_STATS_REPORT_GROUP_BY=REPORT_GROUP_BY)
    return report(tmp_path)


@pytest.fixture(scope='module')
def collected(tmp_path_factory):
    """The report of two collect.yml cycles, with flavors."""
    tmp_path = tmp_path_factory.mktemp('collect')
    return two_cycles(tmp_path, COLLECT, ['-e', json.dumps({'hypervisor_stats_flavors': FLAVORS})])


# What differs between two runs on the test driver: its CPU time, block and interface counters
# follow the clock, so every VM number read from them, and the times themselves; and the
# directory of each run's copy of the node files, in the URIs.
RUN_DEPENDENT_VM_FIELDS = ('cpu_time_ns', 'cpu_utilization', 'first_seen', 'last_seen')


PLANNING_SECTIONS = ('failover', 'forecast', 'history', 'reclaimable')


def comparable(doc):
    """The report without what legitimately depends on the moment of the run."""
    doc = copy.deepcopy(doc)
    del doc['generated_at']
    # The planning sections come from the main job's planning steps and inputs (failures, history,
    # forecasts, reclaimable), which the users' playbooks here do not run; their own tests cover them.
    for section in PLANNING_SECTIONS:
        doc.pop(section, None)
    for host in doc['hosts'].values():
        host['collected_at'] = host['collected_at'] is not None
        host['uri'] = os.path.basename(host['uri'])  # each run has its own copy of the node files
    for vm in doc['vms'].values():
        for field in RUN_DEPENDENT_VM_FIELDS:
            vm[field] = vm[field] is not None
        for source in ('totals', 'cumulative'):
            if vm[source] is not None:
                vm[source] = sorted(name for name, value in vm[source].items() if value is not None)
    for top in doc['top'].values():
        top['vms'] = len(top['vms'])
    for shared in doc['cluster'].get('shared_storage', {}).values():
        # cluster_totals names hosts by inventory name from a dict, by hypervisor_hostname from a list
        shared['hosts'] = len(shared['hosts'])
        shared['figures_from'] = shared['figures_from'] is not None
    return doc


def differences(got, want, path='doc'):
    """Where two comparable reports differ, as readable lines."""
    if isinstance(got, dict) and isinstance(want, dict):
        out = []
        for key in sorted(set(got) | set(want), key=str):
            if key not in got or key not in want:
                out.append('%s[%r]: only in %s' % (path, key, 'the report' if key in got else "collect.yml's"))
            else:
                out += differences(got[key], want[key], '%s[%r]' % (path, key))
        return out
    return [] if got == want else ['%s: %r != %r' % (path, got, want)]


def check_groups_are_the_cluster_totals_ones(doc, prom):
    """Groups, fits and every host's group are those of cluster_totals (labels.cluster)."""
    cluster = doc['cluster']
    assert doc['options']['group_by'] == REPORT_GROUP_BY
    assert cluster['source'] == 'cluster_totals' and cluster['group_by'] == 'labels.cluster'
    assert sorted(cluster['groups']) == ['east', 'west']
    for flavor in FLAVORS:
        assert sorted(cluster['fits'][flavor]['groups']) == ['east', 'west']
    assert dict((name, host['group']) for name, host in doc['hosts'].items()) == CLUSTERS
    for group, section in cluster['groups'].items():
        assert section['count'] == sum(1 for g in CLUSTERS.values() if g == group)
    promtool_check(prom)
    labels = [dict(labels) for _name, labels in prom_samples(prom)]
    assert set(l['group_by'] for l in labels if 'group_by' in l) == {'labels.cluster'}
    assert set(l['group'] for l in labels if 'group' in l) == {'east', 'west'}
    for (name, labels), _value in prom_samples(prom).items():
        labels = dict(labels)
        if 'host' in labels and 'group' in labels:
            assert labels['group'] == CLUSTERS[labels['host']], (name, labels)
    assert re.search(r'^hypervisor_stats_group_flavor_fits\{group_by="labels.cluster",group="west",flavor="m1.small"\} ',
                     prom, re.M)


def test_collect_groups_as_cluster_totals_did_whatever_the_callback_option(collected):
    doc, prom, _html = collected
    check_groups_are_the_cluster_totals_ones(doc, prom)


@pytest.mark.parametrize('style', sorted(STORE))
def test_a_users_own_playbook_gets_the_report_collect_gets(tmp_path, collected, style):
    doc, prom, _html = two_cycles(tmp_path, user_playbook(tmp_path, style))
    want = collected[0]
    # The counters reached the report, under the right hosts, with a second-cycle utilisation.
    assert sorted(doc['hosts']) == sorted(HOSTS) and doc['problems'] == []
    assert doc['vms'] and all(vm['cumulative'] is not None for vm in doc['vms'].values())
    assert dict((uuid, vm['host']) for uuid, vm in doc['vms'].items()) == \
        dict((uuid, vm['host']) for uuid, vm in want['vms'].items())
    assert doc['top']['cpu']['basis'] == 'cpu_utilization'
    check_groups_are_the_cluster_totals_ones(doc, prom)
    assert differences(comparable(doc), comparable(want)) == []
    assert os.path.isfile(str(tmp_path / 'report' / 'capacity.html'))
