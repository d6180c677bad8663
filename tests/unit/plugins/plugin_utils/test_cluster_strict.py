"""cluster_totals that never lie (plugin_utils.cluster): each case was reproduced on the code before the fix.

Entries that are not host_resources facts (a failed task's result, a dict without host fields)
are skipped with a warning, not counted as hosts; a field a host lacks is reported under
``missing`` instead of being summed as 0; a damaged host costs only itself; a group_by that
fails on a host puts that host in the ``null`` group with a warning; NaN is never written.
"""

import json

import pytest

from cluster_data import host

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import STATISTICS_FIELDS
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import (
    REPRESENTATIVE_HOST_FACTS, ClusterError, check_group_by, cluster_totals, group_of, host_fits)

FLAVORS = {'small': {'vcpus': 1, 'memory_mb': 512, 'disk_gb': 1}}


def totals_of(hosts, **kw):
    warnings = []
    totals = cluster_totals(hosts, warnings=warnings, **kw)
    json.dumps(totals, allow_nan=False)
    return totals, warnings


@pytest.mark.parametrize('entry', [
    {'failed': True, 'msg': 'libvirt: cannot connect'},
    {'failed': True, 'msg': 'x', 'vcpus': 3},
    {'skipped': True, 'skip_reason': 'Conditional result was False'},
    {'changed': False},
    None,
    'compute-a1',
], ids=['failed', 'failed-with-a-field', 'skipped', 'no-host-fields', 'none', 'string'])
def test_entries_that_are_not_host_facts_are_skipped_with_a_warning(entry):
    """Before the fix a failed result counted as a host (count 3, its fields summed as 0)."""
    totals, warnings = totals_of([host(), entry, host()], group_by='labels.cluster', flavors=FLAVORS)
    assert totals['count'] == 2 and totals['groups']['east']['count'] == 2
    assert totals['missing'] == {}
    assert len(warnings) == 1 and 'item 1' in warnings[0] and 'not host_resources facts' in warnings[0]


def test_inventory_that_is_not_a_dict_costs_only_that_host():
    """Before the fix inventory 'garbage' raised AttributeError."""
    bad = host(cluster='west')
    bad['inventory'] = 'garbage'
    totals, _ = totals_of([host(), bad], group_by='labels.cluster', flavors=FLAVORS)
    assert totals['count'] == 2
    assert totals['missing'] == {'inventory': 1}
    assert totals['groups']['west']['missing'] == {'inventory': 1}
    assert totals['groups']['east']['missing'] == {}
    assert totals['inventory']['VCPU']['free'] == 10
    assert totals['fits']['small'] == host_fits(host(), FLAVORS['small'])


def test_missing_fields_are_counted_not_summed_as_zero():
    incomplete = host(cluster='west')
    del incomplete['vcpus']
    incomplete['free_ram_mb'] = None
    incomplete['local_gb'] = 'unknown'
    del incomplete['inventory']['DISK_GB']['free']
    totals, warnings = totals_of([host(), incomplete, host()], group_by='labels.cluster')
    assert totals['count'] == 3 and warnings == []
    assert totals['vcpus'] == 2 and totals['free_ram_mb'] == 2
    assert totals['missing'] == {'vcpus': 1, 'free_ram_mb': 1, 'local_gb': 1, 'inventory.DISK_GB.free': 1}
    assert totals['groups']['west']['missing'] == totals['missing']
    assert totals['groups']['east']['missing'] == {}


@pytest.mark.parametrize('value', [float('nan'), float('inf'), 10 ** 400, True],
                         ids=['nan', 'inf', 'huge', 'bool'])
def test_damaged_numbers_are_missing_never_summed(value):
    """Before the fix a NaN field made the sum NaN: capacity.json invalid, capacity.prom NaN."""
    bad = host()
    bad['memory_mb'] = value
    bad['inventory']['MEMORY_MB']['free'] = value
    totals, _ = totals_of([host(), bad], flavors={'big': {'vcpus': 1, 'memory_mb': 4096, 'disk_gb': 0}})
    assert totals['memory_mb'] == 1 and totals['missing'] == {'memory_mb': 1, 'inventory.MEMORY_MB.free': 1}
    assert totals['inventory']['MEMORY_MB']['free'] == 8192
    assert totals['fits'] == {'big': 2}


def test_host_fits_with_a_damaged_inventory_is_zero():
    for inventory in ('garbage', None, {'VCPU': 'x'}, {'VCPU': {'free': float('nan')}}):
        facts = host()
        facts['inventory'] = inventory
        assert host_fits(facts, FLAVORS['small']) == 0


def test_check_group_by_evaluates_the_expression_on_host_facts():
    """Before the fix abs(labels.cluster) passed the up-front check (it compiles) and failed later."""
    with pytest.raises(ClusterError, match='group_by'):
        check_group_by('abs(labels.cluster)')
    with pytest.raises(ClusterError, match='group_by'):
        check_group_by('labels.[cluster')
    assert check_group_by(None) is None
    for expression in ('labels.cluster', 'cpu_info.arch', 'hypervisor_type', 'inventory.VCPU.free > `10`',
                       'labels.rack', "join('-', [labels.cluster, cpu_info.arch])"):
        assert check_group_by(expression).search(REPRESENTATIVE_HOST_FACTS) is not None or expression == 'labels.rack'


def test_representative_host_facts_have_every_summed_field():
    for field in STATISTICS_FIELDS:
        assert isinstance(REPRESENTATIVE_HOST_FACTS[field], int)
    assert cluster_totals([REPRESENTATIVE_HOST_FACTS])['missing'] == {}


def test_group_by_failing_on_a_host_puts_it_in_the_null_group_with_a_warning():
    """Before the fix a JMESPath type error on one host crashed cluster_totals (and the report)."""
    hosts = [host(cluster='east'), host(cluster=3), host(cluster='west')]
    hosts[1]['hypervisor_hostname'] = 'compute-b7'
    totals, warnings = totals_of(hosts, group_by="starts_with(labels.cluster, 'e')")
    assert sorted(totals['groups']) == ['false', 'null', 'true']
    assert totals['groups']['null']['count'] == 1
    assert len(warnings) == 1 and 'compute-b7' in warnings[0] and "starts_with(labels.cluster, 'e')" in warnings[0]
    # The report places each host with the same function.
    assert group_of("starts_with(labels.cluster, 'e')", hosts[1]) == 'null'


def test_group_by_failing_on_every_host_warns_once():
    totals, warnings = totals_of([host(), host(), host()], group_by='abs(labels.cluster)')
    assert totals['groups']['null']['count'] == 3
    assert len(warnings) == 1 and '3 hosts' in warnings[0]
