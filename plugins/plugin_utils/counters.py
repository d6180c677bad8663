# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Persistent per-VM cumulative counters, after CloudStack's StatsCollector, made strict.

``accumulate(previous, samples, retention_seconds)`` takes what it returned last
cycle (read back from the fact cache) and this cycle's ``vm_stats`` facts per
host, and returns the new per-host state plus a list of warnings. Pure: plain
dicts in, plain dicts out, nothing printed.

Each VM entry keeps a ``baseline`` (the raw counters of the last good reading, with
the host and domain id they came from) so the next cycle can tell a running
domain instance from a rebooted, migrated or reset one.

The rules, each a test: a total never decreases and never counts the same bytes
twice; a null reading keeps the last good baseline (per counter, per device); every
number read back from the cache is checked (finite, >= 0, an int where one is due,
below the ceilings of ``schema``), and a damaged entry costs only its VM or host,
with a warning naming it; NaN and infinity are never written.

One UUID may be sampled on two hosts in one cycle (a live migration shows the
domain on both, a cloned domain XML shares the UUID). The state is keyed host ->
UUID, so each host keeps its own entry for its own domain and counts that
domain's growth once. When the UUID leaves a host while it is sampled elsewhere,
that host's entry is added into the entry of the first host (in name order) that
has the UUID this cycle, and its baseline stays behind under the host's ``moved``
(until the retention ends), so that the same domain turning up there again counts
only its growth since.

