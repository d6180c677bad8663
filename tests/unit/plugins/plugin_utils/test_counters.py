"""Rules of accumulate (plugin_utils.counters, issue 4), on plain vm_stats-shaped dicts."""

import copy
import json
import random

import pytest

from counters_data import BAD_ARGUMENTS, KB, UUID, cum, run, sample, vm

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import COUNTERS, GONE
from ansible_collections.hypervisor.stats.plugins.plugin_utils.counters import AccumulateError, accumulate


def test_first_sight_sets_only_the_baseline():
    state, warnings = run(None, {'h1': sample(100, vm(cpu=5e9, disks={'vda': (4096, 8192, 3, 4)}, nics={'vnet0': (2048, 1024)}))})
    assert warnings == []
    entry = state['h1']['vms'][UUID]
    assert entry['cumulative'] == dict((name, 0) for name in COUNTERS)
    assert entry['cpu_utilization'] is None
    assert entry['first_seen'] == entry['last_seen'] == 100
    assert entry['state'] == 'running' and entry['vcpus'] == 2 and entry['name'] == 'web'
    assert entry['memory']['rss_kb'] == 2000
    assert state['h1']['collected_at'] == 100


def test_same_instance_accumulates_deltas_per_device():
    s1 = {'h1': sample(100, vm(cpu=1e9, disks={'vda': (10 * KB, 20 * KB, 5, 6), 'vdb': (0, 0, 0, 0)},
                               nics={'vnet0': (3 * KB, 4 * KB)}))}
    s2 = {'h1': sample(160, vm(cpu=61e9, disks={'vda': (15 * KB, 30 * KB, 8, 16), 'vdb': (2 * KB, 0, 1, 0)},
                               nics={'vnet0': (10 * KB, 5 * KB)}))}
    state, _ = run(run({}, s1)[0], s2)
    c = cum(state)
    assert c['disk_read_kb'] == 5 + 2
    assert c['disk_write_kb'] == 10
    assert c['disk_read_ios'] == 3 + 1
    assert c['disk_write_ios'] == 10
    assert c['network_read_kb'] == 7
    assert c['network_write_kb'] == 1
    assert c['cpu_time_ns'] == 60e9
    # 60 s of CPU over 60 s on 2 vCPUs
    assert state['h1']['vms'][UUID]['cpu_utilization'] == 50.0
    assert state['h1']['vms'][UUID]['first_seen'] == 100 and state['h1']['vms'][UUID]['last_seen'] == 160


def test_steady_growth_over_many_cycles_equals_the_last_minus_the_first_counter():
    state = {}
    for i in range(10):
        state, _ = run(state, {'h1': sample(100 + 60 * i, vm(cpu=i * 1e9, disks={'vda': (i * 3 * KB, i * KB, i, 2 * i)},
                                                              nics={'vnet0': (i * 5 * KB, i * 7 * KB)}))})
    c = cum(state)
    assert (c['disk_read_kb'], c['disk_write_kb'], c['disk_read_ios'], c['disk_write_ios']) == (27, 9, 9, 18)
    assert (c['network_read_kb'], c['network_write_kb'], c['cpu_time_ns']) == (45, 63, 9e9)


def test_utilization_is_clamped_to_100():
    s1 = {'h1': sample(100, vm(cpu=0, vcpus=1))}
    s2 = {'h1': sample(110, vm(cpu=30e9, vcpus=1))}  # 30 s of CPU in 10 s on one vCPU: impossible, clamp
    state, _ = run(run({}, s1)[0], s2)
    assert state['h1']['vms'][UUID]['cpu_utilization'] == 100.0


def test_reboot_new_domain_id_counts_the_whole_current_value():
    s1 = {'h1': sample(100, vm(domain_id=7, cpu=50e9, disks={'vda': (100 * KB, 0, 10, 0)}, nics={'vnet0': (50 * KB, 0)}))}
    s2 = {'h1': sample(160, vm(domain_id=8, cpu=2e9, disks={'vda': (300 * KB, 0, 30, 0)}, nics={'vnet0': (8 * KB, 0)}))}
    state, _ = run(run({}, s1)[0], s2)
    c = cum(state)
    # Even though vda grew past its old baseline, it is a new instance: delta = current.
    assert c['disk_read_kb'] == 300 and c['disk_read_ios'] == 30
    assert c['network_read_kb'] == 8
    assert c['cpu_time_ns'] == 2e9
    assert state['h1']['vms'][UUID]['cpu_utilization'] is None


