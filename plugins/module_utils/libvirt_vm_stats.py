# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""libvirt I/O for ``vm_stats``: read every selected domain, never waiting past a deadline.

The plan, per host:

1. list the domains in the wanted states (one call, no monitor involved);
2. one bulk ``virDomainListGetStats`` call for all of them, groups state,
   cpu-total, balloon, vcpu, interface and block, flag NOWAIT (a domain whose
   job is held elsewhere is answered without its monitor data instead of
   waiting);
3. when that call does not return in time (a QEMU that does not answer its
   monitor holds the call, NOWAIT or not), one call per domain, concurrently,
   so every other domain still answers and only the stuck one times out;
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
    cpu_utilization, record_has_groups, timed_out_vm, vm_from_bulk_record, vm_from_calls,
)

WORKERS = 8
# Share of the timeout the single bulk call may take before we fall back to one call per domain.
BULK_SHARE = 0.5


class Vanished(Exception):
    """The domain went away (or stopped) between listing and reading."""


def bulk_groups():
    return (libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL |
            libvirt.VIR_DOMAIN_STATS_BALLOON | libvirt.VIR_DOMAIN_STATS_VCPU |
            libvirt.VIR_DOMAIN_STATS_INTERFACE | libvirt.VIR_DOMAIN_STATS_BLOCK)


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

    records, stuck, bulk_answered, bulk_at = {}, set(), False, None
    if bulk and domains:
        records, stuck, bulk_answered, bulk_at = _read_bulk(conn, domains, started + timeout * BULK_SHARE,
                                                            deadline)
    from_bulk, by_call = {}, []
    for uuid, dom in by_uuid.items():
        record = records.get(uuid)
        if uuid in stuck:
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
    answers = run_until(jobs, deadline)

    first_at = {}
    for uuid, dom in by_uuid.items():
        name = dom.name()
        job = ('xml', uuid) if ('xml', uuid) in jobs else ('calls', uuid) if uuid in progress else None
        if uuid in stuck or (job is not None and job not in answers):
            result.vms.append(timed_out_vm(name, uuid, dom.ID(), progress.get(uuid, {}).get('state')))
            result.warnings.append("domain '%s' (%s) did not answer within %ss; reported with timed_out: true"
                                   % (name, uuid, timeout))
            continue
        if job is not None:
            ok, value = answers[job]
            if not ok:
                if _vanished(value):
                    result.vanished.append(name)
                    continue
                raise value
        if uuid in from_bulk:
            vm = vm_from_bulk_record(name, uuid, dom.ID(), from_bulk[uuid], value if job else None)
            result.paths[uuid], first_at[uuid] = 'bulk', bulk_at
        elif job is not None:
            vm = value
            result.paths[uuid], first_at[uuid] = 'calls', progress[uuid].get('at')
        else:
            continue
        if vm['state'] not in states:
            result.vanished.append(name)  # stopped since listing: no longer selected
            continue
        result.vms.append(vm)

    if cpu_sample_seconds > 0:
        _sample_cpu(conn, result.vms, by_uuid, cpu_sample_seconds, timeout, first_at, result.paths)
    return result


def _bound(func, *args):
    return lambda: func(*args)


def _read_bulk(conn, domains, bulk_deadline, deadline):
    """(records, stuck uuids, answered, monotonic time of the answer).

    One bulk call; when it does not return by ``bulk_deadline``, one call per
    domain until ``deadline``. ``answered`` is true when libvirt answered for the
    whole list (a domain missing from the answer vanished), false when the bulk
    call is unsupported.
    """
    groups = bulk_groups()
    answer = run_until({'all': _bound(_timed, bulk_stats, conn, domains, groups)}, bulk_deadline)
    if 'all' in answer:
        ok, value = answer['all']
        if ok:
            return value[0], set(), True, value[1]
        if _unsupported(value) or isinstance(value, AttributeError):
            return {}, set(), False, None
        raise value
    # Some domain holds the bulk call. Ask each domain alone, without NOWAIT so the
    # stuck one waits for its job instead of answering half, and stop at the deadline.
    jobs = dict((d.UUIDString(), _bound(_single_stats, conn, d, groups)) for d in domains)
    answers = run_until(jobs, deadline)
    answered_at = time.monotonic()
    records, stuck = {}, set()
    for dom in domains:
        uuid = dom.UUIDString()
        if uuid not in answers:
            stuck.add(uuid)
            continue
        ok, value = answers[uuid]
        if ok:
            if value is not None:
                records[uuid] = value
        elif not _vanished(value):
            raise value
    return records, stuck, True, answered_at


def _single_stats(conn, dom, groups):
    answer = conn.domainListGetStats([dom], groups, 0)
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
