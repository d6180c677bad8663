# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: reclaimable
short_description: Capacity that idle, oversized and stopped VMs hold, from the counters' p95s
version_added: 0.1.0
description:
  - From the per-VM C(p95) and C(first_seen)/C(last_seen) that P(hypervisor.stats.accumulate#filter) keeps, and
    this cycle's C(vm_stats) and C(host_resources) facts, names each VM that holds capacity it does not use, with
    its reason, and sums it per group and for the cluster in C(VCPU), C(MEMORY_MB) and C(DISK_GB).
  - C(idle) - running, p95 CPU utilisation below O(idle_cpu_percent) and p95 disk + network I/O below
    O(idle_io_kbps), over at least O(idle_days) of history; all of its vCPUs, memory and disk count.
  - C(oversized) - not idle, as much history; recommended vCPUs = ceil(p95 busy vCPUs x (1 + O(buffer))), memory
    = p95 guest memory in use (balloon usable, else unused) x (1 + O(buffer)); what is smaller than allocated counts.
  - C(stopped) - a defined, shut-off domain with a local disk (O(hosts)' C(stopped_allocations)) - the bytes its disks
    take count as C(DISK_GB); its vCPUs and memory, in no host's C(used), are shown as what it still holds in Nova's
    terms (C(allocations)), not counted. How long it has been stopped comes from O(stopped).
  - C(thin_gap) - per running VM, disk capacity - allocation; reported apart, not in C(total) nor in C(fits).
  - A VM without the figures a category needs is left out of it (unknown is not idle). With no flavors, no C(fits).
options:
  _input:
    description: The counters this cycle's P(hypervisor.stats.accumulate#filter) returned, keyed by host.
    type: dict
    required: true
  samples:
    description: This cycle's C(vm_stats) facts keyed by host (for disk sizes). Optional.
    type: dict
  hosts:
    description:
      - This cycle's C(host_resources) facts keyed by host (for groups, the vCPU allocation ratio and the stopped
        VMs). Optional.
    type: dict
  stopped:
    description: What P(hypervisor.stats.stopped_since#filter) returned this cycle (since when each VM is shut off).
    type: dict
  now:
    description: The cycle's timestamp in epoch seconds (C(hypervisor_stats_now)); omitted, each host's C(collected_at).
    type: float
  group_by:
    description: The JMESPath grouping of P(hypervisor.stats.cluster_totals#filter); null for no groups.
    type: str
  flavors:
    description: C(name -> {vcpus, memory_mb, disk_gb}); adds C(fits), how many more of each the total would hold.
    type: dict
  idle_cpu_percent:
    description: The p95 CPU utilisation, in percent, below which a VM may be idle.
    type: float
    default: 5
  idle_days:
    description: The shortest history, in days, a VM is judged idle or oversized on.
    type: float
    default: 14
  idle_io_kbps:
    description: The p95 disk + network I/O, in KiB/s, below which a VM may be idle.
    type: float
    default: 10
  buffer:
    description: The fraction kept above the p95 use when right-sizing.
    type: float
    default: 0.2
seealso:
  - plugin: hypervisor.stats.accumulate
    plugin_type: filter
  - plugin: hypervisor.stats.stopped_since
    plugin_type: filter
author:
  - hypervisor.stats contributors
'''

EXAMPLES = r'''
- name: Add what could be reclaimed to the cluster record
  ansible.builtin.set_fact:
    cluster: >-
      {{ cluster | combine({'reclaimable': counters | hypervisor.stats.reclaimable(
           samples=samples, hosts=host_facts, group_by='labels.cluster', idle_cpu_percent=5, idle_days=14)}) }}
'''

RETURN = r'''
_value:
  description:
    - C(thresholds) (the arguments used); C(cluster) and C(groups) (group -> the same), each with C(idle),
      C(oversized), C(stopped), C(thin_gap) and C(total) (idle + oversized + stopped), each
      C({VCPU, MEMORY_MB, DISK_GB, vms}).
    - C(vms) - the largest 20 per category, each with C(host), C(group), C(uuid), C(name), C(category), C(reason),
      C(VCPU), C(MEMORY_MB), C(DISK_GB); a C(stopped) one also C(stopped_since) (epoch seconds it was first seen shut
      off), C(stopped_days) (how long since, at least) and C(allocations) (its claim in Nova's terms).
    - C(hosts) - per host C(group), C(vms), C(p95_steal_percent) (the p95 over its VMs' p95 steal) and
      C(vcpu_allocation_ratio) (vCPUs allocated per physical CPU).
    - C(fits) - with flavors, flavor -> how many more instances C(cluster.total) would hold.
  type: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    DEFAULT_IDLE_CPU_PERCENT, DEFAULT_IDLE_DAYS, DEFAULT_IDLE_IO_KBPS, DEFAULT_RECLAIM_BUFFER)
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import ClusterError
from ansible_collections.hypervisor.stats.plugins.plugin_utils.reclaimable import ReclaimableError, reclaimable


def reclaimable_filter(counters, samples=None, hosts=None, group_by=None, flavors=None,
                       idle_cpu_percent=DEFAULT_IDLE_CPU_PERCENT, idle_days=DEFAULT_IDLE_DAYS,
                       idle_io_kbps=DEFAULT_IDLE_IO_KBPS, buffer=DEFAULT_RECLAIM_BUFFER, stopped=None, now=None):
    try:
        return reclaimable(counters, samples=samples, hosts=hosts, group_by=group_by, flavors=flavors,
                           idle_cpu_percent=idle_cpu_percent, idle_days=idle_days, idle_io_kbps=idle_io_kbps,
                           buffer=buffer, stopped=stopped, now=now)
    except (ReclaimableError, ClusterError) as exc:
        raise AnsibleFilterError('hypervisor.stats.reclaimable: %s' % exc)


class FilterModule(object):
    def filters(self):
        return {'reclaimable': reclaimable_filter}