def test_counter_reset_on_the_same_domain_counts_the_current_value():
    s1 = {'h1': sample(100, vm(cpu=10e9, nics={'vnet0': (500 * KB, 10 * KB)}))}
    s2 = {'h1': sample(160, vm(cpu=20e9, nics={'vnet0': (4 * KB, 12 * KB)}))}  # rx went down: reset
    state, _ = run(run({}, s1)[0], s2)
    assert cum(state)['network_read_kb'] == 4
    assert cum(state)['network_write_kb'] == 2


def test_cpu_time_going_down_gives_no_utilization_and_no_negative_delta():
    s1 = {'h1': sample(100, vm(cpu=10e9))}
    s2 = {'h1': sample(160, vm(cpu=4e9))}
    state, _ = run(run({}, s1)[0], s2)
    assert cum(state)['cpu_time_ns'] == 4e9
    assert state['h1']['vms'][UUID]['cpu_utilization'] == 0.0


def test_hot_plugged_device_counts_its_whole_value():
    s1 = {'h1': sample(100, vm(disks={'vda': (10 * KB, 0, 1, 0)}))}
    s2 = {'h1': sample(160, vm(disks={'vda': (12 * KB, 0, 2, 0), 'vdb': (40 * KB, 0, 4, 0)}))}
    state, _ = run(run({}, s1)[0], s2)
    assert cum(state)['disk_read_kb'] == 2 + 40
    assert cum(state)['disk_read_ios'] == 1 + 4


def test_migration_moves_the_vm_once_with_its_totals():
    s1 = {'h1': sample(100, vm(domain_id=3, nics={'vnet0': (10 * KB, 0)})), 'h2': sample(100)}
    s2 = {'h1': sample(160, vm(domain_id=3, nics={'vnet0': (30 * KB, 0)})), 'h2': sample(160)}
    # Same domain id on the new host by coincidence: still a different instance.
    s3 = {'h1': sample(220), 'h2': sample(220, vm(domain_id=3, nics={'vnet0': (5 * KB, 0)}))}
    state = run(run(run({}, s1)[0], s2)[0], s3)[0]
    assert UUID not in state['h1']['vms']
    entry = state['h2']['vms'][UUID]
    assert entry['cumulative']['network_read_kb'] == 20 + 5
    assert entry['first_seen'] == 100 and entry['last_seen'] == 220
    assert entry['cpu_utilization'] is None
    assert entry['baseline']['host'] == 'h2'


def test_migration_away_from_an_unsampled_host_still_appears_once():
    other = vm(uuid='other', name='db', nics={'vnet1': (1 * KB, 0)})
    s1 = {'h1': sample(100, vm(nics={'vnet0': (10 * KB, 0)}), other), 'h2': sample(100)}
    s2 = {'h1': sample(160, vm(nics={'vnet0': (30 * KB, 0)}), other), 'h2': sample(160)}
    state1 = run(run({}, s1)[0], s2)[0]
    # h1 unreachable; the VM now runs on h2.
    state2 = run(state1, {'h2': sample(220, vm(domain_id=1, nics={'vnet0': (1 * KB, 0)}))})[0]
    assert UUID not in state2['h1']['vms']
    assert state2['h1']['vms']['other'] == state1['h1']['vms']['other']
    assert state2['h1']['collected_at'] == 160
    assert state2['h2']['vms'][UUID]['cumulative']['network_read_kb'] == 21


def test_unsampled_host_keeps_its_entry_untouched():
    s1 = {'h1': sample(100, vm(nics={'vnet0': (10 * KB, 0)})), 'h2': sample(100, vm(uuid='x', name='x'))}
    state1 = run({}, s1)[0]
    snapshot = copy.deepcopy(state1['h1'])
    state2 = run(state1, {'h2': sample(160, vm(uuid='x', name='x'))})[0]
    assert state2['h1'] == snapshot