A slice of a sliced collection sees only its own hosts (``partial``): a VM that moved from a host of
another slice is gone there and new here, and its first reading is kept under the host's
``first_sights``. ``reconcile``, run on every host's state by the totals run, then does what one
unsliced run would have done with the same samples.
"""

import gc
from operator import itemgetter

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    COUNTERS, DEFAULT_RETENTION_SECONDS, GONE, MAX_COUNTER, MAX_TOTAL, MEMORY_FIELDS, VM_TOTALS,
    is_bounded_number, is_count, is_number)
from ansible_collections.hypervisor.stats.plugins.module_utils.vm_facts import cpu_utilization
from ansible_collections.hypervisor.stats.plugins.plugin_utils import rates as vm_rates

# group -> ((raw counter, cumulative total, divisor), ...): what a device's baseline keeps, in this order.
# (KiB totals divide by 1024.0; I/O counts stay integers: divisor None.)
DEVICE_FIELDS = dict((group, tuple((counter, total, divisor if divisor != 1 else None)
                                   for total, g, counter, divisor in VM_TOTALS if g == group))
                     for group in ('disks', 'nics'))
# group -> ((index in the baseline list, total, divisor), ...)
_INDEXED = dict((group, tuple((index, total, divisor) for index, (_c, total, divisor) in enumerate(fields)))
                for group, fields in DEVICE_FIELDS.items())
_WIDTH = dict((group, len(fields)) for group, fields in DEVICE_FIELDS.items())
_CUMULATIVE_GETTER = itemgetter(*COUNTERS)
_GETTERS = dict((group, itemgetter(*[counter for counter, _total, _divisor in fields]))
                for group, fields in DEVICE_FIELDS.items())
_BASELINE_KEYS = ('host', 'domain_id', 'collected_at', 'cpu_time_ns', 'disks', 'nics')
_EMPTY = {}
_NO_RATES = vm_rates.no_rates()
# A host's baselines of VMs first seen by a run that sampled part of the hypervisors (``partial``).
FIRST_SIGHTS = 'first_sights'
_number = is_number


class AccumulateError(ValueError):
    """A bad argument; the message names it."""


def _counter(value):
    """A raw counter usable for a delta: a finite number in [0, 2**64), else None (no reading)."""
    return value if is_count(value) else None


def check_retention(retention_seconds):
    if not is_count(retention_seconds, MAX_TOTAL):
        raise AccumulateError('retention_seconds must be a number of seconds >= 0, got %r' % (retention_seconds,))
    return retention_seconds


def _check_sample(host, sample):
    if not isinstance(sample, dict) or not isinstance(sample.get('vms'), dict):
        raise AccumulateError('samples[%r] is not vm_stats facts (a dict with a "vms" dict)' % (host,))
    if not is_bounded_number(sample.get('collected_at')):
        raise AccumulateError('samples[%r].collected_at must be a timestamp in seconds, got %r'
                              % (host, sample.get('collected_at')))


# --- checks of the previous state (once per VM per cycle: written for speed) -----------------------

def _counts_ok(values, limit):
    """Whether every value of a non-empty sequence is a count in [0, limit): one sum and one min
    for the usual case (NaN and infinity make the sum fail the range test), each value otherwise."""
    try:
        if 0 <= min(values) and sum(values) < limit and bool not in map(type, values):
            return True
    except (TypeError, OverflowError):
        pass
    return all(is_count(value, limit) for value in values)


def _devices_ok(devices, width):
    if not isinstance(devices, dict):
        return False
    for values in devices.values():
        if not isinstance(values, list) or len(values) != width:
            return False
        if None in values:
            if not all(value is None or is_count(value) for value in values):
                return False
        elif not _counts_ok(values, MAX_COUNTER):
            return False
    return True


def _baseline_ok(baseline, host):
    try:
        domain_id, at, cpu = baseline['domain_id'], baseline['collected_at'], baseline['cpu_time_ns']
        return (baseline['host'] == host
                and (domain_id is None or (isinstance(domain_id, int) and domain_id.__class__ is not bool))
                and (at is None or is_bounded_number(at))
                and (cpu is None or is_count(cpu))
                and _devices_ok(baseline['disks'], _WIDTH['disks'])
                and _devices_ok(baseline['nics'], _WIDTH['nics']))
    except (KeyError, TypeError):
        return False


_TOTAL_F = float(MAX_TOTAL)
_COUNTER_F = float(MAX_COUNTER)   # 2**64 exactly
_N_COUNTERS = len(COUNTERS)
_N_BASELINE = len(_BASELINE_KEYS)
_DISKS_WIDTH = _WIDTH['disks']
_NICS_WIDTH = _WIDTH['nics']


def _vm_problem(entry, host):
    """None for a VM entry that can be trusted, else what is wrong: 'entry' (its totals or times
    are damaged: the VM restarts) or 'baseline' (its totals stay, its counting restarts).

    The usual entry (plain ints and floats, every counter read) passes the inlined checks below;
    anything else, a subclass of int included, gets the careful ones."""
    try:
        baseline = entry['baseline']
        values = _CUMULATIVE_GETTER(entry['cumulative'])
        first, last = entry['first_seen'], entry['last_seen']
        at, cpu, domain_id = baseline['collected_at'], baseline['cpu_time_ns'], baseline['domain_id']
        if (0 <= min(values) and sum(values) < _TOTAL_F and bool not in map(type, values)
                and len(entry['cumulative']) == _N_COUNTERS and len(baseline) == _N_BASELINE
                and baseline['host'] == host
                and (first.__class__ is int or first.__class__ is float) and -_TOTAL_F < first < _TOTAL_F
                and (last.__class__ is int or last.__class__ is float) and -_TOTAL_F < last < _TOTAL_F
                and (domain_id.__class__ is int or domain_id is None)
                and (at.__class__ is int or at.__class__ is float) and -_TOTAL_F < at < _TOTAL_F
                and (cpu.__class__ is int or cpu.__class__ is float) and 0 <= cpu < _COUNTER_F):
            disks, nics = baseline['disks'], baseline['nics']
            if disks.__class__ is dict and nics.__class__ is dict:
                for values in disks.values():
                    if not (values.__class__ is list and len(values) == _DISKS_WIDTH and 0 <= min(values)
                            and sum(values) < _COUNTER_F and bool not in map(type, values)):
                        break
                else:
                    for values in nics.values():
                        if not (values.__class__ is list and len(values) == _NICS_WIDTH and 0 <= min(values)
                                and sum(values) < _COUNTER_F and bool not in map(type, values)):
                            break
                    else:
                        return None
    except (KeyError, TypeError, OverflowError):
        pass
    return _vm_problem_careful(entry, host)


def _vm_problem_careful(entry, host):
    try:
        cumulative, baseline = entry['cumulative'], entry['baseline']
        if not (isinstance(cumulative, dict) and len(cumulative) == len(COUNTERS)
                and _counts_ok(_CUMULATIVE_GETTER(cumulative), MAX_TOTAL)
                and is_bounded_number(entry['first_seen']) and is_bounded_number(entry['last_seen'])):
            return 'entry'
    except (KeyError, TypeError):
        return 'entry'
    if isinstance(baseline, dict) and len(baseline) == len(_BASELINE_KEYS) and _baseline_ok(baseline, host):
        return None
    return 'baseline'


def _unmeasured(host):
    """A baseline that was never measured: the next sample only sets one."""
    return {'host': host, 'domain_id': None, 'collected_at': None, 'cpu_time_ns': None, 'disks': {}, 'nics': {}}


def _text(value):
    return value if isinstance(value, str) else None


def _carried(vm):
    """A checked VM entry written again without a sample (gone, or its host not sampled): its known
    fields only, every number finite, as the next cycle reads them."""
    memory = vm.get('memory')
    memory = memory if isinstance(memory, dict) else _EMPTY
    domain_id, vcpus, utilization = vm.get('domain_id'), vm.get('vcpus'), vm.get('cpu_utilization')
    entry = {
        'name': _text(vm.get('name')),
        'state': _text(vm.get('state')),
        'domain_id': domain_id if isinstance(domain_id, int) and domain_id.__class__ is not bool else None,
        'vcpus': vcpus if is_count(vcpus) else None,
        'cpu_utilization': utilization if is_count(utilization, 101) else None,
        'memory': dict((field, memory[field] if is_count(memory.get(field)) else None) for field in MEMORY_FIELDS
                       if field in memory),
        'first_seen': vm['first_seen'],
        'last_seen': max(vm['first_seen'], vm['last_seen']),
        'cumulative': vm['cumulative'],
        'baseline': vm['baseline'],
    }
    if vm.get('timed_out') is True:
        entry['timed_out'] = True
    # Written again as it was (its last rates, window and readings to count from), when sound.
    rate_state = vm_rates.cached_state(vm)
    baseline, window = rate_state if rate_state is not None else (None, {})
    entry['rates'] = vm_rates.checked_rates(vm.get('rates'))
    entry['rate_baseline'] = baseline
    entry['rate_window'] = window
    entry['p95'] = vm_rates.percentiles(window)
    return entry


def _carried_changed(vm, carried):
    """Whether writing ``vm`` again dropped a damaged number (worth a warning)."""
    for field in ('vcpus', 'cpu_utilization', 'domain_id'):
        if vm.get(field) is not None and carried[field] is None:
            return True
    if vm_rates.cached_state(vm) is None or vm_rates.checked_rates(vm.get('rates')) != vm.get('rates', _NO_RATES):
        return True
    memory = vm.get('memory')
    return isinstance(memory, dict) and any(
        memory.get(field) is not None and carried['memory'].get(field) is None for field in MEMORY_FIELDS)


def _clean_moved(host, moved, warnings, dropped):
    """The checked baselines a host keeps for domains whose entries moved; without the baseline of a
    domain, its return to the host cannot be told from a new domain: a damaged one is dropped, and
    the domain's next sample there only sets a baseline."""
    if not isinstance(moved, dict):
        warnings.append('previous counters of host %s have a malformed "moved"; the VMs found there this '
                        'cycle only set a baseline' % host)
        dropped.add(host)
        return {}
    kept, damaged = _clean_baselines(host, moved)
    for uuid in damaged:
        warnings.append('previous baseline of VM %s, moved from host %s, is malformed; dropped' % (uuid, host))
        dropped.add((host, uuid))
    return kept


