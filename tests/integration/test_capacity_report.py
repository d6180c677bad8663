"""The capacity_report callback in real ansible-playbook runs on the simulated test-driver cluster.

Each format is checked against the facts the modules and filters returned in the same run, read
back from a jsonfile fact cache of the run's own. The Prometheus file goes through the real
promtool; the HTML page is opened in real headless Chromium, whose DOM must hold the bars and
whose screenshot must show them in their colours and sizes.
"""

import glob
import json
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import pytest

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import VM_TOTAL_FIELDS
from test_cycle import untag  # the jsonfile cache of ansible-core 2.19 wraps tagged values

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
COLLECT = os.path.join(ROOT, 'playbooks', 'collect.yml')
PROMTOOL = '/usr/bin/promtool'
CHROMIUM = '/usr/bin/chromium'
REPORT_FILES = ('capacity.html', 'capacity.json', 'capacity.prom')
FLAVORS = {'m1.small': {'vcpus': 1, 'memory_mb': 2048, 'disk_gb': 10},
           'm1.large': {'vcpus': 4, 'memory_mb': 8192, 'disk_gb': 40}}
CALLBACK = 'hypervisor.stats.capacity_report'
BANNER = 'CAPACITY REPORT'
# Bar colours of the page (plugin_utils/report.css), as Chromium paints them in sRGB.
COLOURS = {'ok': (0x3a, 0x70, 0xb5), 'high': (0xe2, 0xa0, 0x18), 'full': (0xc8, 0x37, 0x2d),
           'free': (0xcd, 0xe8, 0xcd), 'reserved': (0x9a, 0xa3, 0xad)}
WINDOW = (1280, 3200)


# --- running Ansible ---------------------------------------------------------

def ansible_env(tmp_path, **extra):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith(('HYPERVISOR_STATS_', 'ANSIBLE_')))
    env.update(ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'), ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               ANSIBLE_CALLBACKS_ENABLED=CALLBACK, HYPERVISOR_STATS_REPORT_DIR=str(tmp_path / 'report'),
               ANSIBLE_CACHE_PLUGIN='ansible.builtin.jsonfile', ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / 'facts'),
               ANSIBLE_CACHE_PLUGIN_TIMEOUT='0', ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_HOST_KEY_CHECKING='False', ANSIBLE_SSH_RETRIES='0', ANSIBLE_TIMEOUT='10')
    env.update(extra)
    return env


def run_playbook(tmp_path, playbook, inventory, args=(), check=True, cwd=None, **env):
    proc = subprocess.run([ANSIBLE_PLAYBOOK, '-i', str(inventory), str(playbook)] + list(args),
                          env=ansible_env(tmp_path, **env), capture_output=True, text=True, timeout=300,
                          cwd=cwd or str(tmp_path))
    if check:
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc


def cached_facts(tmp_path):
    """{host: facts} from the run's jsonfile cache (entries may carry a serialisation prefix)."""
    facts = {}
    for path in glob.glob(str(tmp_path / 'facts' / '*')):
        with open(path) as handle:
            data = json.load(handle)
        if '__payload__' in data:
            data = json.loads(data['__payload__'])
        host = os.path.basename(path)
        host = re.sub(r'^s\d+_', '', host)
        facts[host] = untag(data)
    return facts


