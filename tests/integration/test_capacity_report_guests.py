"""The capacity report of two collect.yml cycles on real QEMU guests under a real libvirtd.

Guests come from the session fixture ``guests`` (conftest.py / guests.py): they read, write
and ping on their own, so the second cycle's cumulative counters are above zero.
"""

import json
import os
import time

import pytest

from test_capacity_report import (BANNER, HOSTS, cached_facts, dom_bars, prom_samples, promtool_check, report,
                                  run_chromium, run_playbook, table_of, COLLECT)

pytestmark = pytest.mark.guests

HOST = 'kvm-local'


def test_report_on_real_guests(guests, libvirtd, tmp_path):
    assert HOST not in HOSTS
    images = tmp_path / 'images'
    images.mkdir()
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(json.dumps({'all': {'children': {'hypervisors': {'hosts': {HOST: {
        'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}',
        'hypervisor_stats_uri': libvirtd, 'hypervisor_stats_instances_path': str(images),
        'hypervisor_stats_labels': {'cluster': 'lab'}}}}}}}))
    run_playbook(tmp_path, COLLECT, inventory, HYPERVISOR_STATS_REPORT_GROUP_BY='labels.cluster')
    time.sleep(4)  # the guests' traffic loops run every ~2 s
    proc = run_playbook(tmp_path, COLLECT, inventory, HYPERVISOR_STATS_REPORT_GROUP_BY='labels.cluster')

    facts = cached_facts(tmp_path)
    doc, prom, _html = report(tmp_path)
    hr = facts[HOST]['host_resources']
    vm_facts = facts[HOST]['vm_stats']['vms']
    counters = facts[HOST]['hypervisor_stats_counters']['vms']
    entry = doc['hosts'][HOST]
    assert entry['status'] == 'ok' and entry['hypervisor_type'] == hr['hypervisor_type'] == 'QEMU'
    for rc, record in hr['inventory'].items():
        for field in ('total', 'capacity', 'used', 'free'):
            assert entry['inventory'][rc][field] == record[field]
    assert entry['running_vms'] == hr['running_vms'] >= len(guests.guests)
    # Other domains on this libvirtd may come and go between the cycles: those the first cycle
    # counted and the second did not see stay in the counters as gone.
    assert set(doc['vms']) == set(vm_facts) | set(counters)
    for uuid in set(counters) - set(vm_facts):
        assert doc['vms'][uuid]['state'] == counters[uuid]['state'] == 'gone'
    for guest in guests.guests:
        vm = doc['vms'][guest.uuid]
        assert (vm['name'], vm['host'], vm['state']) == (guest.name, HOST, 'running')
        assert vm['totals'] == vm_facts[guest.uuid]['totals']
        assert vm['cumulative'] == counters[guest.uuid]['cumulative']
        assert vm['cumulative']['network_read_kb'] > 0 or vm['cumulative']['network_write_kb'] > 0
    guest_names = set(g.name for g in guests.guests)
    for kind in ('disk', 'network'):
        assert doc['top'][kind]['basis'] == 'cumulative'
        assert guest_names & set(e['name'] for e in doc['top'][kind]['vms']), kind

    promtool_check(prom)
    samples = prom_samples(prom)
    for guest in guests.guests:
        labels = frozenset({('host', HOST), ('group', 'lab'), ('vm', guest.name), ('uuid', guest.uuid)})
        assert samples[('hypervisor_stats_vm_cumulative_network_read_bytes_total', labels)] == \
            pytest.approx(counters[guest.uuid]['cumulative']['network_read_kb'] * 1024)
        assert samples[('hypervisor_stats_vm_info', labels | {('state', 'running')})] == 1

    lines = table_of(proc.stdout)
    assert max(len(line) for line in lines) <= 80
    assert any(line.startswith(HOST + ' ') for line in lines)
    network = lines.index(next(line for line in lines if line.startswith('Top 5 VMs by network I/O')))
    assert guest_names & set(line.split()[0] for line in lines[network + 2:network + 7] if line.strip())
    assert BANNER in proc.stdout

    dom = run_chromium(tmp_path, '--dump-dom', (tmp_path / 'report' / 'capacity.html').as_uri())
    assert len(dom_bars(dom)) == 3 + 3 + 3  # cluster, the one group, the one host
    for guest in guests.guests:
        assert guest.name in dom
    assert os.path.exists(str(tmp_path / 'report' / 'capacity.prom'))
