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
   the per-domain calls info / blockStats / interfaceStats / memoryStats;
5. the domain XML of active domains with disks, to leave CD-ROMs and floppies out.

Every call that can block runs in a daemon worker thread; the caller stops
waiting at the deadline and reports what did not finish as timed out. A daemon
thread left blocked in libvirt does not keep the process alive.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time
import xml.etree.ElementTree as ET

try:
    import queue
except ImportError:  # Python 2, for ansible-test's compile check only
    import Queue as queue

try:
    import libvirt
except ImportError:  # reported by LibvirtModule via missing_required_lib
    libvirt = None

from ansible_collections.hypervisor.stats.plugins.module_utils.libvirt_host import domain_devices
from ansible_collections.hypervisor.stats.plugins.module_utils.vm_stats import (
    cpu_utilization, monitor_data_missing, record_has_groups, timed_out_vm, vm_from_bulk_record, vm_from_calls,
)

WORKERS = 8
# Share of the timeout the single bulk call may take before we fall back to one call per domain.
BULK_SHARE = 0.5
# Seconds granted after the deadline to fetch what a stuck domain answers without its monitor.
PARTIAL_MARGIN = 1.0
# Concurrent bulk calls for active domains; with the one for stopped domains this
# stays below libvirtd's default max_client_requests (5) per connection.
ACTIVE_BATCHES = 3
ACTIVE_BATCH_MIN = 8


class Vanished(Exception):
    """The domain went away (or stopped) between listing and reading."""


def bulk_groups(active=True):
    """The stats groups to ask for; a stopped domain has no runtime counters to ask for."""
    groups = libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_BALLOON | libvirt.VIR_DOMAIN_STATS_VCPU
    if active:
        groups |= (libvirt.VIR_DOMAIN_STATS_CPU_TOTAL | libvirt.VIR_DOMAIN_STATS_INTERFACE |
                   libvirt.VIR_DOMAIN_STATS_BLOCK)
    return groups


def bulk_batches(domains):
    """[(domains, groups)] for the bulk calls, issued concurrently.

    Stopped domains go in one call with the groups they can answer. libvirtd
    reads the domains of one call one after the other, waiting on each QEMU's
    monitor in turn, so active domains are split into up to ACTIVE_BATCHES calls
    (of at least ACTIVE_BATCH_MIN domains) whose QEMUs answer in parallel.
    """
    active = [d for d in domains if d.ID() >= 0]
    inactive = [d for d in domains if d.ID() < 0]
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


def run_until(jobs, deadline, workers=WORKERS):
    """Run ``jobs`` ({key: callable}) on daemon threads until done or ``deadline`` (monotonic).

    Returns {key: (ok, value_or_exception)} for the jobs that finished; a missing
    key means the job did not finish (or did not start) in time. Threads still
    blocked in libvirt are abandoned: they are daemons and get no further work.
    """
    if not jobs:
        return {}
    pending = queue.Queue()
    for item in jobs.items():
        pending.put(item)
    results = {}
    lock = threading.Lock()
    finished = threading.Event()
    expired = threading.Event()

    def worker():
        while not expired.is_set():
            try:
                key, job = pending.get_nowait()
            except queue.Empty:
                return
            try:
                outcome = (True, job())
            except Exception as exc:  # handed to the caller, who decides
                outcome = (False, exc)
            with lock:
                results[key] = outcome
                if len(results) == len(jobs):
                    finished.set()

    for _i in range(min(workers, len(jobs))):
        thread = threading.Thread(target=worker, name='vm_stats-reader')
        thread.daemon = True
        thread.start()
    finished.wait(max(0.0, deadline - time.monotonic()))
    expired.set()
    with lock:
        return dict(results)


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
    wanted_names = set(names)
    chosen = [d for d in domains if d.name() in wanted_names or d.UUIDString() in wanted_names]
    seen = set(d.name() for d in chosen) | set(d.UUIDString() for d in chosen)
    return chosen, sorted(wanted_names - seen)


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


def interface_devices(xml_text):
    """Host-side device names of a domain's interfaces."""
    root = ET.fromstring(xml_text)
    return [t.get('dev') for t in root.findall('devices/interface/target') if t.get('dev')]


def disk_targets(dom):
    """Target names of real disks (no CD-ROM, no floppy) of a domain, from its XML."""
    disks, _pinned = domain_devices(dom.XMLDesc(0))
    return set(d['target'] for d in disks if d['target'])


def _device_stats(call, dev):
    try:
        return call(dev)
    except libvirt.libvirtError as exc:
        if _vanished(exc):
            raise
        return None  # unplugged meanwhile or not measurable: counters unknown


