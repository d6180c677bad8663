# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure arithmetic for ``vm_stats``: libvirt's raw answers in, per-VM facts out.

Two kinds of raw input produce the same per-VM dict:

* a bulk-stats record of ``virConnectGetAllDomainStats`` / ``virDomainListGetStats``
  (flat keys such as ``block.0.name``, ``net.1.rx.bytes``), read by
  ``vm_from_bulk_record``;
* the answers of the per-domain calls (``info``, ``blockStats``,
  ``interfaceStats``, ``memoryStats``), read by ``vm_from_calls``.

Nothing here imports libvirt, so everything is testable on plain dicts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# virDomainState
STATE_NAMES = {
    0: 'nostate', 1: 'running', 2: 'blocked', 3: 'paused', 4: 'shutdown',
    5: 'shutoff', 6: 'crashed', 7: 'pmsuspended',
}
DEFAULT_STATES = ['running', 'paused']

# (our name, bulk-stats suffix); order of blockStats' tuple is rd_req, rd_bytes, wr_req, wr_bytes, errs.
DISK_FIELDS = (('rd_bytes', 'rd.bytes'), ('wr_bytes', 'wr.bytes'), ('rd_req', 'rd.reqs'), ('wr_req', 'wr.reqs'))
BLOCK_STATS_ORDER = ('rd_req', 'rd_bytes', 'wr_req', 'wr_bytes')
# interfaceStats' tuple order is exactly this.
NIC_FIELDS = (('rx_bytes', 'rx.bytes'), ('rx_packets', 'rx.pkts'), ('rx_errs', 'rx.errs'), ('rx_drop', 'rx.drop'),
              ('tx_bytes', 'tx.bytes'), ('tx_packets', 'tx.pkts'), ('tx_errs', 'tx.errs'), ('tx_drop', 'tx.drop'))
# (our name, bulk-stats key, memoryStats key)
MEMORY_FIELDS = (('max_kb', 'balloon.maximum', None), ('actual_kb', 'balloon.current', 'actual'),
                 ('unused_kb', 'balloon.unused', 'unused'), ('available_kb', 'balloon.available', 'available'),
                 ('rss_kb', 'balloon.rss', 'rss'))
# CloudStack's VmStatsEntry meanings: (total, per-device dict, counter, divisor)
TOTALS = (('network_read_kb', 'nics', 'rx_bytes', 1024.0), ('network_write_kb', 'nics', 'tx_bytes', 1024.0),
          ('disk_read_kb', 'disks', 'rd_bytes', 1024.0), ('disk_write_kb', 'disks', 'wr_bytes', 1024.0),
          ('disk_read_ios', 'disks', 'rd_req', 1), ('disk_write_ios', 'disks', 'wr_req', 1))


def state_name(code):
    return STATE_NAMES.get(code, 'unknown') if code is not None else None


def _devices_from_record(record, prefix, fields, keep=None):
    """Per-device counters of one bulk group, keyed by the device's *name*.

    Indexes (``block.3``) only group keys of one device; they are never used to
    match a device, because libvirt numbers devices as it meets them.
    ``keep`` restricts the result to those names (None: all).
    """
    devices = {}
    for index in range(record.get(prefix + '.count', 0)):
        base = '%s.%d.' % (prefix, index)
        name = record.get(base + 'name')
        if name is None or (keep is not None and name not in keep):
            continue
        if base + 'backingIndex' in record and name in devices:
            continue  # a backing-chain layer of a disk already seen
        devices[name] = dict((ours, record.get(base + theirs)) for ours, theirs in fields)
    return devices


def blank_vm(name, uuid, domain_id=None, state=None):
    """The per-VM dict with every field present and nothing known yet."""
    return {
        'name': name,
        'uuid': uuid,
        'state': state_name(state) if not isinstance(state, str) else state,
        'domain_id': domain_id if domain_id is not None and domain_id >= 0 else None,
        'vcpus': None,
        'cpu_time_ns': None,
        'cpu_utilization': None,
        'memory': {'max_kb': None, 'actual_kb': None, 'unused_kb': None, 'available_kb': None, 'rss_kb': None},
        'disks': {},
        'nics': {},
        'totals': {'network_read_kb': None, 'network_write_kb': None, 'disk_read_kb': None,
                   'disk_write_kb': None, 'disk_read_ios': None, 'disk_write_ios': None},
        'timed_out': False,
    }


def is_active(vm):
    return vm['domain_id'] is not None


def vm_from_bulk_record(name, uuid, domain_id, record, disk_targets=None):
    """A per-VM dict from one bulk-stats record.

    ``disk_targets``: the target names of real disks (CD-ROMs and floppies left
    out), from the domain XML; None keeps every block device.
    """
    vm = blank_vm(name, uuid, domain_id, record.get('state.state'))
    vm['vcpus'] = record.get('vcpu.current')
    memory = vm['memory']
    memory['max_kb'] = record.get('balloon.maximum')
    memory['actual_kb'] = record.get('balloon.current')
    if not is_active(vm):
        return vm  # counters run "since the domain started"; a stopped one has none
    for ours, bulk_key, _call_key in MEMORY_FIELDS[2:]:
        memory[ours] = record.get(bulk_key)
    vm['cpu_time_ns'] = record.get('cpu.time')
    vm['disks'] = _devices_from_record(record, 'block', DISK_FIELDS, disk_targets)
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


def vm_from_calls(name, uuid, domain_id, info, block_stats=None, interface_stats=None, memory_stats=None):
    """A per-VM dict from the per-domain calls.

    ``info``: ``virDomainGetInfo``'s [state, max KiB, current KiB, vCPUs, cpu ns];
    ``block_stats``: {target: blockStats tuple or None}; ``interface_stats``:
    {host device: interfaceStats tuple or None}; ``memory_stats``: memoryStats dict.
    """
    state, max_kb, current_kb, vcpus, cpu_time = info
    vm = blank_vm(name, uuid, domain_id, state)
    vm['vcpus'] = vcpus
    vm['memory']['max_kb'] = max_kb
    vm['memory']['actual_kb'] = current_kb
    if is_active(vm):
        vm['cpu_time_ns'] = cpu_time
        for ours, _bulk, call_key in MEMORY_FIELDS:
            if call_key and memory_stats and call_key in memory_stats:
                vm['memory'][ours] = memory_stats[call_key]
        for dev, values in (block_stats or {}).items():
            values = values or (None,) * len(BLOCK_STATS_ORDER)
            by_name = dict(zip(BLOCK_STATS_ORDER, values))
            vm['disks'][dev] = dict((ours, by_name[ours]) for ours, _bulk in DISK_FIELDS)
        for dev, values in (interface_stats or {}).items():
            values = values or (None,) * len(NIC_FIELDS)
            vm['nics'][dev] = dict((ours, values[i]) for i, (ours, _bulk) in enumerate(NIC_FIELDS))
    return with_totals(vm)


def with_totals(vm):
    """Add CloudStack's totals; a total is null when any device lacks its counter, or the VM is stopped."""
    if not is_active(vm):
        return vm
    for total, group, counter, divisor in TOTALS:
        values = [dev[counter] for dev in vm[group].values()]
        if None not in values:
            summed = sum(values)
            vm['totals'][total] = summed / divisor if divisor != 1 else summed
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
