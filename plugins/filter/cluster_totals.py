# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: cluster_totals
short_description: Nova-style cluster statistics and how many more instances of each flavor fit
version_added: 0.1.0
description:
  - Sums a list of M(hypervisor.stats.host_resources) facts into the fields of Nova's
    C(os-hypervisors/statistics), plus the placement inventory per resource class.
  - Sums alone can mislead (free vCPUs scattered over many hosts may not hold a single instance),
    so O(flavors) adds C(fits), counted host by host from each host's inventory C(free);
    an instance never spans hosts.
  - Items of the input that are not C(host_resources) facts (the result of a failed or skipped task,
    a dict without any host field, V(null)) are skipped with a warning that names the item; they are
    not counted as hosts.
  - A field a host lacks, or holds as no finite number, is not summed as 0; instead C(missing) counts, per field,
    the hosts that lacked it, so that a sum over fewer hosts than C(count) shows.
  - With O(failures), C(failover) says whether each group would still run its VMs after losing that many hosts
    (failure headroom); see O(failures).
  - Shared storage is counted once. Hosts whose facts have the same C(shared_id) see one shared storage (NFS export,
    Ceph pool, cluster filesystem, or one declared with C(shared_storage_id)); its C(local_gb), C(local_gb_used),
    C(free_disk_gb), C(disk_available_least) and C(DISK_GB) C(total), C(reserved) and C(capacity) are counted once
    in the totals and once in each group it appears in, taken from the sharing host with the latest C(collected_at)
    (then the first by name). C(DISK_GB) C(used) is the sum of the sharing hosts' own instances' disks and C(free)
    is C(capacity - used), as placement's sharing provider counts it.
  - Disk fits on shared storage come from its free space once - the sharing hosts hold together the smaller of the
    sum of their fits by CPU and memory and the storage's C(free // disk_gb). Each host's own facts still show the
    whole storage.
requirements:
  - jmespath (for O(group_by))
options:
  _input:
    description:
      - A list of C(host_resources) facts, one per host, each named by its C(hypervisor_hostname); or a dict of
        inventory host to its facts, named by the keys (as the main job passes them, since hosts may share a
        hostname).
    type: raw
    required: true
  group_by:
    description:
      - A JMESPath expression evaluated on each host's facts, for example C(labels.cluster),
        C(cpu_info.arch) or C(hypervisor_type). Adds C(groups) with the same fields per group value
        (non-string values are keyed by their JSON text, so a host without the label is under C(null)),
        and C(group_by), the expression itself.
      - A host on which the expression fails at run time (a JMESPath type error, say C(abs(labels.cluster))
        on a string label) is counted in the C(null) group, with one warning naming the hosts and the
        expression. The main job checks the expression up front on a full C(host_resources) document.
    type: str
  flavors:
    description:
      - Flavors to count, as a dict C(name → {vcpus, memory_mb, disk_gb}); C(disk_gb) defaults to 0
        (boot from volume). Adds C(fits), overall and per group.
    type: dict
  failures:
    description:
      - How many hosts each group (the whole cluster without O(group_by)) must be able to lose, from 0 to 64.
        With 1 or more, adds C(failover); 0 leaves the output as it is without this option.
      - The running VMs of the lost hosts (the C(allocations) of their C(host_resources) facts) are re-placed onto
        the surviving hosts of the same group by first-fit decreasing, largest dominant share first, within each
        survivor's inventory as C(fits) counts it (C(free), C(max_unit); a pinned VM's C(PCPU) only onto C(PCPU)
        inventory; a VM with local disks only onto a host with C(DISK_GB) inventory). Nothing crosses groups.
      - With 1, the loss of every host is tried, one at a time. With more, every set of that many hosts is tried
        when a group has at most 2,000 such sets; otherwise the worst set is chosen greedily, one host at a time,
        and survival is claimed only when a conservative bound proves it for every set.
      - First-fit decreasing is a heuristic; it may miss a placement that exists, so C(survives=false) means that
        none was found; C(survives=true) always rests on a placement that fits.
      - Hosts whose facts have no C(allocations) (a C(host_resources) from before them) add a warning; their VMs are
        unknown, so their group never claims to survive (C(survives=null)) unless another loss already fails.
    type: int
    default: 0
