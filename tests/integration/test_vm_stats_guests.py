"""vm_stats on real QEMU guests under a real libvirtd (issue 3).

The guests (fixture ``guests``, see guests.py) read and write their disk and
ping the host side of their tap every ~2 s, so counters move on their own.
The module runs through ansible-playbook, except where the point is to act
between two steps of the collection (a guest destroyed mid-collection).
"""

import json
import os
import subprocess
import sys
import textwrap
import time

import libvirt
import pytest

from ansible_collections.hypervisor.stats.plugins.module_utils import vm_gather
from ansible_collections.hypervisor.stats.plugins.module_utils.vm_gather import collect

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.guests


def vm_stats(tmp_path, uri, **options):
    """Run the module in a playbook; returns (facts, warnings, seconds ansible-playbook took)."""
    args = dict(options, uri=uri)
    play = tmp_path / 'vm_stats.yml'
    play.write_text(textwrap.dedent('''\
        - hosts: localhost
          gather_facts: false
          tasks:
            - hypervisor.stats.vm_stats: %s
              register: out
            - ansible.builtin.copy:
                content: "{{ out | to_json }}"
                dest: %s
        ''' % (json.dumps(args), tmp_path / 'out.json')))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'),
               ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               ANSIBLE_CACHE_PLUGIN='ansible.builtin.memory')  # keep the shared fact cache out of it
    started = time.monotonic()
    proc = subprocess.run([os.path.join(ROOT, '.venv', 'bin', 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                           '-e', 'ansible_python_interpreter=' + sys.executable, str(play)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads((tmp_path / 'out.json').read_text())
    return out['ansible_facts']['vm_stats'], out.get('warnings', []), elapsed


def domstats(uri, name, *groups):
    """``virsh domstats --raw`` of one domain as a dict; ``groups`` such as '--vcpu' (none: all)."""
    out = subprocess.run(['virsh', '-r', '-c', uri, 'domstats', '--raw'] + list(groups) + [name],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    stats = {}
    for line in out.splitlines():
        if '=' in line:
            key, value = line.strip().split('=', 1)
            stats[key] = int(value) if value.lstrip('-').isdigit() else value
    return stats


def devices(stats, prefix):
    """{device name: {field: value}} from domstats keys such as block.1.rd.bytes."""
    found = {}
    for i in range(stats.get(prefix + '.count', 0)):
        base = '%s.%d.' % (prefix, i)
        found[stats[base + 'name']] = dict((k[len(base):], v) for k, v in stats.items() if k.startswith(base))
    return found


def names(pool):
    return [g.name for g in pool.guests]


def test_counters_agree_with_virsh_domstats(guests, libvirtd, tmp_path):
    # Paused guests do no I/O, so the module and virsh, taken one after the
    # other, must agree exactly on device counters.
    for g in guests.guests:
        g.domain().suspend()
    try:
        facts, warnings, _ = vm_stats(tmp_path, libvirtd, domains=names(guests))
        virsh = dict((g.uuid, domstats(libvirtd, g.name)) for g in guests.guests)
    finally:
        for g in guests.guests:
            g.domain().resume()
    assert warnings == []
    assert facts['uri'] == libvirtd and facts['hypervisor_hostname']
    assert set(facts['vms']) == set(g.uuid for g in guests.guests)
    for g in guests.guests:
        vm, ref = facts['vms'][g.uuid], virsh[g.uuid]
        assert vm['name'] == g.name and vm['state'] == 'paused' and vm['timed_out'] is False
        assert vm['domain_id'] == g.domain().ID() and vm['vcpus'] == ref['vcpu.current'] == 1
        blocks, nets = devices(ref, 'block'), devices(ref, 'net')
        assert set(blocks) == {'vda', 'hdc'} and set(vm['disks']) == {'vda'}   # CD-ROM hdc left out
        counters = dict((f, vm['disks']['vda'][f]) for f in ('rd_bytes', 'wr_bytes', 'rd_req', 'wr_req'))
        assert counters == {'rd_bytes': blocks['vda']['rd.bytes'], 'wr_bytes': blocks['vda']['wr.bytes'],
                            'rd_req': blocks['vda']['rd.reqs'], 'wr_req': blocks['vda']['wr.reqs']}
        assert blocks['vda']['rd.bytes'] > 0 and blocks['vda']['wr.bytes'] > 0   # the guest did I/O
        assert set(vm['nics']) == {g.tap} == set(nets)
        nic, ref_nic = vm['nics'][g.tap], nets[g.tap]
        # A paused guest sends nothing, but the host may still send into its tap (an ARP
        # request when its neighbour entry for the guest goes stale): what the guest
        # receives may only grow between the two readings, by a packet or two.
        for ours, theirs in (('tx_bytes', 'tx.bytes'), ('tx_packets', 'tx.pkts'), ('rx_errs', 'rx.errs'),
                             ('tx_errs', 'tx.errs'), ('tx_drop', 'tx.drop')):
            assert nic[ours] == ref_nic[theirs], ours
        for ours, theirs, slack in (('rx_bytes', 'rx.bytes', 2 * 1514), ('rx_packets', 'rx.pkts', 2),
                                    ('rx_drop', 'rx.drop', 2)):
            assert 0 <= ref_nic[theirs] - nic[ours] <= slack, (ours, nic[ours], ref_nic[theirs])
        assert ref_nic['tx.pkts'] > 0 and ref_nic['rx.pkts'] > 0   # pings went both ways
        assert vm['totals'] == {
            'disk_read_kb': blocks['vda']['rd.bytes'] / 1024.0, 'disk_write_kb': blocks['vda']['wr.bytes'] / 1024.0,
            'disk_read_ios': blocks['vda']['rd.reqs'], 'disk_write_ios': blocks['vda']['wr.reqs'],
            'network_read_kb': nic['rx_bytes'] / 1024.0, 'network_write_kb': ref_nic['tx.bytes'] / 1024.0,
            'cpu_delay_ns': vm['totals']['cpu_delay_ns']}   # its own test: test_signals_through_ansible_...
        for ours, theirs in (('max_kb', 'balloon.maximum'), ('actual_kb', 'balloon.current'),
                             ('unused_kb', 'balloon.unused'), ('available_kb', 'balloon.available')):
            assert vm['memory'][ours] == ref[theirs], ours
        assert vm['memory']['max_kb'] == 96 * 1024 and vm['memory']['rss_kb'] > 0
        # QEMU's own threads still run while the guest is paused: cpu time may only grow.
        assert 0 < vm['cpu_time_ns'] <= ref['cpu.time']
        assert vm['cpu_utilization'] is None


def test_counters_grow_between_two_runs(guests, libvirtd, tmp_path):
    first, _, _ = vm_stats(tmp_path, libvirtd, domains=names(guests))
    time.sleep(5)   # two rounds of the guests' traffic loop
    second, _, _ = vm_stats(tmp_path, libvirtd, domains=names(guests))
    for g in guests.guests:
        a, b = first['vms'][g.uuid], second['vms'][g.uuid]
        assert b['cpu_time_ns'] > a['cpu_time_ns']
        for total in ('disk_read_kb', 'disk_write_kb', 'disk_read_ios', 'disk_write_ios',
                      'network_read_kb', 'network_write_kb'):
            assert b['totals'][total] > a['totals'][total], (g.name, total)
        assert b['nics'][g.tap]['tx_packets'] > a['nics'][g.tap]['tx_packets']
    assert second['collected_at'] >= first['collected_at'] + 5


def test_cpu_utilization_is_plausible(guests, libvirtd, tmp_path):
    busy, idle = guests.guests[0], guests.guests[1]
    busy.run('burn 30')
    try:
        time.sleep(1)
        facts, _, elapsed = vm_stats(tmp_path, libvirtd, domains=names(guests), cpu_sample_seconds=3)
    finally:
        busy.run('unburn')
    assert elapsed >= 3
    busy_util = facts['vms'][busy.uuid]['cpu_utilization']
    idle_util = facts['vms'][idle.uuid]['cpu_utilization']
    # One vCPU spinning under TCG: above the idle guest (whose traffic loop keeps it a little
    # busy), never above 100. How far above depends on what else the 2-core machine runs
    # (15.7 % against 7.9 % under a heavy load), hence no fixed ratio.
    assert 0 <= idle_util <= 100 and 0 <= busy_util <= 100, (idle_util, busy_util)
    assert busy_util > idle_util and busy_util >= 5, (idle_util, busy_util)


def test_sigstopped_qemu_times_out_and_the_others_are_returned(guests, libvirtd, tmp_path):
    stuck, fine = guests.guests[0], guests.guests[1]
    _, _, baseline = vm_stats(tmp_path, libvirtd, domains=names(guests))
    timeout = 4
    conn = libvirt.openReadOnly(libvirtd)
    try:
        with stuck.frozen():
            facts, warnings, elapsed = vm_stats(tmp_path, libvirtd, domains=names(guests), timeout=timeout)
            started = time.monotonic()
            direct = collect(conn, ['running', 'paused'], names=names(guests), timeout=2)
            direct_elapsed = time.monotonic() - started
    finally:
        conn.close()
    # Ends within the timeout plus a small margin: measured on the collection itself,
    # and on the whole task (plus what ansible-playbook needs anyway, which varies
    # on a loaded machine).
    assert direct_elapsed < 2 + 1.5, direct_elapsed
    assert [vm['timed_out'] for vm in direct.vms if vm['uuid'] == stuck.uuid] == [True]
    assert elapsed - baseline < timeout + 5, (elapsed, baseline)
    assert facts['vms'][stuck.uuid]['timed_out'] is True
    assert any(stuck.name in w and 'timed_out' in w for w in warnings), warnings
    other = facts['vms'][fine.uuid]
    assert other['timed_out'] is False and other['disks']['vda']['rd_bytes'] > 0
    assert other['totals']['disk_read_kb'] > 0
    # Once QEMU runs again, its monitor answers and the VM is read in full.
    deadline = time.time() + 60
    while True:
        again, warnings, _ = vm_stats(tmp_path, libvirtd, domains=[stuck.name], timeout=timeout)
        if not again['vms'][stuck.uuid]['timed_out'] or time.time() > deadline:
            break
        time.sleep(2)
    assert again['vms'][stuck.uuid]['timed_out'] is False
    assert again['vms'][stuck.uuid]['totals']['disk_read_kb'] > 0 and warnings == []


def test_guest_destroyed_mid_collection_is_skipped(guests, libvirtd, monkeypatch):
    # The module's collection is called directly so that guests can be destroyed
    # exactly between listing and reading: a transient one (it vanishes) and a
    # persistent one (it is shut off, so no longer in the selected states).
    gone = guests.transient('vanish')
    stopped = guests.guests[1]
    conn = libvirt.openReadOnly(libvirtd)
    list_domains = vm_gather.list_domains

    def list_then_destroy(*args, **kwargs):
        domains, missing = list_domains(*args, **kwargs)
        assert gone.uuid in [d.UUIDString() for d in domains]
        gone.destroy()
        stopped.destroy()
        return domains, missing
    monkeypatch.setattr(vm_gather, 'list_domains', list_then_destroy)
    try:
        result = collect(conn, ['running', 'paused'], names=names(guests) + [gone.name])
    finally:
        conn.close()
        if not stopped.domain().isActive():
            stopped.start()
    assert sorted(result.vanished) == sorted([gone.name, stopped.name])
    assert [vm['name'] for vm in result.vms] == [guests.guests[0].name]
    assert result.vms[0]['disks']['vda']['rd_bytes'] > 0 and result.warnings == []
    stopped.wait_ready()


# --- contention signals (issue 14) -----------------------------------------------------------------

SIGNAL_GROUPS = ('--vcpu', '--balloon', '--block', '--cpu-total')
# (our field, domstats key) of what only grows while the domain runs.
CPU_SIGNALS = (('cpu_user_ns', 'cpu.user'), ('cpu_system_ns', 'cpu.system'))
MEMORY_COUNTERS = (('swap_in_kb', 'balloon.swap_in'), ('swap_out_kb', 'balloon.swap_out'),
                   ('major_faults', 'balloon.major_fault'), ('minor_faults', 'balloon.minor_fault'))
MEMORY_GAUGES = (('usable_kb', 'balloon.usable'), ('disk_caches_kb', 'balloon.disk_caches'))
DISK_COUNTERS = (('rd_total_times_ns', 'rd.times'), ('wr_total_times_ns', 'wr.times'), ('fl_req', 'fl.reqs'),
                 ('fl_total_times_ns', 'fl.times'))
DISK_GAUGES = (('capacity', 'capacity'), ('allocation', 'allocation'), ('physical', 'physical'))
VCPU_SIGNALS = (('delay_ns', 'delay'), ('wait_ns', 'wait'))
DELAY_SINCE = 7002000   # libvirt 7.2.0 added vcpu.<n>.delay


def signal_readings(vm, stats, gauges):
    """[(name, module's value, virsh's value)] of every signal; ``gauges`` adds the ones that may go
    either way (compared only while the guest is paused)."""
    pairs = [(ours, vm[ours], stats[theirs]) for ours, theirs in CPU_SIGNALS]
    pairs += [(ours, vm['memory_pressure'][ours], stats[theirs])
              for ours, theirs in MEMORY_COUNTERS + (MEMORY_GAUGES if gauges else ())]
    vda = devices(stats, 'block')['vda']
    pairs += [('vda.' + ours, vm['disks']['vda'][ours], vda[theirs])
              for ours, theirs in DISK_COUNTERS + (DISK_GAUGES if gauges else ())]
    for vcpu in vm['vcpus_detail']:
        pairs += [('vcpu%d.%s' % (vcpu['id'], ours), vcpu[ours], stats['vcpu.%d.%s' % (vcpu['id'], theirs)])
                  for ours, theirs in VCPU_SIGNALS]
    pairs.append(('cpu_delay_ns', vm['totals']['cpu_delay_ns'],
                  sum(stats['vcpu.%d.delay' % v['id']] for v in vm['vcpus_detail'])))
    return pairs


def assert_bracketed(vm, before, after, gauges):
    low = signal_readings(vm, before, gauges)
    high = dict((name, theirs) for name, _ours, theirs in signal_readings(vm, after, gauges))
    for name, ours, theirs in low:
        assert ours is not None, name
        assert theirs <= ours <= high[name], (name, theirs, ours, high[name])


def booted(pool):
    """The guests the fixture booted (a test may have added a transient one that is gone since)."""
    return [g for g in pool.guests if g.persistent]


def check_vcpus(vm, libvirt_version):
    assert [v['id'] for v in vm['vcpus_detail']] == list(range(vm['vcpus'])) == [0]
    if libvirt_version >= DELAY_SINCE:
        assert all(v['delay_ns'] is not None for v in vm['vcpus_detail'])
        assert vm['totals']['cpu_delay_ns'] == sum(v['delay_ns'] for v in vm['vcpus_detail'])
        assert vm['totals']['cpu_delay_ns'] > 0   # TCG guests on a shared machine: their vCPUs wait


def test_signals_of_running_guests_lie_between_two_virsh_readings(guests, libvirtd):
    # Running guests: every counter moves (their traffic loop), so the module's reading must lie
    # between virsh's just before and just after. In-process, for a reading close to both.
    conn = libvirt.openReadOnly(libvirtd)
    try:
        before = dict((g.uuid, domstats(libvirtd, g.name, *SIGNAL_GROUPS)) for g in booted(guests))
        result = collect(conn, ['running'], names=[g.name for g in booted(guests)])
        after = dict((g.uuid, domstats(libvirtd, g.name, *SIGNAL_GROUPS)) for g in booted(guests))
        version = conn.getLibVersion()
    finally:
        conn.close()
    assert result.warnings == [] and set(result.paths.values()) == {'bulk'}
    vms = dict((vm['uuid'], vm) for vm in result.vms)
    for g in booted(guests):
        vm = vms[g.uuid]
        check_vcpus(vm, version)
        assert_bracketed(vm, before[g.uuid], after[g.uuid], gauges=False)
        assert vm['cpu_user_ns'] + vm['cpu_system_ns'] > 0 and vm['disks']['vda']['fl_req'] > 0  # fsync flushes
        assert vm['disks']['vda']['rd_total_times_ns'] > 0 and vm['memory_pressure']['minor_faults'] > 0
        assert 'hdc' not in vm['disks']


def test_signals_through_ansible_agree_with_virsh_domstats(guests, libvirtd, tmp_path):
    # Paused guests: the gauges (usable memory, disk caches, disk sizes) hold still too, so
    # every signal the module returns through Ansible lies between virsh's before and after.
    for g in booted(guests):
        g.domain().suspend()
    try:
        before = dict((g.uuid, domstats(libvirtd, g.name, *SIGNAL_GROUPS)) for g in booted(guests))
        facts, warnings, _ = vm_stats(tmp_path, libvirtd, domains=[g.name for g in booted(guests)])
        after = dict((g.uuid, domstats(libvirtd, g.name, *SIGNAL_GROUPS)) for g in booted(guests))
    finally:
        for g in booted(guests):
            g.domain().resume()
    assert warnings == []
    conn = libvirt.openReadOnly(libvirtd)
    try:
        version = conn.getLibVersion()
    finally:
        conn.close()
    for g in booted(guests):
        vm = facts['vms'][g.uuid]
        check_vcpus(vm, version)
        assert_bracketed(vm, before[g.uuid], after[g.uuid], gauges=True)
        image = devices(before[g.uuid], 'block')['vda']['path']
        assert vm['disks']['vda']['capacity'] == os.path.getsize(image) == 32 * 1024 * 1024
        # The guest wrote 256 KiB at 4 MiB every round: the highest offset written is past it.
        assert vm['disks']['vda']['allocation'] >= 4 * 1024 * 1024 + 256 * 1024
        assert 0 < vm['memory_pressure']['usable_kb'] <= vm['memory']['max_kb']
