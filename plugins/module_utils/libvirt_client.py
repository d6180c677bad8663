# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared libvirt plumbing for the collection's modules.

One class, ``LibvirtModule``, merges the common argument spec into a module's
own, checks that libvirt-python is importable, and opens a *read-only*
connection that is closed on every path. Modules stay thin: they declare
their options, gather through ``module.conn`` and hand raw data to the pure
functions in the other module_utils files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import DEFAULT_URI

try:
    import libvirt
except ImportError:
    libvirt = None
    LIBVIRT_IMPORT_ERROR = traceback.format_exc()
else:
    LIBVIRT_IMPORT_ERROR = None

    # libvirt prints every error to stderr unless a handler is registered;
    # errors reach us as exceptions anyway.
    libvirt.registerErrorHandler(lambda ctx, err: None, None)


LIBVIRT_COMMON_ARGS = dict(
    uri=dict(type='str', default=DEFAULT_URI),
)

# scheme://user:password@ -> group 1 is scheme://user
_URI_PASSWORD = re.compile(r'^([a-zA-Z][a-zA-Z0-9+.-]*://[^/@:]*):[^/@]*@')


def redact_uri(uri):
    """Drop a password from a URI's user info (``qemu+ssh://u:pw@h/`` -> ``qemu+ssh://u@h/``).

    Anything but a string is returned as it is.
    """
    if not isinstance(uri, str):
        return uri
    return _URI_PASSWORD.sub(r'\1@', uri)


def connection_hint(err_text):
    """A short, actionable hint for the usual reasons a connection fails."""
    text = err_text.lower()
    if 'certificate' in text:
        # qemu://host/... with no transport means TLS, which needs a PKI set up first.
        return ("the URI's transport is TLS; install libvirt's TLS certificates, "
                'or name a transport such as qemu+ssh://')
    if 'permission denied' in text:
        return ('this user may not open the read-only socket (libvirt-sock-ro); '
                'check unix_sock_ro_perms / polkit rules of libvirtd, or use become')
    if 'no such file' in text or 'connection refused' in text or 'failed to connect socket' in text:
        return 'libvirtd (or virtqemud) does not seem to be running on that host'
    if 'no connection driver' in text or 'unsupported' in text:
        return 'the URI scheme names a driver this libvirt does not have'
    return None


def open_read_only(uri):
    """Open a read-only connection, raising ``LibvirtConnectError`` with a clear message."""
    try:
        conn = libvirt.openReadOnly(uri)
    except libvirt.libvirtError as exc:
        msg = "cannot open a read-only libvirt connection to uri '%s': %s" % (uri, exc)
        hint = connection_hint(str(exc))
        if hint:
            msg += ' (%s)' % hint
        raise LibvirtConnectError(msg)
    if conn is None:  # old bindings return None instead of raising
        raise LibvirtConnectError("cannot open a read-only libvirt connection to uri '%s'" % uri)
    return conn


class LibvirtConnectError(Exception):
    pass


class LibvirtModule:
    """An AnsibleModule with the common libvirt options and a read-only connection.

    Use as a context manager::

        with LibvirtModule(argument_spec=spec) as lm:
            raw = gather(lm.conn)
        lm.module.exit_json(...)

    Any ``libvirt.libvirtError`` that escapes the block becomes a ``fail_json``
    that names the URI, never a traceback.
    """

    def __init__(self, argument_spec=None, **kwargs):
        spec = dict(LIBVIRT_COMMON_ARGS)
        spec.update(argument_spec or {})
        kwargs.setdefault('supports_check_mode', True)
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        if libvirt is None:
            # A clear message only: the import traceback would add nothing the message lacks.
            self.module.fail_json(msg=missing_required_lib('libvirt-python'))
        self.params = self.module.params
        self.uri = self.params['uri']
        self.conn = None

    def __enter__(self):
        try:
            self.conn = open_read_only(self.uri)
        except LibvirtConnectError as exc:
            self.module.fail_json(msg=str(exc), uri=self.uri)
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        if exc_type is not None and issubclass(exc_type, libvirt.libvirtError):
            self.module.fail_json(msg="libvirt error on uri '%s': %s" % (self.uri, exc), uri=self.uri)
        return False

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except libvirt.libvirtError:
                pass
            self.conn = None