seealso:
  - plugin: hypervisor.stats.accumulate
    plugin_type: filter
  - name: Nova hypervisor statistics (removed as misleading)
    description: The fields summed here.
    link: https://docs.openstack.org/api-ref/compute/#show-hypervisor-statistics-deprecated
author:
  - hypervisor.stats contributors
'''

EXAMPLES = r'''
- name: Cluster totals per cluster label, with flavor fits
  ansible.builtin.debug:
    msg: >-
      {{ groups['hypervisors'] | map('extract', hostvars, ['ansible_facts', 'host_resources']) | list
         | hypervisor.stats.cluster_totals(group_by='labels.cluster',
                                           flavors={'m1.small': {'vcpus': 1, 'memory_mb': 2048, 'disk_gb': 20}}) }}

- name: Would every cluster still run all its VMs after losing any one host?
  ansible.builtin.assert:
    that: totals.failover.cluster.survives
    fail_msg: >-
      Losing {{ totals.failover.cluster.worst_hosts | join(', ') }} would leave
      {{ totals.failover.cluster.unplaced.count }} VMs without a host.
  vars:
    totals: >-
      {{ groups['hypervisors'] | map('extract', hostvars, ['ansible_facts', 'host_resources']) | list
         | hypervisor.stats.cluster_totals(group_by='labels.cluster', failures=1) }}
'''

RETURN = r'''
_value:
  description:
    - C(count) (hosts), C(running_vms), C(vcpus), C(vcpus_used), C(memory_mb), C(memory_mb_used), C(free_ram_mb),
      C(local_gb), C(local_gb_used), C(free_disk_gb), C(disk_available_least), summed.
    - C(inventory), per resource class (C(VCPU), C(MEMORY_MB), C(DISK_GB), C(PCPU)), the sums of
      C(total), C(reserved), C(used), C(capacity) and C(free).
    - C(missing), per field, the number of hosts that lacked it (or whose value was no finite number), so
      that field's sum covers C(count) minus that many hosts; C({}) when every host had every field. Fields
      are the summed ones above, C(inventory) (not a dict), C(inventory.RC) (a record that is not a dict)
      and C(inventory.RC.FIELD).
    - C(fits) with O(flavors), per flavor, how many more instances fit.
    - C(shared_storage) when any host has a C(shared_id), per C(shared_id) - C(hosts) (the names of the hosts that
      share it), C(figures_from) (the host whose figures were counted) and C(DISK_GB) (the merged record).
    - C(groups) with O(group_by), per group value, all of the above (C(missing) included).
    - C(group_by) with O(group_by), the expression as given, so that a reader of the output (the
      P(hypervisor.stats.capacity_report#callback) callback) puts each host in the group it was summed in.
    - C(failover) with O(failures) of 1 or more - C(failures) (the number asked for), C(cluster) (a record) and,
      with O(group_by), C(groups) (a record per group, keyed as C(groups) above).
    - A record holds C(survives) (V(true), V(false), or V(null) when VMs are unknown or no bound proves it),
      C(worst_hosts) (the names of the hosts whose loss is worst - most VMs unplaced, then the least room left in
      the scarcest resource class), C(unplaced) (C(count) and C(vms), each C(name), C(uuid) and C(host), for that loss),
      C(headroom_after) (per resource class, C(free) summed over the survivors after the re-placement),
      C(exhaustive) (whether every set of hosts was tried), C(unknown_hosts) (hosts without C(allocations)) and,
      with O(flavors), C(fits_after) (per flavor, how many more instances fit on the survivors afterwards).
    - The cluster's record, with O(group_by), is every group losing its own worst hosts at once (O(failures) per
      group); its C(survives) is V(true) only when every group's is.
  type: dict
'''

from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import ClusterError, cluster_totals
from ansible_collections.hypervisor.stats.plugins.plugin_utils.filter_call import call_filter


def cluster_totals_filter(hosts, group_by=None, flavors=None, failures=0):
    def totals_and_warnings():
        warnings = []
        return cluster_totals(hosts, group_by=group_by, flavors=flavors, warnings=warnings, failures=failures), warnings
    return call_filter('cluster_totals', ClusterError, totals_and_warnings)


class FilterModule(object):
    def filters(self):
        return {'cluster_totals': cluster_totals_filter}
