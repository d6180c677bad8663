# Benchmark (issue 14): accumulate with full rate windows vs the bare loop.
#     .venv/bin/python bench/bench_rates_window.py HOSTS VMS_PER_HOST
"""Steady state with full windows: one cycle of accumulate over VMs whose rate_window holds 168 values
per field, against the same VMs with empty windows (what bench_aggregate's second cycle has)."""
import copy
import gc
import json
import os
import sys
import time
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, '.collections')); sys.path.insert(0, os.path.join(ROOT, 'bench'))
import bench_aggregate as B
from ansible_collections.hypervisor.stats.plugins.plugin_utils.counters import accumulate
from ansible_collections.hypervisor.stats.plugins.plugin_utils import rates as R
hosts, vms = int(sys.argv[1]), int(sys.argv[2])
first, _ = accumulate({}, B.samples_of(hosts, vms, 1))
full = copy.deepcopy(first)
for h in full.values():
    for i, vm in enumerate(h['vms'].values()):
        vm['rate_window'] = dict((f, [float((i * 7 + k) % 97) for k in range(R.RATE_WINDOW)]) for f in R.WINDOW_FIELDS)
        if hasattr(R, 'WINDOW_BLOCK'):   # since issue 15 the window is blocks: made once, as the cache holds it
            vm['rate_window'] = R.cached_state({'rate_window': vm['rate_window']})[1]
samples = B.samples_of(hosts, vms, 2)
hf = [B.host_resources(h) for h in range(hosts)]
n = hosts * vms
for label, prev in (('windows of 1', first), ('full windows (168 x 7)', full)):
    gc.collect(); t = time.process_time(); st, w = accumulate(prev, samples); d = time.process_time() - t
    assert not w
    print('%-26s accumulate %6.2f us/VM' % (label, d / n * 1e6))
gc.disable(); t = time.process_time(); B.bare_loop(first, samples, hf); d = time.process_time() - t; gc.enable()
print('%-26s bare loop  %6.2f us/VM' % ('windows of 1', d / n * 1e6))
gc.disable(); t = time.process_time(); B.bare_loop(full, samples, hf); d = time.process_time() - t; gc.enable()
print('%-26s bare loop  %6.2f us/VM' % ('full windows (168 x 7)', d / n * 1e6))
vm = next(iter(st['hv00000']['vms'].values()))
print('bytes/VM entry (JSON, compact): window of 1: %d; full window: %d' % (
    len(json.dumps(next(iter(first['hv00000']['vms'].values())), separators=(',', ':'))),
    len(json.dumps(vm, separators=(',', ':')))))
