"""The capacity report of two collect.yml cycles on real QEMU guests under a real libvirtd.

Guests come from the session fixture ``guests`` (conftest.py / guests.py): they read, write
and ping on their own, so the second cycle's cumulative counters are above zero.
"""

import json
import os
import time

import pytest

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import VM_TOTAL_FIELDS
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
        assert vm['totals'] == dict((f, vm_facts[guest.uuid]['totals'][f]) for f in VM_TOTAL_FIELDS)
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


SPARE_NODE = '''<?xml version="1.0"?>
<node>
  <cpu><mhz>1800</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets><cores>4</cores>
    <threads>1</threads><active>4</active></cpu>
  <memory>%d</memory>
  <pool type="dir"><name>instances</name><target><path>/srv/instances</path></target></pool>
</node>
'''


@pytest.mark.parametrize('spare_memory_mb', [8192, 512 + 100])
def test_failover_on_real_guests(guests, libvirtd, tmp_path, spare_memory_mb):
    """hypervisor_stats_failures=1 on a group of the real libvirtd and a spare simulated host (the test
    driver: one libvirtd here cannot be two hypervisors). The spare has 100 MiB of RAM to give
    (reserved 512 MiB) in the second case: one 96 MiB guest fits there, the others do not."""
    images = tmp_path / 'images'
    images.mkdir()
    spare = tmp_path / 'spare.xml'
    spare.write_text(SPARE_NODE % (spare_memory_mb * 1024))
    common = {'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}',
              'hypervisor_stats_labels': {'cluster': 'lab'}}
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(json.dumps({'all': {'vars': {'hypervisor_stats_failures': 1}, 'children': {'hypervisors': {
        'hosts': {HOST: dict(common, hypervisor_stats_uri=libvirtd, hypervisor_stats_instances_path=str(images)),
                  'spare': dict(common, hypervisor_stats_uri='test://%s' % spare,
                                hypervisor_stats_storage_pool='instances')}}}}}))
    proc = run_playbook(tmp_path, COLLECT, inventory)

    facts = cached_facts(tmp_path)
    claims = facts[HOST]['host_resources']['allocations']
    assert set(g.uuid for g in guests.guests) <= set(claims)
    failover = facts['localhost']['hypervisor_stats_cluster']['totals']['failover']
    lab = failover['groups']['lab']
    doc, prom, _html = report(tmp_path)
    assert doc['failover']['groups']['lab'] == dict(lab, fits_after=lab.get('fits_after', {}))
    lines = table_of(proc.stdout)
    if spare_memory_mb == 8192:
        assert lab['survives'] is True and lab['unplaced']['count'] == 0
        assert '  [lab] survives the loss of 1 host: yes' in '\n'.join(lines)
        spare_free = facts['spare']['host_resources']['inventory']['MEMORY_MB']['free']
        moved = sum(c['resources']['MEMORY_MB'] for c in claims.values())
        if lab['worst_hosts'] == [HOST]:
            assert lab['headroom_after']['MEMORY_MB'] == spare_free - moved
    else:
        assert lab['survives'] is False and lab['worst_hosts'] == [HOST]
        unplaced = lab['unplaced']
        assert unplaced['count'] == len(unplaced['vms']) >= len(claims) - 1
        assert set(vm['uuid'] for vm in unplaced['vms']) <= set(claims)
        assert ('  [lab] survives the loss of 1 host: no (%d VM%s unplaced)'
                % (unplaced['count'], '' if unplaced['count'] == 1 else 's')) in '\n'.join(lines)
    assert failover['cluster']['survives'] is lab['survives']
    promtool_check(prom)
    assert prom_samples(prom)[('hypervisor_stats_failover_survives', frozenset({('group', 'lab')}))] == \
        (1 if lab['survives'] else 0)
