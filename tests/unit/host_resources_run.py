"""Running host_resources as ansible-test does (``python -m <module> args.json``) on libvirt's
test driver, for the module tests and the shared-storage tests."""

import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
COLLECTIONS = os.path.join(ROOT, '.collections')   # PYTHONPATH of the module's own process
NODES = os.path.join(ROOT, 'tests', 'unit', 'nodes')
MODULE = 'ansible_collections.hypervisor.stats.plugins.modules.host_resources'


def node_uri(name):
    return 'test://' + os.path.join(NODES, name)


def run_module(args, workdir, python=sys.executable, check_mode=False, prefix=(), env=None):
    """Run the module once as ansible-test does; the parsed JSON result. Never a traceback."""
    path = os.path.join(str(workdir), 'args-%d.json' % len(os.listdir(str(workdir))))
    with open(path, 'w') as f:
        json.dump({'ANSIBLE_MODULE_ARGS': dict(args, _ansible_check_mode=check_mode)}, f)
    os.chmod(path, 0o644)
    env = dict(os.environ, **dict({'PYTHONPATH': COLLECTIONS}, **(env or {})))
    proc = subprocess.run(list(prefix) + [python, '-m', MODULE, path], env=env, cwd=str(workdir),
                          capture_output=True, text=True, timeout=120)
    assert 'Traceback' not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert (proc.returncode != 0) == bool(result.get('failed')), result
    return result


def facts_of(result):
    assert not result.get('failed'), result.get('msg')
    assert result['changed'] is False
    return result['ansible_facts']['host_resources']
