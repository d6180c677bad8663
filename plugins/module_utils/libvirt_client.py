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

import os
import re
import traceback
from urllib.parse import unquote

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

# What stands for a secret wherever one was taken out (Ansible's own mask).
MASK = '********'
# A query parameter whose name contains one of these words carries a secret; its value is masked.
# libvirt's own remote parameters (https://libvirt.org/uri.html: name, command, socket, netcat,
# keyfile, pkipath, known_hosts, no_verify, sshauth, ...) carry none: keyfile and pkipath name
# files we never read. Anything a driver or a proxy might take a password in is masked.
SECRET_PARAM_WORDS = ('pass', 'pwd', 'secret', 'token', 'credential', 'auth_key', 'authkey', 'api_key', 'apikey')

_SCHEME = re.compile(r'^([a-zA-Z][a-zA-Z0-9+.-]*://)')
# user:password@ anywhere in a text (a URI echoed inside a message); the password is group 2.
_USERINFO_IN_TEXT = re.compile(r'([a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@:\s\'"]*):([^/?#@\s\'"]*)@')
# name=value anywhere in a text, for names that carry secrets.
_SECRET_PARAM_IN_TEXT = re.compile(r'([?&;]\s*([^=&;#?\s\'"]+)=)([^&;#\s\'"]*)')


def _secret_name(name):
    name = unquote(name).lower().replace('-', '_')
    return any(word in name for word in SECRET_PARAM_WORDS)


def _split_uri(uri):
    """(scheme://, authority, rest) of a URI with an authority, else None.

    The authority ends at the first '/', '?' or '#' (RFC 3986: a password holding one of
    these must be percent-encoded); its user info ends at its last '@'.
    """
    match = _SCHEME.match(uri)
    if not match:
        return None
    start = match.end()
    end = len(uri)
    for stop in '/?#':
        at = uri.find(stop, start)
        if at != -1:
            end = min(end, at)
    return match.group(1), uri[start:end], uri[end:]


def uri_secrets(uri):
    """The secrets a URI carries, as written and percent-decoded: its user-info password and
    the values of secret query parameters. Empty for anything but a string."""
    if not isinstance(uri, str):
        return []
    found = []
    parts = _split_uri(uri)
    if parts is not None:
        _scheme, authority, rest = parts
        if '@' in authority:
            userinfo = authority.rsplit('@', 1)[0]
            if ':' in userinfo:
                found.append(userinfo.split(':', 1)[1])
        query = rest.split('#', 1)[0].partition('?')[2]
    else:
        query = uri.split('#', 1)[0].partition('?')[2]
    for item in re.split('[&;]', query):
        name, sep, value = item.partition('=')
        if sep and _secret_name(name):
            found.append(value)
    secrets = []
    for secret in found:
        for form in (secret, unquote(secret)):
            if form and form not in secrets:
                secrets.append(form)
    return secrets


def redact_uri(uri):
    """A URI without its secrets: the user-info password is dropped (``qemu+ssh://u:pw@h/`` ->
    ``qemu+ssh://u@h/``) and secret query parameters are masked (``?password=********``).

    Anything but a string is returned as it is.
    """
    if not isinstance(uri, str):
        return uri
    parts = _split_uri(uri)
    if parts is not None:
        scheme, authority, rest = parts
        if '@' in authority:
            userinfo, host = authority.rsplit('@', 1)
            authority = '%s@%s' % (userinfo.split(':', 1)[0], host)
        uri = scheme + authority + rest
    head, sep, tail = uri.partition('?')
    if not sep:
        return uri
    query, hash_sign, fragment = tail.partition('#')
    items = []
    for item in re.split('([&;])', query):
        name, eq, _value = item.partition('=')
        items.append(name + eq + MASK if eq and _secret_name(name) else item)
    return head + sep + ''.join(items) + hash_sign + fragment


