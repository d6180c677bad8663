"""The reclaimable filter plugin: errors named after the filter and the argument; the defaults of schema."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hypervisor.stats.plugins.filter.reclaimable import FilterModule, reclaimable_filter


def test_the_filter_is_registered_and_an_empty_cluster_reclaims_nothing():
    assert FilterModule().filters()['reclaimable'] is reclaimable_filter
    result = reclaimable_filter({})
    assert result['cluster']['total'] == {'VCPU': 0, 'MEMORY_MB': 0, 'DISK_GB': 0, 'vms': 0}
    assert result['thresholds']['idle_cpu_percent'] == 5 and result['thresholds']['idle_days'] == 14


@pytest.mark.parametrize('kwargs, needle', [
    ({'idle_cpu_percent': 200}, 'idle_cpu_percent'),
    ({'flavors': {'small': {'memory_mb': 1}}}, "flavors['small'].vcpus"),
])
def test_bad_arguments_name_the_filter_and_argument(kwargs, needle):
    with pytest.raises(AnsibleFilterError) as err:
        reclaimable_filter({}, **kwargs)
    assert 'hypervisor.stats.reclaimable' in str(err.value) and needle in str(err.value)
    with pytest.raises(AnsibleFilterError):
        reclaimable_filter(['not a dict'])
