"""Benchmark (issue 15): one slice of 50,000 VMs through accumulate, and the controller state per VM.

Targets (issue 15): accumulate one slice of 50,000 VMs in <= 1 s of CPU and <= 300 MB peak RSS;
controller state <= 2 KB per VM. Printed beside the issue's "now" figures (about 6 KB per VM).
State per VM: the JSON the fact cache stores for the slice's counters entries, divided by the VMs.
bench_accumulate_slice.py measures the same beside an earlier commit in the same run, and with full
rate windows.

    .venv/bin/python bench/bench_slice.py [--hosts N] [--vms M]
"""

from __future__ import absolute_import, division, print_function

import argparse
import gc
import json
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_aggregate import accumulate, samples_of  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hosts', type=int, default=1000)
    parser.add_argument('--vms', type=int, default=50)
    args = parser.parse_args()
    vms = args.hosts * args.vms
    first, warnings = accumulate({}, samples_of(args.hosts, args.vms, 1))
    samples = samples_of(args.hosts, args.vms, 2)
    gc.collect()
    cpu = time.process_time()
    state, warnings = accumulate(first, samples, 604800)
    cpu = time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    state_bytes = sum(len(json.dumps(entry, separators=(',', ':'))) for entry in state.values())
    print('one slice: %d hosts x %d VMs = %d VMs, second cycle' % (args.hosts, args.vms, vms))
    print('%-34s %14s %14s' % ('', 'measured now', 'target'))
    print('%-34s %12.2f s %12s' % ('accumulate CPU', cpu, '<= 1 s'))
    print('%-34s %11.0f MB %12s' % ('peak RSS (inputs included)', rss, '<= 300 MB'))
    print('%-34s %11.0f B  %12s' % ('state per VM (cache JSON)', state_bytes / float(vms), '<= 2048 B'))
    print('issue 15 "now": about 6 KB per VM (in-process, 3.2 GB / 500,000 VMs)')


if __name__ == '__main__':
    main()
