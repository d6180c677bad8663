# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release path: the Galaxy tarball builds, leaves the heavy artefacts out,
installs into an empty collections path and runs the demo from there; and
`ansible-builder create` turns examples/execution-environment.yml into a build
context that installs that tarball with the collection's dependencies.

No container engine runs here, so the EE check stops at `create` and then runs
ansible-builder's own introspection script (the one the image build runs) on
the installed tarball. Nothing is written into the repository: the tarball is
built from a copy of the working tree, in a temporary directory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
BIN = os.path.dirname(sys.executable)
GALAXY = yaml.safe_load(open(os.path.join(ROOT, 'galaxy.yml')))
TARBALL_NAME = '%s-%s-%s.tar.gz' % (GALAXY['namespace'], GALAXY['name'], GALAXY['version'])
EE_FILE = os.path.join(ROOT, 'examples', 'execution-environment.yml')

# Artefacts that tests, demos and users leave in a checkout; none may ship.
DECOYS = [
    '.venv/bin/python3',
    '.collections/ansible_collections/hypervisor/stats/galaxy.yml',
    '.cache/facts/compute-a1',
    '.pytest_cache/README.md',
    'tests/.pytest_cache/v/cache/nodeids',
    'tests/output/junit/sanity.xml',
    'tests/integration/guest/disk.img',
    'tests/molecule/default/rootfs.qcow2',
    'roles/collector_timer/molecule/default/instance.raw',
    'report/capacity.html',
    'images/bookworm.raw',
    'dist/hypervisor-stats-0.0.1.tar.gz',
]
FORBIDDEN_PREFIXES = ['.venv', '.collections', '.cache', '.pytest_cache', '.git/', 'tests/output',
                      'tests/integration', 'tests/molecule', 'roles/collector_timer/molecule', 'report', 'images',
                      'dist', 'bench', 'scripts']
FORBIDDEN_SUFFIXES = ['.img', '.qcow2', '.raw', '.iso', '.tar.gz', '.pyc']
MUST_SHIP = [
    'MANIFEST.json', 'FILES.json', 'README.md', 'meta/runtime.yml',
    'meta/execution-environment.yml', 'meta/ee-requirements.txt', 'meta/ee-bindep.txt',
    'plugins/modules/host_resources.py', 'plugins/module_utils/libvirt_client.py',
    'playbooks/collect.yml', 'examples/inventory.yml', 'examples/nodes/compute-a1.xml',
    'examples/execution-environment.yml', 'docs/README.md', 'changelogs/changelog.yaml',
]


def run(cmd, cwd, env=None, timeout=120):
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=timeout)
    assert proc.returncode == 0, '%s failed (rc %d):\n%s' % (' '.join(cmd), proc.returncode, proc.stdout[-6000:])
    return proc.stdout


def working_tree_files():
    """Tracked and new files of the checkout, as `git` lists them (what a release builds from)."""
    out = subprocess.check_output(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                                  cwd=ROOT)
    return [f for f in out.decode().split('\0') if f and os.path.isfile(os.path.join(ROOT, f))]


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    """Build the tarball from a copy of the tree salted with decoy artefacts; install it fresh."""
    base = tmp_path_factory.mktemp('release')
    src = base / 'src'
    for rel in working_tree_files():
        dest = src / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), str(dest))
    for rel in DECOYS:
        dest = src / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text('decoy artefact; must not be in the tarball\n')

    dist = base / 'dist'
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'build', '--output-path', str(dist), str(src)],
        cwd=str(base))
    tarball = dist / TARBALL_NAME
    assert tarball.is_file(), 'no %s in %s' % (TARBALL_NAME, os.listdir(str(dist)))

    collections = base / 'collections'
    # --force: a copy installed elsewhere (~/.ansible/collections) must not make this a no-op.
    env = dict(os.environ, ANSIBLE_CONFIG=str(base / 'none.cfg'), ANSIBLE_COLLECTIONS_PATH=str(collections))
    run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'install', '--force', str(tarball),
         '-p', str(collections)], cwd=str(base), env=env)
    installed = collections / 'ansible_collections' / GALAXY['namespace'] / GALAXY['name']
    assert (installed / 'MANIFEST.json').is_file()
    return {'base': base, 'tarball': tarball, 'collections': collections, 'installed': installed}