def _clean_first_sights(host, sights, warnings):
    """The checked first-sight baselines of a host (see ``reconcile``); a damaged one is dropped, so
    that VM's first reading is never counted (an undercount, never a double count)."""
    if not isinstance(sights, dict):
        warnings.append('previous counters of host %s have a malformed "first_sights"; dropped' % host)
        return {}
    kept, damaged = _clean_baselines(host, sights)
    for uuid in damaged:
        warnings.append('previous first-sight baseline of VM %s on host %s is malformed; dropped' % (uuid, host))
    return kept


def _clean_baselines(host, baselines):
    """({uuid: baseline} of the sound ones, [the other uuids])."""
    kept, damaged = {}, []
    for uuid, baseline in baselines.items():
        if isinstance(uuid, str) and isinstance(baseline, dict) and len(baseline) == len(_BASELINE_KEYS) \
                and _baseline_ok(baseline, host):
            kept[uuid] = baseline
        else:
            damaged.append(uuid)
    return kept, damaged


def clean_previous(previous, samples, warnings, dropped=None):
    """Keep the well-formed part of last cycle's state; warn about the rest, which starts afresh.

    ``samples`` (host -> this cycle's facts) tells which VMs will be sampled; the others are
    written again as they are, so their every field is checked. ``dropped`` collects the
    (host, uuid) whose entry was dropped, and the hosts whose entry was.
    """
    if previous is None or previous == '':
        return {}
    if not isinstance(previous, dict):
        warnings.append('previous counters are not a dict (%s); starting afresh' % type(previous).__name__)
        return {}
    if dropped is None:
        dropped = set()
    cleaned = {}
    for host, entry in previous.items():
        if entry is None:
            continue
        if not isinstance(host, str):
            warnings.append('previous counters have a host key %r that is not a host name; dropped' % (host,))
            dropped.add(str(host))
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get('vms'), dict) \
                or not is_bounded_number(entry.get('collected_at')):
            warnings.append('previous counters of host %s are malformed; starting afresh for this host' % host)
            dropped.add(host)
            continue
        sample = samples.get(host)
        sampled = sample['vms'] if sample is not None else _EMPTY
        vms = {}
        for uuid, vm in entry['vms'].items():
            problem = _vm_problem(vm, host)
            if problem is None and uuid in sampled:
                vms[uuid] = vm
                continue
            if not isinstance(uuid, str):
                warnings.append('previous counters of host %s have a VM key %r that is not a UUID; dropped'
                                % (host, uuid))
                dropped.add((host, str(uuid)))
                continue
            if problem == 'entry':
                dropped.add((host, uuid))
                warnings.append('previous counters of VM %s on host %s are malformed; starting afresh for this VM'
                                % (uuid, host))
                continue
            if problem == 'baseline':
                warnings.append('previous baseline of VM %s on host %s is malformed; its totals are kept and '
                                'counting restarts from this sample' % (uuid, host))
                vm = dict(vm, baseline=_unmeasured(host))
            if uuid in sampled:
                vms[uuid] = vm
                continue
            carried = _carried(vm)
            if problem is None and _carried_changed(vm, carried):
                warnings.append('previous counters of VM %s on host %s have damaged numbers; written as null'
                                % (uuid, host))
            vms[uuid] = carried
        moved = entry.get('moved')
        moved = {} if moved is None else _clean_moved(host, moved, warnings, dropped)
        sights = entry.get(FIRST_SIGHTS)
        sights = {} if sights is None else _clean_first_sights(host, sights, warnings)
        cleaned[host] = {'hypervisor_hostname': _text(entry.get('hypervisor_hostname')), 'uri': _text(entry.get('uri')),
                         'collected_at': entry['collected_at'], 'vms': vms, 'moved': moved, FIRST_SIGHTS: sights}
    return cleaned


