"""Sliced collection (issue 15): slices that each accumulate their own hosts (``partial``), followed by
``reconcile`` on what they left in the cache, give exactly the state of one unsliced run on the same
samples, while VMs start, stop, reboot and move between hosts of different slices, also mid-migration
(on two hosts at once). Property-based, against the unsliced run as the reference model, and
hand-computed cases.
"""

import json

from hypothesis import HealthCheck, given, note, settings, strategies as st

from ansible_collections.hypervisor.stats.plugins.plugin_utils.counters import FIRST_SIGHTS, accumulate, reconcile

HOSTS = ('h1', 'h2', 'h3', 'h4')
UUIDS = ('u0', 'u1', 'u2', 'u3')
RETENTION = 10 ** 9
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True)


def vm_sample(uuid, domain_id, counters):
    cpu, rx, rd = counters
    return {'name': uuid, 'uuid': uuid, 'state': 'running', 'domain_id': domain_id, 'vcpus': 1,
            'cpu_time_ns': cpu, 'cpu_utilization': None, 'timed_out': False,
            'memory': {'max_kb': 1024, 'actual_kb': 1024, 'unused_kb': None, 'available_kb': None, 'rss_kb': 10},
            'disks': {'vda': {'rd_bytes': rd, 'wr_bytes': rd, 'rd_req': rd // 512, 'wr_req': 0}},
            'nics': {'vnet0': {'rx_bytes': rx, 'tx_bytes': rx, 'rx_packets': 0, 'tx_packets': 0, 'rx_errs': 0,
                               'tx_errs': 0, 'rx_drop': 0, 'tx_drop': 0}},
            'totals': {}}


def host_sample(host, now, domains):
    return {'hypervisor_hostname': host, 'uri': 'test:///default', 'collected_at': now,
            'vms': dict((uuid, vm_sample(uuid, domain_id, counters)) for uuid, (domain_id, counters) in domains.items())}


def cached(state):
    """What the fact cache gives back."""
    return json.loads(json.dumps(state, allow_nan=False))


def differences(got, expected, path=''):
    """Where two states differ, for the failure message."""
    if isinstance(got, dict) and isinstance(expected, dict):
        return [d for key in sorted(set(got) | set(expected), key=str)
                for d in differences(got.get(key), expected.get(key), '%s/%s' % (path, key))]
    return [] if got == expected else ['%s: %r != %r' % (path, got, expected)]


def sliced_cycle(state, samples, slices):
    """Each slice accumulates its own hosts from the cache, then the totals run reconciles."""
    state = dict(state)
    for hosts in slices:
        mine = dict((host, state[host]) for host in hosts if host in state)
        new, _warnings = accumulate(cached(mine), dict((h, samples[h]) for h in hosts if h in samples),
                                    RETENTION, partial=True)
        assert set(new) <= set(hosts), 'a slice writes only its own hosts'
        state.update(cached(new))
    changed, _warnings = reconcile(cached(state))
    state.update(cached(changed))
    return state


@SETTINGS
@given(st.data())
def test_slices_then_reconcile_equal_one_unsliced_run(data):
    slices = data.draw(st.sampled_from(((('h1', 'h2'), ('h3', 'h4')), (('h4', 'h1'), ('h2',), ('h3',)),
                                        (('h3',), ('h1', 'h2', 'h4')))), label='slices')
    domains = dict((host, {}) for host in HOSTS)   # host -> uuid -> [domain id, [cpu, rx, rd]]
    next_id = [1]

    def start(host, uuid):
        domains[host][uuid] = [next_id[0], [0, 0, 0]]
        next_id[0] += 1

    whole, sliced, now = {}, {}, 1000
    for _cycle in range(data.draw(st.integers(1, 8), label='cycles')):
        for uuid in UUIDS:
            on = [host for host in HOSTS if uuid in domains[host]]
            free = [host for host in HOSTS if host not in on]
            event = data.draw(st.sampled_from(('grow', 'grow', 'start', 'move', 'move', 'second', 'end-one',
                                               'stop', 'reboot')), label='event')
            note('%s %s on %s' % (uuid, event, on))
            if event == 'start' and not on:
                start(data.draw(st.sampled_from(HOSTS)), uuid)
            elif event == 'move' and on and free:
                del domains[data.draw(st.sampled_from(on))][uuid]
                start(data.draw(st.sampled_from(free)), uuid)
            elif event == 'second' and on and free:
                start(data.draw(st.sampled_from(free)), uuid)
            elif event == 'end-one' and len(on) > 1:
                del domains[data.draw(st.sampled_from(on))][uuid]
            elif event == 'stop' and on:
                del domains[data.draw(st.sampled_from(on))][uuid]
            elif event == 'reboot' and on:
                start(data.draw(st.sampled_from(on)), uuid)
        for host in HOSTS:
            for domain in domains[host].values():
                domain[1] = [value + data.draw(st.sampled_from((0, 7, 4096, 10 ** 9)), label='growth')
                             for value in domain[1]]
        now += 60
        samples = dict((host, host_sample(host, now, domains[host])) for host in HOSTS)
        whole, _warnings = accumulate(cached(whole), cached(samples), RETENTION)
        whole = cached(whole)
        sliced = sliced_cycle(sliced, samples, slices)
        assert sliced == whole, differences(sliced, whole)
        assert not any(FIRST_SIGHTS in entry for entry in sliced.values())


def test_a_vm_moved_to_another_slice_keeps_its_totals_and_counts_once():
    # Hand-computed: u0 on h1 (slice 1) reads cpu 100 then 250; it moves to h3 (slice 2), whose new
    # domain reads 40 at first sight and 90 next. Unsliced: 150 (h1's growth) + 40 (a known VM's new
    # domain counts whole) + 50 = 240; each slice alone would say 150 (h1, then gone) and 50 (h3).
    def samples(now, host, domain_id, cpu):
        return {'h1': host_sample('h1', now, {} if host != 'h1' else {'u0': (domain_id, [cpu, 0, 0])}),
                'h3': host_sample('h3', now, {} if host != 'h3' else {'u0': (domain_id, [cpu, 0, 0])})}

    state = {}
    slices = (('h1',), ('h3',))
    for now, host, domain_id, cpu in ((60, 'h1', 1, 100), (120, 'h1', 1, 250), (180, 'h3', 7, 40), (240, 'h3', 7, 90)):
        state = sliced_cycle(state, samples(now, host, domain_id, cpu), slices)
    assert 'u0' not in state['h1']['vms'] and state['h1']['moved']['u0']['cpu_time_ns'] == 250
    assert state['h3']['vms']['u0']['cumulative']['cpu_time_ns'] == 240
    assert state['h3']['vms']['u0']['first_seen'] == 60


def test_a_new_vm_first_seen_by_a_slice_counts_only_its_growth():
    # Nothing else ever knew u9: as in an unsliced run, its first reading is only a baseline.
    state = {}
    for now, cpu in ((60, 500), (120, 800)):
        state = sliced_cycle(state, {'h2': host_sample('h2', now, {'u9': (3, [cpu, 0, 0])})}, (('h2',),))
        assert FIRST_SIGHTS not in state['h2']
    assert state['h2']['vms']['u9']['cumulative']['cpu_time_ns'] == 300


def test_reconcile_leaves_a_damaged_first_sight_uncounted_and_names_it():
    state, _ = accumulate({}, {'h1': host_sample('h1', 60, {'u0': (1, [100, 0, 0])})}, RETENTION)
    moved, _ = accumulate({}, {'h2': host_sample('h2', 120, {'u0': (2, [40, 0, 0])})}, RETENTION, partial=True)
    state['h1']['vms']['u0']['state'] = 'gone'
    state.update(moved)
    state['h2'][FIRST_SIGHTS]['u0']['cpu_time_ns'] = float('nan')
    changed, warnings = reconcile(state)
    assert any('first-sight baseline of VM u0 on host h2' in warning for warning in warnings)
    # h1's totals move into h2's entry; the damaged first reading (40) is not counted
    assert changed['h2']['vms']['u0']['cumulative']['cpu_time_ns'] == 0
    assert 'u0' not in changed['h1']['vms'] and FIRST_SIGHTS not in changed['h2']


def test_reconcile_changes_nothing_without_shared_vms_or_first_sights():
    state, _ = accumulate({}, {'h1': host_sample('h1', 60, {'u0': (1, [1, 2, 3])}),
                               'h2': host_sample('h2', 60, {'u1': (2, [1, 2, 3])})}, RETENTION)
    assert reconcile(state) == ({}, [])