def table_of(stdout):
    """The lines the callback printed after its banner."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(BANNER))
    return lines[start + 1:]


def report(tmp_path):
    directory = tmp_path / 'report'
    with open(str(directory / 'capacity.json')) as handle:
        doc = json.load(handle)
    return doc, (directory / 'capacity.prom').read_text(), (directory / 'capacity.html').read_text()


def copy_examples(tmp_path, extra_hosts=None):
    """The example cluster in tmp_path, optionally with hosts added to the hypervisors group."""
    shutil.copytree(os.path.join(ROOT, 'examples', 'nodes'), str(tmp_path / 'nodes'))
    with open(os.path.join(ROOT, 'examples', 'inventory.yml')) as handle:
        text = handle.read()
    for name, variables in (extra_hosts or {}).items():
        text = text.rstrip('\n') + '\n        %s: %s\n' % (name, json.dumps(variables))
    (tmp_path / 'inventory.yml').write_text(text)
    return tmp_path / 'inventory.yml'


# --- Prometheus parsing ----------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def prom_samples(text):
    samples = {}
    for line in text.splitlines():
        if line.startswith('#'):
            continue
        name, labels, value = SAMPLE.match(line).groups()
        samples[(name, frozenset(LABEL.findall(labels or '')))] = float(value)
    return samples


def promtool_check(text):
    proc = subprocess.run([PROMTOOL, 'check', 'metrics'], input=text, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), proc.stdout + proc.stderr


# --- Chromium ----------------------------------------------------------------

def chromium_pids(marker):
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                if marker.encode() in handle.read():
                    pids.append(int(entry))
        except OSError:
            pass
    return pids


def run_chromium(tmp_path, *args):
    """Run headless Chromium with a fresh profile; every process it started is gone on return."""
    profile = tempfile.mkdtemp(prefix='chromium-profile-', dir=str(tmp_path))
    cmd = [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic',
           '--disable-extensions', '--force-color-profile=srgb', '--hide-scrollbars', '--force-device-scale-factor=1',
           '--user-data-dir=' + profile] + list(args)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        deadline = time.time() + 20
        while True:
            left = chromium_pids(profile)
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL if time.time() > deadline - 15 else signal.SIGTERM)
                except ProcessLookupError:
                    pass
            assert time.time() < deadline, 'Chromium processes %s did not stop' % left
            time.sleep(0.2)
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, err[-3000:]
    return out


def read_png(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA, non-interlaced PNG, as Chromium writes."""
    with open(path, 'rb') as handle:
        data = handle.read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    pos, idat, header = 8, b'', None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', chunk)
        elif kind == b'IDAT':
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _c, _f, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xff
            elif kind == 2:
                line[x] = (line[x] + up) & 0xff
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xff
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xff
        rows.append(line)
        previous = line
    return width, height, rows, channels


def colour_counts(path):
    width, height, rows, channels = read_png(path)
    wanted = dict((rgb, name) for name, rgb in COLOURS.items())
    counts = dict((name, 0) for name in COLOURS)
    for line in rows:
        for x in range(0, width * channels, channels):
            name = wanted.get((line[x], line[x + 1], line[x + 2]))
            if name:
                counts[name] += 1
    return counts


BAR = re.compile(r'<svg class="bar"([^>]*)>(.*?)</svg>', re.S)
RECT = re.compile(r'<rect class="(\w+)(?: (\w+))?" x="[\d.]+" y="0" width="([\d.]+)" height="(\d+)"')
ATTR = re.compile(r'([\w-]+)="([^"]*)"')


def dom_bars(dom):
    bars = []
    for attrs, body in BAR.findall(dom):
        attrs = dict(ATTR.findall(attrs))
        bars.append((attrs, [(cls, level, float(width), int(height)) for cls, level, width, height in RECT.findall(body)]))
    return bars


# --- the main cycle ----------------------------------------------------------

@pytest.fixture(scope='module')
def cycle(tmp_path_factory):
    """Two collect.yml cycles (so the counters hold a previous sample) with flavors, grouped by cluster."""
    tmp_path = tmp_path_factory.mktemp('cycle')
    inventory = copy_examples(tmp_path)
    args = ['-e', json.dumps({'hypervisor_stats_flavors': FLAVORS})]
    run_playbook(tmp_path, COLLECT, inventory, args, HYPERVISOR_STATS_REPORT_GROUP_BY='labels.cluster')
    first = json.loads((tmp_path / 'report' / 'capacity.json').read_text())
    proc = run_playbook(tmp_path, COLLECT, inventory, args, HYPERVISOR_STATS_REPORT_GROUP_BY='labels.cluster')
    return {'dir': tmp_path, 'stdout': proc.stdout, 'facts': cached_facts(tmp_path), 'first': first}


HOSTS = ('compute-a1', 'compute-a2', 'compute-b1', 'compute-b2')


def test_files_are_written_atomically_with_mode_0640(cycle):
    directory = cycle['dir'] / 'report'
    assert sorted(os.listdir(str(directory))) == sorted(REPORT_FILES)  # no temporary file left behind
    for name in REPORT_FILES:
        assert stat.S_IMODE(os.stat(str(directory / name)).st_mode) == 0o640, name


