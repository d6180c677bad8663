"""The stopped_since filter plugin: kept times flow through, warnings name the VM, errors name the filter."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.hypervisor.stats.plugins.filter.stopped_since import FilterModule, stopped_since_filter


def facts(**uuids):
    return {'collected_at': 1000, 'stopped_allocations': dict(
        (uuid, {'name': name, 'resources': {'VCPU': 1}, 'disk_bytes': 1}) for uuid, name in uuids.items())}


def test_the_filter_is_registered_and_keeps_a_vm_s_first_time():
    assert FilterModule().filters()['stopped_since'] is stopped_since_filter
    assert stopped_since_filter(None, {'h1': facts(u1='old')}) == {'h1': {'u1': 1000}}
    assert stopped_since_filter({'h1': {'u1': 400}}, {'h1': facts(u1='old')}, now=2000) == {'h1': {'u1': 400}}


def test_a_damaged_kept_time_is_a_warning_naming_the_vm(capsys):
    assert stopped_since_filter({'h1': {'u1': 'x'}}, {'h1': facts(u1='old')}) == {'h1': {'u1': 1000}}
    captured = capsys.readouterr()
    assert 'hypervisor.stats.stopped_since' in captured.err and 'old (u1)' in captured.err


@pytest.mark.parametrize('kwargs', [{'hosts': 'nope'}, {'hosts': {}, 'now': float('inf')}])
def test_bad_arguments_name_the_filter(kwargs):
    with pytest.raises(AnsibleFilterError, match='hypervisor.stats.stopped_since'):
        stopped_since_filter({}, **kwargs)
