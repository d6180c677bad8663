# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: cycle_cache
short_description: The fact cache as the collection cycle needs it (checked, and read across ansible-core releases)
version_added: 0.1.0
description:
  - Used by the role P(hypervisor.stats.cycle#role); works on the fact cache Ansible is configured with
    (C(fact_caching)), whatever the plugin.
  - V(check) (the cycle's first step) writes a small entry and reads it back through a fresh instance of
    the plugin, and fails naming the path when the cache does not keep it (a file in place of the
    directory, a directory Ansible cannot write, which Ansible itself only warns about before it
    disables the cache). It then reads the entry of each host of O(hosts) as Ansible will, and moves one
    that would stop the run (not a mapping, unreadable, a directory in its place) aside, to
    C(.<name>.damaged) beside it (or deletes it, for a plugin without files), with a warning naming it;
    that host starts its counters afresh. Returns the hosts whose entries were set aside.
  - V(counters) (the cycle's store step) returns O(current) (host -> C(hypervisor_stats_counters) as this
    ansible-core read them) with, for each host of O(hosts), the counters of the other layout of the
    cache when they are newer. ansible-core 2.19 keeps a host's facts under C(s1_<host>), wrapped and with
    data tags; 2.16 to 2.18 under C(<host>); neither reads the other's, so an upgrade or a downgrade
    would otherwise start every counter afresh.
options:
  _terms:
    description: V(check) or V(counters).
    required: true
    type: list
    elements: str
  hosts:
    description: The inventory hosts whose entries to check or read.
    type: list
    elements: str
    default: []
  current:
    description: With V(counters), host -> counters as read from this release's layout.
    type: dict
    default: {}
author:
  - hypervisor.stats contributors (@hypervisor-stats)
'''

EXAMPLES = r'''
- name: Check the fact cache before any hypervisor is contacted
  ansible.builtin.set_fact:
    set_aside: "{{ query('hypervisor.stats.cycle_cache', 'check', hosts=groups['hypervisors']) }}"
'''

RETURN = r'''
_raw:
  description:
    - V(check), the hosts whose entries were set aside; V(counters), one dict host -> counters.
  type: list
'''

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.display import Display

from ansible_collections.hypervisor.stats.plugins.plugin_utils.cycle_cache import CacheFault, CycleCache

display = Display()


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        modes = [str(t) for t in terms]
        if modes not in (['check'], ['counters']):
            raise AnsibleLookupError('hypervisor.stats.cycle_cache: give one term, check or counters, got %r' % (modes,))
        hosts = [str(h) for h in self.get_option('hosts') or []]
        try:
            cache = CycleCache.configured()
            if modes == ['check']:
                warnings = cache.check(hosts)
                for _host, text in warnings:
                    display.warning('hypervisor.stats: %s' % text)
                return [host for host, _text in warnings if host is not None]
            counters, notes = cache.counters(hosts, self.get_option('current'))
            for _host, text in notes:
                if text.startswith('ignoring'):
                    display.warning('hypervisor.stats: %s' % text)
                else:
                    display.v('hypervisor.stats: %s' % text)
            return [counters]
        except CacheFault as exc:
            raise AnsibleLookupError('hypervisor.stats: %s. The VM counters cannot be kept; nothing was collected.' % exc)
