"""Benchmark (issue 13): the failure headroom of 1,000 hosts x 50 VMs at k = 1, against plain
cluster_totals of the same input in the same run.

Target: the failover simulation (every single host lost in turn, its 50 VMs re-placed by
first-fit decreasing onto the 999 others) <= 2 s of CPU.

    .venv/bin/python bench/bench_failover.py [--hosts N] [--vms M] [--failures K]

The hosts are host_resources facts of the full shape (inventory records from
host_capacity.inventory_record, allocations as host_resources writes them): three host
sizes, VMs of six flavors filling each host to 55-85 % of its memory, every 10th host with a
dedicated CPU set and pinned VMs (PCPU), every 25th without a measurable instance disk
(no DISK_GB inventory), one group (no group_by: the largest tree and the most losses).
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, '.collections'))

from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import inventory_record  # noqa: E402
from ansible_collections.hypervisor.stats.plugins.module_utils.schema import STATISTICS_FIELDS  # noqa: E402
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import cluster_totals  # noqa: E402
from ansible_collections.hypervisor.stats.plugins.plugin_utils.failover import failover  # noqa: E402

# (cores, memory MiB, disk GiB)
HOST_SIZES = ((64, 262144, 2000), (96, 524288, 4000), (128, 1048576, 8000))
# (vCPUs, memory MiB, disk GiB)
VM_SIZES = ((1, 2048, 20), (2, 4096, 40), (4, 8192, 80), (8, 16384, 160), (16, 32768, 320), (4, 65536, 100))
FLAVORS = {'m1.small': {'vcpus': 1, 'memory_mb': 2048, 'disk_gb': 20},
           'm1.large': {'vcpus': 4, 'memory_mb': 8192, 'disk_gb': 80}}


def host_resources(index, vms, rng):
    cores, memory_mb, disk_gb = HOST_SIZES[index % len(HOST_SIZES)]
    pinning = index % 10 == 0
    has_disk = index % 25 != 0
    target = memory_mb * rng.uniform(0.55, 0.85)
    allocations, used = {}, {'VCPU': 0, 'PCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': 0}
    per_vm = target / vms
    for v in range(vms):
        # Sizes around what fills the host to its target, so hosts are as full as planned.
        fitting = [s for s in VM_SIZES if s[1] <= per_vm * 2] or VM_SIZES[:1]
        vcpus, mem, disk = rng.choice(fitting)
        if pinning and v < 2:
            resources = {'PCPU': min(vcpus, 8), 'MEMORY_MB': mem}   # two pinned VMs, within the 16 dedicated CPUs
        else:
            resources = {'VCPU': vcpus, 'MEMORY_MB': mem}
        if has_disk:
            resources['DISK_GB'] = disk
        for rc, amount in resources.items():
            used[rc] += amount
        allocations['%08x-0000-4000-8000-%012x' % (index, v)] = {'name': 'vm-%d-%d' % (index, v), 'resources': resources}
    shared = cores - 16 if pinning else cores
    inventory = {'VCPU': inventory_record(shared, 0, 4.0, used['VCPU']),
                 'MEMORY_MB': inventory_record(memory_mb, 4096, 1.0, used['MEMORY_MB'])}
    if has_disk:
        inventory['DISK_GB'] = inventory_record(disk_gb, 0, 1.0, used['DISK_GB'])
    if pinning:
        inventory['PCPU'] = inventory_record(16, 0, 1.0, used['PCPU'])
    facts = dict((f, 1) for f in STATISTICS_FIELDS)
    facts.update(hypervisor_hostname='hv%05d' % index, running_vms=vms, labels={'cluster': 'c%d' % (index % 8)},
                 inventory=inventory, allocations=allocations)
    return facts


def timed(function):
    start, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.process_time() - cpu, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hosts', type=int, default=1000)
    parser.add_argument('--vms', type=int, default=50)
    parser.add_argument('--failures', type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(13)
    hosts = [host_resources(h, args.vms, rng) for h in range(args.hosts)]

    totals, totals_cpu, totals_wall = timed(lambda: cluster_totals(hosts, flavors=FLAVORS))
    result, failover_cpu, failover_wall = timed(lambda: failover(hosts, args.failures, flavors=FLAVORS))
    both, both_cpu, both_wall = timed(lambda: cluster_totals(hosts, flavors=FLAVORS, failures=args.failures))
    assert totals['count'] == args.hosts and both['failover'] == result
    cluster = result['cluster']

    vms = args.hosts * args.vms
    print('failure headroom of %d hosts x %d VMs (%d VMs), k = %d, one group; load average %.1f'
          % (args.hosts, args.vms, vms, args.failures, os.getloadavg()[0]))
    print('%-38s %10s %10s' % ('', 'CPU s', 'wall s'))
    print('%-38s %10.3f %10.3f' % ('cluster_totals (plain)', totals_cpu, totals_wall))
    print('%-38s %10.3f %10.3f' % ('failover', failover_cpu, failover_wall))
    print('%-38s %10.3f %10.3f' % ('cluster_totals(failures=%d)' % args.failures, both_cpu, both_wall))
    print('%-38s %10.2f s  (target <= 2 s at 1,000 x 50, k = 1)' % ('failover (CPU)', failover_cpu))
    print('%-38s survives %s; worst %s; %d VMs unplaced; headroom after %s; exhaustive %s'
          % ('result', cluster['survives'], ', '.join(cluster['worst_hosts']), cluster['unplaced']['count'],
             cluster['headroom_after'], cluster['exhaustive']))


if __name__ == '__main__':
    main()
