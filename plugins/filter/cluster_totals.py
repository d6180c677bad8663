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
requirements:
  - jmespath (for O(group_by))
options:
  _input:
    description: A list of C(host_resources) facts, one per host.
    type: list
    elements: dict
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
    - C(groups) with O(group_by), per group value, all of the above (C(missing) included).
    - C(group_by) with O(group_by), the expression as given, so that a reader of the output (the
      P(hypervisor.stats.capacity_report#callback) callback) puts each host in the group it was summed in.
  type: dict
'''

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display

from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import ClusterError, cluster_totals


def cluster_totals_filter(hosts, group_by=None, flavors=None):
    warnings = []
    try:
        totals = cluster_totals(hosts, group_by=group_by, flavors=flavors, warnings=warnings)
    except ClusterError as exc:
        raise AnsibleFilterError('hypervisor.stats.cluster_totals: %s' % exc)
    display = Display()
    for warning in warnings:
        display.warning('hypervisor.stats.cluster_totals: %s' % warning)
    return totals


class FilterModule(object):
    def filters(self):
        return {'cluster_totals': cluster_totals_filter}
