"""Plain-dict inputs for the capacity report tests, shaped like the modules' and filters' outputs.

Host facts use host_capacity.inventory_record, the same function host_resources uses,
so the records carry exactly the fields and arithmetic the module returns.
"""

import json

from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import inventory_record
from ansible_collections.hypervisor.stats.plugins.module_utils.schema import VM_TOTAL_FIELDS as TOTALS
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import cluster_totals
from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_inputs import ReportInputs
from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_model import build_report

NOW = 1700000100
FLAVORS = {'m1.small': {'vcpus': 1, 'memory_mb': 2048, 'disk_gb': 20}}


def host_facts(name, cluster, vcpus, vcpus_used, memory_mb, memory_used_mb, disk_gb, disk_used_gb,
               running_vms=1, reserved_mb=512, cpu_ratio=4.0, uri=None):
    return {
        'hypervisor_hostname': name + '.example', 'hypervisor_type': 'QEMU', 'uri': uri or 'qemu+ssh://%s/system' % name,
        'collected_at': 1700000000, 'labels': {'cluster': cluster, 'rack': 'r1'},
        'vcpus': vcpus, 'pcpus': 0, 'vcpus_used': vcpus_used, 'running_vms': running_vms,
        'memory_mb': memory_mb, 'memory_mb_used': memory_used_mb, 'free_ram_mb': memory_mb - memory_used_mb,
        'local_gb': disk_gb, 'local_gb_used': disk_used_gb, 'free_disk_gb': disk_gb - disk_used_gb,
        'disk_available_least': disk_gb - disk_used_gb - 1,
        'cpu_info': {'arch': 'x86_64'},
        'inventory': {
            'VCPU': inventory_record(vcpus, 0, cpu_ratio, vcpus_used),
            'MEMORY_MB': inventory_record(memory_mb, reserved_mb, 1.0, memory_used_mb),
            'DISK_GB': inventory_record(disk_gb, 0, 1.0, disk_used_gb),
        },
    }


def vm(name, uuid, state='running', vcpus=2, cpu_utilization=None, cpu_time_ns=10 ** 12, totals=None, domain_id=1):
    totals = dict(totals or {})
    return {
        'name': name, 'uuid': uuid, 'state': state, 'domain_id': domain_id, 'vcpus': vcpus,
        'cpu_time_ns': cpu_time_ns, 'cpu_utilization': cpu_utilization,
        'memory': {'max_kb': 1048576, 'actual_kb': 1048576, 'unused_kb': None, 'available_kb': None, 'rss_kb': 524288},
        'disks': {'vda': {'rd_bytes': 1, 'wr_bytes': 1, 'rd_req': 1, 'wr_req': 1}},
        'nics': {},
        'totals': dict((k, totals.get(k, 0)) for k in TOTALS),
        'timed_out': False,
    }


def vm_stats(host, *vms):
    return {'hypervisor_hostname': host + '.example', 'uri': 'qemu:///system', 'collected_at': 1700000000,
            'vms': dict((v['uuid'], v) for v in vms)}


def counters_entry(*vms):
    """One host's entry of the accumulate output; each vm given as (vm dict, cumulative dict, utilisation)."""
    out = {'collected_at': 1700000000, 'vms': {}}
    for v, cumulative, utilization in vms:
        out['vms'][v['uuid']] = {
            'name': v['name'], 'state': v['state'], 'vcpus': v['vcpus'], 'cpu_utilization': utilization,
            'memory': v['memory'], 'first_seen': 1690000000, 'last_seen': 1700000000,
            'cumulative': dict(dict((k, 0) for k in ('cpu_time_ns',) + TOTALS), **cumulative),
        }
    return out


