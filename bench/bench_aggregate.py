"""Benchmark (issue 4): 10,000 hosts x 50 VMs of synthetic vm_stats samples through
accumulate + cluster_totals, against a bare-Python loop doing the same sums in the same run.

Targets: accumulate + cluster_totals <= 3 s, peak RSS <= 1.5 GB, and within 3x of the bare loop.

    .venv/bin/python bench/bench_aggregate.py [--hosts N] [--vms M]

The timed call is the second cycle (the steady state: every VM has a baseline), as
the playbook runs it: a previous state read from the cache, this cycle's samples,
a new state out. The peak RSS is the whole process's, samples and states included.
Since issue 14 the samples carry the contention signals vm_stats reports, and both sides compute
the per-VM rates, their window and p95 (the bare loop without any check).
"""

from __future__ import absolute_import, division, print_function

import argparse
import gc
import math
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, '.collections'))

from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import inventory_record  # noqa: E402
from ansible_collections.hypervisor.stats.plugins.module_utils.schema import STATISTICS_FIELDS  # noqa: E402
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import cluster_totals  # noqa: E402
from ansible_collections.hypervisor.stats.plugins.plugin_utils.counters import accumulate  # noqa: E402

DISK_COUNTERS = ('rd_bytes', 'wr_bytes', 'rd_req', 'wr_req')
NIC_COUNTERS = ('rx_bytes', 'tx_bytes', 'rx_packets', 'tx_packets', 'rx_errs', 'tx_errs', 'rx_drop', 'tx_drop')
DISK_FIELDS = (('rd_bytes', 'disk_read_kb', 1024.0), ('wr_bytes', 'disk_write_kb', 1024.0),
               ('rd_req', 'disk_read_ios', 1), ('wr_req', 'disk_write_ios', 1))
NIC_FIELDS = (('rx_bytes', 'network_read_kb', 1024.0), ('tx_bytes', 'network_write_kb', 1024.0))
RATE_DISK_KEYS = ('rd_req', 'wr_req', 'rd_bytes', 'wr_bytes', 'rd_total_times_ns', 'wr_total_times_ns', 'fl_req',
                  'fl_total_times_ns')
WINDOW_FIELDS = ('cpu_percent', 'steal_percent', 'read_latency_ms', 'write_latency_ms', 'flush_latency_ms',
                 'io_kbps', 'memory_used_mb')


def vm_sample(host_index, vm_index, cycle):
    """One VM as vm_stats reports it (full shape), counters growing with the cycle."""
    base = (host_index * 50 + vm_index) * 1000 + cycle * 7919
    return {
        'name': 'vm-%d-%d' % (host_index, vm_index),
        'uuid': '%08x-0000-4000-8000-%012x' % (host_index, vm_index),
        'state': 'running', 'domain_id': vm_index + 1, 'vcpus': 2, 'timed_out': False,
        'cpu_time_ns': base * 10 ** 6, 'cpu_utilization': None,
        'memory': {'max_kb': 4194304, 'actual_kb': 4194304, 'unused_kb': 1000, 'available_kb': 4000000, 'rss_kb': 2000000},
        'disks': {'vda': dict([(c, base + i) for i, c in enumerate(DISK_COUNTERS)] + [
            ('rd_total_times_ns', base * 1000), ('wr_total_times_ns', base * 2000), ('fl_req', base),
            ('fl_total_times_ns', base * 3000), ('capacity', 10 ** 10), ('allocation', 10 ** 9),
            ('physical', 10 ** 9)])},
        'nics': {'vnet%d' % vm_index: dict((c, base + i) for i, c in enumerate(NIC_COUNTERS))},
        'totals': {'network_read_kb': base / 1024.0, 'network_write_kb': base / 1024.0, 'disk_read_kb': base / 1024.0,
                   'disk_write_kb': base / 1024.0, 'disk_read_ios': base, 'disk_write_ios': base,
                   'cpu_delay_ns': base * 1000},
        # The contention signals vm_stats reports since issue 14 (rates and their window in accumulate).
        'cpu_user_ns': base * 10 ** 5, 'cpu_system_ns': base * 10 ** 5,
        'vcpus_detail': [{'id': 0, 'delay_ns': base * 500, 'wait_ns': 0}, {'id': 1, 'delay_ns': base * 500, 'wait_ns': 0}],
        'memory_pressure': {'swap_in_kb': base, 'swap_out_kb': base, 'major_faults': base, 'minor_faults': base,
                            'usable_kb': 2000000, 'disk_caches_kb': 100000},
    }


