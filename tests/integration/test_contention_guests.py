"""Contention and idleness on real QEMU guests under a real libvirtd (issue 14, "Tests").

The rates come from the real chain: ``vm_stats``' collection and facts (what its main() does, in
process: its ansible-playbook run takes 15-30 s on a 2-core machine busy with TCG guests, and
test_vm_stats_guests proves the facts through Ansible), then ``accumulate`` (plugin_utils.counters,
with plugin_utils.rates) and ``reclaimable`` called on what it returns. Each module reading is taken between two
``virsh domstats`` readings; a counter being monotonic, the module's growth between its two
readings lies between virsh's inner growth (after the first reading to before the second) and
its outer growth (before the first to after the second), and so does any rate made of it over
the module's own Δt.

The guests (fixture ``guests``, see guests.py) have one vCPU each and read, write with fsync
and ping every ~2 s on their own; ``burning`` keeps a vCPU busy, ``quiet`` stops that traffic.
"""

import contextlib
import os
import subprocess
import sys
import time

import libvirt
import pytest

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    DEFAULT_IDLE_DAYS, DEFAULT_IDLE_IO_KBPS, DEFAULT_STATES)
from ansible_collections.hypervisor.stats.plugins.module_utils.vm_facts import vm_stats_facts
from ansible_collections.hypervisor.stats.plugins.module_utils.vm_gather import collect, host_name
from ansible_collections.hypervisor.stats.plugins.plugin_utils.counters import accumulate
from ansible_collections.hypervisor.stats.plugins.plugin_utils.reclaimable import reclaimable
from test_vm_stats_guests import booted, devices, domstats

pytestmark = pytest.mark.guests

HOST = 'kvm-contention'
DAY = 86400
# An idle guest under TCG (these tests' guests) still costs its vCPU thread a few % of a host CPU
# emulating its timer ticks (5.6 % in a CI run; under KVM it is next to nothing), around the
# default threshold of 5 %. The idleness test uses this threshold instead: far above an idle
# emulated guest, far below a burning one (100 %).
IDLE_CPU_PERCENT_UNDER_TCG = 25
# Longer than any of these tests: each burn is stopped (and its sleep ended) when its block ends.
BURN_SECONDS = 293


def vcpu_delay(stats):
    """Sum of vcpu.<n>.delay over the vCPUs of one domstats reading, ns."""
    return sum(value for key, value in stats.items() if key.startswith('vcpu.') and key.endswith('.delay'))


def vda(stats):
    return devices(stats, 'block')['vda']


def vm_stats(conn, uri, guests):
    """The vm_stats facts of ``guests``, as the module's main() makes them (its collected_at is
    int(time.time()) taken before the collection)."""
    collected_at = int(time.time())
    result = collect(conn, list(DEFAULT_STATES), names=[g.name for g in guests])
    assert result.warnings == []
    return vm_stats_facts(host_name(conn), uri, collected_at, result.vms)


def read_between_virsh(conn, uri, pool):
    """(virsh before, vm_stats facts, virsh after); virsh readings per UUID, vCPU and block groups."""
    def virsh():
        return dict((g.uuid, domstats(uri, g.name, '--vcpu', '--block')) for g in pool)
    before = virsh()
    facts = vm_stats(conn, uri, pool)
    return before, facts, virsh()


@pytest.fixture
def conn(libvirtd):
    """A read-only connection to the guests' libvirtd, closed after the test."""
    connection = libvirt.openReadOnly(libvirtd)
    yield connection
    connection.close()


def two_cycles(first, second):
    """The state accumulate returns after the second of two vm_stats readings."""
    state, warnings = accumulate(None, {HOST: first})
    assert warnings == []
    state, warnings = accumulate(state, {HOST: second})
    assert warnings == []
    return state


def bracket(value, low, high, rel=1e-9):
    """Whether low <= value <= high, give or take float rounding."""
    return low * (1 - rel) <= value <= high * (1 + rel)