# --- counting -----------------------------------------------------------------------------------------

def _readings(devices, group):
    """This sample's counters a group's deltas need, per device, as a list in DEVICE_FIELDS order
    (compact in the cache); a counter that is not a finite number in [0, 2**64) reads as None."""
    result = {}
    if not isinstance(devices, dict):
        return result
    getter = _GETTERS[group]
    for dev, counters in devices.items():
        try:
            values = list(getter(counters))
            if 0 <= min(values) and sum(values) < MAX_COUNTER:   # the usual case: NaN, inf and 10**400 fail
                result[dev] = values
                continue
        except (KeyError, TypeError, OverflowError):  # a counter missing, None or not a number
            if not isinstance(counters, dict):
                continue
        result[dev] = [_counter(counters.get(counter)) for counter, _total, _divisor in DEVICE_FIELDS[group]]
    return result


def _add_devices(cumulative, group, new_devices, old_devices, stale):
    """Add each device's growth to ``cumulative``; ``new_devices`` becomes the group's new baseline.

    ``old_devices``: the baseline of the same domain instance, or None for another instance
    (everything it reads counts whole, its counters started with it)."""
    fields = _INDEXED[group]
    if old_devices is None:
        for values in new_devices.values():
            for index, total, divisor in fields:
                value = values[index]
                if value:
                    cumulative[total] += value if divisor is None else value / divisor
        return
    for dev, values in new_devices.items():
        before_values = old_devices.get(dev)
        if before_values is None:
            # Hot-plugged since the last reading: its counters started with it.
            for index, total, divisor in fields:
                value = values[index]
                if value:
                    cumulative[total] += value if divisor is None else value / divisor
            continue
        for index, total, divisor in fields:
            value, before = values[index], before_values[index]
            if value is None:
                values[index] = before           # no reading: the last good one stays the baseline
                continue
            if before is None:
                continue                         # first good reading of this instance: a baseline only
            if value >= before:
                value -= before
            elif stale:
                values[index] = before           # an older reading replayed: nothing to count
                continue
            # else: the counter was reset; all of it is new
            if value:
                cumulative[total] += value if divisor is None else value / divisor
    for dev, before_values in old_devices.items():
        if dev not in new_devices:
            new_devices[dev] = before_values     # not read this time: kept for the next reading


