"""The accumulate filter plugin: errors named after the filter, warnings through Ansible's display."""

import pytest

from ansible.errors import AnsibleFilterError

from counters_data import BAD_ARGUMENTS, cum, sample, vm

from ansible_collections.hypervisor.stats.plugins.filter.accumulate import accumulate_filter
from ansible_collections.hypervisor.stats.plugins.module_utils.schema import COUNTERS


@pytest.mark.parametrize('samples,retention,needle', BAD_ARGUMENTS)
def test_bad_arguments_raise_naming_the_filter_and_argument(samples, retention, needle):
    with pytest.raises(AnsibleFilterError) as err:
        accumulate_filter({}, samples, retention)
    assert 'hypervisor.stats.accumulate' in str(err.value) and needle in str(err.value)


def test_filter_warns_on_malformed_previous_and_returns_a_fresh_state(capfd):
    state = accumulate_filter({'h1': 42}, {'h1': sample(100, vm())}, '3600')
    assert cum(state) == dict((name, 0) for name in COUNTERS)
    err = capfd.readouterr().err
    assert 'hypervisor.stats.accumulate' in err and 'host h1' in err


def test_documented_retention_default_is_the_schemas():
    import yaml

    from ansible_collections.hypervisor.stats.plugins.filter import accumulate
    from ansible_collections.hypervisor.stats.plugins.module_utils.schema import DEFAULT_RETENTION_SECONDS

    documented = yaml.safe_load(accumulate.DOCUMENTATION)['options']['retention_seconds']['default']
    assert documented == DEFAULT_RETENTION_SECONDS
    assert accumulate.accumulate_filter.__defaults__[0] == DEFAULT_RETENTION_SECONDS


def test_documentation_states_the_two_hosts_rule_and_the_checks():
    import yaml

    from ansible_collections.hypervisor.stats.plugins.filter import accumulate

    described = ' '.join(' '.join(yaml.safe_load(accumulate.DOCUMENTATION)['description']).split())
    assert 'One UUID sampled on two hosts in one cycle' in described
    assert 'keep the last good baseline' in described and 'NaN and infinity are never written' in described


def test_filter_warns_naming_a_uuid_on_two_hosts(capfd):
    state = accumulate_filter({}, {'h1': sample(100, vm()), 'h2': sample(100, vm())})
    assert sorted(state) == ['h1', 'h2']
    err = ' '.join(capfd.readouterr().err.split())
    assert 'hypervisor.stats.accumulate' in err and 'on hosts h1 and h2' in err
