# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: stopped_since
short_description: Since when each defined, shut-off VM has been stopped, kept from cycle to cycle
version_added: 0.1.0
description:
  - For each host of O(hosts), UUID -> the time (epoch seconds) its shut-off domain with a local disk (its
    C(host_resources) C(stopped_allocations)) was first seen shut off, from what this filter returned in earlier
    cycles (the input, kept in the fact cache as C(hypervisor_stats_stopped) per hypervisor).
  - A VM keeps its time while it stays shut off on its host; one seen shut off for the first time, or again after
    running, counts from this cycle (O(now), else the host's C(collected_at)). A start and stop between two cycles
    goes unseen. A damaged kept time costs only its VM (it counts from now, with a warning naming it).
  - Hosts not in O(hosts) are left out of the result, so their kept times stay as they are.
  - P(hypervisor.stats.reclaimable#filter) turns these times into how long each stopped VM has been stopped.
options:
  _input:
    description: What this filter returned in earlier cycles, host -> {uuid -> epoch seconds}; null or {} at first.
    type: dict
    required: true
  hosts:
    description: This cycle's C(host_resources) facts keyed by host (the playbook uses C(inventory_hostname)).
    type: dict
    required: true
  now:
    description:
      - The cycle's timestamp in epoch seconds (the main job passes C(hypervisor_stats_now)); omitted, each host's
        own C(collected_at).
    type: float
seealso:
  - plugin: hypervisor.stats.reclaimable
    plugin_type: filter
author:
  - hypervisor.stats contributors
'''

EXAMPLES = r'''
- name: Since when each shut-off VM has been stopped
  ansible.builtin.set_fact:
    stopped: "{{ previous_stopped | default({}) | hypervisor.stats.stopped_since(host_facts) }}"
'''

RETURN = r'''
_value:
  description: Host -> {uuid -> epoch seconds since which the VM has been seen shut off}, for the hosts of O(hosts).
  type: dict
'''

from ansible_collections.hypervisor.stats.plugins.plugin_utils.filter_call import call_filter
from ansible_collections.hypervisor.stats.plugins.plugin_utils.reclaimable import ReclaimableError, stopped_since


def stopped_since_filter(previous, hosts, now=None):
    return call_filter('stopped_since', ReclaimableError, stopped_since, previous, hosts, now=now)


class FilterModule(object):
    def filters(self):
        return {'stopped_since': stopped_since_filter}