def read_by_calls(dom, progress):
    """One domain through the per-domain calls; ``progress`` learns the state early."""
    info = dom.info()
    progress['state'], progress['at'] = info[0], time.monotonic()
    block, nics, memory = {}, {}, None
    domain_id = dom.ID()
    if domain_id >= 0:
        xml_text = dom.XMLDesc(0)
        disks, _pinned = domain_devices(xml_text)
        for disk in disks:
            if disk['target']:
                block[disk['target']] = _device_stats(dom.blockStats, disk['target'])
        for dev in interface_devices(xml_text):
            nics[dev] = _device_stats(dom.interfaceStats, dev)
        try:
            memory = dom.memoryStats()
        except libvirt.libvirtError as exc:
            if _code(exc) == libvirt.VIR_ERR_NO_DOMAIN:
                raise
            memory = None
    return vm_from_calls(dom.name(), dom.UUIDString(), domain_id, info, block, nics, memory)


class Collection:
    """The outcome: per-VM dicts, warnings, the names skipped because they vanished,
    and how each VM was read ('bulk' or 'calls'; for tests and the benchmark)."""

    def __init__(self):
        self.vms = []
        self.warnings = []
        self.vanished = []
        self.paths = {}


def collect(conn, states, names=None, timeout=10.0, cpu_sample_seconds=0.0, bulk=True, hooks=None):
    """Read the selected domains of ``conn`` into a ``Collection``.

    Reading ends by ``timeout`` seconds after the start (plus ``cpu_sample_seconds``
    and at most ``timeout`` again for the second cpu sample). ``bulk=False`` skips
    the bulk call (the per-domain baseline). ``hooks`` ({'after_list':
    callable(domains)}) lets tests act between listing and reading.
    """
    started = time.monotonic()
    deadline = started + timeout
    result = Collection()
    domains, missing = list_domains(conn, states, names)
    for name in missing:
        result.warnings.append("domain '%s' is not defined in the selected states on this host" % name)
    if hooks and hooks.get('after_list'):
        hooks['after_list'](domains)
    by_uuid = dict((d.UUIDString(), d) for d in domains)

    records, stuck, failed, bulk_answered, bulk_at = {}, set(), {}, False, None
    if bulk and domains:
        records, stuck, failed, bulk_answered, bulk_at = _read_bulk(conn, domains, started + timeout * BULK_SHARE,
                                                                    deadline)
    from_bulk, by_call = {}, []
    for uuid, dom in by_uuid.items():
        record = records.get(uuid)
        if record is None and (uuid in stuck or uuid in failed):
            continue
        if record is None and bulk_answered:
            result.vanished.append(dom.name())  # libvirt skipped it: gone since listing
        elif record is None or not record_has_groups(record, dom.ID() >= 0):
            by_call.append(uuid)
        else:
            from_bulk[uuid] = record

    # Disk kinds for bulk records (CD-ROM and floppy are left out) and the
    # per-domain reading share the deadline.
    jobs = dict((('xml', uuid), _bound(disk_targets, by_uuid[uuid])) for uuid, record in from_bulk.items()
                if record.get('block.count') and by_uuid[uuid].ID() >= 0)
    progress = dict((uuid, {}) for uuid in by_call)
    jobs.update((('calls', uuid), _bound(read_by_calls, by_uuid[uuid], progress[uuid])) for uuid in by_call)
    answers = run_until(jobs, max(deadline, time.monotonic() + PARTIAL_MARGIN) if stuck else deadline)

    first_at, unreadable = {}, []
    for uuid, dom in by_uuid.items():
        name = dom.name()
        xml_job, calls_job = ('xml', uuid), ('calls', uuid)
        failure = failed.get(uuid)
        for job in (xml_job, calls_job):
            if job in answers and not answers[job][0]:
                failure = answers[job][1]
        if failure is not None:
            if _vanished(failure):
                result.vanished.append(name)
            else:
                # One VM's error costs that VM only, never what the others answered.
                unreadable.append(failure)
                result.warnings.append("domain '%s' (%s) could not be read and is left out: %s"
                                       % (name, uuid, failure))
            continue
        timed_out = uuid in stuck or (xml_job in jobs and xml_job not in answers) or \
            (calls_job in jobs and calls_job not in answers)
        if uuid in from_bulk:
            targets = answers[xml_job][1] if xml_job in answers else None
            vm = vm_from_bulk_record(name, uuid, dom.ID(), from_bulk[uuid], targets)
            result.paths[uuid], first_at[uuid] = 'bulk', bulk_at
        elif calls_job in answers:
            vm = answers[calls_job][1]
            result.paths[uuid], first_at[uuid] = 'calls', progress[uuid].get('at')
        elif timed_out:
            vm = timed_out_vm(name, uuid, dom.ID(), progress.get(uuid, {}).get('state'))
        else:
            continue
        if timed_out:
            vm['timed_out'] = True
            first_at.pop(uuid, None)
            result.warnings.append("domain '%s' (%s) did not answer within %ss (its QEMU monitor may be hung); "
                                   "reported with timed_out: true and only what libvirt knows without it"
                                   % (name, uuid, timeout))
        elif vm['state'] not in states:
            result.vanished.append(name)  # stopped since listing: no longer selected
            continue
        result.vms.append(vm)

    if unreadable and len(unreadable) == len(by_uuid):
        raise unreadable[0]  # nothing answered at all: the host failed, not a VM
    if cpu_sample_seconds > 0:
        _sample_cpu(conn, result.vms, by_uuid, cpu_sample_seconds, timeout, first_at, result.paths)
    return result


