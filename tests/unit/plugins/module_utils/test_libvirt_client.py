"""libvirt_client: secrets taken out of URIs and messages, URIs checked before a connection is tried."""

import os

import libvirt
import pytest

from ansible_collections.hypervisor.stats.plugins.module_utils.libvirt_client import (
    LibvirtConnectError, check_uri, connection_hint, node_file_of, open_read_only, redact_text, redact_uri,
    uri_secrets)

NODES = os.path.join(os.path.dirname(__file__), '..', '..', 'nodes')


@pytest.mark.parametrize('uri, expected', [
    # user-info passwords (kept as they were: the report model's tests rely on this form)
    ('qemu+ssh://admin:s3cret@hv1/system', 'qemu+ssh://admin@hv1/system'),
    ('qemu+tcp://:pw@hv1/system?x=1', 'qemu+tcp://@hv1/system?x=1'),
    ('test://admin:s3cret@/abs/node.xml', 'test://admin@/abs/node.xml'),
    # the user info ends at the authority's last '@'; an '@' in the path is no user info
    ('qemu+tcp://u:p@ss@h/system', 'qemu+tcp://u@h/system'),
    ('test:///tmp/a@b/node.xml', 'test:///tmp/a@b/node.xml'),
    ('test://u:pw@/tmp/a@b/node.xml', 'test://u@/tmp/a@b/node.xml'),
    # secret query parameters, whatever their case; libvirt's own parameters are kept
    ('qemu+tcp://h/system?password=s3cret', 'qemu+tcp://h/system?password=********'),
    ('qemu+tcp://h/system?passwd=pa55&no_verify=1', 'qemu+tcp://h/system?passwd=********&no_verify=1'),
    ('qemu+tls://h/system?pkipath=/etc/pki/x;Secret_Key=zz9#f', 'qemu+tls://h/system?pkipath=/etc/pki/x;Secret_Key=********#f'),
    ('qemu+ssh://u@h/system?keyfile=/root/.ssh/id&auth-token=tok3n', 'qemu+ssh://u@h/system?keyfile=/root/.ssh/id&auth-token=********'),
    ('qemu+ssh://u@h/system?authfile=/etc/libvirt/auth.conf', 'qemu+ssh://u@h/system?authfile=/etc/libvirt/auth.conf'),
    ('qemu+tcp://u:p%40ss@h/system?pass%77ord=xyzzy', 'qemu+tcp://u@h/system?pass%77ord=********'),
    # nothing to take out
    ('qemu+ssh://admin@hv1/system', 'qemu+ssh://admin@hv1/system'),
    ('qemu:///system', 'qemu:///system'),
    ('', ''),
    (None, None),
])
def test_redact_uri(uri, expected):
    assert redact_uri(uri) == expected
    for secret in uri_secrets(uri):
        assert secret not in (expected or '')


def test_uri_secrets_are_given_as_written_and_decoded():
    assert uri_secrets('qemu+tcp://u:p%40ss@h/system?token=t%20k&name=x') == ['p%40ss', 'p@ss', 't%20k', 't k']
    assert uri_secrets('qemu:///system') == [] and uri_secrets(None) == []


def test_redact_text_cleans_what_libvirt_echoes():
    uri = 'qemu+tcp://admin:s3cret@h/system?password=t0p'
    text = ("unable to open %s: libvirt said 'admin:s3cret' and t0p, and qemu+ssh://x:y@z/ and ?secret=w"
            % uri)
    cleaned = redact_text(text, uri)
    for secret in ('s3cret', 't0p', ':y@', '=w'):
        assert secret not in cleaned
    assert 'qemu+tcp://admin@h/system?password=********' in cleaned and 'qemu+ssh://x@z/' in cleaned


@pytest.mark.parametrize('uri', ['', '   ', None])
def test_an_empty_uri_is_refused(uri):
    with pytest.raises(ValueError, match='uri must not be empty'):
        check_uri(uri)


def test_node_file_of_a_test_uri():
    assert node_file_of('test:///abs/node.xml') == '/abs/node.xml'
    assert node_file_of('test://u:pw@/abs/my%20node.xml') == '/abs/my node.xml'
    assert node_file_of('test:///default') is None
    assert node_file_of('test://remote/default') is None and node_file_of('qemu:///system') is None


def test_a_missing_test_driver_file_is_named():
    with pytest.raises(LibvirtConnectError) as info:
        open_read_only('test://admin:s3cret@/nonexistent/dir/node.xml')
    msg = str(info.value)
    assert "node file '/nonexistent/dir/node.xml' does not exist" in msg
    assert 'parse' not in msg and 's3cret' not in msg
    assert "uri 'test://admin@/nonexistent/dir/node.xml'" in msg


def test_a_relative_test_driver_path_gets_a_correct_hint():
    with pytest.raises(LibvirtConnectError) as info:
        open_read_only('test://relative/node.xml')
    msg = str(info.value)
    assert 'test:///abs/path/node.xml' in msg and 'test:///default' in msg and "'relative'" in msg
    assert 'install libvirt' not in msg
    assert connection_hint('Cannot read CA certificate', 'qemu://h/system').startswith("the URI's transport is TLS")


def test_connection_errors_carry_no_secret():
    # A closed port on loopback: refused at once, nothing outside 127.0.0.0/8 contacted.
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    uri = 'qemu+tcp://admin:s3cret@127.0.0.1:%d/system?password=s3cret2' % port
    with pytest.raises(LibvirtConnectError) as info:
        open_read_only(uri)
    assert 's3cret' not in str(info.value) and '127.0.0.1' in str(info.value)


def test_a_test_uri_with_user_info_still_connects():
    path = os.path.abspath(os.path.join(NODES, 'host_small.xml'))
    conn = open_read_only('test://admin:s3cret@' + path)
    try:
        assert conn.getHostname()
    finally:
        conn.close()
    assert isinstance(conn, libvirt.virConnect)
