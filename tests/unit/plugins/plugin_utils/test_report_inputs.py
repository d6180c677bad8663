"""What the capacity report takes from a run (plugin_utils.report_inputs): facts by name, filter outputs by shape."""

from report_data import cluster_inputs, counters_entry

from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_inputs import ReportInputs


def test_add_facts_takes_only_report_facts():
    inputs = ReportInputs()
    assert not inputs.add_facts('h', {'ansible_os_family': 'Debian', 'host_resources': 'not a dict'})
    assert not inputs.add_facts('h', None)
    assert not inputs.has_stats()
    hosts, vms = cluster_inputs()
    assert inputs.add_facts('hv-a1', {'host_resources': hosts['hv-a1']})
    assert inputs.has_stats() and list(inputs.host_resources) == ['hv-a1']


def test_counters_per_host_entry_and_whole_output():
    hosts, vms = cluster_inputs()
    entry = counters_entry((vms['web'], {'disk_read_kb': 5}, 10.0))
    per_host = ReportInputs()
    per_host.add_facts('hv-a1', {'hypervisor_stats_counters': entry})
    whole = ReportInputs()
    whole.add_facts('localhost', {'hypervisor_stats_counters': {'hv-a1': entry, 'hv-b1': counters_entry()}})
    assert per_host.counters == {'hv-a1': entry}
    assert whole.counters == {'hv-a1': entry, 'hv-b1': counters_entry()}


def test_filter_outputs_are_told_by_shape_under_any_name():
    from counters_data import sample, vm
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import cluster_totals
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.counters import accumulate

    hosts, _vms = cluster_inputs()
    state, _warnings = accumulate({}, {'hv-a1': sample(100, vm()), 'hv-b1': sample(100)})
    totals = cluster_totals(list(hosts.values()), group_by='labels.cluster')
    record = {'collected_at': 1700000000, 'group': 'hypervisors', 'hosts_collected': ['hv-a1'], 'hosts_missed': [],
              'totals': totals}
    whole, per_host, wrapped = ReportInputs(), ReportInputs(), ReportInputs()
    assert whole.add_facts('localhost', {'my_counters': state, 'my_totals': totals, 'other': {'a': 1}})
    assert whole.counters == state and whole.cluster == totals
    assert per_host.add_facts('hv-a1', {'mine': state['hv-a1']}) and per_host.counters == {'hv-a1': state['hv-a1']}
    assert wrapped.add_facts('localhost', {'cycle': record}) and wrapped.cluster == totals


def test_look_alikes_are_not_filter_outputs():
    from counters_data import sample, vm

    inputs = ReportInputs()
    samples = sample(100, vm())                           # vm_stats facts: their VMs have no cumulative counters
    assert not inputs.add_facts('hv-a1', {'copy_of_vm_stats': samples, 'per_host': {'hv-a1': samples}})
    assert not inputs.add_facts('hv-a1', {'half': {'hv-a1': counters_entry(), 'hv-b1': None}})
    assert not inputs.add_facts('hv-a1', {'no_time': {'vms': {}}, 'count_only': {'count': 3}, 'empty': {}})
    assert not inputs.has_stats()
