"""The capacity report in Prometheus' exposition format (plugin_utils.render_prometheus).

promtool is the real Prometheus checker from Debian's prometheus package (scripts/bootstrap.sh test).
"""

import re
import subprocess

import pytest

from report_data import forecast_doc, FAILOVER, NOW, cluster_inputs, full_doc

from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_prometheus import render_prometheus
from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_inputs import ReportInputs
from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_model import build_report

PROMTOOL = '/usr/bin/promtool'


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text):
    """{(name, frozenset(labels)): value} and {name: type}; asserts HELP and TYPE come once, first."""
    samples, types, helped = {}, {}, set()
    for line in text.splitlines():
        if line.startswith('# HELP '):
            name = line.split()[2]
            assert name not in helped, name
            helped.add(name)
        elif line.startswith('# TYPE '):
            _h, _t, name, kind = line.split()
            assert name in helped and name not in types, name
            types[name] = kind
        else:
            match = SAMPLE.match(line)
            assert match, line
            name, labels, value = match.groups()
            assert name in types, name
            labels = dict((k, v.replace('\\"', '"').replace('\\n', '\n').replace('\\\\', '\\'))
                          for k, v in LABEL.findall(labels or ''))
            samples[(name, frozenset(labels.items()))] = float(value)
    return samples, types


def test_prometheus_values_match_the_document():
    doc = full_doc()
    samples, types = parse_exposition(render_prometheus(doc))
    assert all(name.startswith('hypervisor_stats_') for name in types)
    assert all(kind == 'counter' for name, kind in types.items() if name.endswith('_total'))
    assert all(kind == 'gauge' for name, kind in types.items() if not name.endswith('_total'))

    def value(name, **labels):
        return samples[('hypervisor_stats_' + name, frozenset(labels.items()))]

    for name, host in doc['hosts'].items():
        labels = dict(host=name, group=host['group'])
        inv = host['inventory']
        assert value('host_vcpus_used', **labels) == inv['VCPU']['used']
        assert value('host_vcpus_capacity', **labels) == inv['VCPU']['capacity']
        assert value('host_memory_free_bytes', **labels) == inv['MEMORY_MB']['free'] * 1024 ** 2
        assert value('host_disk_bytes', **labels) == inv['DISK_GB']['total'] * 1024 ** 3
        assert value('host_running_vms', **labels) == host['running_vms']
        assert value('host_up', **labels) == (1 if host['status'] == 'ok' else 0)
    assert value('host_up', host='hv-c9') == 0
    assert value('cluster_vcpus_free') == doc['cluster']['inventory']['VCPU']['free']
    assert value('cluster_flavor_fits', flavor='m1.small') == doc['cluster']['fits']['m1.small']['total']
    assert value('group_memory_used_bytes', group_by='labels.cluster', group='east') == \
        doc['cluster']['groups']['east']['inventory']['MEMORY_MB']['used'] * 1024 ** 2
    db = next(v for v in doc['vms'].values() if v['name'] == 'db')
    labels = dict(host=db['host'], vm='db', uuid=db['uuid'], group='west')
    assert value('vm_disk_read_bytes_total', **labels) == db['totals']['disk_read_kb'] * 1024
    assert value('vm_cumulative_disk_read_bytes_total', **labels) == db['cumulative']['disk_read_kb'] * 1024
    assert value('vm_cumulative_cpu_seconds_total', **labels) == pytest.approx(7000.0)
    assert value('vm_cpu_utilization_ratio', **labels) == pytest.approx(0.42)
    assert value('vm_info', state='running', **labels) == 1


def test_prometheus_escapes_label_values():
    hosts, _vms = cluster_inputs()
    inputs = ReportInputs()
    odd = 'hv "quoted" \\ back\nslash'
    inputs.add_facts(odd, {'host_resources': dict(hosts['hv-a1'], labels={'te-am': 'a"b'})})
    samples, _types = parse_exposition(render_prometheus(build_report(inputs, NOW)))
    assert samples[('hypervisor_stats_host_up', frozenset({'host': odd}.items()))] == 1
    info = [labels for (name, labels) in samples if name == 'hypervisor_stats_host_info'][0]
    assert ('label_te_am', 'a"b') in info


