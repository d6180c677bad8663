"""The fact cache in both layouts (plugin_utils.cycle_cache), on a stand-in cache plugin."""

import json

import pytest

from ansible_collections.hypervisor.stats.plugins.plugin_utils.cycle_cache import (
    CacheFault, CycleCache, decode_tagged, untag)


class Raw(object):
    """A persistent cache plugin without files: key -> stored value."""
    _persistent = True

    def __init__(self, data):
        self.data = data

    def get(self, key):
        value = self.data[key]
        if isinstance(value, Exception):
            raise value
        return value

    def contains(self, key):
        return key in self.data

    def delete(self, key):
        self.data.pop(key, None)

    def get_option(self, name):
        return 'pfx_'


class Interposer(object):
    """What ansible-core 2.19's cache loader returns around a plugin."""

    def __init__(self, raw):
        self.__wrapped__ = raw

    def get(self, key):
        return json.loads(self.__wrapped__.get('s1_' + key)['__payload__'])


def tagged(facts):
    def tag(value):
        if isinstance(value, dict):
            return {'__ansible_type': '_AnsibleTaggedDict', 'tags': [], 'value': dict((k, tag(v)) for k, v in value.items())}
        return value
    return {'__payload__': json.dumps(dict((k, tag(v)) for k, v in facts.items()))}


def counters(at):
    return {'collected_at': at, 'vms': {'u': {'cumulative': {'cpu_time_ns': at}}}}


def test_untag_and_decode():
    facts = {'hypervisor_stats_counters': counters(5), 'x': [1, {'a': 'b'}]}
    assert decode_tagged(tagged(facts)) == facts
    assert untag({'__ansible_type': '_AnsibleTaggedStr', 'value': 's', 'tags': []}) == 's'
    with pytest.raises(ValueError):
        decode_tagged({'no': 'payload'})


def test_the_newest_counters_of_either_layout():
    raw = Raw({'hv1': {'hypervisor_stats_counters': counters(10)},          # 2.18 wrote it, newer
               'hv2': {'hypervisor_stats_counters': counters(1)},           # older than 2.19's own
               'hv3': ValueError('broken')})
    on_219 = CycleCache(Interposer(raw), 'stand-in')
    assert on_219.tagged
    merged, notes = on_219.counters(['hv1', 'hv2', 'hv3', 'hv4'], {'hv1': counters(5), 'hv2': counters(7)})
    assert merged == {'hv1': counters(10), 'hv2': counters(7)}
    assert [host for host, _text in notes] == ['hv1', 'hv3'] and 'pfx_hv3' in notes[1][1]

    raw = Raw({'s1_hv1': tagged({'hypervisor_stats_counters': counters(10)})})
    on_218 = CycleCache(raw, 'stand-in')
    assert not on_218.tagged
    assert on_218.counters(['hv1'], {})[0] == {'hv1': counters(10)}, 'a downgrade reads 2.19 entries'


def test_check_deletes_a_damaged_entry_and_names_it():
    raw = Raw({'s1_hv1': {'__payload__': '[1, 2]'}, 's1_hv2': tagged({'a': 1})})
    cache = CycleCache(Interposer(raw), 'stand-in')
    cache.probe = lambda: True
    warnings = cache.check(['hv1', 'hv2', 'hv3'])
    assert [host for host, _text in warnings] == ['hv1']
    assert 'pfx_s1_hv1' in warnings[0][1] and 'hv1 starts its counters afresh' in warnings[0][1]
    assert 's1_hv1' not in raw.data and 's1_hv2' in raw.data


def test_a_cache_plugin_that_does_not_persist_is_a_warning():
    raw = Raw({})
    raw._persistent = False
    warnings = CycleCache(raw, 'memory').check(['hv1'])
    assert warnings[0][0] is None and 'does not persist' in warnings[0][1]


def test_a_cache_that_cannot_be_loaded_is_a_fault(monkeypatch):
    from ansible import constants as C
    monkeypatch.setattr(C, 'CACHE_PLUGIN', 'ansible.builtin.jsonfile')
    monkeypatch.setattr(C, 'CACHE_PLUGIN_CONNECTION', '/dev/null/facts', raising=False)
    monkeypatch.setenv('ANSIBLE_CACHE_PLUGIN_CONNECTION', '/dev/null/facts')
    with pytest.raises(CacheFault, match='/dev/null/facts'):
        CycleCache.configured()
