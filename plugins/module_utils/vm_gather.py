# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt I/O for ``vm_stats``: read every selected domain, never waiting past a deadline.

The plan, per host:

1. list the domains in the wanted states (one call, no monitor involved);
2. bulk ``virDomainListGetStats`` calls with flag NOWAIT (a domain whose job
   is held elsewhere is answered without its monitor data instead of waiting):
   one for the stopped domains (groups state, balloon, vcpu) and, issued at the
   same time, up to ACTIVE_BATCHES for the active ones (plus cpu-total,
   interface and block), so that several QEMUs answer their monitors at once;
3. when a call does not return in time (a QEMU that does not answer its
   monitor holds the call, NOWAIT or not), or NOWAIT left a domain's monitor
   data out, one call per such domain, concurrently, so every other domain
   still answers and only the stuck one times out;
4. domains the driver answered with fewer groups (libvirt's test driver answers
   only ``state``), or all of them when the bulk call is missing, are read with
   the per-domain calls info / blockStatsFlags (blockStats where the driver lacks
   it) / blockInfo / interfaceStats / memoryStats / getCPUStats; a call the
   driver does not support is made once per collection, not once per domain;
5. the domain XML of active domains with disks, to leave CD-ROMs and floppies out.

Every call that can block runs through ``deadline.run_until``: the caller stops
waiting at the deadline and reports what did not finish as timed out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from functools import partial

try:
    import libvirt
except ImportError:  # reported by LibvirtModule via missing_required_lib
    libvirt = None

from ansible_collections.hypervisor.stats.plugins.module_utils.deadline import run_until, timed
from ansible_collections.hypervisor.stats.plugins.module_utils.domain_xml import parse_domain
from ansible_collections.hypervisor.stats.plugins.module_utils.schema import DEFAULT_VM_TIMEOUT
from ansible_collections.hypervisor.stats.plugins.module_utils.vm_facts import (
    cpu_utilization, monitor_data_missing, record_has_groups, timed_out_vm, vm_from_bulk_record, vm_from_calls,
)

# Share of the timeout the bulk calls may take before we fall back to one call per domain.
BULK_SHARE = 0.5
# Seconds granted after the deadline to fetch what a stuck domain answers without its monitor.
PARTIAL_MARGIN = 1.0
# Concurrent bulk calls for active domains; with the one for stopped domains this
# stays below libvirtd's default max_client_requests (5) per connection.
ACTIVE_BATCHES = 3
ACTIVE_BATCH_MIN = 8
# How a VM was read (VmReading.paths, DomainRead.path).
BULK, CALLS = 'bulk', 'calls'


class VmReading:
    """The outcome of ``collect``: per-VM dicts, warnings, the names skipped because they
    vanished, and how each VM was read ({uuid: BULK or CALLS}; for tests and the benchmark)."""

    def __init__(self):
        self.vms = []
        self.warnings = []
        self.vanished = []
        self.paths = {}


class DomainRead:
    """Everything learnt about one listed domain while it is read.

    The collecting thread fills it phase by phase: ``record`` (its bulk-stats
    record, or None), ``timed_out`` (it did not answer in time), ``error`` (the
    exception that lost it), ``path`` (BULK or CALLS: how it is read after the
    bulk phase; None when nothing is left to read), ``vm`` (its per-VM dict) and
    ``first_at`` (monotonic time of its first cpu sample). The one exception is
    ``read_by_calls``, run on a worker, which sets ``state`` and ``first_at`` as
    soon as info() answers, so that a domain whose later calls hang is still
    reported with its state.
    """

    __slots__ = ('dom', 'uuid', 'name', 'domain_id', 'record', 'path', 'first_at', 'state', 'error',
                 'timed_out', 'vm')

    def __init__(self, dom):
        self.dom = dom
        self.uuid = dom.UUIDString()
        self.name = dom.name()
        self.domain_id = dom.ID()
        self.record = self.path = self.first_at = self.state = self.error = self.vm = None
        self.timed_out = False

    @property
    def active(self):
        return self.domain_id >= 0


