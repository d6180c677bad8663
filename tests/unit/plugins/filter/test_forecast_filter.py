"""The forecast filter plugin: errors named after the filter and the argument, warnings through
Ansible's display, the history filter's whole output accepted."""

import pytest

from ansible.errors import AnsibleFilterError

from history_data import FLAVORS, FORECAST_BAD_ARGUMENTS, T0, cluster_hosts, cycle_totals, entry, linear, noon

from ansible_collections.hypervisor.stats.plugins.filter.forecast import forecast_filter
from ansible_collections.hypervisor.stats.plugins.filter.history import history_filter


@pytest.mark.parametrize('kwargs,needle', FORECAST_BAD_ARGUMENTS)
def test_bad_arguments_raise_naming_the_filter_and_argument(kwargs, needle):
    arguments = dict({'now': noon(89)}, **kwargs)
    with pytest.raises(AnsibleFilterError) as err:
        forecast_filter(entry(linear(90, 100, 5), {'east': linear(90, 100, 5)}), **arguments)
    assert 'hypervisor.stats.forecast' in str(err.value) and needle in str(err.value)


def test_the_entry_or_the_history_filters_whole_output():
    hosts = cluster_hosts(4)
    histories = history_filter({}, cycle_totals(hosts), hosts=hosts, now=T0, flavors=FLAVORS)
    from_output = forecast_filter(histories, now=T0 + 60, flavors=FLAVORS)
    from_entry = forecast_filter(histories['cluster'], now=str(T0 + 60), flavors=FLAVORS)
    assert from_output == from_entry
    assert sorted(from_output['groups']) == ['east', 'west']
    assert from_output['cluster']['VCPU']['reason'] == 'not enough history'
    assert from_output['groups']['east']['headroom']['fits']['small'] > 0


def test_documented_defaults_and_the_clock():
    section = forecast_filter(entry(linear(90, 100, 5)))
    assert section['forecast_days'] == 90 and section['min_points'] == 7 and section['now'] > T0


def test_warnings_go_to_the_display(capfd):
    forecast_filter(entry(linear(90, 100, 5), {'east': 'garbage'}), now=noon(89))
    err = ' '.join(capfd.readouterr().err.split())
    assert 'hypervisor.stats.forecast' in err and "group 'east'" in err
