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

import gc
from operator import itemgetter

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    COUNTERS, DEFAULT_RETENTION_SECONDS, GONE, VM_TOTALS, is_number)
from ansible_collections.hypervisor.stats.plugins.module_utils.vm_facts import cpu_utilization

# group -> ((raw counter, cumulative total, divisor), ...): what a device's baseline keeps, in this order.
# (KiB totals divide by 1024.0; I/O counts stay integers: divisor None.)
DEVICE_FIELDS = dict((group, tuple((counter, total, divisor if divisor != 1 else None)
                                   for total, g, counter, divisor in VM_TOTALS if g == group))
                     for group in ('disks', 'nics'))
_CUMULATIVE_GETTER = itemgetter(*COUNTERS)
_NONES = (None,) * max(len(fields) for fields in DEVICE_FIELDS.values())
_GETTERS = dict((group, itemgetter(*[counter for counter, _total, _divisor in fields]))
                for group, fields in DEVICE_FIELDS.items())
# Subclasses count: Ansible hands over tagged ints and lazy dicts; bool is no number here.
_number = is_number


class AccumulateError(ValueError):
    """A bad argument; the message names it."""


def _counter(value):
    """A raw counter usable for a delta: a non-negative number, else None."""
    return value if _number(value) and value >= 0 else None


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


def _valid_devices(devices, width):
    if not isinstance(devices, dict):
        return False
    for values in devices.values():
        if not isinstance(values, list) or len(values) != width:
            return False
    return True


def _valid_vm_entry(entry):
    """Whether a previous VM entry can be trusted; written for speed, it runs once per VM per cycle."""
    try:
        cumulative, baseline = entry['cumulative'], entry['baseline']
        # KeyError if a counter is missing, TypeError if one is not a number.
        if min(_CUMULATIVE_GETTER(cumulative)) < 0:
            return False
        return (_valid_devices(baseline['disks'], len(DEVICE_FIELDS['disks']))
                and _valid_devices(baseline['nics'], len(DEVICE_FIELDS['nics']))
                and _number(entry['first_seen']) and _number(entry['last_seen']))
    except (KeyError, TypeError, AttributeError):
        return False


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


def _device_baseline(devices, group):
    """The counters a group's deltas need, per device, as a list in DEVICE_FIELDS order (compact in the cache)."""
    result = {}
    if not isinstance(devices, dict):
        return result
    getter = _GETTERS[group]
    for dev, counters in devices.items():
        try:
            values = list(getter(counters))
            if min(values) >= 0:       # the usual case: every counter a number
                result[dev] = values
                continue
        except (KeyError, TypeError):  # a counter missing or None
            if not isinstance(counters, dict):
                continue
        result[dev] = [_counter(counters.get(counter)) for counter, _total, _divisor in DEVICE_FIELDS[group]]
    return result


def _new_baseline(host, sample_at, vm):
    return {
        'host': host,
        'domain_id': vm.get('domain_id'),
        'collected_at': sample_at,
        'cpu_time_ns': _counter(vm.get('cpu_time_ns')),
        'disks': _device_baseline(vm.get('disks'), 'disks'),
        'nics': _device_baseline(vm.get('nics'), 'nics'),
    }


def _add_deltas(cumulative, baseline, new_baseline, same_instance):
    """CloudStack's rule per counter: the growth on the same instance, else the whole current value."""
    current, before = new_baseline['cpu_time_ns'], _counter(baseline.get('cpu_time_ns'))
    if current is not None:
        cumulative['cpu_time_ns'] += current - before if same_instance and before is not None and current >= before \
            else current
    for group, fields in DEVICE_FIELDS.items():
        old_devices = baseline[group] if same_instance else {}
        for dev, values in new_baseline[group].items():
            # A device absent from the baseline (hot-plugged, or another instance) counts whole.
            for (_counter_name, total, divisor), value, before in zip(fields, values, old_devices.get(dev) or _NONES):
                if value is not None:
                    if before is not None and value >= before:
                        value -= before
                    cumulative[total] += value if divisor is None else value / divisor


def _update_vm(host, sample_at, vm, known, warnings):
    """The new entry of one sampled VM; ``known`` is its previous entry (any host) or None.

    Runs once per VM per cycle (half a million times on a big cloud), hence the plain style.
    """
    if not isinstance(vm, dict):
        warnings.append('sample of a VM on host %s is not a dict; ignored' % host)
        vm = {'timed_out': True}
    get = vm.get
    memory = get('memory')
    entry = {
        'name': get('name'),
        'state': get('state'),
        'domain_id': get('domain_id'),
        'vcpus': get('vcpus'),
        'cpu_utilization': None,
        'memory': memory if isinstance(memory, dict) else {},
        'first_seen': sample_at,
        'last_seen': sample_at,
        'cumulative': None,
    }
    baseline = None
    if known is None:
        entry['cumulative'] = cumulative = dict.fromkeys(COUNTERS, 0)
    else:
        entry['first_seen'] = known['first_seen']
        entry['cumulative'] = cumulative = known['cumulative'].copy()
        if entry['name'] is None:
            entry['name'] = known.get('name')
        # A baseline without a time was never measured (first seen while stuck): no delta against it.
        if _number(known['baseline'].get('collected_at')):
            baseline = known['baseline']
    if get('timed_out'):
        # A stuck domain: nothing measured, so the old baseline stays for the next cycle.
        entry['baseline'] = baseline if baseline is not None else _new_baseline(host, None, {})
        entry['timed_out'] = True
        return entry

    entry['baseline'] = new_baseline = _new_baseline(host, sample_at, vm)
    if baseline is None:
        return entry
    domain_id = baseline.get('domain_id')
    same_instance = domain_id is not None and domain_id == new_baseline['domain_id'] and baseline.get('host') == host
    _add_deltas(cumulative, baseline, new_baseline, same_instance)
    wall_seconds = sample_at - baseline['collected_at']
    if same_instance and wall_seconds > 0:
        entry['cpu_utilization'] = cpu_utilization(_counter(baseline.get('cpu_time_ns')),
                                                   new_baseline['cpu_time_ns'], wall_seconds, entry['vcpus'])
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
    # Ten-odd new containers per VM make CPython run full garbage collections over the whole
    # state again and again on big clusters; nothing here creates reference cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _accumulate(previous, samples, retention_seconds)
    finally:
        if collecting:
            gc.enable()


def _accumulate(previous, samples, retention_seconds):
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