def redact_text(text, uri=None):
    """A message without the secrets of ``uri`` (libvirt may echo the URI, or a part of it,
    in its error text), nor any user-info password or secret query parameter of any URI in it."""
    text = str(text)
    if isinstance(uri, str) and uri:
        text = text.replace(uri, redact_uri(uri))
    text = _USERINFO_IN_TEXT.sub(r'\1@', text)
    text = _SECRET_PARAM_IN_TEXT.sub(
        lambda m: m.group(1) + MASK if _secret_name(m.group(2)) else m.group(0), text)
    for secret in sorted(uri_secrets(uri), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def check_uri(uri):
    """Refuse a URI that cannot mean what the user wants, before any connection: an empty one
    (libvirt would silently pick its default hypervisor). Raises ValueError naming ``uri``."""
    if uri is None or not str(uri).strip():
        raise ValueError("uri must not be empty (an empty uri makes libvirt guess a hypervisor); "
                         "give one such as %s or qemu+ssh://root@host/system" % DEFAULT_URI)


def node_file_of(uri):
    """The node file a ``test://`` URI names on this machine, or None (another scheme,
    ``test:///default``, or a remote host: ``test://host/...``)."""
    parts = _split_uri(uri) if isinstance(uri, str) else None
    if parts is None or parts[0].lower() != 'test://':
        return None
    authority, rest = parts[1], parts[2]
    host = authority.rsplit('@', 1)[-1]
    path = unquote(rest.split('?', 1)[0].split('#', 1)[0])
    if host or path in ('', '/default'):
        return None
    return path


def connection_hint(err_text, uri=None):
    """A short, actionable hint for the usual reasons a connection fails."""
    text = err_text.lower()
    parts = _split_uri(uri) if isinstance(uri, str) else None
    if parts is not None and parts[0].lower() == 'test://' and parts[1].rsplit('@', 1)[-1]:
        # test://relative/node.xml reads 'relative' as a remote host reached over TLS.
        return ("test:// takes an absolute path, with three slashes: test:///abs/path/node.xml "
                "or test:///default; here '%s' was taken for a remote host" % parts[1].rsplit('@', 1)[-1])
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
    """Open a read-only connection, raising ``LibvirtConnectError`` with a clear message.

    Messages show the URI without its secrets, and libvirt's own error text is cleaned of them
    too: libvirt may echo the URI it was given.
    """
    shown = redact_uri(uri)
    prefix = "cannot open a read-only libvirt connection to uri '%s'" % shown
    node_file = node_file_of(uri)
    if node_file is not None and not os.path.isfile(node_file):
        # libvirt would say "failed to parse xml document" (and libxml2 print an I/O warning).
        reason = 'does not exist' if not os.path.exists(node_file) else 'is not a file'
        raise LibvirtConnectError("%s: no such file: the test driver's node file '%s' %s"
                                  % (prefix, redact_text(node_file, uri), reason))
    try:
        conn = libvirt.openReadOnly(uri)
    except libvirt.libvirtError as exc:
        msg = '%s: %s' % (prefix, redact_text(exc, uri))
        hint = connection_hint(str(exc), uri)
        if hint:
            msg += ' (%s)' % redact_text(hint, uri)
        raise LibvirtConnectError(msg)
    if conn is None:  # old bindings return None instead of raising
        raise LibvirtConnectError(prefix)
    return conn


class LibvirtConnectError(Exception):
    pass


class _SecretKeepingModule(AnsibleModule):
    """An AnsibleModule that treats the secrets of its ``uri`` as no_log values from the start.

    Ansible masks no_log values (with ``********``) wherever they appear in a result, the
    ``invocation`` echo of the module arguments included, and in the module's syslog/journal
    entry. Declaring ``uri`` itself no_log would mask the whole URI, and with it every
    occurrence of, say, ``qemu:///system`` in the facts; so only its password and secret
    query values are registered, as soon as the arguments are loaded: before validation can
    fail and before the invocation is logged.
    """

    def _load_params(self):
        super(_SecretKeepingModule, self)._load_params()
        params = self.params if isinstance(getattr(self, 'params', None), dict) else {}
        if not isinstance(getattr(self, 'no_log_values', None), set):
            self.no_log_values = set()
        self.no_log_values.update(uri_secrets(params.get('uri')))


class LibvirtModule:
    """An AnsibleModule with the common libvirt options and a read-only connection.

    Use as a context manager::

        with LibvirtModule(argument_spec=spec) as lm:
            raw = gather(lm.conn)
        lm.module.exit_json(...)

    Any ``libvirt.libvirtError`` that escapes the block becomes a ``fail_json``
    that names the URI, never a traceback.

    ``lm.uri`` is the URI without its secrets (see ``redact_uri``): the one to show and to
    return. Failures and warnings go through ``lm.fail_json`` and ``lm.warn``, which clean
    their text of the URI's secrets.
    """

    def __init__(self, argument_spec=None, **kwargs):
        spec = dict(LIBVIRT_COMMON_ARGS)
        spec.update(argument_spec or {})
        kwargs.setdefault('supports_check_mode', True)
        self.module = _SecretKeepingModule(argument_spec=spec, **kwargs)
        self._connect_uri = self.module.params['uri']
        self.module.no_log_values.update(uri_secrets(self._connect_uri))
        self.params = self.module.params
        self.uri = redact_uri(self._connect_uri)
        self.conn = None
        if libvirt is None:
            # A clear message only: the import traceback would add nothing the message lacks.
            self.fail_json(msg=missing_required_lib('libvirt-python'))
        try:
            check_uri(self._connect_uri)
        except ValueError as exc:
            self.fail_json(msg=str(exc))

    def redact(self, text):
        """``text`` without the secrets of this module's URI."""
        return redact_text(text, self._connect_uri)

    def warn(self, text):
        self.module.warn(self.redact(text))

    def fail_json(self, msg, **kwargs):
        """fail_json with the message cleaned of the URI's secrets and the shown ``uri``."""
        kwargs.setdefault('uri', self.uri)
        self.module.fail_json(msg=self.redact(msg), **kwargs)

    def __enter__(self):
        try:
            self.conn = open_read_only(self._connect_uri)
        except LibvirtConnectError as exc:
            self.fail_json(msg=str(exc))
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        if exc_type is not None and issubclass(exc_type, libvirt.libvirtError):
            self.fail_json(msg="libvirt error on uri '%s': %s" % (self.uri, exc))
        return False

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except libvirt.libvirtError:
                pass
            self.conn = None
