# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: reconcile_counters
short_description: Join the counters of VMs that moved between hosts of different slices
version_added: 0.1.0
description:
  - A sliced collection (AWX job slicing, runs with C(--limit)) accumulates each slice's hypervisors apart
    (P(hypervisor.stats.accumulate#filter) with O(hypervisor.stats.accumulate#filter:partial=true)), so a VM that
    moved from a host of one slice to a host of another is, for each slice, a VM that left and a new one. This
    filter takes the counters every slice left in the fact cache, keyed by host, and does what one unsliced run
    would have done.
  - A VM's first reading on a host of a slice that did not know it (kept under the host's C(first_sights)) counts
    whole when another host's entry knew the VM earlier (its new domain's counters started with it), and is
    dropped otherwise (a new VM, whose first reading is only a baseline).
  - The gone entries (C(state=gone)) of a VM that runs on another host are added into the running entry of the
    first such host in name order; their baselines stay behind under their hosts' C(moved), so that the same
    domain found there again counts only its growth since.
  - With the same samples, the slices followed by this filter give exactly the counters of one unsliced run.
  - Only the hosts whose entry changed are returned; the main job's totals run (C(hypervisor.stats.totals))
    writes them back to the fact cache. It must not run while a slice runs (an AWX workflow runs it after the
    slices), or a slice's write could be lost.
  - Damaged entries cost only their VM or host, with a warning naming it, as in P(hypervisor.stats.accumulate#filter).
options:
  _input:
    description: The counters of every hypervisor, keyed by host, as the slices left them in the fact cache.
    type: dict
    required: true
seealso:
  - plugin: hypervisor.stats.accumulate
    plugin_type: filter
author:
  - hypervisor.stats contributors
'''

EXAMPLES = r'''
- name: Join the counters of VMs that moved between slices, and write back the hosts that changed
  ansible.builtin.set_fact:
    hypervisor_stats_counters: "{{ joined[item] }}"
    cacheable: true
  delegate_to: "{{ item }}"
  delegate_facts: true
  loop: "{{ joined | list }}"
  vars:
    counted: "{{ groups['hypervisors'] | map('extract', hostvars) | selectattr('ansible_facts.hypervisor_stats_counters', 'defined') }}"
    joined: >-
      {{ dict(counted | map(attribute='inventory_hostname') | zip(counted | map(attribute='ansible_facts.hypervisor_stats_counters')))
         | hypervisor.stats.reconcile_counters }}
'''

RETURN = r'''
_value:
  description:
    - Host -> its new counters entry (as P(hypervisor.stats.accumulate#filter) returns them), for the hosts whose
      entry changed; empty when no VM moved between slices and no first reading was left to resolve.
  type: dict
'''

from ansible_collections.hypervisor.stats.plugins.plugin_utils.counters import AccumulateError, reconcile
from ansible_collections.hypervisor.stats.plugins.plugin_utils.filter_call import call_filter


def reconcile_counters_filter(counters):
    return call_filter('reconcile_counters', AccumulateError, reconcile, counters if counters is not None else {})


class FilterModule(object):
    def filters(self):
        return {'reconcile_counters': reconcile_counters_filter}
