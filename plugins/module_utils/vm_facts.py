# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure arithmetic for ``vm_stats``: libvirt's raw answers in, per-VM facts out.

Two kinds of raw input produce the same per-VM dict:

* a bulk-stats record of ``virConnectGetAllDomainStats`` / ``virDomainListGetStats``
  (flat keys such as ``block.0.name``, ``net.1.rx.bytes``), read by
  ``vm_from_bulk_record``;
* the answers of the per-domain calls (``info``, ``blockStatsFlags`` or
  ``blockStats``, ``blockInfo``, ``interfaceStats``, ``memoryStats``,
  ``getCPUStats``), read by ``vm_from_calls``.

The contention signals (issue 14: CPU user/system split, per-vCPU delay and wait,
guest memory pressure, disk latency and sizes) are read from the same record;
each is null where libvirt does not report it, and a reading that is no count
(negative, fractional, absurd) is null too (``schema.reading_or_none``).

Nothing here imports libvirt, so everything is testable on plain dicts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    BLOCK_STATS_FLAGS_KEYS, BLOCK_STATS_ORDER, CPU_SPLIT_FIELDS, CPU_SPLIT_SOURCES, DEFAULT_VM_TIMEOUT, DISK_FIELDS,
    DISK_LATENCY_SOURCES, DISK_SIGNAL_FIELDS, DISK_SIZE_FIELDS, MAX_CPU_SAMPLE_SECONDS, MAX_VCPUS, MAX_VM_TIMEOUT,
    MEMORY_FIELDS, MEMORY_PRESSURE, MEMORY_PRESSURE_FIELDS, MEMORY_PRESSURE_SOURCES, MEMORY_SOURCES, NIC_FIELDS,
    STATE_NAMES, VCPU_FIELDS, VCPUS_DETAIL, VM_SIGNAL_TOTAL_FIELDS, VM_TOTAL_FIELDS, VM_TOTALS, is_finite_number,
    reading_or_none,
)

# Bulk-stats suffixes of a disk's fields: DISK_FIELDS as they are, the signals sanitised.
_DISK_BULK = tuple(DISK_FIELDS) + tuple((ours, bulk) for ours, bulk, _call in DISK_LATENCY_SOURCES) + \
    tuple(DISK_SIZE_FIELDS)
_DISK_SANITISED = frozenset(DISK_SIGNAL_FIELDS)


class VmOptionError(ValueError):
    """A bad vm_stats option; the message starts with the option's name."""


def check_vm_options(options):
    """Every check of vm_stats' options that needs no host, before a connection is opened.

    ``options`` may hold ``timeout``, ``cpu_sample_seconds`` and ``states``; a missing one
    (or None) has its default. ``timeout`` must be finite, greater than 0 and at most
    schema.MAX_VM_TIMEOUT; ``cpu_sample_seconds`` finite, 0 or more and at most
    schema.MAX_CPU_SAMPLE_SECONDS; ``states``, when given, not empty. Returns
    ``(timeout, cpu_sample_seconds)`` as floats; raises VmOptionError naming the option.
    The main job's input check calls this too (one rule for hypervisor_stats_vm_timeout).
    """
    timeout = options.get('timeout')
    timeout = DEFAULT_VM_TIMEOUT if timeout is None else timeout
    if not is_finite_number(timeout) or timeout <= 0 or timeout > MAX_VM_TIMEOUT:
        raise VmOptionError('timeout must be a finite number of seconds greater than 0 and at most %g, got %r'
                            % (MAX_VM_TIMEOUT, timeout))
    sample = options.get('cpu_sample_seconds')
    sample = 0 if sample is None else sample
    if not is_finite_number(sample) or sample < 0 or sample > MAX_CPU_SAMPLE_SECONDS:
        raise VmOptionError('cpu_sample_seconds must be a finite number of seconds, 0 or more and at most %g, got %r'
                            % (MAX_CPU_SAMPLE_SECONDS, sample))
    if 'states' in options and options['states'] is not None and not options['states']:
        raise VmOptionError('states must name at least one state')
    return float(timeout), float(sample)


def state_name(code):
    return STATE_NAMES.get(code, 'unknown') if code is not None else None


def _devices_from_record(record, prefix, fields, keep=None, sanitised=frozenset()):
    """Per-device counters of one bulk group, keyed by the device's *name*.

    Indexes (``block.3``) only group keys of one device; they are never used to
    match a device, because libvirt numbers devices as it meets them.
    ``keep`` restricts the result to those names (None: all); the fields named in
    ``sanitised`` go through ``reading_or_none``.
    """
    devices = {}
    for index in range(record.get(prefix + '.count', 0)):
        base = '%s.%d.' % (prefix, index)
        name = record.get(base + 'name')
        if name is None or (keep is not None and name not in keep):
            continue
        if base + 'backingIndex' in record and name in devices:
            continue  # a backing-chain layer of a disk already seen
        device = devices[name] = {}
        for ours, theirs in fields:
            value = record.get(base + theirs)
            device[ours] = reading_or_none(value) if ours in sanitised else value
    return devices


