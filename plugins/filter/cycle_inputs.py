# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: cycle_inputs
short_description: Check the inputs of a collection cycle with the rules of the modules and filters that use them
version_added: 0.1.0
description:
  - Takes the C(hypervisor_stats_*) variables of the main job (role P(hypervisor.stats.cycle#role)) as they
    arrive from an inventory, extra vars or an AWX survey, and returns them checked and converted, keyed
    by their name without the C(hypervisor_stats_) prefix. C(hypervisor_stats_uri) is checked but not returned,
    so that a password in it never lands in a fact.
  - Numbers may be given as text; dicts (O(_input.hypervisor_stats_flavors), O(_input.hypervisor_stats_labels))
    as JSON or YAML text; an empty string means not set and is left out. An empty
    C(hypervisor_stats_group_by) turns grouping off (C(group_by) is then null); an unset one means C(labels.cluster).
  - Host options (CPU sets, reservations, allocation ratios) are checked by the same function
    M(hypervisor.stats.host_resources) uses; flavors and C(group_by) by the one P(hypervisor.stats.cluster_totals#filter) uses.
  - A bad value fails with a message that names the variable.
options:
  _input:
    description: Variable name -> value, for the inputs that are defined.
    type: dict
    required: true
seealso:
  - plugin: hypervisor.stats.cluster_totals
    plugin_type: filter
author:
  - hypervisor.stats contributors
'''

EXAMPLES = r'''
- name: Check the survey answers before any hypervisor is contacted
  ansible.builtin.set_fact:
    checked: "{{ {'hypervisor_stats_retention_seconds': '86400', 'hypervisor_stats_flavors': ''} | hypervisor.stats.cycle_inputs }}"
  # checked == {'retention_seconds': 86400, 'group_by': 'labels.cluster'}
'''

RETURN = r'''
_value:
  description:
    - The inputs that are set, by name without the C(hypervisor_stats_) prefix, converted (whole numbers to int,
      ratios and timeouts to float, dict text parsed) and C(group_by) always present (null for no groups).
  type: dict
'''

from ansible.errors import AnsibleFilterError

from ansible_collections.hypervisor.stats.plugins.plugin_utils.cycle_inputs import (
    CycleInputError, check_cycle_inputs)


def cycle_inputs_filter(values):
    try:
        return check_cycle_inputs(values)
    except CycleInputError as exc:
        raise AnsibleFilterError('hypervisor.stats.cycle_inputs: %s' % exc)


class FilterModule(object):
    def filters(self):
        return {'cycle_inputs': cycle_inputs_filter}
