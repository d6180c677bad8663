"""Sliced collection (issue 15): runs with --limit accumulate only their own hypervisors, store no cluster
totals, and hypervisor.stats.totals sums every slice's cached facts into the totals one unsliced run gives.

Real: ansible-playbook, libvirt's test driver (one node file per simulated host), the real modules, and
the jsonfile or a real redis fact cache (tests/integration/redis_server.py, on 127.0.0.1).
"""

import json
import os
import subprocess
import threading

import pytest

from test_cycle import ANSIBLE_PLAYBOOK, ROOT, Cluster, uuid_of

TOTALS = os.path.join(ROOT, 'playbooks', 'totals.yml')
NOW = 1700000000
INPUTS = {'hypervisor_stats_now': NOW, 'hypervisor_stats_failures': 1,
          'hypervisor_stats_flavors': {'small': {'vcpus': 1, 'memory_mb': 512, 'disk_gb': 1}}}


def run(cluster, playbook, limit=None, **extra):
    args = [ANSIBLE_PLAYBOOK, '-i', str(cluster.dir / 'inventory.yml'), playbook, '-e', json.dumps(dict(INPUTS, **extra))]
    if cluster.store_host:
        args += ['-e', json.dumps({'hypervisor_stats_store_host': cluster.store_host})]
    if limit:
        args += ['--limit', limit]
    result = subprocess.run(args, env=cluster.env, cwd=str(cluster.dir), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return result.stdout + result.stderr


def nodes(count, vms_per_host=2):
    # test_cycle.uuid_of reads the first six characters of a name: keep names short and distinct
    return dict(('hv%03d' % i, ['v%04d' % (i * vms_per_host + j) for j in range(vms_per_host)]) for i in range(count))


def comparable(totals):
    """The totals without what differs by when each host was read (shared storage's figures_from)."""
    return json.loads(json.dumps(totals))


def slices_of(hosts, count):
    names = sorted(hosts)
    return [','.join(names[i::count]) for i in range(count)]


def test_limit_slices_store_no_cluster_and_totals_equal_one_unsliced_run(tmp_path):
    hosts = nodes(8)
    whole = Cluster(tmp_path / 'whole', hosts)
    whole.write()
    run(whole, os.path.join(ROOT, 'playbooks', 'collect.yml'))
    expected = whole.cluster()['totals']

    sliced = Cluster(tmp_path / 'sliced', hosts)
    sliced.write()
    for part in slices_of(hosts, 2):
        run(sliced, os.path.join(ROOT, 'playbooks', 'collect.yml'), limit=part)
        assert 'hypervisor_stats_cluster' not in sliced.facts('localhost'), 'a slice must not store partial sums'
    for host, vms in hosts.items():   # every slice accumulated its own hosts, and folded their history
        assert set(sliced.counters(host)['vms']) == set(uuid_of(v) for v in vms)
        series = sliced.facts(host)['hypervisor_stats_host_history']
        assert series['raw']['t'] == whole.facts(host)['hypervisor_stats_host_history']['raw']['t'] == str(NOW), host
    run(sliced, TOTALS)
    stored = sliced.cluster()
    assert stored['source'] == 'totals' and stored['hosts_missed'] == []
    assert comparable(stored['totals']) == comparable(expected)
    assert stored['totals']['count'] == 8 and 'failover' in stored['totals'] and 'fits' in stored['totals']
    assert 'forecast' in stored


def test_totals_run_contacts_no_hypervisor(tmp_path):
    hosts = nodes(3)
    cluster = Cluster(tmp_path, hosts)
    cluster.write()
    run(cluster, os.path.join(ROOT, 'playbooks', 'collect.yml'))
    expected = cluster.cluster()['totals']
    for name in hosts:   # every node file gone: a run that contacted a host would fail it
        (cluster.dir / 'nodes' / ('%s.xml' % name)).unlink()
    run(cluster, TOTALS)
    assert comparable(cluster.cluster()['totals']) == comparable(expected)


def concurrent_slices(cluster, count, **extra):
    outputs, threads = [], []
    for part in slices_of(cluster.nodes, count):
        threads.append(threading.Thread(target=lambda p=part: outputs.append(
            run(cluster, os.path.join(ROOT, 'playbooks', 'collect.yml'), limit=p, **extra))))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outputs) == count, 'a slice failed (its assertion is above)'


def holders(cluster, uuid):
    return [host for host in cluster.nodes if uuid in cluster.counters(host)['vms']]


def test_concurrent_slices_on_redis_lose_no_update(tmp_path, redis_server):
    hosts = nodes(8, vms_per_host=1)   # 2 per slice: make test's time budget; more hosts add no case
    cluster = Cluster(tmp_path, hosts, cache='redis', redis=redis_server, store_host='store')
    cluster.write()
    for repeat in range(5):
        now = NOW + 60 * repeat
        concurrent_slices(cluster, 4, hypervisor_stats_now=now)
        for host, vms in hosts.items():   # every slice wrote every one of its hosts, this time
            entry = cluster.counters(host)
            assert entry['collected_at'] == now and set(entry['vms']) == set(uuid_of(v) for v in vms), (repeat, host)
    run(cluster, TOTALS, hypervisor_stats_now=now)
    assert cluster.cluster()['totals']['count'] == 8 and cluster.cluster()['totals']['running_vms'] == 8


def test_vms_moved_between_slices_keep_their_totals_and_count_once(tmp_path, redis_server):
    hosts = nodes(8, vms_per_host=1)   # 2 per slice: make test's time budget; more hosts add no case
    cluster = Cluster(tmp_path, hosts, cache='redis', redis=redis_server, store_host='store')
    cluster.write()
    concurrent_slices(cluster, 4, hypervisor_stats_now=NOW)
    run(cluster, TOTALS, hypervisor_stats_now=NOW)
    # hv000 and hv001, hv002 and hv007 are in different slices (names[i::4]): their VMs move across.
    moves = [(source, target, hosts[source][0]) for source, target in (('hv000', 'hv001'), ('hv002', 'hv007'))]
    before = dict((name, cluster.vm(source, name)) for source, _target, name in moves)
    for source, target, name in moves:
        cluster.nodes[source].remove(name)
        cluster.nodes[target].append(name)
    cluster.write()
    concurrent_slices(cluster, 4, hypervisor_stats_now=NOW + 60)
    for source, target, name in moves:   # each slice alone: gone from one host, a first sight on the other
        assert cluster.vm(source, name)['state'] == 'gone'
        assert uuid_of(name) in cluster.counters(target)['first_sights']
    run(cluster, TOTALS, hypervisor_stats_now=NOW + 60)
    for source, target, name in moves:
        assert holders(cluster, uuid_of(name)) == [target], 'counted once, under its new host'
        assert uuid_of(name) in cluster.counters(source)['moved']
        assert 'first_sights' not in cluster.counters(target)
        joined, old = cluster.vm(target, name), before[name]
        assert joined['first_seen'] == old['first_seen'] == NOW
        for counter, value in old['cumulative'].items():   # its totals kept: none went down
            assert joined['cumulative'][counter] >= value, (name, counter)
    # The next cycle goes on from there, and the totals run has nothing left to join.
    concurrent_slices(cluster, 4, hypervisor_stats_now=NOW + 120)
    run(cluster, TOTALS, hypervisor_stats_now=NOW + 120)
    for source, target, name in moves:
        assert holders(cluster, uuid_of(name)) == [target]
        assert cluster.vm(target, name)['last_seen'] == NOW + 120
    assert cluster.cluster()['totals']['running_vms'] == 8
