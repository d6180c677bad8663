# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure arithmetic for host capacity, after OpenStack Nova.

Nothing here talks to libvirt: ``host_facts`` takes the plain data gathered by
``host_gather.gather_host`` and returns the ``host_resources`` facts, so the
rules can be tested on dicts and reused by filters.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    ALLOCATION_RATIOS, GIB, HOST_OPTION_DEFAULTS, LOCAL_DISK_TYPES, MAX_ALLOCATION_RATIO, MAX_CPU_ID, MAX_RESERVATION,
    RESERVATIONS, SPARSE_FORMATS, STOPPED_ALLOCATIONS, is_finite_number, is_number)

_CPU_SET_ITEM = re.compile(r'^(\^)?\s*(\d+)\s*(?:-\s*(\d+))?$')


class CapacityError(ValueError):
    """Bad input to the capacity rules; the message names the option."""


def option(options, name):
    """The value of option ``name``; one missing from ``options`` has its default
    (schema.HOST_OPTION_DEFAULTS), so a caller may pass only the options it was given."""
    return options.get(name, HOST_OPTION_DEFAULTS.get(name))


def parse_cpu_set(text, option):
    """Parse Nova's CPU set syntax (``0-7,^3,10``) into a sorted list of ints.

    As Nova's ``parse_cpu_spec``: items are CPUs, ranges, or ``^`` exclusions of
    a CPU or a range, applied to the whole set wherever they stand; empty items
    are ignored; a set that ends up empty is an error.

    Unlike Nova, a CPU id above schema.MAX_CPU_ID is refused before anything is
    expanded, and ranges are merged as ranges: no text can make this allocate more
    than the MAX_CPU_ID + 1 CPUs of the result.
    """
    if text is None:
        return None
    included, excluded = [], []
    for item in str(text).split(','):
        item = item.strip()
        if not item:
            continue
        match = _CPU_SET_ITEM.match(item)
        if not match:
            raise CapacityError("%s: cannot parse %r in CPU set %r (expected e.g. '0-7,^3,10')"
                                % (option, _shorten(item), _shorten(text)))
        negate, start, end = match.group(1), _cpu_id(match.group(2), option), match.group(3)
        end = _cpu_id(end, option) if end is not None else start
        if end < start:
            raise CapacityError("%s: range %d-%d runs backwards in %r" % (option, start, end, _shorten(text)))
        (excluded if negate else included).append((start, end))
    cpus = []
    for start, end in _subtract(_merge(included), _merge(excluded)):
        cpus.extend(range(start, end + 1))
    if not cpus:
        raise CapacityError("%s: CPU set %r leaves no CPUs" % (option, _shorten(text)))
    return cpus


def _shorten(text, limit=80):
    text = str(text)
    return text if len(text) <= limit else text[:limit] + '...'


def _cpu_id(digits, option):
    """One CPU id of a set, refused above MAX_CPU_ID (checked on the text: no huge int is made)."""
    significant = digits.lstrip('0') or '0'
    if len(significant) > len(str(MAX_CPU_ID)) or int(significant) > MAX_CPU_ID:
        raise CapacityError('%s: CPU id %s is above %d, the highest CPU id Linux allows'
                            % (option, _shorten(significant, 20), MAX_CPU_ID))
    return int(significant)


def _merge(ranges):
    """Sorted, disjoint (start, end) ranges covering the same CPUs."""
    merged = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(included, excluded):
    """``included`` minus ``excluded``, both sorted and disjoint."""
    result = []
    for start, end in included:
        for ex_start, ex_end in excluded:
            if ex_end < start or ex_start > end:
                continue
            if ex_start > start:
                result.append((start, ex_start - 1))
            start = max(start, ex_end + 1)
            if start > end:
                break
        if start <= end:
            result.append((start, end))
    return result


def check_cpu_sets(shared, dedicated, online_cpus):
    """Reject sets naming CPUs the host lacks (or has offline)."""
    host = set(online_cpus)
    for option, cpus in (('cpu_shared_set', shared), ('cpu_dedicated_set', dedicated)):
        if cpus is None:
            continue
        unknown = sorted(set(cpus) - host)
        if unknown:
            raise CapacityError("%s names CPUs the host does not have: %s (host CPUs: %s)"
                                % (option, format_cpu_list(unknown), format_cpu_list(sorted(host))))


