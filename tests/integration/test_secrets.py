"""Secrets that never leak: a password in a libvirt URI appears nowhere a collection cycle writes.

A whole cycle of playbooks/collect.yml on a test-driver cluster (see test_cycle.py), with a
password in the user info of both hypervisors' URIs and in a query parameter of one:

- hv1 ``test://admin:s3cret@/ABS/hv1.xml`` works (the test driver ignores the user info);
- hv2 ``qemu+tcp://admin:s3cret@127.0.0.1:<closed port>/system?password=...`` fails fast
  (connection refused on loopback: nothing but 127.0.0.0/8 is contacted).

stdout, stderr, ANSIBLE_LOG_PATH, every fact cache file and every report file are searched
for the secrets, at the default verbosity and at -vvv (where results carry ``invocation``).

"""

import os

import pytest
from test_cycle import Cluster, closed_port

SECRET = 's3cret'
QUERY_SECRET = 'qu3rysecret'


def _files_under(path):
    for top, _dirs, files in os.walk(path):
        for name in files:
            yield os.path.join(top, name)


def _leaks(paths, text_by_name):
    found = []
    for name, text in text_by_name.items():
        for secret in (SECRET, QUERY_SECRET):
            if secret in text:
                at = text.index(secret)
                found.append('%s: ...%s...' % (name, text[max(at - 150, 0):at + 60]))
    for path in paths:
        with open(path, 'rb') as handle:
            data = handle.read().decode('utf-8', 'replace')
        for secret in (SECRET, QUERY_SECRET):
            if secret in data:
                at = data.index(secret)
                found.append('%s: ...%s...' % (path, data[max(at - 150, 0):at + 60]))
    return found


def run_cycle_with_secrets(tmp_path, verbosity):
    """One cycle; returns (cluster, hv1's node file, every file the cycle wrote, its output)."""
    cluster = Cluster(tmp_path, {'hv1': ['vm-a'], 'hv2': ['vm-b']})
    hv1_path = str(tmp_path / 'nodes' / 'hv1.xml')
    assert hv1_path.startswith('/')
    cluster.host_vars['hv1'] = {'hypervisor_stats_uri': 'test://admin:%s@%s' % (SECRET, hv1_path)}
    cluster.host_vars['hv2'] = {'hypervisor_stats_uri': 'qemu+tcp://admin:%s@127.0.0.1:%d/system?password=%s'
                                                        % (SECRET, closed_port(), QUERY_SECRET)}
    log_path = str(tmp_path / 'ansible.log')
    report_dir = str(tmp_path / 'report')
    cluster.env.update(ANSIBLE_LOG_PATH=log_path, HYPERVISOR_STATS_REPORT_DIR=report_dir, ANSIBLE_VERBOSITY=verbosity)
    cluster.cycle(check=False)

    # The cycle really ran: hv1 collected (facts cached, report written), hv2 failed on its connection.
    host = cluster.facts('hv1')['host_resources']
    assert host['uri'] == 'test://admin@%s' % hv1_path
    assert cluster.facts('hv1')['vm_stats']['uri'] == host['uri']
    assert cluster.counters('hv1')['uri'] == host['uri']
    assert 'hv2  FAILED, no capacity data' in cluster.output, cluster.output[-3000:]
    assert '127.0.0.1' in cluster.output and 'Connection refused' in cluster.output
    assert os.path.exists(log_path)
    reports = list(_files_under(report_dir))
    assert any(p.endswith('capacity.json') for p in reports) and any(p.endswith('capacity.html') for p in reports)
    caches = list(_files_under(cluster.cache_dir))
    assert caches
    return [log_path] + reports + caches, cluster.output


def test_a_password_in_the_uri_leaks_nowhere(tmp_path):
    files, output = run_cycle_with_secrets(tmp_path, '0')
    leaks = _leaks(files, {'output': output})
    assert not leaks, '\n\n'.join(leaks)


def test_a_password_in_the_uri_leaks_nowhere_at_verbosity_3(tmp_path):
    # -vvv shows every result with its invocation: the modules' own echo is masked.
    files, output = run_cycle_with_secrets(tmp_path, '3')
    assert 'module_args' in output
    leaks = _leaks(files, {'output': output})
    assert not leaks, '\n\n'.join(leaks)