def test_json_matches_the_facts(cycle):
    doc, _prom, _html = report(cycle['dir'])
    facts = cycle['facts']
    assert doc['schema_version'] == 1 and doc['problems'] == []
    assert sorted(doc['hosts']) == sorted(HOSTS)
    for host in HOSTS:
        hr = facts[host]['host_resources']
        entry = doc['hosts'][host]
        assert entry['group'] == hr['labels']['cluster']
        assert entry['running_vms'] == hr['running_vms']
        assert entry['hypervisor_hostname'] == hr['hypervisor_hostname']
        assert entry['disk_available_least'] == hr['disk_available_least']
        for rc, record in hr['inventory'].items():
            for field in ('total', 'reserved', 'capacity', 'used', 'free', 'allocation_ratio'):
                assert entry['inventory'][rc][field] == record[field], (host, rc, field)
        vms = facts[host]['vm_stats']['vms']
        assert entry['vms'] == len(vms)
        counters = facts[host]['hypervisor_stats_counters']['vms']
        for uuid, vm in vms.items():
            got = doc['vms'][uuid]
            assert (got['host'], got['name'], got['state'], got['vcpus']) == (host, vm['name'], vm['state'], vm['vcpus'])
            # the report's totals are CloudStack's (vm_stats' totals add cpu_delay_ns, not reported)
            assert got['totals'] == dict((f, vm['totals'][f]) for f in VM_TOTAL_FIELDS)
            assert got['cpu_time_ns'] == vm['cpu_time_ns']
            assert got['cumulative'] == counters[uuid]['cumulative']
            assert got['cpu_utilization'] == (vm['cpu_utilization'] if vm['cpu_utilization'] is not None
                                              else counters[uuid]['cpu_utilization'])
    assert sum(len(facts[h]['vm_stats']['vms']) for h in HOSTS) == len(doc['vms'])
    totals = facts['localhost']['hypervisor_stats_cluster']['totals']
    cluster = doc['cluster']
    assert cluster['source'] == 'cluster_totals'
    for field in ('count', 'running_vms', 'vcpus', 'memory_mb', 'local_gb', 'disk_available_least'):
        assert cluster[field] == totals[field], field
    for rc, record in totals['inventory'].items():
        for field in ('total', 'reserved', 'capacity', 'used', 'free'):
            assert cluster['inventory'][rc][field] == record[field]
    assert sorted(cluster['fits']) == sorted(FLAVORS)
    for flavor in FLAVORS:
        assert cluster['fits'][flavor]['total'] == totals['fits'][flavor]
        for group in ('east', 'west'):
            assert cluster['fits'][flavor]['groups'][group] == totals['groups'][group]['fits'][flavor]
    for group in ('east', 'west'):
        members = [facts[h]['host_resources'] for h in HOSTS if facts[h]['host_resources']['labels']['cluster'] == group]
        assert cluster['groups'][group]['inventory']['VCPU']['free'] == sum(m['inventory']['VCPU']['free'] for m in members)
    # The top lists rank the VMs the facts hold, largest first.
    disk = doc['top']['disk']
    values = [e['value'] for e in disk['vms']]
    assert values == sorted(values, reverse=True) and len(values) <= 5
    basis = disk['basis']
    for e in disk['vms']:
        source = doc['vms'][e['uuid']][basis]
        assert e['value'] == source['disk_read_kb'] + source['disk_write_kb']


def test_table_reads_well_and_matches_the_facts(cycle):
    lines = table_of(cycle['stdout'])
    assert max(len(line) for line in lines) <= 80
    assert '\x1b' not in '\n'.join(lines)
    facts = cycle['facts']
    for host in HOSTS:
        hr = facts[host]['host_resources']
        inv = hr['inventory']
        row = next(line for line in lines if line.startswith(host + ' '))
        assert row.split()[1:] == [
            str(hr['running_vms']), str(inv['VCPU']['used']), str(inv['VCPU']['capacity']), str(inv['VCPU']['free']),
            '%.1f' % (inv['MEMORY_MB']['used'] / 1024.0), '%.1f' % (inv['MEMORY_MB']['capacity'] / 1024.0),
            '%.1f' % (inv['MEMORY_MB']['free'] / 1024.0),
            str(inv['DISK_GB']['used']), str(inv['DISK_GB']['capacity']), str(inv['DISK_GB']['free'])]
    totals = facts['localhost']['hypervisor_stats_cluster']['totals']
    cluster_row = next(line for line in lines if line.startswith('CLUSTER (4)'))
    assert cluster_row.split()[2:4] == [str(totals['running_vms']), str(totals['inventory']['VCPU']['used'])]
    assert any(line.startswith('[east]') for line in lines) and any(line.startswith('[west]') for line in lines)
    small = next(line for line in lines if line.startswith('  m1.small'))
    assert small.split()[1] == str(totals['fits']['m1.small'])
    text = '\n'.join(lines)
    assert 'Headroom: %d vCPUs' % totals['inventory']['VCPU']['free'] in text
    for kind in ('CPU', 'disk I/O', 'network I/O'):
        assert 'Top 5 VMs by %s' % kind in text