def check_options(options):
    """Every check that needs no host, so bad arguments fail before a connection is opened.

    Returns ``(shared, dedicated, ratios)``: the parsed CPU sets (None when not given)
    and the three allocation ratios as floats.
    """
    shared = parse_cpu_set(options.get('cpu_shared_set'), 'cpu_shared_set')
    dedicated = parse_cpu_set(options.get('cpu_dedicated_set'), 'cpu_dedicated_set')
    if shared is not None and dedicated is not None:
        common = sorted(set(shared) & set(dedicated))
        if common:
            raise CapacityError("cpu_shared_set and cpu_dedicated_set overlap on CPUs %s"
                                % format_cpu_list(common))
    ratios = dict((name, check_ratio(name, option(options, name))) for name in ALLOCATION_RATIOS)
    check_reservations(options)
    return shared, dedicated, ratios


def format_cpu_list(cpus):
    """[0, 1, 2, 5] -> '0-2,5'."""
    parts, run = [], []
    for cpu in cpus:
        if run and cpu == run[-1] + 1:
            run.append(cpu)
            continue
        if run:
            parts.append(_run_text(run))
        run = [cpu]
    if run:
        parts.append(_run_text(run))
    return ','.join(parts)


def _run_text(run):
    return str(run[0]) if len(run) == 1 else '%d-%d' % (run[0], run[-1])


def check_ratio(option, value):
    """An allocation ratio as a float: finite, greater than 0, at most MAX_ALLOCATION_RATIO."""
    if is_number(value) and not is_finite_number(value):
        raise CapacityError("%s must be a finite number, got %r" % (option, value))
    if not is_number(value) or value <= 0:
        raise CapacityError("%s must be greater than 0, got %r" % (option, value))
    if value > MAX_ALLOCATION_RATIO:
        raise CapacityError("%s must be at most %g, got %r" % (option, MAX_ALLOCATION_RATIO, value))
    return float(value)


def inventory_record(total, reserved, allocation_ratio, used):
    """One placement inventory record, with placement's capacity and our free.

    Placement compares allocations against (total - reserved) * ratio; whole
    units only can be allocated, so capacity is rounded down.
    """
    capacity = int(math.floor((total - reserved) * allocation_ratio))
    return {
        'total': total,
        'reserved': reserved,
        'allocation_ratio': allocation_ratio,
        'min_unit': 1,
        'max_unit': total,
        'step_size': 1,
        'used': used,
        'capacity': capacity,
        'free': capacity - used,
    }


def disk_over_commit_bytes(disks):
    """Bytes a domain's disks may still grow by: Nova's over_committed_disk_size.

    Nova counts file-backed qcow2/ploop disks only, as virtual size minus the
    bytes allocated on disk, unclamped (a fully allocated qcow2 carries metadata
    and counts slightly negative); raw files and block devices count 0.
    """
    total = 0
    for disk in disks:
        if disk.get('type') != 'file' or disk.get('format') not in SPARSE_FORMATS:
            continue
        if disk.get('capacity') is None or disk.get('allocation') is None:
            continue  # Nova skips a disk it cannot stat (removed or inaccessible)
        total += disk['capacity'] - disk['allocation']
    return total


def _pinned_into(domain, dedicated):
    pins = domain.get('pinned_cpus')
    return bool(dedicated) and bool(pins) and set(pins) <= dedicated