def isolated_env(release):
    """Ansible sees only the freshly installed collection: no checkout, no site-packages collections."""
    base = release['base']
    cfg = base / 'ansible.cfg'
    cfg.write_text('\n'.join([
        '[defaults]',
        'gathering = explicit',
        'retry_files_enabled = false',
        'interpreter_python = auto_silent',
        'collections_scan_sys_path = false',
        'fact_caching = jsonfile',
        'fact_caching_connection = %s' % (base / 'facts'),
        'fact_caching_timeout = 0',
        # The report comes from the installed callback too.
        'callbacks_enabled = hypervisor.stats.capacity_report',
        '[callback_capacity_report]',
        'output_dir = %s' % (base / 'report'),
        '',
    ]))
    env = {k: v for k, v in os.environ.items() if not k.startswith('ANSIBLE_')}
    env.update(ANSIBLE_CONFIG=str(cfg), ANSIBLE_COLLECTIONS_PATH=str(release['collections']),
               ANSIBLE_NOCOLOR='1', PATH=BIN + os.pathsep + env.get('PATH', ''))
    return env


def read_cached_facts(path):
    """One jsonfile cache entry; ansible-core 2.19 wraps the facts in a serialised payload."""
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, dict) and '__payload__' in data:
        data = json.loads(data['__payload__'])
    return data


def test_tarball_leaves_artefacts_out_and_ships_the_collection(release):
    with tarfile.open(str(release['tarball'])) as tar:
        names = [m.name for m in tar.getmembers()]
    shipped = [n for n in names
               if any(n == p.rstrip('/') or n.startswith(p.rstrip('/') + '/') for p in FORBIDDEN_PREFIXES)
               or any(n.endswith(s) for s in FORBIDDEN_SUFFIXES) or '.pytest_cache' in n.split('/')]
    assert shipped == [], 'artefacts in the tarball: %s' % shipped
    missing = [n for n in MUST_SHIP if n not in names]
    assert missing == [], 'missing from the tarball: %s' % missing
    # A few hundred KiB of code and docs; a leaked venv or image is tens of MiB.
    assert release['tarball'].stat().st_size < 2 * 1024 * 1024


def test_installed_collection_matches_its_manifest(release):
    out = run([os.path.join(BIN, 'ansible-galaxy'), 'collection', 'verify', '--offline',
               '%s.%s' % (GALAXY['namespace'], GALAXY['name'])], cwd=str(release['base']), env=isolated_env(release))
    assert 'modified content' not in out.lower()


def test_demo_runs_from_the_installed_collection(release):
    import libvirt

    installed = release['installed']
    inventory = installed / 'examples' / 'inventory.yml'
    env = isolated_env(release)
    out = run([os.path.join(BIN, 'ansible-playbook'), '-i', str(inventory), 'hypervisor.stats.collect'],
              cwd=str(release['base']), env=env, timeout=150)
    recap = dict(re.findall(r'^(\S+)\s*:\s*ok=\d+\s+changed=\d+\s+(unreachable=\d+\s+failed=\d+)', out, re.M))
    hosts = sorted(os.path.basename(p)[:-4] for p in glob.glob(str(installed / 'examples' / 'nodes' / '*.xml')))
    assert hosts, 'no simulated nodes shipped'
    for host in hosts:
        assert recap.get(host) == 'unreachable=0    failed=0', 'host %s in recap: %r\n%s' % (host, recap.get(host), out)

    # The facts came from the installed module reading the shipped node files:
    # compare with libvirt's own answer for the same URI.
    for host in hosts:
        cached = glob.glob(str(release['base'] / 'facts' / ('*' + host)))
        assert len(cached) == 1, 'fact cache entry of %s: %s' % (host, cached)
        facts = read_cached_facts(cached[0])['host_resources']
        uri = 'test://%s' % (installed / 'examples' / 'nodes' / (host + '.xml'))
        conn = libvirt.openReadOnly(uri)
        try:
            cpus = conn.getInfo()[2]
            running = conn.numOfDomains()
        finally:
            conn.close()
        assert facts['uri'] == uri
        assert facts['vcpus'] == cpus
        assert facts['running_vms'] == running

    # The installed callback wrote its report about these hosts, and the metric names
    # the user guide lists are metrics it writes.
    report = release['base'] / 'report'
    assert 'CAPACITY REPORT' in out
    with open(str(report / 'capacity.json')) as f:
        report_text = f.read()
    json.loads(report_text)
    for host in hosts:
        assert '"%s"' % host in report_text, host
    families = set(re.findall(r'^# TYPE (\S+) ', (report / 'capacity.prom').read_text(), re.M))
    reference = open(os.path.join(ROOT, 'docs', 'reference.md')).read()
    section = reference[reference.index('### Prometheus metrics'):]
    named = set(re.findall(r'`(hypervisor_stats_[a-z0-9_]*[a-z0-9])`', section))
    assert named, 'docs/reference.md lists no metrics'
    assert sorted(named - families) == [], 'metrics in docs/reference.md that capacity.prom lacks'