def _update_vm(host, sample_at, vm, known, warnings):
    """The new entry of one sampled VM, its counters and its rates (plugin_utils.rates);
    ``known`` is its previous entry (checked, its rate fields not yet) or None."""
    entry = _update_counters(host, sample_at, vm, known, warnings)
    before, window = None, _EMPTY
    if known is not None:
        rate_state = vm_rates.cached_state(known)
        if rate_state is None:
            warnings.append('previous rates of VM %s on host %s are malformed; its rates restart from this sample'
                            % (entry['name'] if entry['name'] is not None else '?', host))
        else:
            before, window = rate_state
    if entry.get('timed_out'):
        # Nothing measured: the readings to count from and the window stay.
        entry['rates'] = vm_rates.no_rates()
        entry['rate_baseline'] = before
    else:
        after = entry['rate_baseline'] = vm_rates.reading(vm, sample_at, entry['domain_id'])
        if before is not None and after['domain_id'] is not None and after['domain_id'] == before['domain_id']:
            entry['rates'] = rates = vm_rates.between(before, after, entry['vcpus'])
        else:
            entry['rates'] = rates = vm_rates.no_rates()   # first sight, or another domain instance
        window = vm_rates.advance(window, rates, entry['cpu_utilization'], vm_rates.memory_used_mb(vm))
    entry['rate_window'] = window
    entry['p95'] = vm_rates.percentiles(window)
    return entry


