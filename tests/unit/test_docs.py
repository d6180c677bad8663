# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The documentation matches the code: every plugin and role renders with
ansible-doc; the user guide's links resolve, its YAML and ini snippets parse,
it documents every playbook input and fact field and names no variable that
does not exist; the awx.awx tasks it shows use real module options; the
changelog fragments lint and render into release notes naming every plugin.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import configparser
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DOCS = os.path.join(ROOT, 'docs')
BIN = os.path.dirname(sys.executable)
PREFIX = 'hypervisor.stats.'


def env():
    result = dict(os.environ, ANSIBLE_NOCOLOR='1', PATH=BIN + os.pathsep + os.environ.get('PATH', ''))
    result.setdefault('ANSIBLE_COLLECTIONS_PATH', os.path.join(ROOT, '.collections'))
    return result


def ansible_doc_json(plugin_type, names):
    proc = subprocess.run([os.path.join(BIN, 'ansible-doc'), '-t', plugin_type, '--json'] + names,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env(),
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'WARNING' not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def plugin_names(kind):
    return sorted(PREFIX + os.path.basename(p)[:-3]
                  for p in glob.glob(os.path.join(ROOT, 'plugins', kind, '*.py'))
                  if not os.path.basename(p).startswith('_'))


def doc_pages():
    return sorted(glob.glob(os.path.join(DOCS, '**', '*.md'), recursive=True))


def user_guide_text():
    """The pages this guide owns (docs/*.md), without the benchmark pages written elsewhere."""
    return '\n'.join(open(p).read() for p in glob.glob(os.path.join(DOCS, '*.md')))


def code_blocks(lang):
    blocks = []
    for page in doc_pages():
        text = open(page).read()
        for m in re.finditer(r'^```%s\n(.*?)^```' % re.escape(lang), text, re.S | re.M):
            blocks.append((os.path.relpath(page, ROOT), m.group(1)))
    return blocks


# --- plugins render --------------------------------------------------------------

@pytest.mark.parametrize('kind, plugin_type', [('modules', 'module'), ('filter', 'filter'),
                                               ('callback', 'callback')])
def test_every_plugin_renders_with_ansible_doc(kind, plugin_type):
    names = plugin_names(kind)
    if not names:
        pytest.skip('no %s plugins in this tree' % plugin_type)
    docs = ansible_doc_json(plugin_type, names)
    assert sorted(docs) == names
    for name, data in docs.items():
        assert data['doc'].get('short_description'), name
        assert data.get('examples') and PREFIX in data['examples'], '%s: EXAMPLES must use FQCNs' % name
        if plugin_type != 'callback':
            assert data.get('return'), '%s has no RETURN' % name


def test_every_role_renders_with_ansible_doc():
    roles = sorted(PREFIX + os.path.basename(os.path.dirname(os.path.dirname(p)))
                   for p in glob.glob(os.path.join(ROOT, 'roles', '*', 'meta', 'argument_specs.yml')))
    if not roles:
        pytest.skip('no roles with argument specs in this tree')
    docs = ansible_doc_json('role', roles)
    assert sorted(docs) == roles
    for name, data in docs.items():
        assert data['entry_points']['main'].get('short_description'), name


# --- the user guide ---------------------------------------------------------------

def slug(heading):
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r'[^\w\- ]', '', heading.strip().lower())
    return text.replace(' ', '-')


def anchors(page):
    return {slug(m.group(1)) for m in re.finditer(r'^#+\s+(.*)$', open(page).read(), re.M)}


def test_guide_has_the_pages_the_index_promises():
    index = open(os.path.join(DOCS, 'README.md')).read()
    for page in ('install.md', 'first-run.md', 'fact-cache.md', 'awx.md', 'periodic-collection.md',
                 'reference.md', 'troubleshooting.md', 'dependencies.md'):
        assert os.path.isfile(os.path.join(DOCS, page)), page
        assert '(%s)' % page in index, 'docs/README.md does not link %s' % page


