"""Benchmark (issue 15): accumulate over one slice of 50,000 VMs, this tree against an earlier commit, same run.

Targets (issue 15): accumulate one slice of 50,000 VMs in <= 1 s of CPU and <= 300 MB peak RSS;
controller state <= 2 KB per VM. Each side runs in its own process (its own peak RSS): the collection
of this tree, and the collection of ``--before`` (default 6855db9, before the compact windows),
extracted with ``git archive`` into a temporary directory. Two cases per side:

* ``second cycle``: as bench_slice.py, every VM's window holds one or two values;
* ``full windows``: the steady state, every field's window full (168 values per field), which is
  what the cache holds after a week of hourly cycles.

Printed per side and case: accumulate's CPU (process time), the process's peak RSS (samples and
previous state included), what accumulate itself added to it (peak during the call less the RSS
before it), and the bytes per VM of the new state as the fact cache stores it (compact JSON).

    .venv/bin/python bench/bench_accumulate_slice.py [--hosts N] [--vms M] [--before REV]
"""

from __future__ import absolute_import, division, print_function

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _status(key):
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(key + ':'):
                return int(line.split()[1]) / 1024.0
    return float('nan')


def _samples_module():
    """bench_aggregate's sample generator alone (importing it would put this tree's collection on the path)."""
    import ast
    import types
    path = os.path.join(HERE, 'bench_aggregate.py')
    with open(path) as source:
        tree = ast.parse(source.read())
    tree.body = [node for node in tree.body
                 if (isinstance(node, ast.FunctionDef) and node.name in ('vm_sample', 'samples_of'))
                 or (isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') in ('DISK_COUNTERS', 'NIC_COUNTERS'))]
    module = types.ModuleType('bench_samples')
    exec(compile(tree, path, 'exec'), module.__dict__)
    return module


def measure(collections, hosts, vms, case):
    """In this process: one accumulate of the given collection; prints one JSON line."""
    sys.path.insert(0, collections)
    from ansible_collections.hypervisor.stats.plugins.plugin_utils import counters, rates
    assert counters.__file__.startswith(collections), counters.__file__
    bench_aggregate = _samples_module()
    first, _warnings = counters.accumulate({}, bench_aggregate.samples_of(hosts, vms, 1))
    if case == 'full windows':
        for entry in first.values():
            for index, vm in enumerate(entry['vms'].values()):
                old = dict((field, [float((index * 7 + k) % 97) for k in range(rates.RATE_WINDOW)])
                           for field in rates.WINDOW_FIELDS)
                # This tree reads the lists as blocks (cached_state); an older one keeps them.
                vm['rate_window'] = old if not hasattr(rates, 'WINDOW_BLOCK') else rates.cached_state(
                    {'rate_window': old})[1]
    # As the fact cache gives it back.
    first = json.loads(json.dumps(first, separators=(',', ':')))
    samples = bench_aggregate.samples_of(hosts, vms, 2)
    gc.collect()
    rss_before = _status('VmRSS')
    try:
        with open('/proc/self/clear_refs', 'w') as clear:
            clear.write('5')   # resets VmHWM: the peak from here on
    except (IOError, OSError):
        pass
    cpu = time.process_time()
    state, warnings = counters.accumulate(first, samples, 604800)
    cpu = time.process_time() - cpu
    peak = _status('VmHWM')
    assert not warnings, warnings[:3]
    state_bytes = sum(len(json.dumps(entry, separators=(',', ':'))) for entry in state.values())
    import resource
    print(json.dumps({'cpu': cpu, 'rss_before': rss_before, 'peak': peak,
                      'process_peak': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      'bytes_per_vm': state_bytes / float(hosts * vms)}))


def run_side(collections, hosts, vms, case):
    out = subprocess.check_output([sys.executable, os.path.abspath(__file__), '--measure', collections,
                                   '--hosts', str(hosts), '--vms', str(vms), '--case', case])
    return json.loads(out.decode().strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hosts', type=int, default=1000)
    parser.add_argument('--vms', type=int, default=50)
    parser.add_argument('--before', default='6855db9')
    parser.add_argument('--measure')
    parser.add_argument('--case', default='second cycle')
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.hosts, args.vms, args.case)
        return
    tmp = tempfile.mkdtemp(prefix='bench-before-')
    target = os.path.join(tmp, 'ansible_collections', 'hypervisor', 'stats')
    os.makedirs(target)
    archive = subprocess.Popen(['git', '-C', ROOT, 'archive', args.before, 'plugins'], stdout=subprocess.PIPE)
    subprocess.check_call(['tar', '-x', '-C', target], stdin=archive.stdout)
    archive.wait()
    sides = (('before (%s)' % args.before, tmp), ('now (this tree)', os.path.join(ROOT, '.collections')))
    vms = args.hosts * args.vms
    print('accumulate, one slice: %d hosts x %d VMs = %d VMs; load average %.1f'
          % (args.hosts, args.vms, vms, os.getloadavg()[0]))
    print('%-14s %-18s %8s %12s %14s %10s' % ('case', 'code', 'CPU s', 'peak RSS MB', 'accumulate MB', 'B/VM'))
    for case in ('second cycle', 'full windows'):
        for label, collections in sides:
            r = run_side(collections, args.hosts, args.vms, case)
            print('%-14s %-18s %8.2f %12.0f %14.0f %10.0f' % (
                case, label, r['cpu'], r['process_peak'], r['peak'] - r['rss_before'], r['bytes_per_vm']))
    print('targets (issue 15): CPU <= 1 s, peak RSS <= 300 MB, state <= 2048 B per VM')
    subprocess.call(['rm', '-rf', tmp])


if __name__ == '__main__':
    main()