def test_deleted_vm_is_kept_as_gone_for_the_retention_then_dropped():
    s1 = {'h1': sample(100, vm(nics={'vnet0': (10 * KB, 0)}))}
    s2 = {'h1': sample(160, vm(nics={'vnet0': (30 * KB, 0)}))}
    state = run(run({}, s1)[0], s2, retention=100)[0]
    state = run(state, {'h1': sample(220)}, retention=100)[0]
    entry = state['h1']['vms'][UUID]
    assert entry['state'] == GONE and entry['last_seen'] == 160 and entry['cpu_utilization'] is None
    assert entry['cumulative']['network_read_kb'] == 20
    state = run(state, {'h1': sample(260)}, retention=100)[0]   # 100 s after last seen: still kept
    assert state['h1']['vms'][UUID]['state'] == GONE
    state = run(state, {'h1': sample(261)}, retention=100)[0]
    assert UUID not in state['h1']['vms']


def test_gone_vm_that_comes_back_keeps_its_totals():
    s1 = {'h1': sample(100, vm(domain_id=1, nics={'vnet0': (10 * KB, 0)}))}
    s2 = {'h1': sample(160, vm(domain_id=1, nics={'vnet0': (30 * KB, 0)}))}
    state = run(run(run({}, s1)[0], s2)[0], {'h1': sample(220)})[0]
    state = run(state, {'h1': sample(280, vm(domain_id=2, nics={'vnet0': (4 * KB, 0)}))})[0]
    assert state['h1']['vms'][UUID]['state'] == 'running'
    assert cum(state)['network_read_kb'] == 24
    assert state['h1']['vms'][UUID]['first_seen'] == 100


def test_clock_skew_gives_no_utilization_and_no_negative_delta():
    s1 = {'h1': sample(200, vm(cpu=10e9, disks={'vda': (10 * KB, 0, 1, 0)}))}
    s2 = {'h1': sample(150, vm(cpu=20e9, disks={'vda': (12 * KB, 0, 2, 0)}))}
    state = run(run({}, s1)[0], s2)[0]
    assert state['h1']['vms'][UUID]['cpu_utilization'] is None
    assert all(value >= 0 for value in cum(state).values())
    assert cum(state)['disk_read_kb'] == 2
    s3 = {'h1': sample(150, vm(cpu=25e9, disks={'vda': (13 * KB, 0, 2, 0)}))}  # zero elapsed time
    state = run(state, s3)[0]
    assert state['h1']['vms'][UUID]['cpu_utilization'] is None
    assert cum(state)['disk_read_kb'] == 3


def test_totals_never_decrease_over_random_resets_migrations_and_skew():
    rng = random.Random(4)
    hosts = ['h1', 'h2', 'h3']
    counters = {'rx': 0, 'rd': 0, 'cpu': 0}
    domain_id, where, at = 1, 'h1', 1000
    state, last = {}, None
    for _cycle in range(200):
        event = rng.random()
        if event < 0.1:
            domain_id += 1
            counters = dict((k, 0) for k in counters)
        elif event < 0.2:
            where = rng.choice(hosts)
        elif event < 0.25:
            counters['rx'] = rng.randrange(0, 1000)  # counter wraps/reset
        for k in counters:
            counters[k] += rng.randrange(0, 10 ** 6)
        at += rng.choice((60, 60, 60, 0, -30))
        sampled = [h for h in hosts if rng.random() > 0.2] or [where]
        samples = dict((h, sample(at)) for h in sampled)
        if where in samples and rng.random() > 0.1:
            samples[where] = sample(at, vm(domain_id=domain_id, cpu=counters['cpu'],
                                         disks={'vda': (counters['rd'], 0, 1, 0)}, nics={'vnet0': (counters['rx'], 0)}))
        state, warnings = run(state, samples, retention=10 ** 9)
        assert warnings == []
        holders = [h for h in state if UUID in state[h]['vms']]
        assert len(holders) <= 1   # one domain at a time here: never on two hosts
        if holders:
            now = state[holders[0]]['vms'][UUID]['cumulative']
            if last is not None:
                assert all(now[name] >= last[name] for name in COUNTERS)
            last = now


