# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Persistent per-VM cumulative counters, after CloudStack's StatsCollector.

``accumulate(previous, samples, retention_seconds)`` takes what it returned last
cycle (read back from the fact cache) and this cycle's ``vm_stats`` facts per
host, and returns the new per-host state plus a list of warnings. Pure: plain
dicts in, plain dicts out, nothing printed.

Each VM entry keeps a ``baseline`` (the raw counters of the last sample, with
the host and domain id they came from) so the next cycle can tell a running
domain instance from a rebooted, migrated or reset one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hypervisor.stats.plugins.module_utils.vm_stats import TOTALS, cpu_utilization

COUNTERS = ('cpu_time_ns',) + tuple(total for total, _group, _counter, _divisor in TOTALS)
DEVICE_GROUPS = ('disks', 'nics')
DEFAULT_RETENTION_SECONDS = 604800
GONE = 'gone'


class AccumulateError(ValueError):
    """A bad argument; the message names it."""


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _counter(value):
    """A raw counter usable for a delta: a non-negative number, else None."""
    return value if _number(value) and value >= 0 else None


def _delta(current, baseline, same_instance):
    """CloudStack's rule: the increase since the baseline on the same instance, else all of it."""
    if current is None:
        return 0
    if same_instance and baseline is not None and current >= baseline:
        return current - baseline
    return current


def check_retention(retention_seconds):
    if not _number(retention_seconds) or retention_seconds < 0:
        raise AccumulateError('retention_seconds must be a number of seconds >= 0, got %r' % (retention_seconds,))
    return retention_seconds


def _check_sample(host, sample):
    if not isinstance(sample, dict) or not isinstance(sample.get('vms'), dict):
        raise AccumulateError('samples[%r] is not vm_stats facts (a dict with a "vms" dict)' % (host,))
    if not _number(sample.get('collected_at')):
        raise AccumulateError('samples[%r].collected_at must be a timestamp in seconds, got %r'
                              % (host, sample.get('collected_at')))


def _valid_vm_entry(entry):
    if not isinstance(entry, dict) or not isinstance(entry.get('cumulative'), dict):
        return False
    if not all(_number(entry['cumulative'].get(name)) and entry['cumulative'][name] >= 0 for name in COUNTERS):
        return False
    baseline = entry.get('baseline')
    if not isinstance(baseline, dict) or not all(isinstance(baseline.get(g), dict) for g in DEVICE_GROUPS):
        return False
    if not all(isinstance(dev, dict) for g in DEVICE_GROUPS for dev in baseline[g].values()):
        return False
    return _number(entry.get('first_seen')) and _number(entry.get('last_seen'))


def clean_previous(previous, warnings):
    """Keep the well-formed part of last cycle's state; warn about the rest, which starts afresh."""
    if previous is None or previous == '':
        return {}
    if not isinstance(previous, dict):
        warnings.append('previous counters are not a dict (%s); starting afresh' % type(previous).__name__)
        return {}
    cleaned = {}
    for host, entry in previous.items():
        if entry is None:
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get('vms'), dict) or not _number(entry.get('collected_at')):
            warnings.append('previous counters of host %s are malformed; starting afresh for this host' % host)
            continue
        vms = {}
        for uuid, vm in entry['vms'].items():
            if _valid_vm_entry(vm):
                vms[uuid] = vm
            else:
                warnings.append('previous counters of VM %s on host %s are malformed; starting afresh for this VM'
                                % (uuid, host))
        cleaned[host] = dict(entry, vms=vms)
    return cleaned


def _device_baseline(devices):
    """Raw counters per device of one sample group, keeping only usable values."""
    result = {}
    for dev, counters in (devices or {}).items():
        if isinstance(counters, dict):
            result[dev] = dict((name, _counter(value)) for name, value in counters.items())
    return result


def _new_baseline(host, sample_at, vm):
    return {
        'host': host,
        'domain_id': vm.get('domain_id'),
        'collected_at': sample_at,
        'cpu_time_ns': _counter(vm.get('cpu_time_ns')),
        'disks': _device_baseline(vm.get('disks')),
        'nics': _device_baseline(vm.get('nics')),
    }


def _sample_usable(vm):
    return isinstance(vm, dict) and not vm.get('timed_out')