def test_prometheus_passes_promtool_and_matches_the_facts(cycle):
    _doc, prom, _html = report(cycle['dir'])
    promtool_check(prom)
    samples = prom_samples(prom)
    facts = cycle['facts']
    for host in HOSTS:
        hr = facts[host]['host_resources']
        labels = {('host', host), ('group', hr['labels']['cluster'])}
        assert samples[('hypervisor_stats_host_vcpus_used', frozenset(labels))] == hr['inventory']['VCPU']['used']
        assert samples[('hypervisor_stats_host_memory_free_bytes', frozenset(labels))] == \
            hr['inventory']['MEMORY_MB']['free'] * 1024 ** 2
        assert samples[('hypervisor_stats_host_disk_capacity_bytes', frozenset(labels))] == \
            hr['inventory']['DISK_GB']['capacity'] * 1024 ** 3
        assert samples[('hypervisor_stats_host_up', frozenset(labels))] == 1
        for uuid, vm in facts[host]['vm_stats']['vms'].items():
            vm_labels = frozenset(labels | {('vm', vm['name']), ('uuid', uuid)})
            assert samples[('hypervisor_stats_vm_network_read_bytes_total', vm_labels)] == \
                pytest.approx(vm['totals']['network_read_kb'] * 1024)
            cumulative = facts[host]['hypervisor_stats_counters']['vms'][uuid]['cumulative']
            assert samples[('hypervisor_stats_vm_cumulative_disk_write_bytes_total', vm_labels)] == \
                pytest.approx(cumulative['disk_write_kb'] * 1024)
    fits = facts['localhost']['hypervisor_stats_cluster']['totals']['fits']
    assert samples[('hypervisor_stats_cluster_flavor_fits', frozenset({('flavor', 'm1.large')}))] == fits['m1.large']


def test_html_renders_bars_in_chromium(cycle):
    doc, _prom, html_text = report(cycle['dir'])
    page = cycle['dir'] / 'report' / 'capacity.html'
    for reference in re.findall(r'(?:src|href)="([^"#][^"]*)"', html_text):
        pytest.fail('the page references %s' % reference)
    assert '<script' not in html_text and 'url(' not in html_text
    dom = run_chromium(cycle['dir'], '--dump-dom', page.as_uri())
    bars = dom_bars(dom)
    facts = cycle['facts']
    # 3 cluster cards, 3 per group, 3 per host
    assert len(bars) == 3 + 3 * 2 + 3 * len(HOSTS)
    host_bars = bars[-3 * len(HOSTS):]
    for index, host in enumerate(sorted(HOSTS, key=lambda h: (facts[h]['host_resources']['labels']['cluster'], h))):
        inventory = facts[host]['host_resources']['inventory']
        for offset, rc in enumerate(('VCPU', 'MEMORY_MB', 'DISK_GB')):
            attrs, rects = host_bars[3 * index + offset]
            record = inventory[rc]
            assert attrs['data-resource'] == rc
            span = record['used'] + record['free'] + record['reserved'] * record['allocation_ratio']
            width = float(attrs['width'])
            drawn = dict((cls, w) for cls, _level, w, _h in rects)
            assert drawn.get('used', 0) == pytest.approx(width * record['used'] / span, abs=0.01), (host, rc)
            assert drawn.get('free', 0) == pytest.approx(width * record['free'] / span, abs=0.01), (host, rc)
            assert drawn.get('reserved', 0) == pytest.approx(
                width * record['reserved'] * record['allocation_ratio'] / span, abs=0.01), (host, rc)
    for section in ('id="cluster"', 'id="groups"', 'id="flavors"', 'id="hosts"', 'id="top-cpu"', 'id="top-disk"',
                    'id="top-network"'):
        assert section in dom

    # The bars alone: the forecast charts draw their used series in the bars' blue.
    bars_only = cycle['dir'] / 'bars-only.html'
    bars_only.write_text(re.sub(r'<h2>Forecast</h2><section class="panel" id="forecast">.*?</section>', '',
                                html_text, flags=re.S))
    shot = cycle['dir'] / 'capacity.png'
    run_chromium(cycle['dir'], '--screenshot=%s' % shot, '--window-size=%d,%d' % WINDOW, bars_only.as_uri())
    counts = colour_counts(str(shot))
    expected = dict((name, 0) for name in COLOURS)
    for _attrs, rects in bars:
        for cls, level, width, height in rects:
            expected[level if cls == 'used' else cls] += width * height
    legend = 12 * 12  # one legend square per colour
    for name, area in expected.items():
        if area == 0:
            continue
        # anti-aliased edges: up to two columns of each rect may blend with its neighbour
        slack = 2 * 16 * sum(1 for _a, rects in bars for r in rects if (r[1] if r[0] == 'used' else r[0]) == name)
        assert area - slack <= counts[name] - legend <= area + slack, (name, counts[name], area)
    print('screenshot: %s' % shot)


