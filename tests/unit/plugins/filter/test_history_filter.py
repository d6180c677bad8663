"""The history filter plugin: errors named after the filter and the argument, warnings through
Ansible's display, the controller's clock when now is null."""

import time

import pytest

from ansible.errors import AnsibleFilterError

from history_data import HISTORY_BAD_ARGUMENTS, T0, cluster_hosts, cycle_totals

from ansible_collections.hypervisor.stats.plugins.filter.history import history_filter
from ansible_collections.hypervisor.stats.plugins.plugin_utils.history import latest_point


@pytest.mark.parametrize('kwargs,needle', HISTORY_BAD_ARGUMENTS)
def test_bad_arguments_raise_naming_the_filter_and_argument(kwargs, needle):
    hosts = cluster_hosts(1)
    arguments = dict({'totals': cycle_totals(hosts), 'hosts': hosts, 'now': T0}, **kwargs)
    with pytest.raises(AnsibleFilterError) as err:
        history_filter({}, **arguments)
    assert 'hypervisor.stats.history' in str(err.value) and needle in str(err.value)


def test_now_defaults_to_the_clock_and_may_be_text():
    hosts = cluster_hosts(2)
    before = int(time.time())
    histories = history_filter(None, cycle_totals(hosts), hosts=hosts)
    assert before <= latest_point(histories['cluster']['cluster'])[0] <= time.time()
    histories = history_filter({}, cycle_totals(hosts), hosts=hosts, now=str(T0))
    assert latest_point(histories['hosts']['compute-1'])[0] == T0
    with pytest.raises(AnsibleFilterError, match='now must be epoch seconds'):
        history_filter({}, cycle_totals(hosts), hosts=hosts, now='noon')


def test_warnings_go_to_the_display(capfd):
    hosts = cluster_hosts(2)
    histories = history_filter({}, cycle_totals(hosts), hosts=hosts, now=T0 + 600)
    again = history_filter(dict(histories, hosts={'compute-0': 'garbage'}), cycle_totals(hosts), hosts=hosts, now=T0)
    assert again['cluster'] == histories['cluster']
    err = ' '.join(capfd.readouterr().err.split())
    assert 'hypervisor.stats.history' in err and 'clock went back' in err and 'host compute-0 is damaged' in err