def _update_vm(host, sample_at, vm, known, warnings):
    """The new entry of one sampled VM; ``known`` is its previous entry (any host) or None."""
    usable = _sample_usable(vm)
    if not isinstance(vm, dict):
        warnings.append('sample of a VM on host %s is not a dict; ignored' % host)
        vm = {}
    if known is None:
        entry = {
            'first_seen': sample_at,
            'cumulative': dict((name, 0) for name in COUNTERS),
        }
        baseline = None
    else:
        entry = {
            'first_seen': known['first_seen'],
            'cumulative': dict((name, known['cumulative'][name]) for name in COUNTERS),
        }
        # A baseline without a time was never measured (first seen while stuck): no delta against it.
        baseline = known['baseline'] if _number(known['baseline'].get('collected_at')) else None
    entry.update({
        'name': vm.get('name', known and known.get('name')),
        'uuid': vm.get('uuid', known and known.get('uuid')),
        'state': vm.get('state', known and known.get('state')),
        'domain_id': vm.get('domain_id'),
        'vcpus': vm.get('vcpus'),
        'cpu_utilization': None,
        'memory': vm.get('memory') if isinstance(vm.get('memory'), dict) else {},
        'last_seen': sample_at,
    })
    if not usable:
        # A stuck domain: nothing measured, so the old baseline stays for the next cycle.
        entry['baseline'] = baseline if baseline is not None else _new_baseline(host, None, {})
        entry['timed_out'] = True
        return entry

    new_baseline = _new_baseline(host, sample_at, vm)
    if baseline is None:
        entry['baseline'] = new_baseline
        return entry

    same_instance = (baseline.get('host') == host and baseline.get('domain_id') is not None
                     and baseline.get('domain_id') == new_baseline['domain_id'])
    cumulative = entry['cumulative']
    cumulative['cpu_time_ns'] += _delta(new_baseline['cpu_time_ns'], _counter(baseline.get('cpu_time_ns')),
                                        same_instance)
    for total, group, counter, divisor in TOTALS:
        for dev, counters in new_baseline[group].items():
            before = baseline[group].get(dev, {})
            delta = _delta(counters.get(counter), _counter(before.get(counter)), same_instance)
            cumulative[total] += delta / divisor if divisor != 1 else delta
    wall_seconds = sample_at - baseline['collected_at']
    if same_instance and wall_seconds > 0:
        entry['cpu_utilization'] = cpu_utilization(_counter(baseline.get('cpu_time_ns')),
                                                   new_baseline['cpu_time_ns'], wall_seconds, entry['vcpus'])
    entry['baseline'] = new_baseline
    return entry


def _placement(samples):
    """uuid -> host that owns the VM this cycle.

    A UUID sampled on two hosts at once (mid-migration) goes to the host where it runs;
    on a tie, to the first host in name order, so the result does not depend on dict order.
    """
    owner = {}
    for host in sorted(samples):
        for uuid, vm in samples[host]['vms'].items():
            running = isinstance(vm, dict) and vm.get('state') == 'running'
            if uuid not in owner or (running and not owner[uuid][1]):
                owner[uuid] = (host, running)
    return dict((uuid, host) for uuid, (host, _running) in owner.items())


def accumulate(previous, samples, retention_seconds=DEFAULT_RETENTION_SECONDS):
    """Return ``(state, warnings)``: the new per-host counters and what was wrong with ``previous``.

    ``samples``: host -> ``vm_stats`` facts of this cycle. ``previous``: the state
    returned last cycle (None or {} on the first one). Hosts absent from
    ``samples`` keep their entries, except for VMs that turned up on a sampled
    host this cycle: those move, so that no VM is counted twice.
    """
    retention_seconds = check_retention(retention_seconds)
    if not isinstance(samples, dict):
        raise AccumulateError('samples must be a dict of host -> vm_stats facts, got %s' % type(samples).__name__)
    for host, sample in samples.items():
        _check_sample(host, sample)
    warnings = []
    previous = clean_previous(previous, warnings)

    known = {}  # uuid -> previous entry, wherever it was
    for host in sorted(previous):
        for uuid, vm in previous[host]['vms'].items():
            if uuid not in known or vm['last_seen'] > known[uuid]['last_seen']:
                known[uuid] = vm
    state = {}
    # str(): plain host names, whatever string type the caller's keys are (Ansible tags them with their origin).
    samples = dict((str(host), sample) for host, sample in samples.items())
    owner = _placement(samples)
    for host in sorted(set(previous) | set(samples)):
        if host not in samples:
            entry = previous[host]
            moved = [uuid for uuid in entry['vms'] if uuid in owner]
            state[host] = dict(entry, vms=dict((uuid, vm) for uuid, vm in entry['vms'].items() if uuid not in owner)) \
                if moved else entry
            continue
        sample = samples[host]
        sample_at = sample['collected_at']
        vms = {}
        for uuid, vm in sample['vms'].items():
            if owner[uuid] == host:
                vms[uuid] = _update_vm(host, sample_at, vm, known.get(uuid), warnings)
        # VMs this host had that are no longer anywhere: kept as gone until the retention ends.
        for uuid, vm in previous.get(host, {}).get('vms', {}).items():
            if uuid in owner:
                continue
            if sample_at - vm['last_seen'] > retention_seconds:
                continue
            vms[uuid] = dict(vm, state=GONE, cpu_utilization=None)
        state[host] = {
            'hypervisor_hostname': sample.get('hypervisor_hostname'),
            'uri': sample.get('uri'),
            'collected_at': sample_at,
            'vms': vms,
        }
    return state, warnings


def counter_totals(state):
    """Cumulative counters summed over every VM kept (gone ones included: their use happened)."""
    totals = dict((name, 0) for name in COUNTERS)
    vms = 0
    for entry in state.values():
        for vm in entry['vms'].values():
            vms += 1
            for name in COUNTERS:
                totals[name] += vm['cumulative'][name]
    totals['vms'] = vms
    return totals