def test_links_in_docs_resolve():
    broken = []
    for page in doc_pages() + [os.path.join(ROOT, 'README.md')]:
        text = re.sub(r'^```.*?^```', '', open(page).read(), flags=re.S | re.M)
        for target in re.findall(r'\]\(([^)\s]+)\)', text):
            if re.match(r'[a-z]+://|mailto:', target):
                continue
            path, _, anchor = target.partition('#')
            dest = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            if not os.path.exists(dest):
                broken.append('%s -> %s' % (os.path.relpath(page, ROOT), target))
            elif anchor and dest.endswith('.md') and anchor not in anchors(dest):
                broken.append('%s -> %s (no such heading)' % (os.path.relpath(page, ROOT), target))
    assert broken == []


def test_yaml_and_ini_snippets_parse():
    for page, block in code_blocks('yaml'):
        try:
            yaml.safe_load(block)
        except yaml.YAMLError as exc:
            pytest.fail('%s: YAML snippet does not parse: %s\n%s' % (page, exc, block))
    for page, block in code_blocks('ini'):
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(block)
        except configparser.Error as exc:
            pytest.fail('%s: ini snippet does not parse: %s\n%s' % (page, exc, block))


CYCLE_ROLE = os.path.join(ROOT, 'roles', 'cycle')


def playbook_inputs():
    """The main job's inputs: the options of its role's argument specs."""
    specs = yaml.safe_load(open(os.path.join(CYCLE_ROLE, 'meta', 'argument_specs.yml')))['argument_specs']
    return set(name for spec in specs.values() for name in spec['options'])


def playbook_outputs():
    """Facts the main job caches (set_fact cacheable) and what it publishes with set_stats."""
    names = set()
    for path in glob.glob(os.path.join(CYCLE_ROLE, 'tasks', '*.yml')):
        for task in yaml.safe_load(open(path)) or []:
            for action in ('ansible.builtin.set_fact', 'set_fact'):
                args = task.get(action)
                if isinstance(args, dict) and args.get('cacheable') in (True, 'true', 'yes'):
                    names |= {k for k in args if k != 'cacheable'}
            for action in ('ansible.builtin.set_stats', 'set_stats'):
                args = task.get(action)
                if isinstance(args, dict):
                    names |= set(args.get('data') or {})
    return names


def known_variables():
    """Every hypervisor_stats_* name the shipped content defines or reads."""
    names = set()
    for pattern in ('playbooks/**/*.yml', 'examples/**/*.yml', 'roles/**/*.yml', 'roles/**/*.j2',
                    'plugins/**/*.py'):
        for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            names |= set(re.findall(r'\bhypervisor_stats_[a-z0-9_]+', open(path).read()))
    return names


def without_metrics(text):
    """The guide without its Prometheus metric list (test_release.py checks those names
    against the metrics the installed collection writes)."""
    return re.sub(r'^### Prometheus metrics\n.*?(?=^#{1,3} |\Z)', '', text, flags=re.S | re.M)


def test_every_playbook_input_and_output_is_documented():
    inputs, outputs = playbook_inputs(), playbook_outputs()
    assert 'hypervisor_stats_group' in inputs and outputs, (inputs, outputs)
    reference = open(os.path.join(DOCS, 'reference.md')).read()
    missing = sorted(v for v in inputs | outputs if '`%s`' % v not in reference)
    assert missing == [], 'docs/reference.md does not document: %s' % missing


def test_docs_name_no_variable_that_does_not_exist():
    used = set(re.findall(r'\bhypervisor_stats_[a-z0-9_]*[a-z0-9]\b', without_metrics(user_guide_text())))
    invented = sorted(used - known_variables())
    assert invented == [], 'docs name variables nothing defines: %s' % invented


@pytest.mark.parametrize('module', ['host_resources', 'vm_stats'])
def test_every_fact_field_is_in_the_reference(module):
    path = os.path.join(ROOT, 'plugins', 'modules', module + '.py')
    if not os.path.exists(path):
        pytest.skip('%s not in this tree' % module)
    data = ansible_doc_json('module', [PREFIX + module])[PREFIX + module]
    facts = data['return']['ansible_facts']['contains'][module]['contains']
    reference = open(os.path.join(DOCS, 'reference.md')).read()
    missing = sorted(f for f in facts if '`%s`' % f not in reference)
    assert missing == [], 'docs/reference.md lacks %s fields: %s' % (module, missing)