def guide_snippet(page, file_name):
    """The YAML block that docs/<page> introduces as `file_name`."""
    text = open(os.path.join(ROOT, 'docs', page)).read()
    m = re.search(r'`%s`[^`]*?```yaml\n(.*?)^```' % re.escape(file_name), text, re.S | re.M)
    assert m, 'docs/%s shows no %s' % (page, file_name)
    return m.group(1)


def test_awx_project_of_the_guide_hands_the_totals_to_the_next_job(release):
    """docs/awx.md's project: collect.yml imports the installed playbook; its set_stats
    artifact, passed as extra vars the way an AWX workflow does, drives alert.yml."""
    project = release['base'] / 'project'
    project.mkdir()
    (project / 'collect.yml').write_text(guide_snippet('awx.md', 'collect.yml'))
    (project / 'alert.yml').write_text(guide_snippet('awx.md', 'alert.yml'))
    env = isolated_env(release)
    cfg = release['base'] / 'workflow.cfg'
    # AWX reads set_stats data the way the json callback reports it: global custom stats.
    # That callback lives in ansible.posix (the ansible package's collections, on sys.path,
    # which hold no hypervisor.stats).
    cfg.write_text('\n'.join([
        '[defaults]', 'gathering = explicit', 'interpreter_python = auto_silent',
        'collections_scan_sys_path = true', 'stdout_callback = ansible.posix.json',
        'show_custom_stats = true', 'fact_caching = jsonfile',
        'fact_caching_connection = %s' % (release['base'] / 'workflow-facts'), '']))
    env['ANSIBLE_CONFIG'] = str(cfg)
    inventory = str(release['installed'] / 'examples' / 'inventory.yml')
    out = run([os.path.join(BIN, 'ansible-playbook'), '-i', inventory, 'collect.yml'], cwd=str(project), env=env,
              timeout=150)
    artifacts = json.loads(out[out.index('{'):])['global_custom_stats']
    cluster = artifacts['hypervisor_stats_cluster']
    assert cluster['totals']['count'] == 4 and cluster['hosts_missed'] == [], cluster
    (project / 'artifacts.json').write_text(json.dumps(artifacts))

    alert = [os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', 'alert.yml', '-e', '@artifacts.json']
    env['ANSIBLE_STDOUT_CALLBACK'] = 'ansible.builtin.default'
    run(alert, cwd=str(project), env=env)
    proc = subprocess.run(alert + ['-e', 'min_free_vcpus=%d' % (cluster['totals']['inventory']['VCPU']['free'] + 1)],
                          cwd=str(project), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120)
    assert proc.returncode != 0, proc.stdout
    assert 'Only %d vCPUs' % cluster['totals']['inventory']['VCPU']['free'] in proc.stdout, proc.stdout

# --- execution environment -------------------------------------------------

@pytest.fixture(scope='module')
def ee_context(release):
    """`ansible-builder create` on a copy of examples/ next to meta/ and the built tarball in dist/."""
    base = release['base'] / 'ee'
    (base / 'examples').mkdir(parents=True)
    shutil.copy2(EE_FILE, str(base / 'examples'))
    shutil.copytree(os.path.join(ROOT, 'meta'), str(base / 'meta'))
    (base / 'dist').mkdir()
    shutil.copy2(str(release['tarball']), str(base / 'dist'))
    context = base / 'context'
    run([os.path.join(BIN, 'ansible-builder'), 'create', '-f', 'examples/execution-environment.yml',
         '-c', str(context), '--output-filename', 'Containerfile'], cwd=str(base))
    return context


def stages(containerfile):
    """Containerfile text split by stage name ('' for the ARG header)."""
    result, name = {'': []}, ''
    for line in containerfile.splitlines():
        m = re.match(r'FROM\s+\S+\s+AS\s+(\S+)', line, re.I)
        if m:
            name = m.group(1)
            result[name] = []
        result[name].append(line)
    return result


def test_ee_context_builds_from_the_definition(ee_context):
    definition = yaml.safe_load(open(EE_FILE))
    assert definition['version'] == 3
    containerfile = (ee_context / 'Containerfile').read_text()
    parts = stages(containerfile)
    assert {'base', 'galaxy', 'builder', 'final'} <= set(parts), sorted(parts)

    image = definition['images']['base_image']['name']
    assert 'ARG EE_BASE_IMAGE="%s"' % image in containerfile
    refs = re.search(r'ARG ANSIBLE_INSTALL_REFS="([^"]*)"', containerfile).group(1)
    assert 'ansible-core' in refs and 'ansible-runner' in refs, refs

    build = ee_context / '_build'
    assert (build / 'requirements.txt').read_text() == open(os.path.join(ROOT, 'meta', 'ee-requirements.txt')).read()
    assert (build / 'bindep.txt').read_text() == open(os.path.join(ROOT, 'meta', 'ee-bindep.txt')).read()

    # The galaxy stage installs the tarball of this version, copied into the context.
    galaxy_reqs = yaml.safe_load((build / 'requirements.yml').read_text())
    names = [c['name'] for c in galaxy_reqs['collections']]
    assert names == ['/build/collections/' + TARBALL_NAME], names
    assert (build / 'collections' / TARBALL_NAME).is_file()
    assert any('ansible-galaxy collection install' in line for line in parts['galaxy'])

    # The builder enables the repository holding libvirt-devel before assemble compiles libvirt-python.
    builder = '\n'.join(parts['builder'])
    assert re.search(r'--set-enabled crb.*\n(.*\n)*RUN /output/scripts/assemble', builder), builder
    assert '--user-pip=requirements.txt' in builder and '--user-bindep=bindep.txt' in builder
    assert any('install-from-bindep' in line for line in parts['final'])


def bindep_packages(profiles):
    """Packages of meta/ee-bindep.txt selected for the given profiles, by bindep's rule: a
    package applies when one of its platform selectors matches (or it has none) and one of
    its other selectors matches (or it has none, which means every profile)."""
    selected = []
    for line in open(os.path.join(ROOT, 'meta', 'ee-bindep.txt')):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        m = re.match(r'(\S+)\s*(?:\[([^\]]*)\])?$', line)
        assert m, 'unparsable bindep line: %r' % line
        selectors = (m.group(2) or '').split()
        platforms = [s for s in selectors if s.startswith('platform:')]
        others = [s for s in selectors if not s.startswith('platform:')]
        if (not platforms or set(platforms) & set(profiles)) and (not others or set(others) & set(profiles)):
            selected.append(m.group(1))
    return selected


@pytest.mark.parametrize('platform, headers, pkgconfig, python_headers, runtime', [
    ('platform:rpm', 'libvirt-devel', 'pkgconf-pkg-config', 'python3-devel', ['libvirt-libs', 'openssh-clients']),
    ('platform:dpkg', 'libvirt-dev', 'pkg-config', 'python3-dev', ['libvirt0', 'openssh-client']),
])
def test_bindep_compiles_libvirt_python_on_rpm_and_dpkg(platform, headers, pkgconfig, python_headers, runtime):
    compile_time = bindep_packages([platform, 'compile'])
    for pkg in [headers, pkgconfig, python_headers, 'gcc'] + runtime:
        assert pkg in compile_time, (platform, compile_time)
    # The image keeps only what runs: no compiler, no headers.
    run_time = bindep_packages([platform, 'default'])
    assert sorted(run_time) == sorted(runtime), (platform, run_time)
    if platform == 'platform:dpkg':
        # This machine is Debian: every dpkg name must be a real package here.
        out = subprocess.run(['apt-cache', 'show', '--no-all-versions'] + compile_time, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, universal_newlines=True).stdout
        known = set(re.findall(r'^Package: (\S+)', out, re.M))
        assert sorted(set(compile_time) - known) == [], 'not Debian packages'


def test_ee_introspection_reads_the_installed_collection(release, ee_context, tmp_path):
    """The image build's introspect.py, run on the installed tarball: the collection's own
    meta/execution-environment.yml yields its dependencies (what any EE listing the collection
    gets), and the example's exclusion keeps them from being listed twice."""
    script = str(ee_context / '_build' / 'scripts' / 'introspect.py')
    build = ee_context / '_build'
    expected_pip = [ln for ln in (build / 'requirements.txt').read_text().splitlines() if ln and not ln.startswith('#')]

    out = run([sys.executable, script, 'introspect', str(release['collections']),
               '--write-pip', str(tmp_path / 'pip.txt'), '--write-bindep', str(tmp_path / 'bindep.txt')],
              cwd=str(tmp_path))
    data = yaml.safe_load(out[out.index('---'):])
    col = '%s.%s' % (GALAXY['namespace'], GALAXY['name'])
    assert [ln.split('  #')[0] for ln in data['python']] == expected_pip, data
    assert all(ln.endswith('# from collection ' + col) for ln in data['python'] + data['system'])
    assert any(ln.startswith('libvirt-devel ') for ln in data['system']), data['system']

    out = run([sys.executable, script, 'introspect', str(release['collections']),
               '--user-pip', str(build / 'requirements.txt'), '--user-bindep', str(build / 'bindep.txt'),
               '--exclude-collection-reqs', str(build / 'exclude-collections.txt')], cwd=str(tmp_path))
    data = yaml.safe_load(out[out.index('---'):])
    assert [ln.split('  #')[0] for ln in data['python']] == expected_pip, data
    assert all(ln.endswith('# from collection user') for ln in data['python'] + data['system']), data