def cluster_inputs():
    """Two groups, four hosts, five VMs, one of them gone."""
    hosts = {
        'hv-a1': host_facts('hv-a1', 'east', 32, 16, 131072, 49152, 100, 90, running_vms=3),
        'hv-a2': host_facts('hv-a2', 'east', 32, 120, 131072, 126000, 100, 70, running_vms=7),
        'hv-b1': host_facts('hv-b1', 'west', 8, 2, 32768, 4096, 200, 20),
        'hv-b2': host_facts('hv-b2', 'west', 64, 0, 524288, 0, 100, 0, running_vms=0),
    }
    vms = {
        'web': vm('web', '11111111-0000-0000-0000-000000000001', vcpus=4, cpu_utilization=87.5,
                  totals={'disk_read_kb': 100, 'disk_write_kb': 50, 'network_read_kb': 9000, 'network_write_kb': 1000}),
        'db': vm('db', '11111111-0000-0000-0000-000000000002', vcpus=8, cpu_utilization=42.0,
                 totals={'disk_read_kb': 800000, 'disk_write_kb': 400000, 'disk_read_ios': 5000, 'disk_write_ios': 3000}),
        'idle': vm('idle', '11111111-0000-0000-0000-000000000003', cpu_utilization=0.5),
        'batch': vm('batch', '11111111-0000-0000-0000-000000000004', cpu_utilization=None,
                    totals={'network_read_kb': 20, 'network_write_kb': 300000}),
    }
    return hosts, vms


# A failover simulation of cluster_inputs() as cluster_totals(failures=1) gives it: east loses its
# worst host and 3 VMs find no place; west survives.
FAILOVER = {
    'failures': 1,
    'cluster': {'survives': False, 'worst_hosts': ['hv-a2'],
                'unplaced': {'count': 3, 'vms': [{'name': 'big-%d' % i, 'uuid': 'u-%d' % i, 'host': 'hv-a2'}
                                                 for i in range(3)]},
                'headroom_after': {'VCPU': 0, 'MEMORY_MB': 1024}, 'fits_after': {'m1.small': 7}},
    'groups': {
        'east': {'survives': False, 'worst_hosts': ['hv-a2'],
                 'unplaced': {'count': 3, 'vms': [{'name': 'big-%d' % i, 'uuid': 'u-%d' % i, 'host': 'hv-a2'}
                                                  for i in range(3)]},
                 'headroom_after': {'VCPU': 0, 'MEMORY_MB': 1024}, 'fits_after': {'m1.small': 0}},
        'west': {'survives': True, 'worst_hosts': ['hv-b2'], 'unplaced': {'count': 0, 'vms': []},
                 'headroom_after': {'VCPU': 30, 'MEMORY_MB': 28672}, 'fits_after': {'m1.small': 7}},
    },
}


def full_doc(group_by='labels.cluster', top=5, long_names=False, failover=None):
    """The report of cluster_inputs() with counters, a cluster_totals result (grouped by cluster,
    with flavors), a failed and an unreachable host: every section of every format filled."""
    hosts, vms = cluster_inputs()
    if long_names:
        hosts = dict(('hv-' + 'x' * 60 + name, facts) for name, facts in hosts.items())
        for v in vms.values():
            v['name'] = v['name'] + '-' + 'y' * 70
    names = sorted(hosts)
    inputs = ReportInputs()
    for name in names:
        inputs.add_facts(name, {'host_resources': hosts[name]})
    inputs.add_facts(names[0], {'vm_stats': vm_stats(names[0], vms['web'], vms['idle'])})
    inputs.add_facts(names[2], {'vm_stats': vm_stats(names[2], vms['db'], vms['batch'])})
    inputs.add_facts(names[2], {'hypervisor_stats_counters': counters_entry(
        (vms['db'], {'disk_read_kb': 3 * 1024 ** 2, 'cpu_time_ns': 7 * 10 ** 12}, 40.0), (vms['batch'], {}, None))})
    totals = cluster_totals([hosts[n] for n in names], group_by='labels.cluster', flavors=FLAVORS)
    if failover is not None:
        totals['failover'] = failover
    inputs.add_facts('localhost', {'hypervisor_stats_cluster': totals})
    inputs.add_problem('hv-c9', 'unreachable', 'Read capacity', 'Failed to connect: "no route" \\ to host')
    inputs.add_problem(names[1], 'failed', 'Read VM statistics', 'libvirt error')
    return build_report(inputs, NOW, top=top, group_by=group_by)