def test_promtool_accepts_the_exposition(tmp_path):
    for doc in (full_doc(), full_doc(group_by=None), build_report(ReportInputs(), NOW)):
        result = subprocess.run([PROMTOOL, 'check', 'metrics'], input=render_prometheus(doc),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == '' and result.stderr.strip() == '', result.stdout + result.stderr


def test_labels_that_sanitise_alike_get_unique_names_promtool_accepts(tmp_path):
    hosts, _vms = cluster_inputs()
    inputs = ReportInputs()
    for order in (('rack-key', 'rack_key', 'rack.key'), ('rack.key', 'rack_key', 'rack-key')):
        facts = dict(hosts['hv-a1'], labels=dict((name, 'v-' + name) for name in order))
        inputs.add_facts('hv-a1', {'host_resources': facts})
        text = render_prometheus(build_report(inputs, NOW))
        result = subprocess.run([PROMTOOL, 'check', 'metrics'], input=text, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and 'duplicate' not in result.stdout + result.stderr, result.stdout + result.stderr
        info = [line for line in text.splitlines() if line.startswith('hypervisor_stats_host_info{')][0]
        # the same labels give the same names, whatever their order: sorted originals, then _2, _3
        assert 'label_rack_key="v-rack-key"' in info and 'label_rack_key_2="v-rack.key"' in info
        assert 'label_rack_key_3="v-rack_key"' in info


def test_nan_and_infinities_are_never_written():
    doc = full_doc()
    host = next(iter(doc['hosts'].values()))
    host['inventory']['VCPU']['utilization'] = float('nan')
    host['inventory']['VCPU']['allocation_ratio'] = float('inf')
    doc['cluster']['inventory']['MEMORY_MB']['free'] = float('-inf')
    vm = next(iter(doc['vms'].values()))
    vm['cpu_utilization'] = float('nan')
    text = render_prometheus(doc)
    for bad in ('NaN', 'Inf', 'nan', 'inf'):
        assert not [line for line in text.splitlines() if line.split(' ')[-1].lstrip('+-') == bad], bad
    assert 'hypervisor_stats_host_vcpus_utilization_ratio{host="%s"' % host['host'] not in text
    assert 'hypervisor_stats_host_vcpus_capacity{host="%s"' % host['host'] in text, 'only the bad samples go'
    result = subprocess.run([PROMTOOL, 'check', 'metrics'], input=text, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_failover_series_per_group_and_for_the_cluster():
    doc = full_doc(failover=FAILOVER)
    samples, types = parse_exposition(render_prometheus(doc))
    assert samples[('hypervisor_stats_failover_survives', frozenset({'group': 'east'}.items()))] == 0
    assert samples[('hypervisor_stats_failover_survives', frozenset({'group': 'west'}.items()))] == 1
    assert samples[('hypervisor_stats_failover_survives', frozenset())] == 0
    assert samples[('hypervisor_stats_failover_fits', frozenset({'group': 'west', 'flavor': 'm1.small'}.items()))] == 7
    assert types['hypervisor_stats_failover_survives'] == 'gauge'
    result = subprocess.run([PROMTOOL, 'check', 'metrics'], input=render_prometheus(doc),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == '', result.stdout + result.stderr


def test_forecast_full_timestamp_is_unix_time_and_absent_when_never():
    doc = forecast_doc(planned=[{'flavor': 'm1.small', 'count': 10, 'group': 'west'}])
    text = render_prometheus(doc)
    samples, types = parse_exposition(text)
    east = doc['forecast']['groups']['east']['VCPU']['days_until_full']
    key = ('hypervisor_stats_forecast_full_timestamp_seconds', frozenset({'resource': 'VCPU', 'group': 'east'}.items()))
    assert samples[key] == int(doc['forecast']['now'] + east * 86400)
    assert ('hypervisor_stats_forecast_full_timestamp_seconds', frozenset({'resource': 'VCPU'}.items())) in samples
    # RAM and disk do not grow: never, so absent (never infinity or NaN)
    assert not [k for k in samples if k[0] == 'hypervisor_stats_forecast_full_timestamp_seconds'
                and dict(k[1])['resource'] in ('MEMORY_MB', 'DISK_GB')]
    assert samples[('hypervisor_stats_planned_vcpus_free_after', frozenset({'group': 'west'}.items()))] == 216
    result = subprocess.run([PROMTOOL, 'check', 'metrics'], input=text, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == '', result.stdout + result.stderr
