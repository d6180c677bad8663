"""The reclaimable section of the capacity report (issue 14): model, table, HTML, JSON and Prometheus."""

import json
import math
import subprocess

from report_data import full_doc, reclaimable_doc

from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_html import render_html
from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_json import render_json
from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_prometheus import render_prometheus
from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_table import render_table

from test_render_prometheus import PROMTOOL, parse_exposition

DB = '11111111-0000-0000-0000-000000000002'
IDLE = '11111111-0000-0000-0000-000000000003'


def test_the_model_picks_the_cluster_records_reclaimable_and_the_vms_contention():
    doc = reclaimable_doc()
    section = doc['reclaimable']
    # idle: 2 vCPUs, 1 GiB, its 1-byte disk; db (8 vCPUs at p95 20 %): 2 would do, 6 back; 1024 - 360 MB.
    assert section['cluster']['idle']['VCPU'] == 2 and section['cluster']['idle']['MEMORY_MB'] == 1024
    assert section['cluster']['oversized']['VCPU'] == 6 and section['cluster']['oversized']['MEMORY_MB'] == 664
    assert section['groups']['west']['total']['VCPU'] == 8
    assert section['hosts']['hv-b1']['p95_steal_percent'] == 12.5
    assert doc['vms'][DB]['contention']['steal_percent'] == 10.0
    assert doc['vms'][DB]['contention']['p95_steal_percent'] == 12.5
    assert doc['vms'][IDLE]['contention']['steal_percent'] is None   # NaN in the counters: null
    json.loads(json.dumps(doc, allow_nan=False))


def test_no_reclaimable_means_null_and_no_section():
    doc = full_doc()
    assert doc['reclaimable'] is None
    assert 'Reclaimable' not in render_table(doc) and 'id="reclaimable"' not in render_html(doc)


def test_table_shows_totals_vms_with_reasons_and_steal_per_host():
    text = render_table(reclaimable_doc())
    assert 'Reclaimable capacity (idle: p95 CPU < 5% over 14 days):' in text
    assert 'SIMULATED' not in text
    flat = ' '.join(text.split())
    assert 'idle on hv-b1, idle: 2 vCPU' in flat and 'would fit in 2 of 8 vCPUs' in flat
    assert 'Steal per host' in text and '12.5%' in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_test_driver_data_is_labelled_simulated():
    doc = reclaimable_doc(uri='test:///default')
    assert 'SIMULATED data of the libvirt test driver' in ' '.join(render_table(doc).split())
    assert 'SIMULATED data of the libvirt test driver' in render_html(doc)


def test_html_section_and_json():
    doc = reclaimable_doc()
    page = render_html(doc)
    assert 'id="reclaimable"' in page and 'Flavor fits regained' in page
    assert json.loads(render_json(doc))['reclaimable']['cluster']['total']['vms'] == 2


def test_prometheus_series_and_promtool_accepts_them():
    text = render_prometheus(reclaimable_doc())
    samples, types = parse_exposition(text)
    key = ('hypervisor_stats_reclaimable', frozenset({('resource', 'VCPU'), ('reason', 'oversized')}))
    assert samples[key] == 6
    key = ('hypervisor_stats_reclaimable', frozenset({('resource', 'VCPU'), ('reason', 'idle'), ('group', 'west')}))
    assert samples[key] == 2
    vm = frozenset({('host', 'hv-b1'), ('vm', 'db'), ('uuid', DB), ('group', 'west')})
    assert samples[('hypervisor_stats_vm_steal_percent', vm)] == 10.0
    assert math.isclose(samples[('hypervisor_stats_vm_disk_read_latency_seconds', vm)], 0.0025)
    assert ('hypervisor_stats_vm_disk_flush_latency_seconds', vm) not in samples   # null: absent
    assert samples[('hypervisor_stats_host_steal_p95_percent', frozenset({('host', 'hv-b1'), ('group', 'west')}))] == 12.5
    assert types['hypervisor_stats_reclaimable'] == 'gauge'
    result = subprocess.run([PROMTOOL, 'check', 'metrics'], input=text, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), result.stdout + result.stderr
