# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: accumulate
short_description: Per-VM cumulative disk, network and CPU counters that survive restarts
version_added: 0.1.0
description:
  - Adds this cycle's M(hypervisor.stats.vm_stats) samples to last cycle's cumulative counters,
    as CloudStack's StatsCollector does in memory, but with a state you keep in the fact cache.
  - Disk and network counters accumulate per device. The delta is C(current - baseline) when the
    sample comes from the same domain instance (same host, same C(domain_id)) and the counter did not
    go down; otherwise (reboot, migration, counter reset, hot-plugged device) the delta is C(current).
    The first sample of a VM only sets its baseline, and so does the first good reading of a counter
    that was null so far on its domain instance.
  - A null reading (vm_stats reports null when a device's or the CPU's stats call fails), and a device
    missing from one sample, keep the last good baseline of that counter, so the next good reading
    counts only the growth since. A counter lower than its baseline in a sample no newer than the
    baseline is an older reading replayed, not a reset, and counts nothing.
  - One UUID sampled on two hosts in one cycle (a live migration shows the domain on the source and
    the destination; a cloned domain XML shares the UUID) gives a warning naming the UUID and the
    hosts, and each host keeps its own entry for its own domain, counting that domain's growth once (a
    domain that starts on the second host while the VM is known counts whole, its counters started with
    it). When the UUID leaves a host (that host sampled without it, or not sampled at all) while it is
    sampled elsewhere, the left entry's totals are added into the entry of the first host, in name
    order, that has the UUID this cycle; its baseline stays under that host's C(moved) until
    O(retention_seconds) passes, so that the same domain found there again counts only its growth
    since. The totals of a VM are the sum of its entries over the hosts.
  - C(cpu_utilization) is the growth of C(cpu_time_ns) divided by the elapsed time times C(vcpus), in percent,
    between two samples of the same domain instance, clamped to 0-100; null on first sight, after a reset, or when Δt is not positive.
  - A VM that moved appears once, under its new host, with its totals carried over (also when the
    old host was not sampled this cycle). A VM missing from a sampled host stays there with
    C(state=gone) for O(retention_seconds), then is dropped. Hosts absent from O(samples) (unreachable this
    cycle) keep their entries. Totals never decrease.
  - Every number of O(_input) is checked (a finite number, not negative where a counter is, an integer
    where one is due, below 10**30 for totals and times and 2**64 for raw counters); NaN and infinity
    are never written. A malformed host entry gives a warning naming the host and a fresh start for it;
    a VM whose totals or times are damaged gives a warning naming the VM and host and starts afresh,
    alone; a VM whose baseline alone is damaged keeps its totals and only sets a new baseline. A VM
    entry written again without a sample (gone, or its host not sampled) has its damaged numbers
    written as null.
  - C(last_seen) is never before C(first_seen), also when a host's clock goes back.
  - Per VM, C(rates) are this cycle's contention and I/O rates between two samples of the same domain
    instance (C(steal_percent), disk latencies in ms, IOPS, KiB/s, swap KiB/s; null where a signal is
    missing, on a reset, or on first sight, never 0 for unknown), C(rate_window) keeps the last 127 to 168
    of each of C(p95)'s fields (in blocks of 42, only the values that can still be the p95), and C(p95)
    is their nearest-rank 95th percentile. See the reference.
options:
  _input:
    description:
      - The state this filter returned last cycle, keyed by host; empty or undefined on the first cycle.
    type: dict
    required: true
  samples:
    description:
      - This cycle's C(vm_stats) facts, keyed by host (the playbook uses C(inventory_hostname)).
        Only the hosts sampled this cycle.
    type: dict
    required: true
  retention_seconds:
    description: How long a VM that disappeared is kept (with C(state=gone)) before it is dropped.
    type: int
    default: 604800
  now:
    description:
      - The cycle's timestamp in epoch seconds, standing for every sample's C(collected_at) (the main job passes
        C(hypervisor_stats_now)). Omitted, each host's own C(collected_at) is used. Meant for replaying
        simulated days in tests and demos.
    type: float
  partial:
    description:
      - This run samples part of the hypervisors (a slice of a sliced job, a run with C(--limit)). A VM this
        run has not seen before may be known to a host of another slice, so its first reading is kept under
        its host's C(first_sights) for P(hypervisor.stats.reconcile_counters#filter) to count (whole, when
        another host knew the VM earlier, as an unsliced run does) or drop.
    type: bool
    default: false
seealso:
  - plugin: hypervisor.stats.cluster_totals
    plugin_type: filter
  - plugin: hypervisor.stats.reconcile_counters
    plugin_type: filter
author:
  - hypervisor.stats contributors
'''

EXAMPLES = r'''
- name: Add this cycle's samples to the counters kept in the fact cache
  ansible.builtin.set_fact:
    counters: >-
      {{ previous | default({}) | hypervisor.stats.accumulate(samples, retention_seconds=86400) }}
  vars:
    samples: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, ['ansible_facts', 'vm_stats']))) }}"

- name: Cumulative network traffic of one VM
  ansible.builtin.debug:
    msg: "{{ counters['compute-a1'].vms['5b1a4e5c-0000-0000-0000-000000000001'].cumulative.network_read_kb }} KiB"
'''

RETURN = r'''
_value:
  description:
    - The new state, keyed by host. Under each host C(hypervisor_hostname), C(uri), C(collected_at)
      and C(vms) keyed by UUID.
    - Each VM has C(name), C(state) (C(gone) once it disappeared), C(domain_id), C(vcpus),
      C(cpu_utilization), C(memory), C(first_seen), C(last_seen) (timestamps of the samples, in seconds),
      C(cumulative) (C(cpu_time_ns), C(network_read_kb), C(network_write_kb), C(disk_read_kb),
      C(disk_write_kb), C(disk_read_ios), C(disk_write_ios)), C(timed_out) when its last reading was stuck,
      and C(baseline), the raw counters the next cycle compares with (host, domain id, time, CPU time,
      and per device a list of counters; internal, kept compact for the fact cache).
    - A UUID may be under two hosts (see the description); its totals are the sum of both entries.
    - A host may have C(moved), UUID -> baseline of domains whose entries were added into another host's
      (internal, see the description), and C(first_sights), UUID -> baseline of the VMs a O(partial) run saw
      first (internal, until P(hypervisor.stats.reconcile_counters#filter) resolves them).
  type: dict
'''

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import DEFAULT_RETENTION_SECONDS
from ansible_collections.hypervisor.stats.plugins.plugin_utils.counters import AccumulateError, accumulate
from ansible_collections.hypervisor.stats.plugins.plugin_utils.filter_call import call_filter


def accumulate_filter(previous, samples, retention_seconds=DEFAULT_RETENTION_SECONDS, now=None, partial=False):
    if isinstance(retention_seconds, str) and retention_seconds.strip().isdigit():
        retention_seconds = int(retention_seconds)
    return call_filter('accumulate', AccumulateError, accumulate, previous, samples, retention_seconds, now=now,
                       partial=bool(partial))


class FilterModule(object):
    def filters(self):
        return {'accumulate': accumulate_filter}
