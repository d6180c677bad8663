# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: history
short_description: Fold this cycle's cluster totals and host facts into the bounded capacity history
version_added: 0.1.0
description:
  - Adds one point for the cluster, one per group and one per host to the histories of the previous
    cycles, for P(hypervisor.stats.forecast#filter). Consolidated like RRD, so their size never grows
    with the number of cycles; every cycle is kept for 2 days, one point per UTC hour for 35 days (mean
    and max of every reading, p95 of the CPU utilisation), one per UTC day for three years.
  - "A point holds, per resource class (C(VCPU), C(PCPU), C(MEMORY_MB), C(DISK_GB)), C(total), C(reserved),
    C(capacity), C(used) and C(free); the hosts' CPU utilisation in percent (null when unknown), memory used
    in MiB, local disk used in GiB, running VMs, the number of hosts summed, and C(fits) per flavor."
  - A host or group that was not sampled gets no point (a gap, never a zero). A sum that some host
    lacked (C(missing) in the totals) is stored as unknown. Hosts joining or leaving change the
    cluster's and the group's capacity from that cycle on.
  - A point no newer than a history's newest (the controller's clock went back, a cycle replayed) is
    not added to it, with a warning. A damaged history (of the cluster, a group or a host) starts
    afresh with a warning naming it; the others are kept. A change of O(totals)' C(group_by) restarts
    the group histories.
  - Each history is compact columnar text (docs/forecast.md describes the format); the role keeps the
    cluster's in the store host's C(hypervisor_stats_history) and each host's in that host's
    C(hypervisor_stats_host_history), so that no fact cache entry grows with the cluster.
options:
  _input:
    description:
      - The histories this filter returned last cycle, C({cluster, hosts}). C(cluster) is the store host's
        entry, C(hosts) maps host names to their own histories (only the hosts sampled this cycle are
        needed). Empty, null or missing keys on the first cycle.
    type: dict
    required: true
  totals:
    description: This cycle's P(hypervisor.stats.cluster_totals#filter) output (with its C(groups) and C(fits)).
    type: dict
    required: true
  hosts:
    description:
      - This cycle's M(hypervisor.stats.host_resources) facts of the hosts sampled, keyed by the name
        their history is stored under (the playbook uses C(inventory_hostname)).
    type: dict
    default: {}
  now:
    description:
      - The cycle's time in epoch seconds (the role passes C(hypervisor_stats_now)); the controller's clock
        when null.
    type: float
  flavors:
    description: The cycle's flavors, C(name → {vcpus, memory_mb, disk_gb}), for each host's C(fits).
    type: dict
  cpu_utilization:
    description:
      - Each host's CPU utilisation in percent, keyed like O(hosts); null or absent when unknown. Without
        it, a host's facts' C(cpu_utilization) is used when they have one. The cluster's and each group's
        is the hosts' mean weighted by their CPU count (C(vcpus)).
    type: dict
seealso:
  - plugin: hypervisor.stats.forecast
    plugin_type: filter
  - plugin: hypervisor.stats.cluster_totals
    plugin_type: filter
author:
  - hypervisor.stats contributors
'''

EXAMPLES = r'''
- name: Fold this cycle into the histories (on the store host)
  ansible.builtin.set_fact:
    cycle_history: >-
      {{ {'cluster': hypervisor_stats_history | default(none),
          'hosts': dict(sampled | zip(sampled | map('extract', hostvars) | map(attribute='hypervisor_stats_host_history', default=none)))}
         | hypervisor.stats.history(cycle_totals, hosts=dict(sampled | zip(host_facts)), now=hypervisor_stats_now | default(none),
                                    flavors=hypervisor_stats_flavors | default(none)) }}
  vars:
    sampled: "{{ groups['hypervisors'] }}"
    host_facts: "{{ sampled | map('extract', hostvars, ['ansible_facts', 'host_resources']) | list }}"

- name: Keep the cluster's history on the store host
  ansible.builtin.set_fact:
    hypervisor_stats_history: "{{ cycle_history.cluster }}"
    cacheable: true

- name: Keep each host's history in its own fact cache entry
  ansible.builtin.set_fact:
    hypervisor_stats_host_history: "{{ cycle_history.hosts[item] }}"
    cacheable: true
  delegate_to: "{{ item }}"
  delegate_facts: true
  loop: "{{ cycle_history.hosts | list }}"
'''

RETURN = r'''
_value:
  description:
    - C(cluster), the store host's entry, C({version, group_by, cluster, groups}) (with C(simulated) when a
      simulated history was folded into); C(cluster) and each of C(groups) is one history.
    - C(hosts), host name → its history, for each host of O(hosts).
    - "A history: C({version, raw, hourly, daily}); each tier has C(t) (epoch seconds; a consolidated point:
      the start of its hour or day) and, per metric, one text of comma-separated values (empty: unknown),
      under C(v) (raw) or C(mean), C(max) and C(p95) (C(cpu_util) only), and C(n), the cycles in each point.
      Metrics: C(VCPU.used) and the like per resource class, C(cpu_util), C(mem_used_mb), C(disk_used_gb),
      C(vms), C(hosts), C(fits.<flavor>)."
  type: dict
'''

from ansible_collections.hypervisor.stats.plugins.plugin_utils.filter_call import call_filter
from ansible_collections.hypervisor.stats.plugins.plugin_utils.history import HistoryError, fold_cycle, now_of


def history_filter(previous, totals, hosts=None, now=None, flavors=None, cpu_utilization=None):
    def fold():
        return fold_cycle(previous, totals, hosts, now_of(now), flavors=flavors, cpu_utilization=cpu_utilization)
    return call_filter('history', HistoryError, fold)


class FilterModule(object):
    def filters(self):
        return {'history': history_filter}
