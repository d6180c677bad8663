"""Benchmark (issue 4): controller CPU per host for one whole collection cycle
(playbooks/collect.yml) on a 200-host simulated inventory (local connection,
libvirt test-driver URIs), against one ansible.builtin.ping task on the same
inventory. Target: the cycle <= 3x the ping.

Issue 12: the same cycle run from a copy of the collection whose role has the
history and forecast tasks removed, in the same run. Target: folding the history
adds at most 5 % to the cycle's controller CPU.

    .venv/bin/python bench/bench_cycle.py [--hosts N]

CPU is user + system time of ansible-playbook and everything it starts (with a
local connection the modules run on the controller too, so they are included on
both sides). The measured cycle is the second one: every host has counters in
the fact cache, as in production.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODES = os.path.join(ROOT, 'examples', 'nodes')
PING_PLAYBOOK = '''- name: One ping per hypervisor
  hosts: hypervisors
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
'''


def make_inventory(workdir, hosts):
    nodes = sorted(os.listdir(NODES))
    os.makedirs(os.path.join(workdir, 'nodes'))
    inventory_hosts = {}
    for index in range(hosts):
        name = 'hv%03d' % index
        shutil.copy(os.path.join(NODES, nodes[index % len(nodes)]), os.path.join(workdir, 'nodes', name + '.xml'))
        inventory_hosts[name] = {'hypervisor_stats_labels': {'cluster': 'c%d' % (index % 4)}}
    inventory = {'all': {'children': {'hypervisors': {
        'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': '{{ ansible_playbook_python }}',
                 'hypervisor_stats_uri': 'test://{{ inventory_dir }}/nodes/{{ inventory_hostname }}.xml',
                 'hypervisor_stats_storage_pool': 'default-pool'},
        'hosts': inventory_hosts}}}}
    path = os.path.join(workdir, 'inventory.yml')
    with open(path, 'w') as handle:
        json.dump(inventory, handle)
    with open(os.path.join(workdir, 'ping.yml'), 'w') as handle:
        handle.write(PING_PLAYBOOK)
    return path


# (task file of roles/cycle, the names of its tasks that fold, forecast or store history)
HISTORY_TASKS = (('main.yml', ('Fold this cycle into the capacity history', "Store each hypervisor's history")),
                 ('store_cluster.yml', ('Forecast from the history',)))
HISTORY_FACT_LINE = '    hypervisor_stats_history: "{{ cycle_history.cluster }}"  # noqa: var-naming[no-role-prefix]\n'


def collection_without_history(workdir):
    """A copy of the collection whose cycle neither folds nor stores history: the baseline of issue 12."""
    base = os.path.join(workdir, 'collections', 'ansible_collections', 'hypervisor', 'stats')
    for name in ('plugins', 'roles', 'playbooks', 'meta'):
        shutil.copytree(os.path.join(ROOT, name), os.path.join(base, name))
    shutil.copy(os.path.join(ROOT, 'galaxy.yml'), base)
    for filename, names in HISTORY_TASKS:
        path = os.path.join(base, 'roles', 'cycle', 'tasks', filename)
        with open(path) as handle:
            tasks = handle.read().split('\n\n')
        kept = [task for task in tasks if not any(('- name: ' + name) in task for name in names)]
        text = '\n\n'.join(kept).replace(HISTORY_FACT_LINE, '')
        if len(kept) != len(tasks) - len(names) or 'cycle_history' in text:
            raise SystemExit('the role changed: update HISTORY_TASKS in %s' % __file__)
        with open(path, 'w') as handle:
            handle.write(text)
    return os.path.join(workdir, 'collections')


def run(args, env, cwd):
    """(CPU seconds of the process tree, wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-5000:])
        raise SystemExit('%s failed with %d' % (' '.join(args), result.returncode))
    if 'failed=1' in result.stdout or 'unreachable=1' in result.stdout:
        raise SystemExit('a host failed:\n' + result.stdout[-3000:])
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hosts', type=int, default=200)
    args = parser.parse_args()
    bindir = os.path.dirname(sys.executable)
    workdir = tempfile.mkdtemp(prefix='bench-cycle-')
    try:
        inventory = make_inventory(workdir, args.hosts)
        base_env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'),
                        ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_CACHE_PLUGIN='ansible.builtin.jsonfile',
                        ANSIBLE_CACHE_PLUGIN_TIMEOUT='0', PATH=bindir + os.pathsep + os.environ.get('PATH', ''))
        playbook = [os.path.join(bindir, 'ansible-playbook'), '-i', inventory]
        rows = []
        # The same ansible.cfg without its extra callbacks (the capacity report), to show their share.
        bare_cfg = os.path.join(workdir, 'ansible.cfg')
        with open(os.path.join(ROOT, 'ansible.cfg')) as source, open(bare_cfg, 'w') as target:
            target.writelines(line for line in source if not line.startswith('callbacks_enabled'))
        without_history = collection_without_history(workdir)
        for label, extra in (('as configured (ansible.cfg callbacks)', {}),
                             ('without the capacity_report callback', {'ANSIBLE_CONFIG': bare_cfg}),
                             ('as configured, without history/forecast', {'ANSIBLE_COLLECTIONS_PATH': without_history})):
            env = dict(base_env, ANSIBLE_CACHE_PLUGIN_CONNECTION=os.path.join(workdir, 'facts-%d' % len(rows)), **extra)
            collect = os.path.join(env['ANSIBLE_COLLECTIONS_PATH'], 'ansible_collections', 'hypervisor', 'stats',
                                   'playbooks', 'collect.yml')
            run(playbook + [collect], env, workdir)   # first cycle fills the cache
            cycle_cpu, cycle_wall = run(playbook + [collect], env, workdir)
            ping_cpu, ping_wall = run(playbook + [os.path.join(workdir, 'ping.yml')], env, workdir)
            rows.append((label, cycle_cpu, cycle_wall, ping_cpu, ping_wall))
        print('controller CPU per host, %d hosts (local connection, test driver), forks from ansible.cfg; load average %.1f'
              % (args.hosts, os.getloadavg()[0]))
        print('%-40s %14s %14s %8s %10s %10s' % ('', 'cycle ms/host', 'ping ms/host', 'ratio', 'cycle wall', 'ping wall'))
        for label, cycle_cpu, cycle_wall, ping_cpu, ping_wall in rows:
            print('%-40s %14.1f %14.1f %7.2fx %9.1fs %9.1fs' % (
                label, cycle_cpu / args.hosts * 1000, ping_cpu / args.hosts * 1000, cycle_cpu / ping_cpu, cycle_wall, ping_wall))
        print('target: cycle <= 3x ping')
        with_history, without = rows[0][1], rows[2][1]
        print('history and forecast: %+.1f %% of the cycle\'s CPU (%.1f s with, %.1f s without; target <= 5 %%)'
              % (100.0 * (with_history - without) / without, with_history, without))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
