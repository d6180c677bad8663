"""Property-based tests of accumulate (plugin_utils.counters) against a small model of the true growth.

A simulated cluster of three hosts and three VMs runs random cycles: counters grow, domains reboot,
move between hosts, run on two hosts at once (live migration, clones), counters reset, readings are
null, stuck or missing a device, hosts go unsampled, a cycle's samples are replayed, clocks go back,
and the state read back from the "cache" is damaged with garbage. The model knows every byte each
domain really moved; the properties:

* no exception escapes, and the state is JSON without NaN or infinity;
* a VM's totals (the sum of its entries over the hosts) never exceed its true growth;
* they never decrease, except in a cycle whose previous state was damaged (that VM may restart).
"""

import json
import math

from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import COUNTERS
from ansible_collections.hypervisor.stats.plugins.plugin_utils.counters import accumulate

HOSTS = ('h1', 'h2', 'h3')
UUIDS = ('u0', 'u1', 'u2')
# model counter -> (device group, device, vm_stats counter, cumulative total, divisor)
DEVICE_COUNTERS = (('rx', 'nics', 'vnet0', 'rx_bytes', 'network_read_kb', 1024.0),
                   ('tx', 'nics', 'vnet0', 'tx_bytes', 'network_write_kb', 1024.0),
                   ('rd', 'disks', 'vda', 'rd_bytes', 'disk_read_kb', 1024.0),
                   ('wr', 'disks', 'vda', 'wr_bytes', 'disk_write_kb', 1024.0),
                   ('rdq', 'disks', 'vda', 'rd_req', 'disk_read_ios', 1),
                   ('wrq', 'disks', 'vda', 'wr_req', 'disk_write_ios', 1))
MODEL = ('cpu',) + tuple(c[0] for c in DEVICE_COUNTERS)
TOTAL_OF = dict([('cpu', ('cpu_time_ns', 1))] + [(c[0], (c[4], c[5])) for c in DEVICE_COUNTERS])
NIC_EXTRA = ('rx_packets', 'tx_packets', 'rx_errs', 'tx_errs', 'rx_drop', 'tx_drop')
GARBAGE = (float('nan'), float('inf'), float('-inf'), -1.5, 10 ** 400, 'garbage', True, [1], {'a': 1})

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True)


class World(object):
    """The true state of the cluster: domains (host -> uuid -> domain) and every VM's true growth."""

    def __init__(self):
        self.domains = dict((host, {}) for host in HOSTS)
        self.true = dict((uuid, dict.fromkeys(MODEL, 0)) for uuid in UUIDS)
        self.next_id = 1

    def start(self, host, uuid):
        self.domains[host][uuid] = {'id': self.next_id, 'counters': dict.fromkeys(MODEL, 0)}
        self.next_id += 1

    def hosts_of(self, uuid):
        return [host for host in HOSTS if uuid in self.domains[host]]


def _vm_sample(uuid, domain, quirk):
    counters = domain['counters']
    disks = {'vda': dict((c[3], counters[c[0]]) for c in DEVICE_COUNTERS if c[1] == 'disks')}
    nics = {'vnet0': dict([(c[3], counters[c[0]]) for c in DEVICE_COUNTERS if c[1] == 'nics']
                          + [(name, 0) for name in NIC_EXTRA])}
    vm = {'name': uuid, 'uuid': uuid, 'state': 'running', 'domain_id': domain['id'], 'vcpus': 2,
          'cpu_time_ns': counters['cpu'], 'cpu_utilization': None, 'timed_out': False,
          'memory': {'max_kb': 1024, 'actual_kb': 1024, 'unused_kb': None, 'available_kb': None, 'rss_kb': 10},
          'disks': disks, 'nics': nics, 'totals': {}}
    if quirk == 'null-cpu':
        vm['cpu_time_ns'] = None
    elif quirk == 'null-nic':
        nics['vnet0'] = dict.fromkeys(nics['vnet0'], None)
    elif quirk == 'null-one':
        disks['vda']['wr_bytes'] = None
    elif quirk == 'no-disk':
        del disks['vda']
    elif quirk == 'stuck':
        vm.update(cpu_time_ns=None, disks={}, nics={}, timed_out=True)
    return vm


def _damage(data, state):
    """The state with one value, at a random place, replaced by garbage."""
    paths = []

    def walk(value, path):
        paths.append(path)
        if isinstance(value, dict):
            for key in sorted(value, key=str):
                walk(value[key], path + (key,))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, path + (index,))
    walk(state, ())
    path = data.draw(st.sampled_from(paths[1:]), label='damaged path')
    garbage = data.draw(st.sampled_from(GARBAGE), label='garbage')
    target = state
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = garbage
    return state


def _counted(state):
    counted = dict((uuid, dict.fromkeys(COUNTERS, 0)) for uuid in UUIDS)
    for entry in state.values():
        for uuid, vm in entry['vms'].items():
            for name in COUNTERS:
                counted[uuid][name] += vm['cumulative'][name]
    return counted


