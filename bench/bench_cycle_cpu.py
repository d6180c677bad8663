"""Controller CPU per host of hypervisor.stats.collect and hypervisor.stats.totals (docs/scaling.md): simulated
clusters of 1 and 40 test-driver hosts (tests/integration/test_cycle.Cluster, jsonfile cache), CPU of the
ansible-playbook processes from getrusage(RUSAGE_CHILDREN), the lower of two runs.

    .venv/bin/python bench/bench_cycle_cpu.py [WORKDIR]
"""
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
from test_cycle import ANSIBLE_PLAYBOOK, Cluster  # noqa: E402
WORK = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
res = {}
for n in (1, 40):
    cl = Cluster(WORK / ('n%d' % n), dict(('hv%03d' % i, ['v%04d' % (2 * i), 'v%04d' % (2 * i + 1)]) for i in range(n)))
    cl.write()
    for playbook in ('collect.yml', 'totals.yml'):
        best = None
        for rep in range(2):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.time()
            r = subprocess.run([ANSIBLE_PLAYBOOK, '-i', str(cl.dir / 'inventory.yml'), os.path.join(ROOT, 'playbooks', playbook),
                                '-e', '{"hypervisor_stats_now": 1700000000}'], env=cl.env, cwd=str(cl.dir), capture_output=True, text=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            assert r.returncode == 0, r.stdout[-3000:]
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            best = cpu if best is None else min(best, cpu)
            res[(n, playbook, rep)] = (cpu, time.time() - t)
        res[(n, playbook)] = best
for k, v in res.items(): print(k, v)
print('collect CPU per host: %.3f s' % ((res[(40, 'collect.yml')] - res[(1, 'collect.yml')]) / 39))
print('totals CPU per host: %.4f s' % ((res[(40, 'totals.yml')] - res[(1, 'totals.yml')]) / 39))
print(os.cpu_count(), 'CPUs')