def samples_of(hosts, vms, cycle):
    return dict(('hv%05d' % h, {'hypervisor_hostname': 'hv%05d' % h, 'uri': 'qemu:///system',
                                'collected_at': 1700000000 + 60 * cycle,
                                'vms': dict((v['uuid'], v) for v in (vm_sample(h, i, cycle) for i in range(vms)))})
                for h in range(hosts))


def host_resources(h):
    return dict([(f, h % 7 + 1) for f in STATISTICS_FIELDS] + [
        ('labels', {'cluster': 'c%d' % (h % 8)}),
        ('inventory', {'VCPU': inventory_record(64, 0, 4.0, h % 200), 'MEMORY_MB': inventory_record(262144, 512, 1.0, h % 9000),
                       'DISK_GB': inventory_record(2000, 0, 1.0, h % 1500)})])


def bare_loop(previous, samples, hosts_facts):
    """The same arithmetic with no checks, no rules beyond same-instance, no bookkeeping."""
    state = {}
    for host, sample in samples.items():
        before = previous[host]['vms']
        out = {}
        for uuid, vm in sample['vms'].items():
            old = before[uuid]
            base = old['baseline']
            same = base['domain_id'] == vm['domain_id']
            cum = dict(old['cumulative'])
            c, b = vm['cpu_time_ns'], base['cpu_time_ns']
            cum['cpu_time_ns'] += c - b if same and c >= b else c
            for group, fields in (('disks', DISK_FIELDS), ('nics', NIC_FIELDS)):
                for dev, counters in vm[group].items():
                    old_values = base[group][dev]
                    for index, (counter, total, divisor) in enumerate(fields):
                        c, b = counters[counter], old_values[index]
                        cum[total] += (c - b if same and c >= b else c) / divisor
            # The rates and their window, as accumulate computes them (issue 14), without its checks.
            rb, disk = old['rate_baseline'], vm['disks']['vda']
            seconds = sample['collected_at'] - rb['at']
            now_vm = [vm['totals']['cpu_delay_ns'], vm['memory_pressure']['swap_in_kb'],
                      vm['memory_pressure']['swap_out_kb'], sum(n['rx_bytes'] + n['tx_bytes'] for n in vm['nics'].values())]
            now_disk = [disk[k] for k in RATE_DISK_KEYS]
            d = [a - b for a, b in zip(now_vm, rb['vm'])]
            q = [a - b for a, b in zip(now_disk, rb['disks']['vda'])]
            rates = {'steal_percent': d[0] / (1e7 * vm['vcpus']) / seconds, 'swap_in_kbps': d[1] / seconds,
                     'swap_out_kbps': d[2] / seconds, 'net_kbps': d[3] / 1024.0 / seconds,
                     'read_iops': q[0] / seconds, 'write_iops': q[1] / seconds, 'read_kbps': q[2] / 1024.0 / seconds,
                     'write_kbps': q[3] / 1024.0 / seconds, 'read_latency_ms': q[4] / q[0] / 1e6,
                     'write_latency_ms': q[5] / q[1] / 1e6, 'flush_latency_ms': q[7] / q[6] / 1e6}
            rates['io_kbps'] = rates['read_kbps'] + rates['write_kbps'] + rates['net_kbps']
            values = dict(rates, cpu_percent=(vm['cpu_time_ns'] - base['cpu_time_ns']) / (seconds * 1e7 * vm['vcpus']),
                          memory_used_mb=(vm['memory']['actual_kb'] - vm['memory_pressure']['usable_kb']) / 1024.0)
            # The window as blocks [count, values...] per field (issue 15): the value joins the current block.
            window, p95 = [], {}
            for f, blocks in zip(WINDOW_FIELDS, old['rate_window']):
                last = blocks[-1] if blocks else [0]
                last = last + [int(values[f] * 10 + 0.5)]
                last[0] += 1
                blocks = blocks[:-1] + [last] if blocks else [last]
                window.append(blocks)
                n = sum(b[0] for b in blocks)
                p95[f] = sorted((v for b in blocks for v in b[1:]), reverse=True)[n - int(math.ceil(0.95 * n))] / 10.0
            out[uuid] = {'cumulative': cum, 'rates': rates, 'rate_window': window, 'p95': p95,
                         'rate_baseline': {'at': sample['collected_at'], 'domain_id': vm['domain_id'], 'vm': now_vm,
                                           'disks': {'vda': now_disk}}, 'baseline': {
                'domain_id': vm['domain_id'], 'cpu_time_ns': vm['cpu_time_ns'],
                'disks': dict((dev, [c[f] for f, _t, _d in DISK_FIELDS]) for dev, c in vm['disks'].items()),
                'nics': dict((dev, [c[f] for f, _t, _d in NIC_FIELDS]) for dev, c in vm['nics'].items())}}
        state[host] = {'vms': out}
    totals = dict((f, 0) for f in STATISTICS_FIELDS)
    inventory = {}
    for facts in hosts_facts:
        for f in STATISTICS_FIELDS:
            totals[f] += facts[f]
        for rc, rec in facts['inventory'].items():
            acc = inventory.setdefault(rc, {'total': 0, 'reserved': 0, 'used': 0, 'capacity': 0, 'free': 0})
            for f in acc:
                acc[f] += rec[f]
    return state, totals


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hosts', type=int, default=10000)
    parser.add_argument('--vms', type=int, default=50)
    args = parser.parse_args()

    hosts_facts = [host_resources(h) for h in range(args.hosts)]
    flavors = {'m1.small': {'vcpus': 1, 'memory_mb': 2048, 'disk_gb': 20},
               'm1.large': {'vcpus': 4, 'memory_mb': 8192, 'disk_gb': 80}}
    first, warnings = accumulate({}, samples_of(args.hosts, args.vms, 1))
    assert not warnings
    samples = samples_of(args.hosts, args.vms, 2)
    gc.collect()
    rss_inputs = peak_rss_mb()

    start, cpu = time.perf_counter(), time.process_time()
    state, warnings = accumulate(first, samples, 604800)
    totals = cluster_totals(hosts_facts, group_by='labels.cluster', flavors=flavors)
    ours, ours_cpu = time.perf_counter() - start, time.process_time() - cpu
    rss_ours = peak_rss_mb()
    assert not warnings and totals['count'] == args.hosts

    # Under the same conditions as accumulate, which pauses the garbage collector while it builds.
    gc.disable()
    start, cpu = time.perf_counter(), time.process_time()
    bare_state, bare_totals = bare_loop(first, samples, hosts_facts)
    bare, bare_cpu = time.perf_counter() - start, time.process_time() - cpu
    gc.enable()

    # Same sums, both ways.
    some = next(iter(samples))
    some_vm = next(iter(samples[some]['vms']))
    assert bare_state[some]['vms'][some_vm]['cumulative'] == state[some]['vms'][some_vm]['cumulative']
    assert bare_state[some]['vms'][some_vm]['p95'] == state[some]['vms'][some_vm]['p95']
    assert all(bare_totals[f] == totals[f] for f in STATISTICS_FIELDS)

    vms = args.hosts * args.vms
    print('aggregation of %d hosts x %d VMs (%d VMs), second cycle; load average %.1f'
          % (args.hosts, args.vms, vms, os.getloadavg()[0]))
    print('%-34s %10s %10s %12s' % ('', 'CPU s', 'wall s', 'CPU us/VM'))
    print('%-34s %10.2f %10.2f %12.2f' % ('accumulate + cluster_totals', ours_cpu, ours, ours_cpu / vms * 1e6))
    print('%-34s %10.2f %10.2f %12.2f' % ('bare Python loop, same sums', bare_cpu, bare, bare_cpu / vms * 1e6))
    print('%-34s %10.2fx (target <= 3x)' % ('ratio (CPU)', ours_cpu / bare_cpu))
    print('%-34s %10.2f s  (target <= 3 s)' % ('accumulate + cluster_totals (CPU)', ours_cpu))
    print('%-34s %10.0f MB (target <= 1500 MB; the inputs alone: %.0f MB)' % ('peak RSS', rss_ours, rss_inputs))

if __name__ == '__main__':
    main()