def test_malformed_previous_as_a_whole_warns_and_starts_afresh():
    state, warnings = run(['not', 'a', 'dict'], {'h1': sample(100, vm())})
    assert len(warnings) == 1 and 'not a dict' in warnings[0]
    assert cum(state) == dict((name, 0) for name in COUNTERS)


def test_malformed_host_entry_warns_and_starts_afresh_for_that_host_only():
    good = run({}, {'h2': sample(100, vm(uuid='x', nics={'vnet0': (1 * KB, 0)}))})[0]['h2']
    previous = {'h1': 'garbage', 'h2': good}
    state, warnings = run(previous, {'h1': sample(160, vm(nics={'vnet0': (50 * KB, 0)})),
                                     'h2': sample(160, vm(uuid='x', nics={'vnet0': (3 * KB, 0)}))})
    assert len(warnings) == 1 and 'host h1' in warnings[0]
    assert cum(state) == dict((name, 0) for name in COUNTERS)
    assert cum(state, 'h2', 'x')['network_read_kb'] == 2


@pytest.mark.parametrize('damage,kept', [
    (lambda e: e.update(cumulative='x'), 0),
    (lambda e: e['cumulative'].update(network_read_kb=-5), 0),
    (lambda e: e['cumulative'].pop('disk_write_ios'), 0),
    # A damaged baseline alone keeps the totals: only the counting restarts.
    (lambda e: e.update(baseline=None), 10),
    (lambda e: e['baseline'].update(nics=[1, 2]), 10),
    (lambda e: e.update(first_seen='yesterday'), 0),
])
def test_malformed_vm_entry_warns_and_starts_afresh_for_that_vm(damage, kept):
    previous = run({}, {'h1': sample(100, vm(nics={'vnet0': (10 * KB, 0)}),
                                     vm(uuid='y', nics={'vnet0': (10 * KB, 0)}))})[0]
    previous = run(previous, {'h1': sample(160, vm(nics={'vnet0': (20 * KB, 0)}),
                                           vm(uuid='y', nics={'vnet0': (20 * KB, 0)}))})[0]
    damage(previous['h1']['vms'][UUID])
    state, warnings = run(previous, {'h1': sample(220, vm(nics={'vnet0': (30 * KB, 0)}),
                                                  vm(uuid='y', nics={'vnet0': (30 * KB, 0)}))})
    assert len(warnings) == 1 and UUID in warnings[0]
    assert cum(state)['network_read_kb'] == kept       # fresh start: baseline only
    assert cum(state, uuid='y')['network_read_kb'] == 20


def test_timed_out_vm_keeps_its_totals_and_baseline():
    s1 = {'h1': sample(100, vm(nics={'vnet0': (10 * KB, 0)}))}
    s2 = {'h1': sample(160, vm(nics={'vnet0': (30 * KB, 0)}))}
    state = run(run({}, s1)[0], s2)[0]
    stuck = vm(cpu=None, timed_out=True)
    state = run(state, {'h1': sample(220, stuck)})[0]
    entry = state['h1']['vms'][UUID]
    assert entry['cumulative']['network_read_kb'] == 20 and entry['last_seen'] == 220 and entry['timed_out']
    state = run(state, {'h1': sample(280, vm(nics={'vnet0': (45 * KB, 0)}))})[0]
    assert cum(state)['network_read_kb'] == 35


def test_vm_first_seen_while_stuck_starts_counting_at_its_first_real_sample():
    state = run({}, {'h1': sample(100, vm(cpu=None, timed_out=True))})[0]
    state = run(state, {'h1': sample(160, vm(nics={'vnet0': (30 * KB, 0)}))})[0]
    assert cum(state)['network_read_kb'] == 0
    state = run(state, {'h1': sample(220, vm(nics={'vnet0': (40 * KB, 0)}))})[0]
    assert cum(state)['network_read_kb'] == 10
    assert state['h1']['vms'][UUID]['first_seen'] == 100