def vcpus_from_record(record):
    """The per-vCPU list (``vcpus_detail``) of an active domain's bulk record, by vCPU number.

    A vCPU is listed when the record has runtime statistics for it (``vcpu.<n>.time``,
    ``.delay`` or ``.wait``; libvirt numbers them as the domain does, so an unplugged
    vCPU leaves a gap); each of VCPU_FIELDS is null where libvirt left it out.
    """
    count = record.get('vcpu.maximum', record.get('vcpu.current'))
    if not isinstance(count, int) or count <= 0:
        return []
    detail = []
    for number in range(min(count, MAX_VCPUS)):
        base = 'vcpu.%d.' % number
        values = [record.get(base + theirs) for _ours, theirs in VCPU_FIELDS]
        if values.count(None) == len(values) and base + 'time' not in record:
            continue
        entry = {'id': number}
        for (ours, _theirs), value in zip(VCPU_FIELDS, values):
            entry[ours] = reading_or_none(value)
        detail.append(entry)
    return detail


def blank_vm(name, uuid, domain_id=None, state=None):
    """The per-VM dict with every field present and nothing known yet."""
    vm = {
        'name': name,
        'uuid': uuid,
        'state': state_name(state) if not isinstance(state, str) else state,
        'domain_id': domain_id if domain_id is not None and domain_id >= 0 else None,
        'vcpus': None,
        'cpu_time_ns': None,
        'cpu_utilization': None,
    }
    vm.update(dict.fromkeys(CPU_SPLIT_FIELDS))
    vm.update({
        VCPUS_DETAIL: [],
        'memory': dict.fromkeys(MEMORY_FIELDS),
        MEMORY_PRESSURE: dict.fromkeys(MEMORY_PRESSURE_FIELDS),
        'disks': {},
        'nics': {},
        'totals': dict.fromkeys(VM_TOTAL_FIELDS + VM_SIGNAL_TOTAL_FIELDS),
        'timed_out': False,
    })
    return vm


def is_active(vm):
    return vm['domain_id'] is not None


def vm_from_bulk_record(name, uuid, domain_id, record, disk_targets=None):
    """A per-VM dict from one bulk-stats record.

    ``disk_targets``: the target names of real disks (CD-ROMs and floppies left
    out), from the domain XML; None keeps every block device.
    """
    vm = blank_vm(name, uuid, domain_id, record.get('state.state'))
    vm['vcpus'] = record.get('vcpu.current')
    # A stopped domain has its maximum and balloon size (the first two) but no guest statistics.
    for ours, bulk_key, _call_key in MEMORY_SOURCES if is_active(vm) else MEMORY_SOURCES[:2]:
        vm['memory'][ours] = record.get(bulk_key)
    if not is_active(vm):
        return vm  # counters run "since the domain started"; a stopped one has none
    vm['cpu_time_ns'] = record.get('cpu.time')
    for ours, bulk_key, _call_key in CPU_SPLIT_SOURCES:
        vm[ours] = reading_or_none(record.get(bulk_key))
    vm[VCPUS_DETAIL] = vcpus_from_record(record)
    for ours, bulk_key, _call_key in MEMORY_PRESSURE_SOURCES:
        vm[MEMORY_PRESSURE][ours] = reading_or_none(record.get(bulk_key))
    vm['disks'] = _devices_from_record(record, 'block', _DISK_BULK, disk_targets, _DISK_SANITISED)
    vm['nics'] = _devices_from_record(record, 'net', NIC_FIELDS)
    return with_totals(vm)


def record_has_groups(record, active):
    """Whether a bulk record answers the groups we asked for.

    libvirt's test driver answers only ``state``; a driver that does support the
    groups reports ``vcpu.current`` for every domain and ``cpu.time`` for active ones.
    """
    if 'vcpu.current' not in record:
        return False
    return 'cpu.time' in record or not active


def monitor_data_missing(record):
    """Whether an active domain's record lacks what only its QEMU monitor answers.

    With NOWAIT, libvirt answers a domain whose job is taken without monitor
    data: its block devices are listed but have no counters.
    """
    return any('block.%d.rd.reqs' % i not in record for i in range(record.get('block.count', 0)))


