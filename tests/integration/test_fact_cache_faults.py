"""Faults of the fact cache that must cost one host's counters at most, or stop the cycle loudly.

Before: an entry that is valid JSON but not a mapping ended every run with rc 250 ("Unexpected
Exception") until someone deleted it by hand; an unreadable entry failed the hypervisor play for every
host; a cache Ansible could not write (a file in place of its directory) was disabled with one warning,
the run ended 0, every cumulative counter showed 0 and nothing persisted; and the check step's reads
printed [ERROR] lines even though it ignored them.
"""

import json
import os

from test_cycle import Cluster, uuid_of


def damage(cluster, host, text):
    path = os.path.join(cluster.cache_dir, 's1_' + host)
    os.remove(path)
    with open(path, 'w') as handle:
        handle.write(text)
    return path


def test_an_entry_that_is_not_a_mapping_costs_only_that_host(tmp_path):
    cluster = Cluster(tmp_path, {'hv1': ['vm-a'], 'hv2': ['vm-b']}, store_host='store')
    cluster.cycle()
    cluster.cycle()
    a_before = cluster.vm('hv1', 'vm-a')['cumulative']['network_read_kb']
    path = damage(cluster, 'hv2', json.dumps({'__payload__': '[1, 2]'}))
    store = damage(cluster, 'store', json.dumps({'__payload__': '"text"'}))

    result = cluster.cycle(check=False)
    assert result.returncode == 0, cluster.output[-5000:]
    assert 'Unexpected Exception' not in cluster.output and '[ERROR]' not in cluster.output
    for entry, host in ((path, 'hv2'), (store, 'store')):
        assert entry in cluster.output and '%s starts its counters afresh' % host in ' '.join(cluster.output.split())
        assert os.path.exists(os.path.join(cluster.cache_dir, '.%s.damaged' % os.path.basename(entry))), 'kept aside'
    assert set(cluster.vm('hv2', 'vm-b')['cumulative'].values()) == {0}
    assert cluster.vm('hv1', 'vm-a')['cumulative']['network_read_kb'] > a_before
    assert cluster.cluster()['totals']['count'] == 2
    cluster.cycle()
    assert cluster.vm('hv2', 'vm-b')['cumulative']['network_read_kb'] > 0, 'counts again from the next cycle'


def test_an_unreadable_entry_costs_only_that_host(tmp_path):
    cluster = Cluster(tmp_path, {'hv1': ['vm-a'], 'hv2': ['vm-b']})
    cluster.cycle()
    cluster.cycle()
    b_before = cluster.vm('hv2', 'vm-b')['cumulative']['network_read_kb']
    path = os.path.join(cluster.cache_dir, 's1_hv1')
    os.remove(path)
    os.mkdir(path)   # what cannot be read, even by root

    result = cluster.cycle(check=False)
    assert result.returncode == 0, cluster.output[-5000:]
    assert path in cluster.output and 'hv1 starts its counters afresh' in ' '.join(cluster.output.split())
    assert '[ERROR]' not in cluster.output
    assert 'hv1  FAILED' not in cluster.output and 'no capacity data' not in cluster.output
    assert set(cluster.vm('hv1', 'vm-a')['cumulative'].values()) == {0}
    assert cluster.vm('hv2', 'vm-b')['cumulative']['network_read_kb'] > b_before


def test_a_corrupt_entry_gives_a_warning_naming_it_not_error_lines(tmp_path):
    cluster = Cluster(tmp_path, {'hv1': ['vm-a'], 'hv2': ['vm-b']})
    cluster.cycle()
    path = damage(cluster, 'hv1', '{"__payload__": "{\\"hypervisor_stats_cou')
    result = cluster.cycle(check=False)
    assert result.returncode == 0, cluster.output[-5000:]
    assert '[ERROR]' not in cluster.output and '...ignoring' not in cluster.output
    warnings = ' '.join(line for line in cluster.output.splitlines() if 'hypervisor.stats:' in line)
    assert path in warnings and 'was corrupt' in warnings


def test_a_string_baseline_costs_only_that_host(tmp_path):
    cluster = Cluster(tmp_path, {'hv1': ['vm-a'], 'hv2': ['vm-b']})
    cluster.cycle()
    cluster.cycle()
    b_before = cluster.vm('hv2', 'vm-b')['cumulative']['network_read_kb']
    path = os.path.join(cluster.cache_dir, 's1_hv1')
    with open(path) as handle:
        entry = json.load(handle)
    text = entry['__payload__']
    # Every number of vm-a's baseline as text, as a hand edit or another tool may leave it.
    facts = json.loads(text)
    counters = facts['hypervisor_stats_counters']
    counters = counters.get('value', counters)
    vm = counters['vms'][uuid_of('vm-a')]
    vm = vm.get('value', vm)
    baseline = vm['baseline']
    baseline = baseline.get('value', baseline)
    for key, value in list(baseline.items()):
        if key != 'host':
            baseline[key] = json.dumps(value) if not isinstance(value, str) else value
    cumulative = vm['cumulative']
    cumulative = cumulative.get('value', cumulative)
    for key in list(cumulative):
        cumulative[key] = str(cumulative[key])
    with open(path, 'w') as handle:
        json.dump({'__payload__': json.dumps(facts)}, handle)

    result = cluster.cycle(check=False)
    assert result.returncode == 0, cluster.output[-5000:]
    assert 'TypeError' not in cluster.output
    assert cluster.vm('hv2', 'vm-b')['cumulative']['network_read_kb'] > b_before, 'the other hosts are stored'
    assert cluster.counters('hv1')['collected_at'] > counters['collected_at'], 'hv1 is stored too'


def test_a_cache_that_cannot_be_written_stops_the_cycle_naming_it(tmp_path):
    cluster = Cluster(tmp_path, {'hv1': ['vm-a']})
    with open(cluster.cache_dir, 'w') as handle:   # a file where the directory should be (root writes anywhere)
        handle.write('not a directory\n')
    result = cluster.cycle(check=False)
    assert result.returncode != 0, cluster.output[-5000:]
    assert cluster.cache_dir in ' '.join(cluster.output.split()) and 'counters cannot be kept' in cluster.output
    assert 'CAPACITY REPORT' not in cluster.output, 'no report of zero totals'
    assert 'Collect from every hypervisor' not in cluster.output, 'no hypervisor is contacted'
