"""The main job's inputs: survey text converted, blanks unset, every bad value named (plugin_utils.cycle_inputs)."""

import os

import pytest
import yaml

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    DEFAULT_IDLE_CPU_PERCENT, DEFAULT_IDLE_DAYS,
    DEFAULT_FAILURES, DEFAULT_FORECAST_DAYS, DEFAULT_FORECAST_MIN_POINTS, DEFAULT_GROUP, DEFAULT_GROUP_BY,
    DEFAULT_RETENTION_SECONDS, DEFAULT_STORE_HOST)
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cycle_inputs import (
    INPUTS, PREFIX, CycleInputError, check_cycle_inputs)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
DEFAULTS = {'group': DEFAULT_GROUP, 'store_host': DEFAULT_STORE_HOST, 'group_by': DEFAULT_GROUP_BY,
            'retention_seconds': DEFAULT_RETENTION_SECONDS, 'failures': DEFAULT_FAILURES,
            'forecast_days': DEFAULT_FORECAST_DAYS, 'forecast_min_points': DEFAULT_FORECAST_MIN_POINTS,
            'idle_cpu_percent': DEFAULT_IDLE_CPU_PERCENT, 'idle_days': DEFAULT_IDLE_DAYS}


def test_nothing_given_gives_the_defaults():
    assert check_cycle_inputs({}) == DEFAULTS


def test_survey_text_becomes_numbers_and_dicts():
    checked = check_cycle_inputs({
        'hypervisor_stats_retention_seconds': '86400', 'hypervisor_stats_cpu_allocation_ratio': ' 16 ',
        'hypervisor_stats_reserved_host_memory_mb': '0', 'hypervisor_stats_vm_timeout': '2.5',
        'hypervisor_stats_flavors': 'small: {vcpus: 1, memory_mb: 512}',
        'hypervisor_stats_labels': '{"cluster": "east"}', 'hypervisor_stats_uri': 'test:///default'})
    assert checked['retention_seconds'] == 86400 and isinstance(checked['retention_seconds'], int)
    assert checked['cpu_allocation_ratio'] == 16.0
    assert checked['reserved_host_memory_mb'] == 0, 'zero is a value, not a blank'
    assert checked['vm_timeout'] == 2.5
    assert checked['flavors'] == {'small': {'vcpus': 1, 'memory_mb': 512, 'disk_gb': 0}}
    assert checked['labels'] == {'cluster': 'east'}
    assert 'uri' not in checked, 'a URI may hold a password: checked, never kept in a fact'


def test_planning_inputs_from_survey_text():
    checked = check_cycle_inputs({
        'hypervisor_stats_failures': '1', 'hypervisor_stats_now': '1767225600',
        'hypervisor_stats_forecast_days': '30', 'hypervisor_stats_forecast_min_points': '5',
        'hypervisor_stats_planned': '[{flavor: small, count: 10}]',
        'hypervisor_stats_flavors': 'small: {vcpus: 1, memory_mb: 512}'})
    assert (checked['failures'], checked['now'], checked['forecast_days'], checked['forecast_min_points']) == \
        (1, 1767225600.0, 30, 5)
    assert checked['planned'] == [{'flavor': 'small', 'count': 10}]


def test_blank_answers_mean_not_set():
    blanks = dict((PREFIX + name, '') for name in INPUTS if name != 'group_by')
    blanks.update((PREFIX + name, None) for name in ('labels', 'vm_timeout'))
    assert check_cycle_inputs(blanks) == DEFAULTS


def test_blank_group_by_turns_grouping_off():
    assert check_cycle_inputs({'hypervisor_stats_group_by': ''})['group_by'] is None
    assert check_cycle_inputs({'hypervisor_stats_group_by': ' cpu_info.arch '})['group_by'] == 'cpu_info.arch'


