"""The capacity_report callback module: its file writer."""

import os
import stat

import pytest

from ansible_collections.hypervisor.stats.plugins.callback.capacity_report import write_atomic


def test_write_atomic_mode_replace_and_no_leftovers(tmp_path):
    target = tmp_path / 'capacity.prom'
    target.write_text('old')
    old_umask = os.umask(0o077)
    try:
        write_atomic(str(target), 'new\n')
    finally:
        os.umask(old_umask)
    assert target.read_text() == 'new\n'
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ['capacity.prom']


def test_write_atomic_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / 'capacity.json'
    target.write_text('old')

    class Unwritable:
        def __str__(self):
            raise RuntimeError('render failed')

    with pytest.raises(TypeError):
        write_atomic(str(target), Unwritable())
    assert target.read_text() == 'old'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['capacity.json']


# --- whose facts ---------------------------------------------------------------

class Host:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class Task:
    def __init__(self, delegate_to=None, delegate_facts=None, action='ansible.builtin.set_fact', no_log=False):
        self.delegate_to, self.delegate_facts, self.action, self.no_log = delegate_to, delegate_facts, action, no_log
        self.resolved_action = action


class Result:
    """A callback task result as ansible-core hands it over: the task's fields templated for this result
    (per loop item), ``_ansible_delegated_vars`` kept with the connection's address only."""

    def __init__(self, host, task, result):
        self._host, self._task, self._result = Host(host), task, result


def delegated(facts, address='10.0.0.9'):
    return {'ansible_facts': facts, '_ansible_delegated_vars': {'ansible_host': address, 'ansible_port': None}}


def test_facts_go_where_ansible_puts_them():
    from ansible_collections.hypervisor.stats.plugins.callback.capacity_report import _facts_host

    # delegate_facts: the delegated host's inventory name, not its address
    assert _facts_host(Result('localhost', Task('hv-2', True), delegated({}))) == 'hv-2'
    # delegated without delegate_facts: facts stay on the task's host
    assert _facts_host(Result('localhost', Task('hv-2', False), delegated({}))) == 'localhost'
    # not delegated (delegate_to may be set on the task, unused: no _ansible_delegated_vars)
    assert _facts_host(Result('hv-1', Task(None, True), {'ansible_facts': {}})) == 'hv-1'
    # a name ansible-core passes on is taken first; an untemplated expression never is
    assert _facts_host(Result('localhost', Task('x', True), {'_ansible_delegated_vars': {
        'ansible_delegated_host': 'hv-3'}})) == 'hv-3'
    assert _facts_host(Result('localhost', Task('{{ item }}', True), delegated({}))) == 'localhost'


def test_loop_items_each_go_to_their_delegated_host():
    from ansible_collections.hypervisor.stats.plugins.callback.capacity_report import CallbackModule
    from report_data import cluster_inputs, counters_entry

    hosts, vms = cluster_inputs()
    callback = CallbackModule()
    for name in ('hv-a1', 'hv-b1'):
        callback.v2_runner_item_on_ok(Result('localhost', Task(name, True), delegated(
            {'any_name': counters_entry((vms['web'], {}, None)) if name == 'hv-a1' else counters_entry()})))
    callback.v2_runner_item_on_ok(Result('localhost', Task('hv-b2', True), dict(delegated(
        {'secret': counters_entry((vms['db'], {}, None))}), _ansible_no_log=True)))
    # the loop's own result: items again, without their delegation; not read twice
    callback.v2_runner_on_ok(Result('localhost', Task('{{ item }}', True), {'results': [
        {'ansible_facts': {'any_name': counters_entry()}, 'item': 'hv-a1'}]}))
    assert sorted(callback.inputs.counters) == ['hv-a1', 'hv-b1']
    assert vms['web']['uuid'] in callback.inputs.counters['hv-a1']['vms']