def test_stopped_vm_without_counters_adds_nothing_and_its_restart_counts_from_zero():
    s1 = {'h1': sample(100, vm(domain_id=4, cpu=9e9, nics={'vnet0': (10 * KB, 0)}))}
    s2 = {'h1': sample(160, vm(domain_id=None, cpu=None, state='shutoff'))}
    s3 = {'h1': sample(220, vm(domain_id=5, cpu=1e9, nics={'vnet0': (3 * KB, 0)}))}
    state = run(run({}, s1)[0], s2)[0]
    assert cum(state) == dict((name, 0) for name in COUNTERS)
    state = run(state, s3)[0]
    assert cum(state)['network_read_kb'] == 3 and cum(state)['cpu_time_ns'] == 1e9


def test_uuid_on_two_hosts_stays_on_both_with_a_warning():
    s = {'h1': sample(100, vm(state='paused')), 'h2': sample(100, vm(state='running'))}
    state, warnings = run({}, s)
    assert UUID in state['h2']['vms'] and UUID in state['h1']['vms']
    assert warnings == ['VM %s is on hosts h1 and h2 at once (a live migration, or a cloned domain); each host '
                        "counts its own domain's growth once" % UUID]


def test_deltas_accumulate_per_vm_on_every_host():
    s1 = {'h1': sample(100, vm(nics={'vnet0': (1 * KB, 0)})), 'h2': sample(100, vm(uuid='z', nics={'vnet0': (1 * KB, 0)}))}
    s2 = {'h1': sample(160, vm(nics={'vnet0': (5 * KB, 0)})), 'h2': sample(160, vm(uuid='z', nics={'vnet0': (3 * KB, 0)}))}
    state = run(run({}, s1)[0], s2)[0]
    vms = [vm for entry in state.values() for vm in entry['vms'].values()]
    assert len(vms) == 2 and sum(vm['cumulative']['network_read_kb'] for vm in vms) == 6


@pytest.mark.parametrize('samples,retention,needle', BAD_ARGUMENTS)
def test_bad_arguments_raise_naming_the_argument(samples, retention, needle):
    with pytest.raises(AccumulateError) as err:
        accumulate({}, samples, retention)
    assert needle in str(err.value)


class LazyDict(dict):
    """Ansible 2.19 hands filters dict subclasses (lazy templating containers)..."""


class TaggedInt(int):
    """...and int subclasses carrying tags."""


def _as_ansible_types(value):
    if isinstance(value, dict):
        return LazyDict((k, _as_ansible_types(v)) for k, v in value.items())
    if isinstance(value, int) and not isinstance(value, bool):
        return TaggedInt(value)
    return value


def test_dict_and_int_subclasses_as_ansible_passes_them_are_accepted():
    s1 = _as_ansible_types({'h1': sample(100, vm(cpu=1e9, nics={'vnet0': (10 * KB, 0)}))})
    s2 = _as_ansible_types({'h1': sample(160, vm(cpu=2e9, nics={'vnet0': (30 * KB, 0)}))})
    first, warnings = accumulate({}, s1)
    state, warnings = accumulate(_as_ansible_types(json.loads(json.dumps(first))), s2)
    assert warnings == []
    assert state['h1']['vms'][UUID]['name'] == 'web'
    assert 'timed_out' not in state['h1']['vms'][UUID]
    assert cum(state)['network_read_kb'] == 20


def test_now_stands_for_every_samples_time():
    # hypervisor_stats_now replays simulated days: the hosts' own clocks say 100 and 110
    s1 = {'h1': sample(100, vm(cpu=0, vcpus=1))}
    s2 = {'h1': sample(110, vm(cpu=864e11, vcpus=1))}   # one day of CPU
    state = accumulate({}, s1, now=1000)[0]
    state = accumulate(state, s2, now=1000 + 86400)[0]
    entry = state['h1']['vms'][UUID]
    assert (entry['first_seen'], entry['last_seen']) == (1000, 1000 + 86400)
    assert entry['cpu_utilization'] == 100.0 and state['h1']['collected_at'] == 1000 + 86400


@pytest.mark.parametrize('now', [-1, float('nan'), float('inf'), 'today', True])
def test_a_bad_now_is_refused_naming_it(now):
    with pytest.raises(AccumulateError, match='now'):
        accumulate({}, {'h1': sample(100)}, now=now)