class BulkReading:
    """The outcome of the bulk phase beyond each DomainRead: ``answered`` is true when
    libvirt answered for the whole list (so a domain missing from the answer vanished),
    false when the bulk call is unsupported; ``at`` is the monotonic time of the answer."""

    __slots__ = ('answered', 'at')

    def __init__(self, answered=False, at=None):
        self.answered = answered
        self.at = at


def bulk_groups(active=True):
    """The stats groups to ask for; a stopped domain has no runtime counters to ask for."""
    groups = libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_BALLOON | libvirt.VIR_DOMAIN_STATS_VCPU
    if active:
        groups |= (libvirt.VIR_DOMAIN_STATS_CPU_TOTAL | libvirt.VIR_DOMAIN_STATS_INTERFACE |
                   libvirt.VIR_DOMAIN_STATS_BLOCK)
    return groups


def bulk_batches(reads):
    """[(reads, groups)] for the bulk calls, issued concurrently.

    Stopped domains go in one call with the groups they can answer. libvirtd
    reads the domains of one call one after the other, waiting on each QEMU's
    monitor in turn, so active domains are split into up to ACTIVE_BATCHES calls
    (of at least ACTIVE_BATCH_MIN domains) whose QEMUs answer in parallel.
    """
    active = [r for r in reads if r.active]
    inactive = [r for r in reads if not r.active]
    batches = [(inactive, bulk_groups(False))] if inactive else []
    if active:
        size = max(ACTIVE_BATCH_MIN, -(-len(active) // ACTIVE_BATCHES))
        batches.extend((active[i:i + size], bulk_groups(True)) for i in range(0, len(active), size))
    return batches


def _nowait_flag():
    return getattr(libvirt, 'VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT', 0)


def _code(exc):
    return exc.get_error_code() if isinstance(exc, libvirt.libvirtError) else None


def _vanished(exc):
    # NO_DOMAIN: undefined/transient and destroyed. OPERATION_INVALID: "domain is
    # not running" - it stopped after being listed as active.
    return _code(exc) in (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_OPERATION_INVALID)


def _unsupported(exc):
    return _code(exc) in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
                          libvirt.VIR_ERR_INVALID_ARG)


def list_domains(conn, states, names=None):
    """Domains in ``states`` (names of STATE_NAMES), restricted to ``names`` (names or UUIDs).

    Returns (domains, missing): ``missing`` are requested names matching nothing listed.
    """
    flags = 0
    wanted = set(states)
    if 'running' in wanted:
        flags |= libvirt.VIR_CONNECT_LIST_DOMAINS_RUNNING
    if 'paused' in wanted:
        flags |= libvirt.VIR_CONNECT_LIST_DOMAINS_PAUSED
    if 'shutoff' in wanted:
        flags |= libvirt.VIR_CONNECT_LIST_DOMAINS_SHUTOFF
    if wanted - set(['running', 'paused', 'shutoff']):
        flags |= libvirt.VIR_CONNECT_LIST_DOMAINS_OTHER
    domains = conn.listAllDomains(flags)
    if not names:
        return domains, []
    # Names are case-sensitive (libvirt's are); UUIDs are hex numbers, matched whatever their
    # case and dashes (libvirt writes them lower-case, users copy them from anywhere).
    wanted_names = set(names)
    wanted_uuids = dict((uuid_key(n), n) for n in names if uuid_key(n))
    chosen, seen = [], set()
    for dom in domains:
        name, uuid = dom.name(), uuid_key(dom.UUIDString())
        if name in wanted_names or uuid in wanted_uuids:
            chosen.append(dom)
            seen.add(name)
            if uuid in wanted_uuids:
                seen.add(wanted_uuids[uuid])
    return chosen, sorted(wanted_names - seen)


def uuid_key(text):
    """A UUID as 32 lower-case hex digits, or None when ``text`` is no UUID."""
    digits = str(text).replace('-', '').lower()
    if len(digits) == 32 and all(c in '0123456789abcdef' for c in digits):
        return digits
    return None


def bulk_stats(conn, domains, groups):
    """{uuid: record} from one bulk call, NOWAIT where libvirt accepts it."""
    nowait = _nowait_flag()
    try:
        answer = conn.domainListGetStats(domains, groups, nowait)
    except libvirt.libvirtError as exc:
        if not (nowait and _unsupported(exc)):
            raise
        answer = conn.domainListGetStats(domains, groups, 0)
    return dict((dom.UUIDString(), record) for dom, record in answer)


def disk_targets(dom):
    """Target names of real disks (no CD-ROM, no floppy) of a domain, from its XML."""
    return set(d['target'] for d in parse_domain(dom.XMLDesc(0), interfaces=False).disks if d['target'])


def _device_stats(call, dev):
    try:
        return call(dev)
    except libvirt.libvirtError as exc:
        if _vanished(exc):
            raise
        return None  # unplugged meanwhile or not measurable: counters unknown


def _optional(unsupported, name, call, *args):
    """``call(*args)``, or None when it fails short of the domain vanishing (NO_DOMAIN).

    ``unsupported``, shared by one collection's per-domain readings, holds the ``name``s
    of calls the driver answered VIR_ERR_NO_SUPPORT: those are not made again.
    """
    if name in unsupported:
        return None
    try:
        return call(*args)
    except libvirt.libvirtError as exc:
        code = _code(exc)
        if code == libvirt.VIR_ERR_NO_DOMAIN:
            raise
        if code == libvirt.VIR_ERR_NO_SUPPORT:
            unsupported.add(name)
        return None


def _block_stats(dom, target, unsupported):
    """blockStatsFlags' dict of one disk (counters, latency, flushes), or blockStats' tuple
    where the driver lacks it, or None."""
    if 'blockStatsFlags' not in unsupported:
        try:
            return dom.blockStatsFlags(target, 0)
        except libvirt.libvirtError as exc:
            if _vanished(exc):
                raise
            if _code(exc) != libvirt.VIR_ERR_NO_SUPPORT:
                return None
            unsupported.add('blockStatsFlags')
    return _device_stats(dom.blockStats, target)


def _cpu_stats(dom, unsupported):
    answer = _optional(unsupported, 'getCPUStats', dom.getCPUStats, True)
    return answer[0] if answer and isinstance(answer[0], dict) else None


def read_by_calls(read, unsupported=None):
    """The per-VM dict of one domain from the per-domain calls (info, XML, blockStatsFlags
    or blockStats and blockInfo per disk, interfaceStats, memoryStats, getCPUStats); sets
    ``read.state`` and ``read.first_at`` early. ``unsupported``: see ``_optional``."""
    unsupported = set() if unsupported is None else unsupported
    dom = read.dom
    info = dom.info()
    read.state, read.first_at = info[0], time.monotonic()
    block, block_info, nics, memory, cpu = {}, {}, {}, None, None
    if read.active:
        devices = parse_domain(dom.XMLDesc(0))
        for disk in devices.disks:
            target = disk['target']
            if target:
                block[target] = _block_stats(dom, target, unsupported)
                block_info[target] = _optional(unsupported, 'blockInfo', dom.blockInfo, target)
        for dev in devices.interfaces:
            nics[dev] = _device_stats(dom.interfaceStats, dev)
        try:
            memory = dom.memoryStats()
        except libvirt.libvirtError as exc:
            if _code(exc) == libvirt.VIR_ERR_NO_DOMAIN:
                raise
            memory = None
        cpu = _cpu_stats(dom, unsupported)
    return vm_from_calls(read.name, read.uuid, read.domain_id, info, block, nics, memory, cpu, block_info)


def collect(conn, states, names=None, timeout=DEFAULT_VM_TIMEOUT, cpu_sample_seconds=0.0):
    """Read the selected domains of ``conn`` into a ``VmReading``.

    Reading ends by ``timeout`` seconds after the start (plus ``cpu_sample_seconds``
    and at most ``timeout`` again for the second cpu sample).
    """
    started = time.monotonic()
    deadline = started + timeout
    reading = VmReading()
    domains, missing = list_domains(conn, states, names)
    for name in missing:
        reading.warnings.append("domain '%s' is not defined in the selected states on this host" % name)
    reads = [DomainRead(dom) for dom in domains]
    bulk = read_bulk(conn, reads, started + timeout * BULK_SHARE, deadline) if reads else BulkReading()

    for read in reads:
        if read.record is None and (read.timed_out or read.error is not None):
            continue
        if read.record is None and bulk.answered:
            reading.vanished.append(read.name)  # libvirt skipped it: gone since listing
        elif read.record is None or not record_has_groups(read.record, read.active):
            read.path = CALLS
        else:
            read.path = BULK

    # Disk kinds for bulk records (CD-ROM and floppy are left out) and the
    # per-domain reading share the deadline; a domain has at most one such job.
    jobs, unsupported = {}, set()
    for read in reads:
        if read.path == BULK and read.active and read.record.get('block.count'):
            jobs[read.uuid] = partial(disk_targets, read.dom)
        elif read.path == CALLS:
            jobs[read.uuid] = partial(read_by_calls, read, unsupported)
    stuck = any(read.timed_out for read in reads)
    answers = run_until(jobs, max(deadline, time.monotonic() + PARTIAL_MARGIN) if stuck else deadline)

    unreadable, kept = [], []
    for read in reads:
        if read.uuid in jobs and read.uuid not in answers:
            read.timed_out = True
        elif read.uuid in answers and not answers[read.uuid][0]:
            read.error = answers[read.uuid][1]
        if read.error is not None:
            if _vanished(read.error):
                reading.vanished.append(read.name)
            else:
                # One VM's error costs that VM only, never what the others answered.
                unreadable.append(read.error)
                reading.warnings.append("domain '%s' (%s) could not be read and is left out: %s"
                                        % (read.name, read.uuid, read.error))
            continue
        if read.path == BULK:
            targets = answers[read.uuid][1] if read.uuid in answers else None
            read.vm = vm_from_bulk_record(read.name, read.uuid, read.domain_id, read.record, targets)
            read.first_at = bulk.at
            reading.paths[read.uuid] = BULK
        elif read.path == CALLS and read.uuid in answers:
            read.vm = answers[read.uuid][1]
            reading.paths[read.uuid] = CALLS
        elif read.timed_out:
            read.vm = timed_out_vm(read.name, read.uuid, read.domain_id, read.state)
        else:
            continue
        if read.timed_out:
            read.vm['timed_out'] = True
            reading.warnings.append("domain '%s' (%s) did not answer within %ss (its QEMU monitor may be hung); "
                                    "reported with timed_out: true and only what libvirt knows without it"
                                    % (read.name, read.uuid, timeout))
        elif read.vm['state'] not in states:
            reading.vanished.append(read.name)  # stopped since listing: no longer selected
            continue
        kept.append(read)
        reading.vms.append(read.vm)

    if unreadable and len(unreadable) == len(reads):
        raise unreadable[0]  # nothing answered at all: the host failed, not a VM
    if cpu_sample_seconds > 0:
        _sample_cpu(conn, kept, cpu_sample_seconds, timeout)
    return reading


def read_bulk(conn, reads, bulk_deadline, deadline):
    """The bulk phase: sets ``record``, ``timed_out`` and ``error`` of ``reads``; a ``BulkReading``.

    Bulk calls with NOWAIT. Two things can keep a domain's monitor data out of
    them: a call itself hangs on a QEMU that does not answer (NOWAIT does not
    help when nobody else holds the domain's job), or NOWAIT skipped a domain
    whose job someone holds (often our own earlier call, still waiting on that
    QEMU). Either way each such domain is asked again alone, without NOWAIT,
    until ``deadline``; the ones still silent time out, and get the part a
    NOWAIT call can answer without the monitor (state, cpu, vcpu, interfaces).
    """
    batches = bulk_batches(reads)
    answers = run_until(dict((i, partial(timed, bulk_stats, conn, [r.dom for r in batch], groups))
                             for i, (batch, groups) in enumerate(batches)), bulk_deadline)
    records, answered_at, again = {}, None, []
    for i, (batch, _groups) in enumerate(batches):
        if i not in answers:
            again.extend(batch)
            continue
        ok, value = answers[i]
        if not ok:
            if _unsupported(value) or isinstance(value, AttributeError):
                return BulkReading()
            again.extend(batch)  # one domain may spoil a whole call: ask each alone
            continue
        records.update(value[0])
        answered_at = max(answered_at or 0, value[1])
        again.extend(r for r in batch if r.active and r.uuid in records and
                     record_has_groups(records[r.uuid], True) and monitor_data_missing(records[r.uuid]))
    if again:
        answers = run_until(dict((r.uuid, partial(_single_stats, conn, r.dom, bulk_groups(r.active), 0))
                                 for r in again), deadline)
        answered_at = answered_at or time.monotonic()
        for read in again:
            if read.uuid not in answers:
                read.timed_out = True
                continue
            ok, value = answers[read.uuid]
            if ok and value is not None:
                records[read.uuid] = value
            else:
                records.pop(read.uuid, None)
                if not ok and not _vanished(value):
                    read.error = value
    partial_reads = [r for r in reads if r.timed_out and r.uuid not in records]
    answers = run_until(dict((r.uuid, partial(_single_stats, conn, r.dom, bulk_groups(), _nowait_flag()))
                             for r in partial_reads), time.monotonic() + PARTIAL_MARGIN)
    for uuid, (ok, value) in answers.items():
        if ok and value is not None:
            records[uuid] = value
    for read in reads:
        read.record = records.get(read.uuid)
    return BulkReading(True, answered_at)


def _single_stats(conn, dom, groups, flags):
    answer = conn.domainListGetStats([dom], groups, flags)
    return answer[0][1] if answer else None


def _sample_cpu(conn, reads, seconds, timeout):
    """Second cpu-time sample after ``seconds``; utilisation = busy share of the VM's vCPUs.

    ``reads``: the DomainReads of the VMs returned; the ones timed out or without cpu time are left as they are.
    """
    sampled = [r for r in reads if r.vm['cpu_time_ns'] is not None and not r.vm['timed_out']]
    if not sampled:
        return
    time.sleep(seconds)
    jobs = {}
    bulk_reads = [r for r in sampled if r.path == BULK]
    if bulk_reads:
        # cpu-total comes from cgroups, not the monitor: no job, no hang.
        jobs[BULK] = partial(timed, bulk_stats, conn, [r.dom for r in bulk_reads],
                             libvirt.VIR_DOMAIN_STATS_CPU_TOTAL)
    for read in sampled:
        if read.path != BULK:
            jobs[read.uuid] = partial(timed, _info_cpu, read.dom)
    answers = run_until(jobs, time.monotonic() + timeout)
    second = {}
    for key, (ok, value) in answers.items():
        if not ok:
            continue
        records, at = value
        if key != BULK:
            records = {key: records}
        for uuid, record in records.items():
            second[uuid] = (record.get('cpu.time'), at)
    for read in sampled:
        if read.uuid in second:
            cpu_after, at = second[read.uuid]
            read.vm['cpu_utilization'] = cpu_utilization(read.vm['cpu_time_ns'], cpu_after, at - read.first_at,
                                                         read.vm['vcpus'])


def _info_cpu(dom):
    return {'cpu.time': dom.info()[4]}


def host_name(conn):
    try:
        return conn.getHostname()
    except libvirt.libvirtError:
        return None
