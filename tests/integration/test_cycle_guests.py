"""collect.yml against real QEMU guests under a real libvirtd (issue 4, "Done when"):
cumulative counters grow, survive a new ansible-playbook process, and stay right
across a guest reboot (destroy + start: a new domain id, counters from zero).

Guests come from the session fixture ``guests`` (conftest.py / guests.py); they read,
write and ping on their own. Expectations are computed from the raw vm_stats samples
each cycle leaves in the fact cache.
"""

import json
import os
import subprocess
import time

import pytest

from test_cycle import ANSIBLE_PLAYBOOK, PLAYBOOK, ROOT, current, grown, untag

pytestmark = pytest.mark.guests

HOST = 'kvm-cycle'


def run_cycle(tmp_path, inventory, env):
    result = subprocess.run([ANSIBLE_PLAYBOOK, '-i', str(inventory), PLAYBOOK], env=env, cwd=str(tmp_path),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    with open(os.path.join(env['ANSIBLE_CACHE_PLUGIN_CONNECTION'], 's1_' + HOST)) as handle:
        facts = untag(json.loads(json.loads(handle.read())['__payload__']))
    return facts['vm_stats']['vms'], facts['hypervisor_stats_counters']['vms']


def test_counters_grow_survive_a_new_process_and_a_guest_reboot(guests, libvirtd, tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    inventory = tmp_path / 'inventory.yml'
    inventory.write_text(json.dumps({'all': {'children': {'hypervisors': {'hosts': {HOST: {
        'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}',
        'hypervisor_stats_uri': libvirtd, 'hypervisor_stats_instances_path': str(images)}}}}}}))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'),
               ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_CACHE_PLUGIN='ansible.builtin.jsonfile',
               ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / 'facts'), ANSIBLE_CACHE_PLUGIN_TIMEOUT='0')
    rebooted, steady = guests.guests[0], guests.guests[1]

    raw1, _counters = run_cycle(tmp_path, inventory, env)
    time.sleep(4)  # the guests' traffic loops run every ~2 s
    raw2, counters2 = run_cycle(tmp_path, inventory, env)
    for guest in (rebooted, steady):
        cumulative = counters2[guest.uuid]['cumulative']
        expected = grown(current(raw1[guest.uuid]), current(raw2[guest.uuid]))
        assert cumulative == pytest.approx(expected, rel=1e-12), guest.name
        assert cumulative['network_write_kb'] > 0 or cumulative['network_read_kb'] > 0, guest.name
        assert cumulative['cpu_time_ns'] > 0 and cumulative['disk_read_ios'] + cumulative['disk_write_ios'] > 0, guest.name

    rebooted.destroy()
    rebooted.start()
    rebooted.wait_ready()
    time.sleep(2)
    raw3, counters3 = run_cycle(tmp_path, inventory, env)
    assert raw3[rebooted.uuid]['domain_id'] != raw2[rebooted.uuid]['domain_id']
    after = counters3[rebooted.uuid]['cumulative']
    before = counters2[rebooted.uuid]['cumulative']
    # A new instance: its counters started from zero, so all of them are new use.
    assert after == pytest.approx(dict((k, before[k] + v) for k, v in current(raw3[rebooted.uuid]).items()), rel=1e-12)
    assert all(after[k] >= before[k] for k in before)
    assert counters3[rebooted.uuid]['cpu_utilization'] is None
    # The other guest simply went on.
    expected = dict((k, counters2[steady.uuid]['cumulative'][k] + v)
                    for k, v in grown(current(raw2[steady.uuid]), current(raw3[steady.uuid])).items())
    assert counters3[steady.uuid]['cumulative'] == pytest.approx(expected, rel=1e-12)
    assert 0 <= counters3[steady.uuid]['cpu_utilization'] <= 100