def test_counters_of_the_second_cycle_reach_the_report(cycle):
    """accumulate gave every VM a utilisation on the second cycle; the report ranks by it."""
    doc, _prom, _html = report(cycle['dir'])
    assert cycle['first']['top']['cpu']['basis'] in ('cpu_time_ns', 'cpu_utilization')
    assert doc['top']['cpu']['basis'] == 'cpu_utilization'
    assert doc['generated_at'] >= cycle['first']['generated_at']


# --- problems, no_log, silence, options ---------------------------------------

def test_failed_and_unreachable_hosts_are_called_out(tmp_path):
    inventory = copy_examples(tmp_path, {
        # the URI names a node file that does not exist: host_resources fails
        'compute-x9': {'hypervisor_stats_labels': {'cluster': 'east'}},
        # nothing listens on the discard port of the loopback address: unreachable
        'compute-z9': {'ansible_connection': 'ssh', 'ansible_host': '127.0.0.1', 'ansible_port': 9},
    })
    proc = run_playbook(tmp_path, COLLECT, inventory, check=False)
    doc, prom, html_text = report(tmp_path)
    problems = dict((p['host'], p) for p in doc['problems'])
    assert problems['compute-x9']['status'] == 'failed' and 'compute-x9.xml' in problems['compute-x9']['message']
    assert problems['compute-z9']['status'] == 'unreachable'
    assert sorted(doc['hosts']) == sorted(HOSTS)  # the others are all there
    lines = table_of(proc.stdout)
    assert max(len(line) for line in lines) <= 80
    text = '\n'.join(lines)
    assert 'compute-x9  FAILED, no capacity data' in text and 'compute-z9  UNREACHABLE, no capacity data' in text
    assert '! compute-x9 failed' in text and '! compute-z9 unreachable' in text
    promtool_check(prom)
    samples = prom_samples(prom)
    assert samples[('hypervisor_stats_host_up', frozenset({('host', 'compute-z9')}))] == 0
    assert samples[('hypervisor_stats_host_up', frozenset({('host', 'compute-x9')}))] == 0
    assert samples[('hypervisor_stats_report_problem_hosts', frozenset())] == 2
    assert 'compute-x9 failed' in html_text and 'compute-z9 unreachable' in html_text


NO_LOG_PLAY = '''
- hosts: hypervisors
  gather_facts: false
  tasks:
    - name: Read capacity, secretly
      hypervisor.stats.host_resources:
        uri: "{{ hypervisor_stats_uri }}"
        storage_pool: default-pool
        labels: {secret: SECRET-LABEL-4711}
      no_log: %s
'''

NO_LOG_MIXED = '''
- hosts: hypervisors
  gather_facts: false
  tasks:
    - name: Read capacity
      hypervisor.stats.host_resources:
        uri: "{{ hypervisor_stats_uri }}"
        storage_pool: default-pool
    - name: Counters that must stay secret
      ansible.builtin.set_fact:
        hypervisor_stats_counters:
          collected_at: 1700000000
          vms:
            SECRET-UUID-4711:
              name: SECRET-VM-4711
              state: running
              vcpus: 64
              cpu_utilization: 99.9
              cumulative: {disk_read_kb: 123456789}
      no_log: true
'''