@pytest.mark.parametrize('variable, value, needle', [
    ('hypervisor_stats_cpu_allocation_ratio', 'lots', 'hypervisor_stats_cpu_allocation_ratio'),
    ('hypervisor_stats_ram_allocation_ratio', '0', 'hypervisor_stats_ram_allocation_ratio'),
    ('hypervisor_stats_disk_allocation_ratio', 'nan', 'hypervisor_stats_disk_allocation_ratio'),
    ('hypervisor_stats_vm_timeout', 'inf', 'hypervisor_stats_vm_timeout'),
    ('hypervisor_stats_vm_timeout', True, 'hypervisor_stats_vm_timeout'),
    ('hypervisor_stats_retention_seconds', '-5', 'hypervisor_stats_retention_seconds'),
    ('hypervisor_stats_idle_cpu_percent', '101', 'hypervisor_stats_idle_cpu_percent'),
    ('hypervisor_stats_idle_days', '-1', 'hypervisor_stats_idle_days'),
    ('hypervisor_stats_retention_seconds', 1.5, 'hypervisor_stats_retention_seconds'),
    ('hypervisor_stats_reserved_host_cpus', '2.5', 'hypervisor_stats_reserved_host_cpus'),
    ('hypervisor_stats_flavors', '{small: [1', 'hypervisor_stats_flavors'),
    ('hypervisor_stats_flavors', '[1, 2]', 'hypervisor_stats_flavors'),
    ('hypervisor_stats_flavors', '{"small": {"memory_mb": 512}}', "flavors['small'].vcpus"),
    ('hypervisor_stats_group_by', 'labels.[x', 'hypervisor_stats_group_by'),
    ('hypervisor_stats_cpu_shared_set', '0-3,x', 'hypervisor_stats_cpu_shared_set'),
    ('hypervisor_stats_uri', ['a'], 'hypervisor_stats_uri'),
    ('hypervisor_stats_no_such_input', '1', 'hypervisor_stats_no_such_input'),
    ('hypervisor_stats_failures', '65', 'hypervisor_stats_failures must be from 0 to 64'),
    ('hypervisor_stats_failures', '-1', 'hypervisor_stats_failures'),
    ('hypervisor_stats_forecast_days', '0', 'hypervisor_stats_forecast_days must be from 1'),
    ('hypervisor_stats_forecast_min_points', '1', 'hypervisor_stats_forecast_min_points must be from 2'),
    ('hypervisor_stats_now', 'yesterday', 'hypervisor_stats_now'),
    ('hypervisor_stats_now', 'inf', 'hypervisor_stats_now'),
    ('hypervisor_stats_planned', '{flavor: small}', 'hypervisor_stats_planned must be a list'),
    ('hypervisor_stats_planned', '[{flavor: small, count: 1}]', 'hypervisor_stats_planned needs flavors'),
])
def test_a_bad_input_is_refused_naming_the_variable(variable, value, needle):
    with pytest.raises(CycleInputError) as caught:
        check_cycle_inputs({variable: value})
    assert needle in str(caught.value)


def test_overlapping_cpu_sets_are_refused_by_the_modules_own_rule():
    with pytest.raises(CycleInputError, match='hypervisor_stats_cpu_shared_set and cpu_dedicated_set overlap'):
        check_cycle_inputs({'hypervisor_stats_cpu_shared_set': '0-3', 'hypervisor_stats_cpu_dedicated_set': '3-5'})


def test_a_planned_workload_is_checked_up_front_naming_its_entry():
    with pytest.raises(CycleInputError, match=r'hypervisor_stats_planned\[1\].count'):
        check_cycle_inputs({'hypervisor_stats_flavors': 'small: {vcpus: 1, memory_mb: 512}',
                            'hypervisor_stats_planned': '[{flavor: small, count: 1}, {flavor: small, count: 0}]'})


def test_the_role_documents_exactly_the_inputs_the_check_knows():
    specs = yaml.safe_load(open(os.path.join(ROOT, 'roles', 'cycle', 'meta', 'argument_specs.yml')))
    for entry_point, spec in specs['argument_specs'].items():
        assert sorted(spec['options']) == sorted(PREFIX + name for name in INPUTS), entry_point


def test_a_group_by_that_fails_on_host_facts_is_refused_up_front():
    # valid JMESPath, but labels are text: abs() fails on every host at run time
    with pytest.raises(CycleInputError, match='hypervisor_stats_group_by'):
        check_cycle_inputs({'hypervisor_stats_group_by': 'abs(labels.cluster)'})
    assert check_cycle_inputs({'hypervisor_stats_group_by': 'labels.rack'})['group_by'] == 'labels.rack'
