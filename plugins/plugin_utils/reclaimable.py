# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Capacity that could be reclaimed (issue 14), from the counters' p95s and this cycle's facts. Pure.

``reclaimable(counters, samples, hosts, ...)`` names each VM with its category and reason:

* ``idle``: running, p95 CPU below ``idle_cpu_percent`` and p95 disk + network I/O below
  ``idle_io_kbps``, seen for at least ``idle_days`` (``first_seen`` to ``last_seen``): all of its
  vCPUs, memory and disk could go.
* ``oversized``: seen as long, not idle; recommended vCPUs = ceil(p95 busy vCPUs x (1 + buffer)),
  at least 1; recommended memory = p95 guest memory in use x (1 + buffer) (from the balloon's
  usable, else unused, memory). Only what is smaller than allocated counts.
* ``stopped``: a domain defined but shut off with a local disk, from ``host_resources``'
  ``stopped_allocations`` (read for every defined domain anyway, so ``vm_stats`` need not list shut-off
  ones): the bytes its disks take count (``disk_bytes``); its vCPUs and memory are in no host's ``used``
  (only running domains are), so they are shown as what it still holds in Nova's terms
  (``allocations``), not counted. ``stopped_since(previous, hosts)`` keeps, from cycle to cycle, when
  each was first seen shut off; the reason says for how long.
* ``thin_gap``: per disk of a running VM, capacity - allocation (what the guest was given and has not
  written yet): room thin provisioning has not used, not capacity freed; reported apart, not in
  ``total`` nor in flavor fits.

Totals per category, per group and for the cluster, in VCPU, MEMORY_MB and DISK_GB; ``total`` sums
idle, oversized and stopped; ``fits`` per flavor: how many more instances the ``total`` would hold.
A VM without the figures a category needs is left out of it (unknown is not idle).
"""

import math

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    DEFAULT_IDLE_CPU_PERCENT, DEFAULT_IDLE_DAYS, DEFAULT_IDLE_IO_KBPS, DEFAULT_RECLAIM_BUFFER, GONE,
    RESOURCE_CLASSES, STOPPED_ALLOCATIONS, is_bounded_number, is_count, is_finite_number)
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import check_flavors, group_of
from ansible_collections.hypervisor.stats.plugins.plugin_utils.rates import p95

CATEGORIES = ('idle', 'oversized', 'stopped', 'thin_gap')
# What ``total`` and flavor fits add up: thin_gap frees nothing allocated.
FREEING = ('idle', 'oversized', 'stopped')
RESOURCES = ('VCPU', 'MEMORY_MB', 'DISK_GB')
GIB = 1024.0 ** 3
DAY = 86400


class ReclaimableError(ValueError):
    """A bad argument; the message names it."""


def _blank():
    return dict((category, dict(dict.fromkeys(RESOURCES, 0), vms=0)) for category in CATEGORIES + ('total',))


def _number(value):
    return value if is_finite_number(value) and value >= 0 else None


def _disk_gb(vm_sample, field):
    """Sum of one size field over a sampled VM's disks, in GB; None when a disk lacks it."""
    disks = vm_sample.get('disks') if isinstance(vm_sample, dict) else None
    if not isinstance(disks, dict) or not disks:
        return None
    total = 0
    for disk in disks.values():
        value = disk.get(field) if isinstance(disk, dict) else None
        if not is_count(value):
            return None
        total += value
    return total / GIB


def _thin_gap_gb(vm_sample):
    disks = vm_sample.get('disks') if isinstance(vm_sample, dict) else None
    gap, known = 0, False
    for disk in (disks.values() if isinstance(disks, dict) else ()):
        if isinstance(disk, dict) and is_count(disk.get('capacity')) and is_count(disk.get('allocation')):
            gap += max(0, disk['capacity'] - disk['allocation'])
            known = True
    return gap / GIB if known else None


def _allocated_mb(entry):
    memory = entry.get('memory')
    if not isinstance(memory, dict):
        return None
    for field in ('max_kb', 'actual_kb'):
        if is_count(memory.get(field)) and memory[field] > 0:
            return memory[field] / 1024.0
    return None


