"""The cluster_totals filter plugin: errors named after the filter and the argument."""

import pytest

from ansible.errors import AnsibleFilterError

from cluster_data import host

from ansible_collections.hypervisor.stats.plugins.filter.cluster_totals import cluster_totals_filter


@pytest.mark.parametrize('kwargs,needle', [
    ({'group_by': 'labels.[cluster'}, 'group_by'),
    ({'group_by': ''}, 'group_by'),
    ({'flavors': {'small': {'memory_mb': 512, 'disk_gb': 1}}}, "flavors['small'].vcpus"),
    ({'flavors': {'small': {'vcpus': 0, 'memory_mb': 512}}}, "flavors['small'].vcpus"),
    ({'flavors': {'small': {'vcpus': 1, 'memory_mb': -1}}}, "flavors['small'].memory_mb"),
    ({'flavors': {'small': 'big'}}, "flavors['small']"),
    ({'flavors': ['small']}, 'flavors must be a dict'),
])
def test_bad_arguments_raise_naming_the_filter_and_argument(kwargs, needle):
    with pytest.raises(AnsibleFilterError) as err:
        cluster_totals_filter([host()], **kwargs)
    assert 'hypervisor.stats.cluster_totals' in str(err.value) and needle in str(err.value)


def test_bad_input_raises_naming_the_item():
    with pytest.raises(AnsibleFilterError, match='item 1'):
        cluster_totals_filter([host(), None])
    with pytest.raises(AnsibleFilterError, match='must be a list'):
        cluster_totals_filter({'a': host()})
