"""The capacity report as JSON (plugin_utils.render_json)."""

import json

from report_data import full_doc

from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_json import render_json


def test_json_is_the_document():
    doc = full_doc()
    text = render_json(doc)
    assert json.loads(text) == json.loads(json.dumps(doc))
    assert text.startswith('{\n  "cluster"')  # indented, keys sorted
    many = dict(doc, vms=dict(('u%d' % i, doc['vms'][next(iter(doc['vms']))]) for i in range(1001)))
    text = render_json(many)
    assert '\n' not in text.rstrip('\n') and json.loads(text) == json.loads(json.dumps(many))


def test_json_is_strict_nan_and_infinities_are_null():
    doc = full_doc()
    host = next(iter(doc['hosts'].values()))
    host['inventory']['VCPU']['utilization'] = float('nan')
    doc['cluster']['inventory']['MEMORY_MB']['free'] = float('inf')

    def refuse(constant):
        raise ValueError('not JSON: %s' % constant)

    parsed = json.loads(render_json(doc), parse_constant=refuse)
    assert parsed['hosts'][host['host']]['inventory']['VCPU']['utilization'] is None
    assert parsed['cluster']['inventory']['MEMORY_MB']['free'] is None
    assert parsed['cluster']['inventory']['MEMORY_MB']['used'] == doc['cluster']['inventory']['MEMORY_MB']['used']