def _judge(entry, vm_sample, idle_cpu_percent, idle_io_kbps, idle_seconds, buffer):
    """(category, reason, {resource: amount}) for one VM entry, or None."""
    vcpus = entry.get('vcpus') if is_count(entry.get('vcpus')) else None
    # A shut-off domain vm_stats was asked for is judged from host_resources' facts instead (stopped).
    if entry.get('state') != 'running' or entry.get('timed_out'):
        return None
    seen = _number(entry.get('last_seen', 0) - entry.get('first_seen', 0)) if \
        is_finite_number(entry.get('last_seen')) and is_finite_number(entry.get('first_seen')) else None
    if seen is None or seen < idle_seconds:
        return None
    percentiles = entry.get('p95') if isinstance(entry.get('p95'), dict) else {}
    cpu, io, used_mb = (_number(percentiles.get(f)) for f in ('cpu_percent', 'io_kbps', 'memory_used_mb'))
    allocated_mb = _allocated_mb(entry)
    days = seen / DAY
    if cpu is not None and io is not None and cpu < idle_cpu_percent and io < idle_io_kbps:
        disk = _disk_gb(vm_sample, 'capacity')
        return ('idle', 'p95 CPU %.1f %% < %s %%, p95 I/O %.1f KiB/s < %s KiB/s over %.0f days'
                % (cpu, idle_cpu_percent, io, idle_io_kbps, days),
                {'VCPU': vcpus or 0, 'MEMORY_MB': allocated_mb or 0, 'DISK_GB': disk or 0})
    amounts, reasons = {'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': 0}, []
    if cpu is not None and vcpus:
        recommended = max(1, int(math.ceil(cpu / 100.0 * vcpus * (1 + buffer) - 1e-9)))
        if recommended < vcpus:
            amounts['VCPU'] = vcpus - recommended
            reasons.append('%d of %d vCPUs (p95 CPU %.1f %%)' % (recommended, vcpus, cpu))
    if used_mb is not None and allocated_mb:
        recommended_mb = int(math.ceil(used_mb * (1 + buffer)))
        if recommended_mb < allocated_mb:
            amounts['MEMORY_MB'] = allocated_mb - recommended_mb
            reasons.append('%d of %d MB memory (p95 in use %.0f MB)' % (recommended_mb, allocated_mb, used_mb))
    if reasons:
        return 'oversized', 'would fit in ' + ', '.join(reasons), amounts
    return None


def _claims(facts):
    claims = facts.get(STOPPED_ALLOCATIONS) if isinstance(facts, dict) else None
    return claims if isinstance(claims, dict) else {}


def _time_of(facts, now):
    """The cycle's time for one host: ``now`` (hypervisor_stats_now) when given, else its facts' collected_at."""
    at = now if now is not None else (facts.get('collected_at') if isinstance(facts, dict) else None)
    return at if is_bounded_number(at) and not isinstance(at, bool) else None


def _check_now(now):
    if now is not None and (not is_bounded_number(now) or isinstance(now, bool) or now < 0):
        raise ReclaimableError('now must be a timestamp in seconds, got %r' % (now,))


def stopped_since(previous, hosts, now=None):
    """``(state, warnings)``: per host in ``hosts`` (this cycle's host_resources facts), UUID -> since when
    each of its shut-off domains with a local disk has been seen shut off, in epoch seconds.

    ``previous`` is what this returned in earlier cycles, host -> {uuid: seconds} (the fact cache). A
    domain keeps its time while it stays shut off on its host (a start and stop between two cycles goes
    unseen); one first seen shut off counts from this cycle: ``now`` (hypervisor_stats_now), else the
    host's ``collected_at``. A damaged kept time costs only its VM (it counts from now, with a
    warning); a time after now (the clock went back) becomes now. Hosts not in ``hosts`` are left out:
    their kept entries stay as they are."""
    _check_now(now)
    if not isinstance(hosts, dict):
        raise ReclaimableError('hosts must be a dict of host -> host_resources facts, got %s' % type(hosts).__name__)
    warnings = []
    if previous is None or previous == '':
        previous = {}
    elif not isinstance(previous, dict):
        warnings.append('previous stopped times are not a dict (%s); counting from this cycle'
                        % type(previous).__name__)
        previous = {}
    state = {}
    for host in sorted(hosts, key=str):
        at = _time_of(hosts[host], now)
        if at is None:
            warnings.append('host_resources facts of host %s have no collected_at; its stopped VMs are left out' % host)
            continue
        kept = previous.get(host)
        if kept is not None and not isinstance(kept, dict):
            warnings.append('previous stopped times of host %s are malformed; counting from this cycle' % host)
        kept = kept if isinstance(kept, dict) else {}
        since = {}
        for uuid, claim in _claims(hosts[host]).items():
            before = kept.get(uuid)
            if before is None:
                since[uuid] = at
            elif not is_bounded_number(before) or isinstance(before, bool) or before < 0:
                name = claim.get('name') if isinstance(claim, dict) else None
                warnings.append('previous stopped time of VM %s (%s) on host %s is damaged (%r); counting from '
                                'this cycle' % (name or '?', uuid, host, before))
                since[uuid] = at
            else:
                since[uuid] = min(before, at)
        state[str(host)] = since
    return state, warnings


