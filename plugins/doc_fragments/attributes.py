# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The modules' attributes, as community.general's ``attributes`` fragment.

    A module lists what applies to it:
    ``hypervisor.stats.attributes`` (check_mode, diff_mode), ``.facts`` (facts),
    ``.facts_module`` (their support for a module that only reads and returns facts)
    and ``.platform``.
    """

    # The attributes every module has; its support comes from another fragment or the module.
    DOCUMENTATION = r'''
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying the target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
'''

    # For a module that returns facts; use with DOCUMENTATION and FACTS_MODULE.
    FACTS = r'''
options: {}
attributes:
  facts:
    description: Action returns an C(ansible_facts) dictionary that will update existing host facts.
'''

    # A module that only reads and returns facts: support of DOCUMENTATION's and FACTS' attributes.
    FACTS_MODULE = r'''
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state; check mode returns the same facts.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  facts:
    support: full
'''

    # The hypervisors the modules run on.
    PLATFORM = r'''
options: {}
attributes:
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
'''
