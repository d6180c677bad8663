"""The reconcile_counters filter plugin: errors named after the filter, warnings through Ansible's display."""

import pytest

from ansible.errors import AnsibleFilterError

from counters_data import sample, vm

from ansible_collections.hypervisor.stats.plugins.filter.accumulate import accumulate_filter
from ansible_collections.hypervisor.stats.plugins.filter.reconcile_counters import reconcile_counters_filter


def test_a_state_that_is_not_a_dict_raises_naming_the_filter():
    with pytest.raises(AnsibleFilterError) as err:
        reconcile_counters_filter('garbage')
    assert 'hypervisor.stats.reconcile_counters' in str(err.value) and 'str' in str(err.value)


def test_nothing_to_join_returns_no_host_and_an_undefined_state_is_empty():
    state = accumulate_filter({}, {'h1': sample(100, vm())})
    assert reconcile_counters_filter(state) == {}
    assert reconcile_counters_filter(None) == {}


def test_a_damaged_first_sight_is_named_in_a_warning_and_the_host_written_back(capfd):
    state = accumulate_filter({}, {'h1': sample(100, vm())}, partial=True)
    state['h1']['first_sights'] = 'garbage'
    changed = reconcile_counters_filter(state)
    assert list(changed) == ['h1'] and 'first_sights' not in changed['h1']
    err = capfd.readouterr().err
    assert 'hypervisor.stats.reconcile_counters' in err and 'host h1' in err