@contextlib.contextmanager
def host_burners(count):
    """``count`` busy processes on the host inside the block, killed (by their pid) on every way out."""
    procs = [subprocess.Popen([sys.executable, '-c', 'while True: pass']) for _ in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_oversubscribed_guests_have_steal_above_zero_bracketed_by_virsh_vcpu_delay(guests, libvirtd, conn):
    # Both guests burn their vCPU, and between the two module readings as many host processes burn
    # as the host has CPUs: busy vCPUs plus burners outnumber the CPUs, so the vCPUs wait (steal).
    pool = booted(guests)
    with contextlib.ExitStack() as burns:
        for g in pool:
            burns.enter_context(g.burning(BURN_SECONDS))
        time.sleep(1)
        before1, first, after1 = read_between_virsh(conn, libvirtd, pool)
        with host_burners(os.cpu_count()):
            time.sleep(8)
        before2, second, after2 = read_between_virsh(conn, libvirtd, pool)
    state = two_cycles(first, second)
    vms = state[HOST]['vms']
    seconds = second['collected_at'] - first['collected_at']
    assert seconds >= 8
    for g in pool:
        vm = vms[g.uuid]
        assert vm['vcpus'] == 1 and vm['domain_id'] == first['vms'][g.uuid]['domain_id']
        ours = second['vms'][g.uuid]['totals']['cpu_delay_ns'] - first['vms'][g.uuid]['totals']['cpu_delay_ns']
        inner = vcpu_delay(before2[g.uuid]) - vcpu_delay(after1[g.uuid])
        outer = vcpu_delay(after2[g.uuid]) - vcpu_delay(before1[g.uuid])
        assert 0 < inner <= ours <= outer, (g.name, inner, ours, outer)
        # steal % = Δdelay / (Δt x vCPUs), over the module's Δt; bracketed by virsh's growths over the same Δt.
        steal, scale = vm['rates']['steal_percent'], 1e-7 / (seconds * vm['vcpus'])
        print('%s: steal %.2f %% in [%.2f, %.2f] %% over %d s' % (g.name, steal, inner * scale, outer * scale, seconds))
        assert steal == pytest.approx(ours * scale, rel=1e-12)
        assert steal > 0 and bracket(steal, inner * scale, outer * scale), (g.name, inner * scale, steal, outer * scale)
        assert vm['p95']['steal_percent'] == pytest.approx(steal, abs=0.051)   # the one value of its window
    # The host's contention: the p95 over its VMs' p95 steal (of two values, the larger).
    host = reclaimable(state)['hosts'][HOST]
    assert host['vms'] == len(pool)
    assert host['p95_steal_percent'] == max(vms[g.uuid]['p95']['steal_percent'] for g in pool)


def test_quiet_guest_is_idle_and_burning_guest_is_not_over_simulated_idle_days(guests, libvirtd, conn):
    # Four cycles: the first dated idle_days back with the simulated clock (hypervisor_stats_now),
    # the others at their real time, a few seconds apart. The first interval spans idle_days, so
    # its rates are near 0 for both guests; the real ones hold what each guest does now, and with
    # so few values the p95 is their maximum. One guest burns its vCPU, the other has its traffic
    # stopped. Thresholds: p95 CPU below IDLE_CPU_PERCENT_UNDER_TCG, and the defaults p95 I/O below
    # 10 KiB/s and 14 days of history.
    busy, idle = booted(guests)[:2]
    state, facts, seen = None, None, dict((g.uuid, []) for g in (busy, idle))
    with busy.burning(BURN_SECONDS), idle.quiet():
        time.sleep(2)   # the quiet guest's last round of I/O is over
        for cycle in range(4):
            if cycle > 1:
                time.sleep(4)
            facts = vm_stats(conn, libvirtd, [busy, idle])
            now = facts['collected_at'] - (DEFAULT_IDLE_DAYS * DAY if cycle == 0 else 0)
            state, warnings = accumulate(state, {HOST: facts}, now=now)
            assert warnings == []
            for uuid, values in seen.items():
                vm = state[HOST]['vms'][uuid]
                values.append((vm['cpu_utilization'], vm['rates']['io_kbps']))
    vms = state[HOST]['vms']
    for g in (busy, idle):
        print('%s: (CPU %%, I/O KiB/s) per cycle %s, p95 CPU %s, I/O %s' % (
            g.name, seen[g.uuid], vms[g.uuid]['p95']['cpu_percent'], vms[g.uuid]['p95']['io_kbps']))
        cpu, io = zip(*seen[g.uuid][1:])   # (the first sight has no rates)
        assert None not in cpu and None not in io, seen[g.uuid]
        assert cpu[0] < 0.1 and io[0] < 0.1   # over idle_days, a few seconds' use is next to nothing
        # Three rates each: their nearest-rank p95 is the largest (kept in tenths).
        assert vms[g.uuid]['p95']['cpu_percent'] == pytest.approx(max(cpu), abs=0.051)
        assert vms[g.uuid]['p95']['io_kbps'] == pytest.approx(max(io), abs=0.051)
        assert vms[g.uuid]['last_seen'] - vms[g.uuid]['first_seen'] >= DEFAULT_IDLE_DAYS * DAY
    assert vms[busy.uuid]['p95']['cpu_percent'] >= IDLE_CPU_PERCENT_UNDER_TCG
    assert vms[idle.uuid]['p95']['cpu_percent'] < IDLE_CPU_PERCENT_UNDER_TCG
    assert vms[idle.uuid]['p95']['io_kbps'] < DEFAULT_IDLE_IO_KBPS
    assert vms[busy.uuid]['p95']['io_kbps'] > DEFAULT_IDLE_IO_KBPS   # its traffic went on

    found = reclaimable(state, samples={HOST: facts}, idle_cpu_percent=IDLE_CPU_PERCENT_UNDER_TCG)
    idle_vms = [vm for vm in found['vms'] if vm['category'] == 'idle']
    assert [vm['uuid'] for vm in idle_vms] == [idle.uuid], found['vms']   # the burning guest is not idle
    assert 'over %d days' % DEFAULT_IDLE_DAYS in idle_vms[0]['reason']
    assert found['cluster']['idle']['vms'] == 1 and found['cluster']['idle']['VCPU'] == 1
    assert found['cluster']['idle']['MEMORY_MB'] == 96
    print('reclaimable: %s' % [(vm['name'], vm['category'], vm['reason']) for vm in found['vms']])


def test_disk_latency_of_guests_doing_io_is_known_and_bracketed_by_virsh(guests, libvirtd, conn):
    # The guests' traffic loop reads (page cache dropped) and writes with fsync every ~2 s, so reads,
    # writes and flushes all happen between the readings. Latency = Δtime / Δrequests: with both
    # growths bracketed by virsh's, it lies between inner time / outer requests and outer / inner.
    pool = booted(guests)
    before1, first, after1 = read_between_virsh(conn, libvirtd, pool)
    time.sleep(6)
    before2, second, after2 = read_between_virsh(conn, libvirtd, pool)
    vms = two_cycles(first, second)[HOST]['vms']
    for g in pool:
        rates = vms[g.uuid]['rates']
        latencies = []
        for field, reqs, times, ours_reqs, ours_times in (
                ('read_latency_ms', 'rd.reqs', 'rd.times', 'rd_req', 'rd_total_times_ns'),
                ('write_latency_ms', 'wr.reqs', 'wr.times', 'wr_req', 'wr_total_times_ns'),
                ('flush_latency_ms', 'fl.reqs', 'fl.times', 'fl_req', 'fl_total_times_ns')):
            a, b = first['vms'][g.uuid]['disks']['vda'], second['vms'][g.uuid]['disks']['vda']
            inner_reqs = vda(before2[g.uuid])[reqs] - vda(after1[g.uuid])[reqs]
            outer_reqs = vda(after2[g.uuid])[reqs] - vda(before1[g.uuid])[reqs]
            inner_times = vda(before2[g.uuid])[times] - vda(after1[g.uuid])[times]
            outer_times = vda(after2[g.uuid])[times] - vda(before1[g.uuid])[times]
            assert 0 < inner_reqs <= b[ours_reqs] - a[ours_reqs] <= outer_reqs, (g.name, field)
            latency = rates[field]
            assert latency is not None and latency > 0, (g.name, field, rates)
            assert latency == pytest.approx((b[ours_times] - a[ours_times]) / (b[ours_reqs] - a[ours_reqs]) / 1e6,
                                            rel=1e-12)
            low, high = inner_times / outer_reqs / 1e6, outer_times / inner_reqs / 1e6
            assert bracket(latency, low, high), (g.name, field, low, latency, high)
            latencies.append('%s %.3f ms in [%.3f, %.3f]' % (field.split('_')[0], latency, low, high))
        print('%s: %s' % (g.name, ', '.join(latencies)))
        assert rates['read_iops'] > 0 and rates['write_iops'] > 0
        assert vms[g.uuid]['p95']['write_latency_ms'] == pytest.approx(rates['write_latency_ms'], abs=0.051)