DAY = 86400


def forecast_doc(days=30, planned=None):
    """The report of cluster_inputs() after ``days`` daily cycles in which every host's vCPU use grows
    by 1 a day, folded into a real history and forecast (history.fold_cycle, forecast.forecast)."""
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.forecast import forecast
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.history import fold_cycle

    hosts, _vms = cluster_inputs()
    start = NOW - days * DAY
    histories = {}
    for day in range(days + 1):
        grown = {}
        for name, facts in hosts.items():
            facts = json.loads(json.dumps(facts))
            vcpu = facts['inventory']['VCPU']
            vcpu['used'] += day
            vcpu['free'] = vcpu['capacity'] - vcpu['used']
            grown[name] = facts
        totals = cluster_totals(grown, group_by='labels.cluster', flavors=FLAVORS)
        histories, _warnings = fold_cycle(histories, totals, grown, start + day * DAY, flavors=FLAVORS)
    section, _warnings = forecast(histories['cluster'], NOW, planned=planned, flavors=FLAVORS)
    inputs = ReportInputs()
    for name, facts in grown.items():
        inputs.add_facts(name, {'host_resources': facts})
    inputs.add_facts('localhost', {'hypervisor_stats_cluster': {'totals': totals, 'forecast': section},
                                   'hypervisor_stats_history': histories['cluster']})
    return build_report(inputs, NOW)


def reclaimable_doc(uri=None):
    """The report of a cluster record with a reclaimable section (issue 14): one idle VM, one oversized,
    rates and p95s in the counters; ``uri`` the hosts' (test:///default marks the data simulated)."""
    from ansible_collections.hypervisor.stats.plugins.plugin_utils.reclaimable import reclaimable
    hosts, vms = cluster_inputs()
    if uri:
        for facts in hosts.values():
            facts['uri'] = uri
    counters = counters_entry((vms['db'], {}, 40.0), (vms['idle'], {}, 0.5))
    counters['vms'][vms['db']['uuid']].update(
        p95={'cpu_percent': 20.0, 'io_kbps': 900.0, 'memory_used_mb': 300.0, 'steal_percent': 12.5},
        rates={'steal_percent': 10.0, 'read_latency_ms': 2.5, 'write_latency_ms': 4.0, 'flush_latency_ms': None})
    counters['vms'][vms['idle']['uuid']].update(
        p95={'cpu_percent': 0.5, 'io_kbps': 1.0, 'memory_used_mb': 100.0, 'steal_percent': 0.0},
        rates={'steal_percent': float('nan'), 'read_latency_ms': None})
    inputs = ReportInputs()
    for name in sorted(hosts):
        inputs.add_facts(name, {'host_resources': hosts[name]})
    inputs.add_facts('hv-b1', {'vm_stats': vm_stats('hv-b1', vms['db'], vms['idle'])})
    inputs.add_facts('hv-b1', {'hypervisor_stats_counters': counters})
    totals = cluster_totals([hosts[n] for n in sorted(hosts)], group_by='labels.cluster', flavors=FLAVORS)
    section = reclaimable({'hv-b1': counters}, {'hv-b1': vm_stats('hv-b1', vms['db'], vms['idle'])}, hosts,
                          group_by='labels.cluster', flavors=FLAVORS)
    inputs.add_facts('localhost', {'hypervisor_stats_cluster': {
        'collected_at': 1700000000, 'group': 'hypervisors', 'hosts_collected': sorted(hosts), 'hosts_missed': [],
        'totals': totals, 'reclaimable': section}})
    return build_report(inputs, NOW, group_by='labels.cluster')