def _disk_from_calls(stats, info):
    """One disk's dict from blockStatsFlags' dict or blockStats' tuple (or None), and
    blockInfo's [capacity, allocation, physical] (or None)."""
    disk = dict.fromkeys(tuple(ours for ours, _bulk in DISK_FIELDS) + DISK_SIGNAL_FIELDS)
    if isinstance(stats, dict):
        for ours, key in BLOCK_STATS_FLAGS_KEYS:
            disk[ours] = stats.get(key)
        for ours, _bulk, key in DISK_LATENCY_SOURCES:
            disk[ours] = reading_or_none(stats.get(key))
    else:
        by_name = dict(zip(BLOCK_STATS_ORDER, stats or (None,) * len(BLOCK_STATS_ORDER)))
        for ours, _bulk in DISK_FIELDS:
            disk[ours] = by_name[ours]
    if info:
        for (ours, _bulk), value in zip(DISK_SIZE_FIELDS, info):
            disk[ours] = reading_or_none(value)
    return disk


def vm_from_calls(name, uuid, domain_id, info, block_stats=None, interface_stats=None, memory_stats=None,
                  cpu_stats=None, block_info=None):
    """A per-VM dict from the per-domain calls.

    ``info``: ``virDomainGetInfo``'s [state, max KiB, current KiB, vCPUs, cpu ns];
    ``block_stats``: {target: blockStatsFlags dict, blockStats tuple or None};
    ``interface_stats``: {host device: interfaceStats tuple or None}; ``memory_stats``:
    memoryStats dict; ``cpu_stats``: the dict of ``getCPUStats(True)`` (cpu_time,
    user_time, system_time) or None; ``block_info``: {target: blockInfo list or None}.
    The per-vCPU list stays empty: no per-domain call reports delay or wait.
    """
    state, max_kb, current_kb, vcpus, cpu_time = info
    vm = blank_vm(name, uuid, domain_id, state)
    vm['vcpus'] = vcpus
    vm['memory']['max_kb'] = max_kb
    vm['memory']['actual_kb'] = current_kb
    if is_active(vm):
        vm['cpu_time_ns'] = cpu_time
        if isinstance(cpu_stats, dict):
            for ours, _bulk, call_key in CPU_SPLIT_SOURCES:
                vm[ours] = reading_or_none(cpu_stats.get(call_key))
        for ours, _bulk, call_key in MEMORY_SOURCES:
            if call_key and memory_stats and call_key in memory_stats:
                vm['memory'][ours] = memory_stats[call_key]
        if isinstance(memory_stats, dict):
            for ours, _bulk, call_key in MEMORY_PRESSURE_SOURCES:
                vm[MEMORY_PRESSURE][ours] = reading_or_none(memory_stats.get(call_key))
        block_info = block_info or {}
        for dev, values in (block_stats or {}).items():
            vm['disks'][dev] = _disk_from_calls(values, block_info.get(dev))
        for dev, values in (interface_stats or {}).items():
            values = values or (None,) * len(NIC_FIELDS)
            vm['nics'][dev] = dict((ours, values[i]) for i, (ours, _bulk) in enumerate(NIC_FIELDS))
    return with_totals(vm)


def with_totals(vm):
    """Add CloudStack's totals; a total is null when any device lacks its counter, or the VM is stopped.
    ``cpu_delay_ns`` sums the vCPUs that report a delay, null when none does."""
    if not is_active(vm):
        return vm
    for total, group, counter, divisor in VM_TOTALS:
        values = [dev[counter] for dev in vm[group].values()]
        if None not in values:
            summed = sum(values)
            vm['totals'][total] = summed / divisor if divisor != 1 else summed
    delays = [vcpu['delay_ns'] for vcpu in vm[VCPUS_DETAIL] if vcpu['delay_ns'] is not None]
    vm['totals']['cpu_delay_ns'] = sum(delays) if delays else None
    return vm


def cpu_utilization(cpu_ns_before, cpu_ns_after, wall_seconds, vcpus):
    """Percent of the VM's vCPUs busy between two samples, clamped to 0-100; None when unknown."""
    if None in (cpu_ns_before, cpu_ns_after) or not vcpus or not wall_seconds or wall_seconds <= 0:
        return None
    percent = 100.0 * (cpu_ns_after - cpu_ns_before) / (wall_seconds * 1e9 * vcpus)
    return round(min(100.0, max(0.0, percent)), 2)


def timed_out_vm(name, uuid, domain_id, state=None):
    """The entry of a VM whose reading did not finish before the deadline."""
    vm = blank_vm(name, uuid, domain_id, state)
    vm['timed_out'] = True
    return vm


def vm_stats_facts(hostname, uri, collected_at, vms):
    """The ``ansible_facts.vm_stats`` dict; ``vms`` is a list of per-VM dicts."""
    return {
        'hypervisor_hostname': hostname,
        'uri': uri,
        'collected_at': collected_at,
        'vms': dict((vm['uuid'], vm) for vm in vms),
    }