def test_no_log_results_never_reach_a_report(tmp_path):
    inventory = copy_examples(tmp_path)
    secret_play = tmp_path / 'secret.yml'
    secret_play.write_text(NO_LOG_PLAY % 'true')
    proc = run_playbook(tmp_path, secret_play, inventory)
    assert not (tmp_path / 'report').exists()
    assert BANNER not in proc.stdout + proc.stderr
    # The same play without no_log does report, label included: the check above can fail.
    open_play = tmp_path / 'open.yml'
    open_play.write_text(NO_LOG_PLAY % 'false')
    proc = run_playbook(tmp_path, open_play, inventory)
    assert 'SECRET-LABEL-4711' in (tmp_path / 'report' / 'capacity.json').read_text()
    shutil.rmtree(str(tmp_path / 'report'))

    mixed = tmp_path / 'mixed.yml'
    mixed.write_text(NO_LOG_MIXED)
    proc = run_playbook(tmp_path, mixed, inventory)
    assert BANNER in proc.stdout
    outputs = [proc.stdout, proc.stderr] + [(tmp_path / 'report' / name).read_text() for name in REPORT_FILES]
    for text in outputs:
        assert 'SECRET' not in text and '123456789' not in text
    doc = json.loads((tmp_path / 'report' / 'capacity.json').read_text())
    assert sorted(doc['hosts']) == sorted(HOSTS) and doc['vms'] == {}


QUIET_PLAY = '''
- hosts: hypervisors
  gather_facts: false
  tasks:
    - name: Something else entirely
      ansible.builtin.set_fact:
        unrelated: 1
    - name: A failure that is not about capacity
      ansible.builtin.fail:
        msg: not a stats task
      when: inventory_hostname == 'compute-b2'
'''


def test_a_run_without_stats_writes_and_prints_nothing(tmp_path):
    inventory = copy_examples(tmp_path)
    play = tmp_path / 'quiet.yml'
    play.write_text(QUIET_PLAY)
    proc = run_playbook(tmp_path, play, inventory, check=False)
    assert proc.returncode == 2, proc.stdout  # the fail task ran
    assert not (tmp_path / 'report').exists()
    assert BANNER not in proc.stdout + proc.stderr and 'capacity_report' not in proc.stdout + proc.stderr


# The modules only: no cluster_totals result, so the callback sums the cluster and groups it by its own option.
STATS_ONLY_PLAY = '''
- hosts: hypervisors
  gather_facts: false
  tasks:
    - name: Read capacity
      hypervisor.stats.host_resources:
        uri: "{{ hypervisor_stats_uri }}"
        storage_pool: "{{ hypervisor_stats_storage_pool }}"
        labels: "{{ hypervisor_stats_labels }}"
    - name: Read VM statistics
      hypervisor.stats.vm_stats:
        uri: "{{ hypervisor_stats_uri }}"
'''