def _judge_stopped(claim, since, at):
    """(reason, {resource: amount}, extra output fields) for one entry of stopped_allocations, or None."""
    if not isinstance(claim, dict):
        return None
    disk_bytes = claim.get('disk_bytes')
    disk = disk_bytes / GIB if is_count(disk_bytes) else None
    resources = claim.get('resources') if isinstance(claim.get('resources'), dict) else {}
    held = dict((rc, resources[rc]) for rc in RESOURCE_CLASSES if is_count(resources.get(rc)))
    days = round((at - since) / DAY, 1) if is_bounded_number(since) and at is not None and since <= at else None
    reason = 'shut off for %s; its local disks take %s GB; in Nova\'s terms it still holds %s' % (
        'an unknown time' if days is None else 'at least %.1f days' % days,
        '?' if disk is None else round(disk, 1),
        ', '.join('%s %s' % (rc, held[rc]) for rc in RESOURCE_CLASSES if rc in held) or 'nothing')
    extra = {'stopped_since': since if days is not None else None, 'stopped_days': days, 'allocations': held}
    return reason, {'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': disk or 0}, extra


def _fits(amounts, flavors):
    fits = {}
    for name, flavor in flavors.items():
        counts = [amounts['VCPU'] // flavor['vcpus']]
        if flavor['memory_mb']:
            counts.append(amounts['MEMORY_MB'] // flavor['memory_mb'])
        if flavor['disk_gb']:
            counts.append(amounts['DISK_GB'] // flavor['disk_gb'])
        fits[name] = int(min(counts))
    return fits


def _add(totals, category, amounts):
    for target in (category, 'total') if category in FREEING else (category,):
        bucket = totals[target]
        bucket['vms'] += 1
        for resource in RESOURCES:
            bucket[resource] += amounts[resource]


def _rounded(totals):
    for bucket in totals.values():
        for resource in RESOURCES:
            bucket[resource] = round(bucket[resource], 1) if resource == 'DISK_GB' else int(bucket[resource])
    return totals


def reclaimable(counters, samples=None, hosts=None, group_by=None, flavors=None,
                idle_cpu_percent=DEFAULT_IDLE_CPU_PERCENT, idle_days=DEFAULT_IDLE_DAYS,
                idle_io_kbps=DEFAULT_IDLE_IO_KBPS, buffer=DEFAULT_RECLAIM_BUFFER, top=20, stopped=None, now=None):
    """The reclaimable capacity. ``counters``: accumulate's state (host -> entry with ``vms``);
    ``samples``: this cycle's vm_stats facts per host (disk sizes); ``hosts``: host_resources facts per
    host (groups, vCPU allocation ratio, stopped domains); ``stopped``: what ``stopped_since`` returned;
    ``now``: the cycle's time (else each host's collected_at). Returns a dict: ``thresholds``,
    ``cluster`` and ``groups`` (category -> VCPU, MEMORY_MB, DISK_GB, vms), ``fits`` (with flavors),
    ``vms`` (the ``top`` largest per category, each with its host, group, category, reason and amounts;
    a stopped one also with stopped_since, stopped_days and allocations), ``hosts`` (p95 steal)."""
    if counters is None:
        counters = {}
    if not isinstance(counters, dict):
        raise ReclaimableError('counters must be a dict of host -> accumulate entries, got %s' % type(counters).__name__)
    for name, value, low, high in (('idle_cpu_percent', idle_cpu_percent, 0, 100), ('idle_days', idle_days, 0, 10 ** 6),
                                   ('idle_io_kbps', idle_io_kbps, 0, 10 ** 12), ('buffer', buffer, 0, 100)):
        if not is_finite_number(value) or not low <= value <= high:
            raise ReclaimableError('%s must be a number in [%s, %s], got %r' % (name, low, high, value))
    _check_now(now)
    flavors = check_flavors(flavors) if flavors else None
    samples = samples if isinstance(samples, dict) else {}
    hosts = hosts if isinstance(hosts, dict) else {}
    cluster, groups, found, host_rows = _blank(), {}, dict((c, []) for c in CATEGORIES), {}
    for host in sorted(counters, key=str):
        entry = counters[host]
        vms = entry.get('vms') if isinstance(entry, dict) else None
        if not isinstance(vms, dict):
            continue
        facts = hosts.get(host) if isinstance(hosts.get(host), dict) else {}
        group = group_of(group_by, facts) if group_by and facts else None
        sample = samples.get(host) if isinstance(samples.get(host), dict) else {}
        sampled = sample.get('vms') if isinstance(sample.get('vms'), dict) else {}
        steals = []
        for uuid, vm in vms.items():
            if not isinstance(vm, dict) or vm.get('state') == GONE:
                continue
            percentiles = vm.get('p95') if isinstance(vm.get('p95'), dict) else {}
            if _number(percentiles.get('steal_percent')) is not None:
                steals.append(percentiles['steal_percent'])
            judged = _judge(vm, sampled.get(uuid), idle_cpu_percent, idle_io_kbps, idle_days * DAY, buffer)
            targets = [cluster] + ([groups.setdefault(group, _blank())] if group is not None else [])
            gap = _thin_gap_gb(sampled.get(uuid)) if vm.get('state') == 'running' else None
            if gap:
                for totals in targets:
                    _add(totals, 'thin_gap', {'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': gap})
                found['thin_gap'].append({'host': host, 'group': group, 'uuid': uuid, 'name': vm.get('name'),
                                          'category': 'thin_gap', 'reason': 'disks given but not written yet',
                                          'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': round(gap, 1)})
            if judged is None:
                continue
            category, reason, amounts = judged
            for totals in targets:
                _add(totals, category, amounts)
            found[category].append(dict({'host': host, 'group': group, 'uuid': uuid, 'name': vm.get('name'),
                                         'category': category, 'reason': reason},
                                        VCPU=int(amounts['VCPU']), MEMORY_MB=int(amounts['MEMORY_MB']),
                                        DISK_GB=round(amounts['DISK_GB'], 1)))
        inventory = facts.get('inventory') if isinstance(facts.get('inventory'), dict) else {}
        vcpu = inventory.get('VCPU') if isinstance(inventory.get('VCPU'), dict) else {}
        total, reserved, used = (_number(vcpu.get(f)) for f in ('total', 'reserved', 'used'))
        physical = total - (reserved or 0) if total is not None else None
        host_rows[host] = {'group': group, 'vms': len(steals), 'p95_steal_percent': p95(steals),
                           'vcpu_allocation_ratio': round(used / physical, 2) if used is not None and physical else None}
    stopped = stopped if isinstance(stopped, dict) else {}
    for host in sorted(hosts, key=str):
        facts = hosts[host] if isinstance(hosts[host], dict) else {}
        group = group_of(group_by, facts) if group_by and facts else None
        since_of = stopped.get(host) if isinstance(stopped.get(host), dict) else {}
        at = _time_of(facts, now)
        for uuid, claim in _claims(facts).items():
            judged = _judge_stopped(claim, since_of.get(uuid), at)
            if judged is None:
                continue
            reason, amounts, extra = judged
            for totals in [cluster] + ([groups.setdefault(group, _blank())] if group is not None else []):
                _add(totals, 'stopped', amounts)
            found['stopped'].append(dict(extra, host=host, group=group, uuid=uuid, name=claim.get('name'),
                                         category='stopped', reason=reason, VCPU=0, MEMORY_MB=0,
                                         DISK_GB=round(amounts['DISK_GB'], 1)))
    listed = []
    for category in CATEGORIES:
        listed.extend(sorted(found[category], key=lambda vm: (-vm['VCPU'], -vm['MEMORY_MB'], -vm['DISK_GB'],
                                                              vm['host'], vm['uuid']))[:top])
    result = {
        'thresholds': {'idle_cpu_percent': idle_cpu_percent, 'idle_days': idle_days, 'idle_io_kbps': idle_io_kbps,
                       'buffer': buffer},
        'cluster': _rounded(cluster),
        'groups': dict((group, _rounded(totals)) for group, totals in groups.items()),
        'vms': listed,
        'hosts': host_rows,
    }
    if flavors:
        result['fits'] = _fits(result['cluster']['total'], flavors)
    return result
