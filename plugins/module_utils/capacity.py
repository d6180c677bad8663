# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure arithmetic for host capacity, after OpenStack Nova.

Nothing here talks to libvirt: ``host_facts`` takes the plain data gathered by
``libvirt_host.gather_host`` and returns the ``host_resources`` facts, so the
rules can be tested on dicts and reused by filters.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

GIB = 1024 ** 3
RESOURCE_CLASSES = ('VCPU', 'PCPU', 'MEMORY_MB', 'DISK_GB')

_CPU_SET_ITEM = re.compile(r'^\s*(\^)?\s*(\d+)\s*(?:-\s*(\d+))?\s*$')


class CapacityError(ValueError):
    """Bad input to the capacity rules; the message names the option."""


def parse_cpu_set(text, option):
    """Parse Nova's CPU set syntax (``0-7,^3,10``) into a sorted list of ints.

    Exclusions (``^N``) apply to the whole set, wherever they stand.
    """
    if text is None:
        return None
    included, excluded = set(), set()
    if not str(text).strip():
        raise CapacityError("%s: empty CPU set" % option)
    for item in str(text).split(','):
        match = _CPU_SET_ITEM.match(item)
        if not match:
            raise CapacityError("%s: cannot parse %r in CPU set %r (expected e.g. '0-7,^3,10')"
                                % (option, item.strip(), text))
        negate, start, end = match.group(1), int(match.group(2)), match.group(3)
        if negate and end is not None:
            raise CapacityError("%s: a range cannot be excluded in %r" % (option, text))
        end = int(end) if end is not None else start
        if end < start:
            raise CapacityError("%s: range %d-%d runs backwards in %r" % (option, start, end, text))
        (excluded if negate else included).update(range(start, end + 1))
    cpus = sorted(included - excluded)
    if not cpus:
        raise CapacityError("%s: CPU set %r leaves no CPUs" % (option, text))
    return cpus


def check_cpu_sets(shared, dedicated, online_cpus):
    """Reject sets naming CPUs the host lacks (or has offline), and overlapping sets."""
    host = set(online_cpus)
    for option, cpus in (('cpu_shared_set', shared), ('cpu_dedicated_set', dedicated)):
        if cpus is None:
            continue
        unknown = sorted(set(cpus) - host)
        if unknown:
            raise CapacityError("%s names CPUs the host does not have: %s (host CPUs: %s)"
                                % (option, format_cpu_list(unknown), format_cpu_list(sorted(host))))
    if shared is not None and dedicated is not None:
        common = sorted(set(shared) & set(dedicated))
        if common:
            raise CapacityError("cpu_shared_set and cpu_dedicated_set overlap on CPUs %s"
                                % format_cpu_list(common))


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
    if value is None or value <= 0:
        raise CapacityError("%s must be greater than 0, got %r" % (option, value))
    return float(value)


def inventory_record(total, reserved, allocation_ratio, used):
    """One placement inventory record, with Nova's capacity and our free."""
    capacity = int((total - reserved) * allocation_ratio)
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
    """Bytes a domain's file-backed disks may still grow by (Nova's over_commit_size)."""
    total = 0
    for disk in disks:
        if disk.get('type') != 'file' or disk.get('capacity') is None or disk.get('allocation') is None:
            continue
        total += max(disk['capacity'] - disk['allocation'], 0)
    return total


def _pinned_into(domain, dedicated):
    pins = domain.get('pinned_cpus')
    return bool(dedicated) and bool(pins) and set(pins) <= dedicated


def host_facts(raw, options):
    """Compute ``host_resources`` facts from gathered data.

    ``raw`` (see ``libvirt_host.gather_host``) holds plain values: host CPUs,
    memory, node memory stats or None, the disk source figures and the list of
    domains with their vCPUs, memory, disks and pinning. ``options`` holds the
    module options (reservations, ratios, CPU sets, labels).
    """
    online_cpus = raw['online_cpus']
    shared = parse_cpu_set(options.get('cpu_shared_set'), 'cpu_shared_set')
    dedicated = parse_cpu_set(options.get('cpu_dedicated_set'), 'cpu_dedicated_set')
    check_cpu_sets(shared, dedicated, online_cpus)
    ratios = dict((name, check_ratio(name, options.get(name)))
                  for name in ('cpu_allocation_ratio', 'ram_allocation_ratio', 'disk_allocation_ratio'))
    for name in ('reserved_host_cpus', 'reserved_host_memory_mb', 'reserved_host_disk_mb'):
        if (options.get(name) or 0) < 0:
            raise CapacityError("%s must not be negative, got %r" % (name, options.get(name)))

    vcpus = len(shared) if shared is not None else len(online_cpus)
    pcpus = len(dedicated) if dedicated is not None else 0
    dedicated_set = set(dedicated or ())

    active = [d for d in raw['domains'] if d['active']]
    vcpus_used = sum(d['vcpus'] for d in active)
    pcpu_used = sum(d['vcpus'] for d in active if _pinned_into(d, dedicated_set))
    domains_memory_mb = sum(d['memory_kb'] for d in active) // 1024

    memory_mb = raw['memory_kb'] // 1024
    node_mem = raw.get('node_memory')
    if node_mem:
        used_kb = node_mem['total'] - node_mem['free'] - node_mem.get('buffers', 0) - node_mem.get('cached', 0)
        memory_mb_used, memory_source = used_kb // 1024, 'node_memory_stats'
    else:
        memory_mb_used, memory_source = domains_memory_mb, 'domains'

    disk = raw['disk']
    local_gb = disk['total_bytes'] // GIB
    local_gb_used = disk['used_bytes'] // GIB
    over_commit = sum(disk_over_commit_bytes(d['disks']) for d in raw['domains'])
    disk_available_least = (disk['free_bytes'] - over_commit) // GIB
    disk_gb_allocated = sum(
        sum(x.get('capacity') or 0 for x in d['disks']) for d in active) // GIB

    reserved_disk_gb = int(math.ceil((options.get('reserved_host_disk_mb') or 0) / 1024.0))
    inventory = {
        'VCPU': inventory_record(vcpus, options.get('reserved_host_cpus') or 0,
                                 ratios['cpu_allocation_ratio'], vcpus_used - pcpu_used),
        'MEMORY_MB': inventory_record(memory_mb, options.get('reserved_host_memory_mb') or 0,
                                      ratios['ram_allocation_ratio'], domains_memory_mb),
        'DISK_GB': inventory_record(local_gb, reserved_disk_gb,
                                    ratios['disk_allocation_ratio'], disk_gb_allocated),
    }
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
        'free_disk_gb': local_gb - local_gb_used,
        'disk_available_least': disk_available_least,
        'disk_source': disk['source'],
        'cpu_info': raw['cpu_info'],
        'numa_topology': raw['numa_topology'],
        'inventory': inventory,
    }