def test_ini_options_formats_and_json_stdout(tmp_path):
    """Options from an ansible.cfg section (output_dir relative to that file), and env over ini.

    The callback's group_by groups a run without a cluster_totals result (collect.yml has one,
    whose grouping wins), so this runs the modules only."""
    inventory = copy_examples(tmp_path)
    stats_only = tmp_path / 'stats_only.yml'
    stats_only.write_text(STATS_ONLY_PLAY)
    cfg_dir = tmp_path / 'cfg'
    cfg_dir.mkdir()
    (cfg_dir / 'ansible.cfg').write_text(
        '[defaults]\ncallbacks_enabled = %s\nstdout_callback = ansible.builtin.default\n\n'
        '[callback_capacity_report]\noutput_dir = ./out\nformats = prometheus, html\ntop = 1\n'
        'group_by = hypervisor_type\n' % CALLBACK)
    env = dict(ANSIBLE_CONFIG=str(cfg_dir / 'ansible.cfg'), ANSIBLE_CALLBACKS_ENABLED=CALLBACK)
    ini_only = ansible_env(tmp_path, **env)
    del ini_only['HYPERVISOR_STATS_REPORT_DIR']
    proc = subprocess.run([ANSIBLE_PLAYBOOK, '-i', str(inventory), str(stats_only)], capture_output=True, text=True,
                          timeout=300, cwd=str(tmp_path), env=ini_only)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert BANNER not in proc.stdout  # no table among the formats
    out = cfg_dir / 'out'
    assert sorted(os.listdir(str(out))) == ['capacity.html', 'capacity.prom']
    prom = (out / 'capacity.prom').read_text()
    promtool_check(prom)
    assert 'hypervisor_stats_group_hosts{group_by="hypervisor_type",group="TEST"} 4' in prom
    assert '<td>' in (out / 'capacity.html').read_text()

    # env over ini; a JSON stdout callback stays parseable, the table goes to stderr
    proc = subprocess.run(
        [ANSIBLE_PLAYBOOK, '-i', str(inventory), str(stats_only)], capture_output=True, text=True, timeout=300,
        cwd=str(tmp_path), env=dict(ansible_env(tmp_path, **env), HYPERVISOR_STATS_REPORT_FORMATS='table,json,pdf',
                                    HYPERVISOR_STATS_REPORT_TOP='2', ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    json.loads(proc.stdout)
    assert BANNER in proc.stderr
    assert 'capacity_report: formats: ignoring unknown pdf' in ' '.join(proc.stderr.split())
    doc = json.loads((tmp_path / 'report' / 'capacity.json').read_text())
    assert doc['options'] == {'top': 2, 'group_by': 'hypervisor_type'}
    assert len(doc['top']['disk']['vms']) == 2
    assert sorted(os.listdir(str(tmp_path / 'report'))) == ['capacity.json']


def test_a_vm_gone_since_the_last_cycle_stays_under_its_host(tmp_path):
    """Counters stored with delegate_facts on the store host's loop belong to each hypervisor."""
    inventory = copy_examples(tmp_path)
    run_playbook(tmp_path, COLLECT, inventory)
    first, _prom, _html = report(tmp_path)
    uuid = next(vm['uuid'] for vm in first['vms'].values() if vm['name'] == 'web-02')
    node = tmp_path / 'nodes' / 'compute-a1.xml'
    text = node.read_text()
    removed = re.search(r'\s*<domain type="test">\s*<name>web-02</name>.*?</domain>', text, re.S)
    node.write_text(text[:removed.start()] + text[removed.end():])
    proc = run_playbook(tmp_path, COLLECT, inventory)
    doc, prom, _html = report(tmp_path)
    counters = cached_facts(tmp_path)['compute-a1']['hypervisor_stats_counters']['vms']
    gone = doc['vms'][uuid]
    assert (gone['host'], gone['state'], gone['name']) == ('compute-a1', 'gone', 'web-02')
    assert gone['cumulative'] == counters[uuid]['cumulative'] and gone['totals'] is None
    assert all(e['uuid'] != uuid for kind in ('cpu', 'disk', 'network') for e in doc['top'][kind]['vms'])
    assert 'web-02' not in '\n'.join(table_of(proc.stdout))
    assert re.search(r'^hypervisor_stats_vm_info\{host="compute-a1",vm="web-02",uuid="%s",(group="east",)?state="gone"\} 1$'
                     % uuid, prom, re.M)


def test_without_output_dir_only_the_table_and_a_warning(tmp_path):
    inventory = copy_examples(tmp_path)
    cfg = tmp_path / 'ansible.cfg'
    cfg.write_text('[defaults]\ncallbacks_enabled = %s\n\n[callback_capacity_report]\ngroup_by = labels.[\n' % CALLBACK)
    env = ansible_env(tmp_path, ANSIBLE_CONFIG=str(cfg))
    del env['HYPERVISOR_STATS_REPORT_DIR']
    proc = subprocess.run([ANSIBLE_PLAYBOOK, '-i', str(inventory), COLLECT], capture_output=True, text=True,
                          timeout=300, cwd=str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert BANNER in proc.stdout and 'compute-a1' in '\n'.join(table_of(proc.stdout))
    warnings = ' '.join((proc.stdout + proc.stderr).split())
    assert 'capacity_report: output_dir is not set' in warnings
    assert "group_by 'labels.[' is not a valid JMESPath expression" in warnings
    assert not any(name.startswith('capacity.') for _d, _s, files in os.walk(str(tmp_path)) for name in files)