@SETTINGS
@given(st.data())
def test_totals_are_monotone_finite_and_never_exceed_the_true_growth(data):
    world = World()
    state, last, now = {}, None, 1000
    skew = dict((host, 0) for host in HOSTS)
    previous_samples = None
    for _cycle in range(data.draw(st.integers(1, 10), label='cycles')):
        replay = previous_samples is not None and data.draw(st.integers(0, 9), label='replay') == 0
        if replay:
            samples = previous_samples
        else:
            for uuid in UUIDS:
                event = data.draw(st.sampled_from(('grow', 'grow', 'grow', 'start', 'reboot', 'move', 'second',
                                                   'end-one', 'reset', 'stop')), label='event')
                hosts = world.hosts_of(uuid)
                free = [host for host in HOSTS if host not in hosts]
                if event == 'start' and not hosts:
                    world.start(data.draw(st.sampled_from(HOSTS)), uuid)
                elif event == 'reboot' and hosts:
                    world.start(data.draw(st.sampled_from(hosts)), uuid)
                elif event == 'move' and hosts and free:
                    del world.domains[data.draw(st.sampled_from(hosts))][uuid]
                    world.start(data.draw(st.sampled_from(free)), uuid)
                elif event == 'second' and hosts and free:
                    world.start(data.draw(st.sampled_from(free)), uuid)
                elif event == 'end-one' and len(hosts) > 1:
                    del world.domains[data.draw(st.sampled_from(hosts))][uuid]
                elif event == 'stop' and hosts:
                    del world.domains[data.draw(st.sampled_from(hosts))][uuid]
                elif event == 'reset' and hosts:
                    domain = world.domains[data.draw(st.sampled_from(hosts))][uuid]
                    domain['counters'][data.draw(st.sampled_from(MODEL))] = 0
            for host in HOSTS:
                for uuid, domain in world.domains[host].items():
                    for name in MODEL:
                        grow = data.draw(st.sampled_from((0, 1, 1000, 10 ** 6, 10 ** 9)), label='growth')
                        domain['counters'][name] += grow
                        world.true[uuid][name] += grow
            now += data.draw(st.sampled_from((60, 60, 60, 0, -30, -400)), label='clock')
            if data.draw(st.booleans(), label='skew'):
                skew[data.draw(st.sampled_from(HOSTS))] = data.draw(st.sampled_from((-500, -5, 0, 5, 500)))
            sampled = [host for host in HOSTS if data.draw(st.integers(0, 4), label='sampled') > 0]
            samples = {}
            for host in sampled:
                vms = {}
                for uuid, domain in world.domains[host].items():
                    quirk = data.draw(st.sampled_from((None,) * 6 + ('null-cpu', 'null-nic', 'null-one',
                                                                     'no-disk', 'stuck')), label='quirk')
                    vms[uuid] = _vm_sample(uuid, domain, quirk)
                samples[host] = {'hypervisor_hostname': host, 'uri': 'test:///default',
                                 'collected_at': now + skew[host], 'vms': vms}
        previous_samples = samples

        cached = json.loads(json.dumps(state, allow_nan=False))
        damaged = bool(cached) and data.draw(st.integers(0, 5), label='damage') == 0
        if damaged:
            cached = _damage(data, cached)
        state, _warnings = accumulate(cached, json.loads(json.dumps(samples)), 10 ** 9)
        json.dumps(state, allow_nan=False)

        counted = _counted(state)
        for uuid in UUIDS:
            for model_name in MODEL:
                total, divisor = TOTAL_OF[model_name]
                value = counted[uuid][total]
                assert math.isfinite(value) and value >= 0
                assert value * divisor <= world.true[uuid][model_name] * (1 + 1e-12), (uuid, total)
                if last is not None and not damaged:
                    assert value >= last[uuid][total], (uuid, total)
        last = counted


@SETTINGS
@given(st.lists(st.tuples(st.just('disks'), st.integers(0, 10 ** 12),
                          st.booleans()), min_size=2, max_size=12))
def test_null_readings_never_count_twice(readings):
    """One device on one domain, readings that grow or are null: the total is the growth between the
    first and the last good reading, exactly."""
    state, at = {}, 100
    running = 0
    for _group, value, null in readings:
        running = max(running, value)          # a counter only grows on one domain
        counters = {'vda': {'rd_bytes': None if null else running, 'wr_bytes': 0, 'rd_req': 0, 'wr_req': 0}}
        vm = {'name': 'v', 'state': 'running', 'domain_id': 1, 'vcpus': 1, 'cpu_time_ns': None,
              'memory': {}, 'disks': counters, 'nics': {}}
        state, warnings = accumulate(json.loads(json.dumps(state)), {'h': {'collected_at': at, 'vms': {'v': vm}}})
        assert warnings == []
        at += 60
    first_good = next((running_value for running_value in _running_good(readings)), None)
    last_good = None
    for last_good in _running_good(readings):
        pass
    expected = 0 if first_good is None else (last_good - first_good) / 1024.0
    assert state['h']['vms']['v']['cumulative']['disk_read_kb'] == expected


def _running_good(readings):
    running = 0
    for _group, value, null in readings:
        running = max(running, value)
        if not null:
            yield running
