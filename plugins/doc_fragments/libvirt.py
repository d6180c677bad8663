# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The connection options every module of this collection shares.
    DOCUMENTATION = r'''
options:
  uri:
    description:
      - libvirt connection URI, for example C(qemu:///system), C(qemu+ssh://root@host/system)
        or, for tests and demos, libvirt's built-in test driver C(test:///default) or
        C(test:///abs/path/node.xml).
      - The connection is always opened read-only; the module never changes anything.
    type: str
    default: qemu:///system
requirements:
  - libvirt-python (the C(libvirt) Python bindings) on the host that runs the module
notes:
  - Connections are opened with C(virConnectOpenReadOnly), so a user in the C(libvirt) group,
    or any user allowed read-only access by polkit, is enough.
'''