def _bound(func, *args):
    return lambda: func(*args)


def _read_bulk(conn, domains, bulk_deadline, deadline):
    """(records, stuck uuids, {uuid: error}, answered, monotonic time of the answer).

    One bulk call with NOWAIT. Two things can keep a domain's monitor data out
    of it: the call itself hangs on a QEMU that does not answer (NOWAIT does not
    help when nobody else holds the domain's job), or NOWAIT skipped a domain
    whose job someone holds (often our own earlier call, still waiting on that
    QEMU). Either way each such domain is asked again alone, without NOWAIT,
    until ``deadline``; the ones still silent are ``stuck``, and get the part a
    NOWAIT call can answer without the monitor (state, cpu, vcpu, interfaces).

    ``answered`` is true when libvirt answered for the whole list (a domain
    missing from the answer vanished), false when the bulk call is unsupported.
    """
    batches = bulk_batches(domains)
    answers = run_until(dict((i, _bound(_timed, bulk_stats, conn, doms, groups))
                             for i, (doms, groups) in enumerate(batches)), bulk_deadline)
    records, answered_at, again = {}, None, []
    for i, (doms, _groups) in enumerate(batches):
        if i not in answers:
            again.extend(doms)
            continue
        ok, value = answers[i]
        if not ok:
            if _unsupported(value) or isinstance(value, AttributeError):
                return {}, set(), {}, False, None
            again.extend(doms)  # one domain may spoil a whole call: ask each alone
            continue
        records.update(value[0])
        answered_at = max(answered_at or 0, value[1])
        again.extend(d for d in doms if d.ID() >= 0 and d.UUIDString() in records and
                     record_has_groups(records[d.UUIDString()], True) and
                     monitor_data_missing(records[d.UUIDString()]))
    stuck, failed = set(), {}
    if again:
        answers = run_until(dict((d.UUIDString(), _bound(_single_stats, conn, d, bulk_groups(d.ID() >= 0), 0))
                                 for d in again), deadline)
        answered_at = answered_at or time.monotonic()
        for dom in again:
            uuid = dom.UUIDString()
            if uuid not in answers:
                stuck.add(uuid)
                continue
            ok, value = answers[uuid]
            if ok and value is not None:
                records[uuid] = value
            else:
                records.pop(uuid, None)
                if not ok and not _vanished(value):
                    failed[uuid] = value
    partial = [d for d in domains if d.UUIDString() in stuck and d.UUIDString() not in records]
    answers = run_until(dict((d.UUIDString(), _bound(_single_stats, conn, d, bulk_groups(), _nowait_flag()))
                             for d in partial), time.monotonic() + PARTIAL_MARGIN)
    for uuid, (ok, value) in answers.items():
        if ok and value is not None:
            records[uuid] = value
    return records, stuck, failed, True, answered_at


def _single_stats(conn, dom, groups, flags):
    answer = conn.domainListGetStats([dom], groups, flags)
    return answer[0][1] if answer else None


def _sample_cpu(conn, vms, by_uuid, seconds, timeout, first_at, paths):
    """Second cpu-time sample after ``seconds``; utilisation = busy share of the VM's vCPUs.

    ``first_at``: {uuid: monotonic time of the first sample}.
    """
    active = [vm for vm in vms if vm['cpu_time_ns'] is not None and vm['uuid'] in first_at]
    if not active:
        return
    time.sleep(seconds)
    jobs = {}
    bulk_doms = [by_uuid[vm['uuid']] for vm in active if paths.get(vm['uuid']) == 'bulk']
    if bulk_doms:
        # cpu-total comes from cgroups, not the monitor: no job, no hang.
        jobs['bulk'] = _bound(_timed, bulk_stats, conn, bulk_doms, libvirt.VIR_DOMAIN_STATS_CPU_TOTAL)
    for vm in active:
        if paths.get(vm['uuid']) != 'bulk':
            jobs[vm['uuid']] = _bound(_timed, _info_cpu, by_uuid[vm['uuid']])
    answers = run_until(jobs, time.monotonic() + timeout)
    second = {}
    for key, (ok, value) in answers.items():
        if not ok:
            continue
        records, at = value
        if key != 'bulk':
            records = {key: records}
        for uuid, record in records.items():
            second[uuid] = (record.get('cpu.time'), at)
    for vm in active:
        if vm['uuid'] in second:
            cpu_after, at = second[vm['uuid']]
            vm['cpu_utilization'] = cpu_utilization(vm['cpu_time_ns'], cpu_after,
                                                    at - first_at[vm['uuid']], vm['vcpus'])


def _info_cpu(dom):
    return {'cpu.time': dom.info()[4]}


def _timed(func, *args):
    """(func(*args), monotonic time it returned)."""
    value = func(*args)
    return value, time.monotonic()


def host_name(conn):
    try:
        return conn.getHostname()
    except libvirt.libvirtError:
        return None