def _update_counters(host, sample_at, vm, known, warnings):
    """The new entry of one sampled VM, counters only; ``known`` is its previous entry (checked) or None.

    Runs once per VM per cycle (half a million times on a big cloud), hence the plain style.
    """
    if not isinstance(vm, dict):
        warnings.append('sample of a VM on host %s is not a dict; ignored' % host)
        vm = {'timed_out': True}
    get = vm.get
    memory, domain_id, vcpus = get('memory'), get('domain_id'), get('vcpus')
    if domain_id.__class__ is not int and domain_id is not None \
            and (not isinstance(domain_id, int) or domain_id.__class__ is bool):
        domain_id = None
    if not (vcpus.__class__ is int and 0 <= vcpus < _COUNTER_F) and vcpus is not None and not is_count(vcpus):
        vcpus = None
    entry = {
        'name': get('name'),
        'state': get('state'),
        'domain_id': domain_id,
        'vcpus': vcpus,
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
        entry['first_seen'] = first = known['first_seen']
        last = known['last_seen']
        if first > last:
            last = first
        if last > sample_at:
            entry['last_seen'] = last            # the clock went back: never before an earlier sight
        entry['cumulative'] = cumulative = known['cumulative'].copy()
        if entry['name'] is None:
            entry['name'] = _text(known.get('name'))
        # A baseline without a time was never measured (first seen while stuck): no delta against it.
        if known['baseline']['collected_at'] is not None:
            baseline = known['baseline']
    if get('timed_out'):
        # A stuck domain: nothing measured, so the old baseline stays for the next cycle.
        entry['baseline'] = baseline if baseline is not None else _unmeasured(host)
        entry['timed_out'] = True
        return entry

    cpu = _counter(get('cpu_time_ns'))
    new_baseline = entry['baseline'] = {
        'host': host,
        'domain_id': domain_id,
        'collected_at': sample_at,
        'cpu_time_ns': cpu,
        'disks': _readings(get('disks'), 'disks'),
        'nics': _readings(get('nics'), 'nics'),
    }
    if baseline is None:
        return entry
    before_at = baseline['collected_at']
    same_instance = domain_id is not None and domain_id == baseline['domain_id'] and baseline['host'] == host
    if not same_instance:
        # Rebooted, migrated, or a second domain with this UUID: its counters started with it.
        _count_whole(cumulative, new_baseline)
        return entry
    # An older reading of this instance replayed: a counter lower than its baseline is no reset.
    stale = sample_at <= before_at
    before = baseline['cpu_time_ns']
    if before is None:
        pass                                      # first good CPU reading of this instance: a baseline only
    elif cpu is None or (stale and cpu < before):
        # No new CPU reading: the last good one stays, with its time (for the next utilization).
        new_baseline['cpu_time_ns'] = before
        new_baseline['collected_at'] = before_at
    else:
        cumulative['cpu_time_ns'] += cpu - before if cpu >= before else cpu
        wall_seconds = sample_at - before_at
        if wall_seconds > 0:
            entry['cpu_utilization'] = cpu_utilization(before, cpu, wall_seconds, entry['vcpus'])
    _add_devices(cumulative, 'disks', new_baseline['disks'], baseline['disks'], stale)
    _add_devices(cumulative, 'nics', new_baseline['nics'], baseline['nics'], stale)
    return entry


def _placement(samples):
    """uuid -> the first host (in name order) sampling it this cycle, and uuid -> [hosts] for
    the UUIDs sampled on more than one."""
    where, also = {}, {}
    for host in sorted(samples):
        for uuid in samples[host]['vms']:
            if uuid in where:
                also.setdefault(uuid, [where[uuid]]).append(host)
            else:
                where[uuid] = host
    return where, also


def accumulate(previous, samples, retention_seconds=DEFAULT_RETENTION_SECONDS, now=None, partial=False):
    """Return ``(state, warnings)``: the new per-host counters and what was wrong with the inputs.

    ``samples``: host -> ``vm_stats`` facts of this cycle. ``previous``: the state
    returned last cycle (None or {} on the first one). Hosts absent from
    ``samples`` keep their entries, except for VMs that turned up on a sampled
    host this cycle: those move, so that no VM is counted twice. ``now`` (epoch
    seconds; ``hypervisor_stats_now``) stands for every sample's ``collected_at``:
    the cycle's one timestamp when simulated days are replayed. ``partial``: this run samples part
    of the hypervisors (a slice): a VM first seen here may be known to another slice, so its first
    reading is kept under the host's ``first_sights`` for ``reconcile`` to count or drop.
    """
    if now is not None:
        if not is_bounded_number(now) or isinstance(now, bool) or now < 0:
            raise AccumulateError('now must be a timestamp in seconds, got %r' % (now,))
        if isinstance(samples, dict):
            samples = dict((host, dict(sample, collected_at=now) if isinstance(sample, dict) else sample)
                           for host, sample in samples.items())
    # Ten-odd new containers per VM make CPython run full garbage collections over the whole
    # state again and again on big clusters; nothing here creates reference cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _accumulate(previous, samples, retention_seconds, partial)
    finally:
        if collecting:
            gc.enable()


def _other_domain(host, sample_at):
    """A measured baseline of no domain: whatever domain is sampled next on the host counts whole."""
    return {'host': host, 'domain_id': None, 'collected_at': sample_at, 'cpu_time_ns': None, 'disks': {}, 'nics': {}}


def _fresh(sample_at, baseline):
    """A VM entry with no totals yet, counting from ``baseline``."""
    return {'name': None, 'first_seen': sample_at, 'last_seen': sample_at,
            'cumulative': dict.fromkeys(COUNTERS, 0), 'baseline': baseline}


def _absorb(entry, others):
    """``entry`` (a copy) with the totals of the entries in ``others`` added: they are the same VM,
    whose domains left their hosts."""
    entry = dict(entry, cumulative=entry['cumulative'].copy())
    if entry['first_seen'] > entry['last_seen']:
        entry['last_seen'] = entry['first_seen']
    cumulative = entry['cumulative']
    for other in others:
        for name in COUNTERS:
            cumulative[name] += other['cumulative'][name]
        entry['first_seen'] = min(entry['first_seen'], other['first_seen'])
        entry['last_seen'] = max(entry['last_seen'], other['last_seen'])
        if entry.get('name') is None:
            entry['name'] = other.get('name')
    return entry


def _accumulate(previous, samples, retention_seconds, partial):
    retention_seconds = check_retention(retention_seconds)
    if not isinstance(samples, dict):
        raise AccumulateError('samples must be a dict of host -> vm_stats facts, got %s' % type(samples).__name__)
    for host, sample in samples.items():
        _check_sample(host, sample)
    # str(): plain host names, whatever string type the caller's keys are (Ansible tags them with their origin).
    samples = dict((str(host), sample) for host, sample in samples.items())
    warnings = []
    where, also = _placement(samples)
    for uuid in sorted(also, key=str):
        warnings.append('VM %s is on hosts %s at once (a live migration, or a cloned domain); each host counts '
                        "its own domain's growth once" % (uuid, ' and '.join(also[uuid])))
    dropped = set()
    previous = clean_previous(previous, samples, warnings, dropped)

    # Entries whose domain left their host while the UUID is sampled elsewhere: added into the
    # entry of the UUID's first host; their baselines stay behind under the old host's "moved".
    released = {}
    moved_from = {}
    state = {}
    for host in sorted(previous):
        entry = previous[host]
        sample = samples.get(host)
        here = sample['vms'] if sample is not None else _EMPTY
        leaving = [uuid for uuid in entry['vms'] if uuid not in here and uuid in where]
        moved = moved_from[host] = entry['moved']
        if leaving:
            moved = moved_from[host] = dict(moved)
            for uuid in leaving:
                vm = entry['vms'][uuid]
                released.setdefault(uuid, []).append(vm)
                # (An unmeasured baseline stays too: that domain found here again only sets a baseline.)
                moved[uuid] = vm['baseline']
        if sample is None:
            vms = entry['vms']
            if leaving:
                vms = dict((uuid, vm) for uuid, vm in vms.items() if uuid not in where)
            state[host] = _host_entry(dict(entry, vms=vms), moved, dict(
                (uuid, baseline) for uuid, baseline in entry[FIRST_SIGHTS].items() if uuid in vms))

    every = None   # all UUIDs of the previous state, built when first needed
    for host in sorted(samples):
        sample = samples[host]
        sample_at = sample['collected_at']
        old = previous.get(host)
        old_vms = old['vms'] if old is not None else _EMPTY
        moved = moved_from.get(host, _EMPTY)
        sights = old[FIRST_SIGHTS] if old is not None else _EMPTY
        first_sights = {}
        vms = {}
        for uuid, vm in sample['vms'].items():
            known = old_vms.get(uuid)
            if known is None or uuid in released:
                # Not this host's own continuing entry, or the UUID left another host: rare, slower.
                if known is None:
                    if uuid in moved:
                        # A domain whose entry was added into another host's: counting resumes at its baseline.
                        known = _fresh(sample_at, moved[uuid])
                        moved = dict(moved)
                        del moved[uuid]
                    elif uuid not in released and (host, uuid) not in dropped and host not in dropped:
                        if every is None:
                            every = set()
                            for entry in previous.values():
                                every.update(entry['vms'])
                        if uuid in every:
                            # Another domain of a known VM, started on this host since: all of it is new.
                            known = _fresh(sample_at, _other_domain(host, sample_at))
                if uuid in released and where[uuid] == host:
                    others = released.pop(uuid)
                    if known is None:
                        # Moved here: the domain here is another one, all of it new.
                        known = _fresh(sample_at, _other_domain(host, sample_at))
                    known = _absorb(known, others)
            vms[uuid] = _update_vm(host, sample_at, vm, known, warnings)
            if partial and known is None and vms[uuid]['baseline']['collected_at'] is not None \
                    and (host, uuid) not in dropped and host not in dropped:
                # Unknown to this slice, maybe not to another: reconcile counts or drops this reading.
                first_sights[uuid] = vms[uuid]['baseline']
        # VMs this host had that are no longer anywhere: kept as gone until the retention ends.
        if old is not None:
            for uuid, vm in old_vms.items():
                if uuid in vms or uuid in where:
                    continue
                if sample_at - vm['last_seen'] > retention_seconds:
                    continue
                vms[uuid] = dict(vm, state=GONE, cpu_utilization=None, rates=vm_rates.no_rates())
        # Kept until the retention ends; an unmeasured one only until the host is sampled without the domain.
        moved = dict((uuid, baseline) for uuid, baseline in moved.items()
                     if uuid not in vms and baseline['collected_at'] is not None
                     and sample_at - baseline['collected_at'] <= retention_seconds)
        sights = dict((uuid, baseline) for uuid, baseline in sights.items()
                      if uuid in vms and sample_at - baseline['collected_at'] <= retention_seconds)
        sights.update(first_sights)
        state[host] = _host_entry({
            'hypervisor_hostname': sample.get('hypervisor_hostname'),
            'uri': sample.get('uri'),
            'collected_at': sample_at,
            'vms': vms,
        }, moved, sights)
    return state, warnings


def _host_entry(entry, moved, sights):
    """A host's new entry, with its ``moved`` and ``first_sights`` only when they hold something."""
    entry.pop('moved', None)
    entry.pop(FIRST_SIGHTS, None)
    if moved:
        entry['moved'] = moved
    if sights:
        entry[FIRST_SIGHTS] = sights
    return entry


# --- sliced runs -------------------------------------------------------------------------------------


def reconcile(state):
    """Return ``(changed, warnings)``: what one unsliced run would have done with a VM that moved
    between hosts that different slices sample, applied to the state every slice left in the cache.

    A slice sees only its own hosts, so a VM that left a host of another slice is, for it, a new VM:
    its first reading sets a baseline (kept under ``first_sights``), and the old host's slice marks
    its entry gone. Here, with every host's entry at hand (the totals run, which no slice runs beside):

    * a first sight of a VM that another host's entry knew earlier counts whole (an unsliced run
      counts a known VM's new domain whole: its counters started with it); any other first sight
      was a new VM, and its baseline is dropped;
    * gone entries of a VM that runs on another host are added into the running entry of the first
      such host in name order, and their baselines stay behind under their hosts' ``moved``: the
      same domain found there again counts only its growth since.

    ``changed``: host -> new entry, for the hosts whose entry changed (only those are written back).
    """
    warnings = []
    if not isinstance(state, dict):
        raise AccumulateError('counters must be a dict of host -> accumulate entries, got %s' % type(state).__name__)
    # The UUIDs under several hosts, by set operations (the totals run passes every VM of the cloud).
    seen, uuids, involved = set(), set(), set()
    for host, entry in state.items():
        if not isinstance(entry, dict) or not isinstance(entry.get('vms'), dict):
            continue
        uuids.update(seen.intersection(entry['vms']))
        seen.update(entry['vms'])
        if FIRST_SIGHTS in entry:
            involved.add(host)
    if uuids:
        involved.update(host for host, entry in state.items()
                        if isinstance(entry, dict) and isinstance(entry.get('vms'), dict)
                        and not uuids.isdisjoint(entry['vms']))
    if not involved:
        return {}, warnings
    # Only the hosts that may change are checked (and then written whole, as accumulate writes them).
    entries = clean_previous(dict((host, state[host]) for host in involved), {}, warnings)
    for host in entries:
        for uuid in entries[host][FIRST_SIGHTS]:
            uuids.add(uuid)
    # Every first sight is resolved here: a host that had any (sound or not) is written back without them.
    changed = set(host for host in entries if FIRST_SIGHTS in state[host])
    where = {}   # uuid -> the hosts whose entry has it, in name order
    for host in sorted(entries):
        for uuid in uuids.intersection(entries[host]['vms']):
            where.setdefault(uuid, []).append(host)
    for uuid in sorted(where, key=str):
        holders = where[uuid]
        for host in holders:
            baseline = entries[host][FIRST_SIGHTS].pop(uuid, None)
            if baseline is None:
                continue
            vm = entries[host]['vms'][uuid]
            if any(entries[other]['vms'][uuid]['first_seen'] < vm['first_seen'] for other in holders if other != host):
                vm = entries[host]['vms'][uuid] = dict(vm, cumulative=vm['cumulative'].copy())
                _count_whole(vm['cumulative'], baseline)
        running = [host for host in holders if entries[host]['vms'][uuid].get('state') != GONE]
        left = [host for host in holders if entries[host]['vms'][uuid].get('state') == GONE]
        if not running or not left:
            continue
        into = running[0]
        entries[into]['vms'][uuid] = _absorb(entries[into]['vms'][uuid], [entries[host]['vms'][uuid] for host in left])
        changed.add(into)
        for host in left:
            entries[host]['moved'][uuid] = entries[host]['vms'].pop(uuid)['baseline']
            changed.add(host)
    return dict((host, _host_entry(entries[host], entries[host]['moved'], None)) for host in sorted(changed)), warnings


def _count_whole(cumulative, baseline):
    """Add a domain's raw counters whole (a domain that started since: all of it is new)."""
    if baseline['cpu_time_ns'] is not None:
        cumulative['cpu_time_ns'] += baseline['cpu_time_ns']
    _add_devices(cumulative, 'disks', baseline['disks'], None, False)
    _add_devices(cumulative, 'nics', baseline['nics'], None, False)
