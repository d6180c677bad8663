"""How often first-fit decreasing misses a placement that exists (issue 13): random small clusters
(2-5 hosts, 0-12 VMs, tests/unit/failover_data.py), every loss of one or two hosts re-placed by
failover's FFD and by an exact packer that tries every placement.

    .venv/bin/python bench/failover_miss_rate.py [--clusters N] [--seed S]

A miss is a loss (with VMs to move) that the exact packer places entirely and FFD does not;
the rate is misses over the losses that can be placed. Per cluster, "survive" counts those where
every loss can be placed (the exact answer to failures=k) and "not true" those where failover
nevertheless did not say survives: true. FFD never places what cannot be (the tests check every
placement it reports), so the other direction is always 0.
"""

from __future__ import absolute_import, division, print_function

import argparse
import itertools
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, '.collections'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'unit'))

from failover_data import claims_of, exact_fits, exact_survives, random_cluster  # noqa: E402
from ansible_collections.hypervisor.stats.plugins.plugin_utils.failover import failover, replace_vms  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--clusters', type=int, default=20000)
    parser.add_argument('--seed', type=int, default=13)
    args = parser.parse_args()

    start = time.process_time()
    rows = []
    for k in (1, 2):
        rng = random.Random(args.seed)   # the same clusters for both k
        losses = placeable = missed = clusters = surviving = unclaimed = 0
        for _ in range(args.clusters):
            hosts = random_cluster(rng)
            names = [h['hypervisor_hostname'] for h in hosts]
            if len(names) <= k:
                continue
            for lost in itertools.combinations(names, k):
                if not claims_of(hosts, lost):
                    continue   # nothing to move: no placement to miss
                losses += 1
                if exact_fits(hosts, set(lost)):
                    placeable += 1
                    missed += bool(replace_vms(hosts, lost)['unplaced'])
            clusters += 1
            if exact_survives(hosts, k):
                surviving += 1
                unclaimed += failover(hosts, k)['cluster']['survives'] is not True
        rows.append((k, losses, placeable, missed, clusters, surviving, unclaimed))

    print('first-fit decreasing against an exact packer, %d random clusters of 2-5 hosts and 0-12 VMs (seed %d)'
          % (args.clusters, args.seed))
    print('%-26s %10s %10s %10s %10s' % ('losses with VMs to move', 'losses', 'placeable', 'FFD missed', 'miss rate'))
    for k, losses, placeable, missed, _c, _s, _u in rows:
        print('%-26s %10d %10d %10d %9.2f%%' % ('%d host%s at once' % (k, 's' if k > 1 else ''), losses, placeable,
                                               missed, 100.0 * missed / max(placeable, 1)))
    print('%-26s %10s %10s %10s %10s' % ('clusters', 'clusters', 'survive', 'not true', 'miss rate'))
    for k, _l, _p, _m, clusters, surviving, unclaimed in rows:
        print('%-26s %10d %10d %10d %9.2f%%' % ('failures=%d' % k, clusters, surviving, unclaimed,
                                               100.0 * unclaimed / max(surviving, 1)))
    print('CPU %.1f s' % (time.process_time() - start))


if __name__ == '__main__':
    main()