def _ceil_div(value, unit):
    return -(-value // unit)


def allocations(active, dedicated):
    """Each active domain's own claim on the inventory, keyed by UUID, as Placement records a
    consumer's: vCPUs (as PCPU when pinned into the dedicated set), memory and local disk, rounded
    up to whole MiB and GiB because a VM moved elsewhere needs whole units."""
    claims = {}
    for d in active:
        resources = {
            'PCPU' if _pinned_into(d, dedicated) else 'VCPU': d['vcpus'],
            'MEMORY_MB': _ceil_div(d['memory_kb'], 1024),
        }
        disk_bytes = sum(x.get('capacity') or 0 for x in d['disks'] if x.get('type') in LOCAL_DISK_TYPES)
        if disk_bytes:
            resources['DISK_GB'] = _ceil_div(disk_bytes, GIB)
        claims[d.get('uuid') or d['name']] = {'name': d['name'], 'resources': resources}
    return claims


def stopped_allocations(inactive, dedicated):
    """Defined, shut-off domains with a local disk, keyed by UUID: their claim as ``allocations``
    words it (Nova keeps a stopped instance's allocations) and ``disk_bytes``, the bytes their local
    disks take on this host (allocation, else capacity; None when a disk has neither)."""
    with_disk = [d for d in inactive if any(x.get('type') in LOCAL_DISK_TYPES for x in d['disks'])]
    claims = allocations(with_disk, dedicated)
    for d in with_disk:
        taken = 0
        for x in d['disks']:
            if x.get('type') in LOCAL_DISK_TYPES:
                size = x.get('allocation') if x.get('allocation') is not None else x.get('capacity')
                taken = None if size is None or taken is None else taken + size
        claims[d.get('uuid') or d['name']]['disk_bytes'] = taken
    return claims


def check_reservations(options):
    """Reservations: whole or not, finite numbers from 0 to MAX_RESERVATION (None means 0)."""
    for name in RESERVATIONS:
        value = option(options, name)
        if value is None:
            continue
        if is_number(value) and not is_finite_number(value):
            raise CapacityError("%s must be a finite number, got %r" % (name, value))
        if not is_number(value) or value < 0:
            raise CapacityError("%s must not be negative, got %r" % (name, value))
        if value > MAX_RESERVATION:
            raise CapacityError("%s must be at most %d, got %r" % (name, MAX_RESERVATION, value))


def host_memory(raw, active):
    """(memory_mb, memory_mb_used, source).

    With node memory stats (/proc/meminfo of the libvirt host) both figures come
    from them: total, and total - (free + buffers + cached), Nova's
    get_memory_mb_used formula and rounding. Nova takes the total from nodeinfo
    instead, which sums the NUMA nodes' memory from sysfs; where that differs
    from /proc/meminfo (measured on a CI VM: 7257 vs 24104 MiB) Nova's used
    memory goes negative, so the total comes from the same source as the rest.
    Without stats (the test driver, some remote drivers): nodeinfo's total and
    the active domains' current memory, Nova's _sum_domain_memory_mb.
    """
    node_mem = raw.get('node_memory')
    if node_mem and 'total' in node_mem and 'free' in node_mem:
        memory_mb = node_mem['total'] // 1024
        avail_kb = node_mem['free'] + node_mem.get('buffers', 0) + node_mem.get('cached', 0)
        return memory_mb, memory_mb - avail_kb // 1024, 'node_memory_stats'
    used = sum(d.get('current_memory_kb', d['memory_kb']) for d in active) // 1024
    return raw['nodeinfo_memory_mb'], used, 'domains'


def host_facts(raw, options):
    """Compute ``host_resources`` facts from gathered data.

    ``raw`` (see ``host_gather.gather_host``) holds plain values: host CPUs,
    memory, node memory stats or None, the disk source figures and the list of
    domains with their vCPUs, memory, disks and pinning. ``options`` holds the
    module options (reservations, ratios, CPU sets, labels).
    """
    online_cpus = raw['online_cpus']
    shared, dedicated, ratios = check_options(options)
    check_cpu_sets(shared, dedicated, online_cpus)

    # Nova: a dedicated set without a shared set leaves no CPUs for unpinned
    # guests (no VCPU inventory); without either, every online CPU is shared.
    if shared is not None:
        vcpus = len(shared)
    elif dedicated is not None:
        vcpus = 0
    else:
        vcpus = len(online_cpus)
    pcpus = len(dedicated) if dedicated is not None else 0
    dedicated_set = set(dedicated or ())

    active = [d for d in raw['domains'] if d['active']]
    vcpus_used = sum(d['vcpus'] for d in active)
    pcpu_used = sum(d['vcpus'] for d in active if _pinned_into(d, dedicated_set))

    memory_mb, memory_mb_used, memory_source = host_memory(raw, active)

    # Nova's _get_local_gb_info rounds each figure down to GiB first, and
    # disk_available_least = (free_gb * GiB - over-commit of all domains) // GiB.
    disk = raw['disk']
    if disk.get('error'):
        raise LookupError(disk['error'])   # after the options: those are always reported first
    if disk.get('total_bytes') is None:
        # Unmeasured instance storage (schema.DISK_UNAVAILABLE): unknown, not zero; no DISK_GB.
        local_gb = local_gb_used = free_disk_gb = disk_available_least = None
    else:
        local_gb = disk['total_bytes'] // GIB
        local_gb_used = disk['used_bytes'] // GIB
        free_disk_gb = local_gb - local_gb_used
        free_gb = disk['free_bytes'] // GIB
        over_commit = sum(disk_over_commit_bytes(d['disks']) for d in raw['domains'])
        disk_available_least = (free_gb * GIB - over_commit) // GIB
    disk_gb_allocated = sum(x.get('capacity') or 0 for d in active for x in d['disks']
                            if x.get('type') in LOCAL_DISK_TYPES) // GIB

    reserved_disk_gb = int(math.ceil((option(options, 'reserved_host_disk_mb') or 0) / 1024.0))
    inventory = {
        # Kept with total 0 when there are no shared CPUs (Nova omits it) so
        # that consumers always find the three classes.
        'VCPU': inventory_record(vcpus, option(options, 'reserved_host_cpus') or 0,
                                 ratios['cpu_allocation_ratio'], vcpus_used - pcpu_used),
        'MEMORY_MB': inventory_record(memory_mb, option(options, 'reserved_host_memory_mb') or 0,
                                      ratios['ram_allocation_ratio'],
                                      sum(d['memory_kb'] for d in active) // 1024),
    }
    if local_gb is not None:
        inventory['DISK_GB'] = inventory_record(local_gb, reserved_disk_gb,
                                                ratios['disk_allocation_ratio'], disk_gb_allocated)
    if dedicated is not None:
        inventory['PCPU'] = inventory_record(pcpus, 0, 1.0, pcpu_used)

    return {
        'hypervisor_hostname': raw['hostname'],
        'hypervisor_type': raw['hypervisor_type'],
        'hypervisor_version': raw['hypervisor_version'],
        'libvirt_version': raw['libvirt_version'],
        'uri': raw['uri'],
        'collected_at': raw['collected_at'],
        'labels': dict(options.get('labels') or {}),
        'vcpus': vcpus,
        'pcpus': pcpus,
        'cpu_shared_set': format_cpu_list(shared) if shared is not None else None,
        'cpu_dedicated_set': format_cpu_list(dedicated) if dedicated is not None else None,
        'vcpus_used': vcpus_used,
        'running_vms': len(active),
        'memory_mb': memory_mb,
        'memory_mb_used': memory_mb_used,
        'memory_mb_used_source': memory_source,
        'free_ram_mb': memory_mb - memory_mb_used,
        'local_gb': local_gb,
        'local_gb_used': local_gb_used,
        'free_disk_gb': free_disk_gb,
        'disk_available_least': disk_available_least,
        'disk_source': disk['source'],
        # What the disk figures come from (kind, mount/fstype/source or pool_type/pool_name/source, shared_by),
        # and the identity of shared storage (None when local): cluster_totals counts DISK_GB once per shared_id.
        'disk_source_detail': disk.get('detail'),
        'shared_id': disk.get('shared_id'),
        'cpu_info': raw['cpu_info'],
        'numa_topology': raw['numa_topology'],
        'inventory': inventory,
        'allocations': allocations(active, dedicated_set),
        STOPPED_ALLOCATIONS: stopped_allocations([d for d in raw['domains'] if not d['active']], dedicated_set),
        'cpu_times': raw.get('cpu_times'),
    }
