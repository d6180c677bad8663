"""The cluster_totals filter plugin: errors named after the filter and the argument."""

import pytest

from ansible.errors import AnsibleFilterError

from cluster_data import BAD_ARGUMENTS, host

from ansible_collections.hypervisor.stats.plugins.filter.cluster_totals import cluster_totals_filter


@pytest.mark.parametrize('kwargs,needle', BAD_ARGUMENTS)
def test_bad_arguments_raise_naming_the_filter_and_argument(kwargs, needle):
    with pytest.raises(AnsibleFilterError) as err:
        cluster_totals_filter([host()], **kwargs)
    assert 'hypervisor.stats.cluster_totals' in str(err.value) and needle in str(err.value)


def test_bad_input_raises_naming_the_argument():
    with pytest.raises(AnsibleFilterError, match='must be a list'):
        cluster_totals_filter('hv-1')


def test_items_that_are_not_host_facts_are_skipped_with_a_warning(capfd):
    totals = cluster_totals_filter([host(), None, {'failed': True, 'msg': 'unreachable'}])
    assert totals['count'] == 1
    err = capfd.readouterr().err
    assert 'hypervisor.stats.cluster_totals' in err and 'item 1' in err and 'item 2' in err


def test_group_by_failing_at_run_time_warns_naming_the_host_and_expression(capfd):
    facts = host()
    facts['hypervisor_hostname'] = 'compute-a1'
    totals = cluster_totals_filter([facts], group_by='abs(labels.cluster)')
    assert totals['groups']['null']['count'] == 1
    err = ' '.join(capfd.readouterr().err.split())
    assert 'compute-a1' in err and 'abs(labels.cluster)' in err


def test_documented_return_names_missing():
    import yaml

    from ansible_collections.hypervisor.stats.plugins.filter import cluster_totals

    described = ' '.join(yaml.safe_load(cluster_totals.RETURN)['_value']['description'])
    assert 'C(missing)' in described and 'missing' in cluster_totals_filter([host()])


def test_failures_add_failover_and_hosts_without_allocations_warn(capfd):
    facts = [host(), host(), host()]
    for index, item in enumerate(facts):
        item['hypervisor_hostname'] = 'compute-%d' % index
        item['allocations'] = {}
    del facts[2]['allocations']
    totals = cluster_totals_filter(facts, failures='1')
    assert totals['failover']['failures'] == 1 and totals['failover']['cluster']['survives'] is None
    err = ' '.join(capfd.readouterr().err.split())
    assert 'hypervisor.stats.cluster_totals: failover' in err and 'compute-2' in err
    assert 'failover' not in cluster_totals_filter(facts)
