"""Benchmark (issue 15): the totals run's arithmetic over 10,000 hosts' cached host_resources facts.

Side by side in the same run:
  - "totals run": what roles/cycle/tasks/totals.yml computes from the cache, i.e. each host's cached facts
    parsed from its JSON entry (as the jsonfile/redis cache plugins store them) and cluster_totals over
    the dict inventory host -> facts, with group_by, flavors, failover (failures=1) and shared storage;
  - "unsliced cycle": cluster_totals over the same facts already in memory (what the store step of one
    unsliced run does after the modules returned), with the same arguments;
  - a bare-Python loop summing the same fields.
Target (issue 15): the totals run over 10,000 hosts <= 10 s. Ansible's own cost of loading 10,000
cached hosts into hostvars is not included (see docs/bench/totals.md).

    .venv/bin/python bench/bench_totals.py [--hosts N] [--shared K]
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, '.collections'))

from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import inventory_record  # noqa: E402
from ansible_collections.hypervisor.stats.plugins.module_utils.schema import STATISTICS_FIELDS  # noqa: E402
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import cluster_totals  # noqa: E402

FLAVORS = {'small': {'vcpus': 1, 'memory_mb': 2048, 'disk_gb': 20},
           'large': {'vcpus': 8, 'memory_mb': 32768, 'disk_gb': 160}}


def facts(i, shared):
    sid = ('nfs:filer%d:/export' % (i % shared)) if shared and i % 2 == 0 else None
    vms = 20 + i % 30
    allocations = dict(('%08d-%04d' % (i, j), {'name': 'vm-%d-%d' % (i, j),
                                               'resources': {'VCPU': 2, 'MEMORY_MB': 4096, 'DISK_GB': 20}})
                       for j in range(vms))
    return {
        'hypervisor_hostname': 'hv%05d' % i, 'collected_at': 1700000000 + i, 'labels': {'cluster': 'c%d' % (i % 20)},
        'shared_id': sid, 'running_vms': vms, 'vcpus': 64, 'vcpus_used': 2 * vms, 'memory_mb': 524288,
        'memory_mb_used': 4096 * vms, 'free_ram_mb': 524288 - 4096 * vms, 'local_gb': 10000,
        'local_gb_used': 20 * vms, 'free_disk_gb': 10000 - 20 * vms, 'disk_available_least': 9000,
        'inventory': {'VCPU': inventory_record(64, 0, 4.0, 2 * vms),
                      'MEMORY_MB': inventory_record(524288, 512, 1.0, 4096 * vms),
                      'DISK_GB': inventory_record(10000, 0, 1.0, 20 * vms)},
        'allocations': allocations,
    }


def bare(hosts):
    totals = dict((f, 0) for f in STATISTICS_FIELDS)
    for h in hosts.values():
        for f in STATISTICS_FIELDS:
            totals[f] += h[f]
    return totals


def timed(fn):
    start = time.process_time()
    out = fn()
    return out, time.process_time() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--hosts', type=int, default=10000)
    parser.add_argument('--shared', type=int, default=50, help='shared storages (half the hosts use one)')
    args = parser.parse_args()
    hosts = dict(('hv%05d' % i, facts(i, args.shared)) for i in range(args.hosts))
    entries = dict((name, json.dumps({'host_resources': value})) for name, value in hosts.items())
    kwargs = dict(group_by='labels.cluster', flavors=FLAVORS, failures=1)

    def totals_run():
        cached = dict((name, json.loads(text)['host_resources']) for name, text in entries.items())
        return cluster_totals(cached, **kwargs)

    run_totals, t_run = timed(totals_run)
    unsliced, t_unsliced = timed(lambda: cluster_totals(hosts, **kwargs))
    _bare, t_bare = timed(lambda: bare(hosts))
    assert json.dumps(run_totals, sort_keys=True) == json.dumps(unsliced, sort_keys=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print('hosts: %d, shared storages: %d (%d hosts on them)' % (
        args.hosts, len(run_totals.get('shared_storage', {})), sum(len(v['hosts']) for v in run_totals.get('shared_storage', {}).values())))
    print('%-58s %8s' % ('what', 'CPU s'))
    print('%-58s %8.2f' % ('totals run: parse cached facts + cluster_totals(+failover)', t_run))
    print('%-58s %8.2f' % ('unsliced cycle: cluster_totals(+failover) on facts in memory', t_unsliced))
    print('%-58s %8.3f' % ('bare loop summing the statistics fields', t_bare))
    print('target: totals run <= 10 s -> %s; peak RSS %.0f MB' % ('met' if t_run <= 10 else 'MISSED', rss))


if __name__ == '__main__':
    main()
