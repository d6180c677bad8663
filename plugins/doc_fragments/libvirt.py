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
      - Must not be empty (libvirt would guess a hypervisor). A C(test://) node file needs an absolute
        path, with three slashes; a missing one is named in the failure.
      - "Secrets in the URI never leave the module: the password of the user info
        (C(qemu+tcp://user:password@host/system)) and the value of any query parameter whose name contains
        C(pass), C(pwd), C(secret), C(token), C(credential), C(auth_key) or C(api_key) are taken out of the
        returned C(uri) (C(qemu+tcp://user@host/system?password=********)), of every failure message and
        warning (libvirt's own error text included), and are masked as Ansible masks C(no_log) values in the
        C(invocation) echo and the module's syslog entry. libvirt's own parameters such as C(keyfile),
        C(pkipath) or C(known_hosts) name files, which are shown; their contents are never read by the module."
      - The option itself is not C(no_log), on purpose - that would hide the whole URI, and every text equal to
        it (such as C(qemu:///system) in the facts), behind C(********). Prefer keys, TLS certificates or
        libvirt's C(auth.conf) (C(LIBVIRT_AUTH_FILE)) to passwords in URIs all the same - the inventory or
        extra vars that hold such a URI are shown by C(ansible-inventory) and in tasks that print them.
    type: str
    default: qemu:///system
requirements:
  - libvirt-python (the C(libvirt) Python bindings) on the host that runs the module
notes:
  - Connections are opened with C(virConnectOpenReadOnly), so a user in the C(libvirt) group,
    or any user allowed read-only access by polkit, is enough.
'''