def test_awx_tasks_in_the_guide_use_real_module_options():
    tasks = []
    for page, block in code_blocks('yaml'):
        data = yaml.safe_load(block)
        plays = data if isinstance(data, list) else []
        for play in plays:
            if isinstance(play, dict):
                tasks.extend((page, t) for t in play.get('tasks', []) or [] if isinstance(t, dict))
    awx_tasks = [(page, mod, task[mod]) for page, task in tasks for mod in task if mod.startswith('awx.awx.')]
    assert awx_tasks, 'docs/awx.md shows no awx.awx tasks'
    names = sorted({mod for _, mod, _ in awx_tasks})
    proc = subprocess.run([os.path.join(BIN, 'ansible-doc'), '-t', 'module', '--json'] + names,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          env=dict(env(), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH='true'), timeout=120)
    docs = json.loads(proc.stdout or '{}')
    if not docs:
        pytest.skip('awx.awx is not installed here (it ships in the ansible package of requirements-test.txt)')
    wrong = []
    for page, mod, args in awx_tasks:
        wrong.extend('%s: %s' % (page, path) for path in unknown_options(mod, args, docs[mod]['doc']['options']))
    assert wrong == [], 'options the awx.awx modules do not have: %s' % wrong


def unknown_options(path, args, options):
    """Option names in args (recursing into documented suboptions) that the spec lacks."""
    for name, value in args.items():
        spec = options.get(name)
        if spec is None:
            spec = next((o for o in options.values() if name in (o.get('aliases') or [])), None)
        if spec is None:
            yield '%s.%s' % (path, name)
            continue
        sub = spec.get('suboptions')
        if not sub:
            continue
        for item in (value if isinstance(value, list) else [value]):
            if isinstance(item, dict):
                for bad in unknown_options('%s.%s' % (path, name), item, sub):
                    yield bad


def test_readme_keeps_the_two_commands_and_links_the_guide():
    readme = open(os.path.join(ROOT, 'README.md')).read()
    assert 'make demo' in readme and 'make test' in readme
    assert '(docs/README.md)' in readme


# --- changelog ----------------------------------------------------------------------

def test_changelog_fragments_lint():
    proc = subprocess.run([os.path.join(BIN, 'antsibull-changelog'), 'lint'], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, env=env(), timeout=120)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout


def test_release_notes_render_and_name_every_plugin(tmp_path):
    """A dry run of `antsibull-changelog release` on a copy of the tree."""
    out = subprocess.check_output(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=ROOT)
    copy = tmp_path / 'stats'
    for rel in out.decode().split('\0'):
        if rel and os.path.isfile(os.path.join(ROOT, rel)) and not rel.startswith(('tests/', 'bench/')):
            dest = copy / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), str(dest))
    version = yaml.safe_load(open(os.path.join(ROOT, 'galaxy.yml')))['version']
    proc = subprocess.run([os.path.join(BIN, 'antsibull-changelog'), 'release', '--version', version,
                           '--date', '2026-01-01'], cwd=str(copy), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, env=env(), timeout=180)
    assert proc.returncode == 0, proc.stdout
    notes = (copy / 'CHANGELOG.md').read_text().replace('\\', '')
    assert 'v%s' % version in notes
    for kind in ('modules', 'filter', 'callback'):
        for name in plugin_names(kind):
            assert name in notes, '%s missing from the release notes' % name
    fragments = glob.glob(os.path.join(ROOT, 'changelogs', 'fragments', '*.yml'))
    assert fragments
    for fragment in fragments:
        for section in yaml.safe_load(open(fragment)).values():
            first = (section if isinstance(section, str) else section[0]).split()[:3]
            assert ' '.join(first) in ' '.join(notes.split()), 'fragment %s not in the notes' % fragment
