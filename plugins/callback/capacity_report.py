# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: capacity_report
type: aggregate
short_description: Capacity picture at the end of a run, as a table, JSON, Prometheus metrics and an HTML page
version_added: 0.1.0
description:
  - Picks up the results of M(hypervisor.stats.host_resources) and M(hypervisor.stats.vm_stats), and the
    outputs of the P(hypervisor.stats.accumulate#filter) and P(hypervisor.stats.cluster_totals#filter) filters
    wherever a task stores them as facts (C(ansible.builtin.set_fact), under any name; they are told by their
    shape), as tasks return them. No task needs to be added; enable the callback and run the collection
    playbook, or a playbook of your own.
  - Facts a task sets on another host (C(delegate_to) with C(delegate_facts), in a loop or not) count for
    that host, as Ansible itself sets them.
  - At the end of the run it prints a plain text table (80 columns, no colour) with one row per host
    (vCPU, RAM and disk used, capacity and free, running VMs), per-group and cluster totals, the cluster
    headroom, flavor fits and the top VMs by CPU, disk and network, and writes C(capacity.json),
    C(capacity.prom) and C(capacity.html) to O(output_dir).
  - Hosts that failed or were unreachable are listed in every format, never silently dropped.
  - A result of a task with C(no_log) never reaches a report. A run that returned none of these facts
    prints and writes nothing.
  - Files are written with mode C(0640) through a temporary file in the same directory and a rename, so a
    reader such as node_exporter's textfile collector never sees half a file.
  - The JSON document is described in C(docs/report-schema.md) of the collection.
requirements:
  - Enable in configuration, for example C(callbacks_enabled = hypervisor.stats.capacity_report)
    in the C([defaults]) section of C(ansible.cfg).
options:
  output_dir:
    description:
      - Directory for C(capacity.json), C(capacity.prom) and C(capacity.html); created (mode C(0750)) if missing.
      - A relative path in C(ansible.cfg) is relative to that file.
      - Without it only the table is printed, and a warning says so when file formats are asked for.
        An empty value (C(HYPERVISOR_STATS_REPORT_DIR=)) is the same as none, never the working directory.
    type: path
    env:
      - name: HYPERVISOR_STATS_REPORT_DIR
    ini:
      - section: callback_capacity_report
        key: output_dir
  formats:
    description:
      - Which outputs to produce. C(table) prints in the run's output (AWX shows it in the job log),
        C(json) writes C(capacity.json), C(prometheus) writes C(capacity.prom) in the text exposition format,
        C(html) writes C(capacity.html), a self-contained page.
      - Unknown names give a warning and are ignored; an empty list or value means the default, all four.
    type: list
    elements: str
    default: [table, json, prometheus, html]
    env:
      - name: HYPERVISOR_STATS_REPORT_FORMATS
    ini:
      - section: callback_capacity_report
        key: formats
  top:
    description: How many VMs each top list (CPU, disk, network) shows.
    type: int
    default: 5
    env:
      - name: HYPERVISOR_STATS_REPORT_TOP
    ini:
      - section: callback_capacity_report
        key: top
  group_by:
    description:
      - For a run without a P(hypervisor.stats.cluster_totals#filter) result only, whose cluster the callback
        then sums itself. A JMESPath expression evaluated on each host's C(host_resources) facts, for example
        C(labels.cluster), C(cpu_info.arch) or C(hypervisor_type); adds a total per group to every format
        and a C(group) label to the metrics.
      - An expression that fails on host facts (for example C(abs(labels.cluster)), labels being text) gives a
        warning and a report without groups.
      - When the run has a C(cluster_totals) result, the report shows the groups and flavor fits it computed,
        and puts each host in its group by the expression it was grouped by (its C(group_by)); this option
        is then ignored, so groups, fits and labels always agree.
    type: str
    env:
      - name: HYPERVISOR_STATS_REPORT_GROUP_BY
    ini:
      - section: callback_capacity_report
        key: group_by
notes:
  - The Prometheus file is meant for node_exporter's textfile collector; point
    C(--collector.textfile.directory) at O(output_dir).
seealso:
  - module: hypervisor.stats.host_resources
  - module: hypervisor.stats.vm_stats
author:
  - hypervisor.stats contributors (@hypervisor-stats)
'''

EXAMPLES = r'''
# ansible.cfg
# [defaults]
# callbacks_enabled = hypervisor.stats.capacity_report
#
# [callback_capacity_report]
# output_dir = /var/lib/node_exporter/textfile
# formats = table, prometheus
# top = 10
# group_by = labels.cluster

# Or per run, from the environment:
# HYPERVISOR_STATS_REPORT_DIR=./report HYPERVISOR_STATS_REPORT_FORMATS=table,html \
#   ANSIBLE_CALLBACKS_ENABLED=hypervisor.stats.capacity_report \
#   ansible-playbook -i inventory.yml hypervisor.stats.collect
'''

import os
import tempfile
import time

from ansible import constants as C
from ansible.plugins.callback import CallbackBase

from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import ClusterError, check_group_by
from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_html import render_html
from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_json import render_json
from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_prometheus import render_prometheus
from ansible_collections.hypervisor.stats.plugins.plugin_utils.render_table import render_table
from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_inputs import ReportInputs
from ansible_collections.hypervisor.stats.plugins.plugin_utils.report_model import build_report

FORMATS = ('table', 'json', 'prometheus', 'html')
# An empty value of these is "not set" (an empty output_dir would otherwise be the working directory).
BLANK_IS_UNSET = ('HYPERVISOR_STATS_REPORT_DIR', 'HYPERVISOR_STATS_REPORT_FORMATS', 'HYPERVISOR_STATS_REPORT_TOP',
                  'HYPERVISOR_STATS_REPORT_GROUP_BY')
FILES = (('json', 'capacity.json', render_json),
         ('prometheus', 'capacity.prom', render_prometheus),
         ('html', 'capacity.html', render_html))
FILE_MODE = 0o640
DIR_MODE = 0o750
# Modules whose failure is itself capacity news, even when ignored.
STATS_MODULES = ('host_resources', 'vm_stats')
# Stdout callbacks whose output programs parse; the table must not land in it.
MACHINE_STDOUT_CALLBACKS = ('json', 'jsonl')


def write_atomic(path, text, mode=FILE_MODE):
    """Write through a temporary file in the same directory, then rename over ``path``."""
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # mkstemp gives 0600 whatever the umask; readers need the group bit
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _censored(result):
    task = getattr(result, '_task', None)
    return bool(result._result.get('_ansible_no_log')) or getattr(task, 'no_log', None) is True


def _is_stats_task(task):
    action = getattr(task, 'resolved_action', None) or getattr(task, 'action', None) or ''
    return str(action).rsplit('.', 1)[-1] in STATS_MODULES


def _shown_path(path):
    """Relative to the working directory when under it, to keep the line short."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith(os.pardir) else path


def _facts_host(result):
    """The host a result's facts were set on, as Ansible sets them: the delegated host when the task
    delegates its facts (``delegate_facts``) and the result was delegated (``_ansible_delegated_vars``,
    one per loop item), else the host the task ran for. The delegated host's inventory name is
    ``delegate_to`` as Ansible templated it for this result (the address in ``_ansible_delegated_vars``
    is the connection's, not the name)."""
    host = result._host.get_name()
    delegated = result._result.get('_ansible_delegated_vars')
    if not isinstance(delegated, dict) or not getattr(result._task, 'delegate_facts', False):
        return host
    name = delegated.get('ansible_delegated_host') or getattr(result._task, 'delegate_to', None)
    return name if isinstance(name, str) and name and '{{' not in name else host


def _machine_readable_stdout():
    return str(getattr(C, 'DEFAULT_STDOUT_CALLBACK', '')).rsplit('.', 1)[-1] in MACHINE_STDOUT_CALLBACKS


class CallbackModule(CallbackBase):
    """Collects capacity facts as tasks return and reports them when the run ends."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'hypervisor.stats.capacity_report'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self.inputs = ReportInputs()
        self.stats_task_seen = False
        self.output_dir = None
        self.formats = list(FORMATS)
        self.top = 5
        self.group_by = None

    def set_options(self, task_keys=None, var_options=None, direct=None):
        blank = dict((name, os.environ.pop(name)) for name in BLANK_IS_UNSET
                     if name in os.environ and not os.environ[name].strip())
        try:
            super(CallbackModule, self).set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        finally:
            os.environ.update(blank)
        self.output_dir = self.get_option('output_dir') or None
        formats = [str(f).strip().lower() for f in (self.get_option('formats') or []) if str(f).strip()]
        if not formats:
            formats = list(FORMATS)   # an empty list is "not set", not "write nothing"
        unknown = [f for f in formats if f not in FORMATS]
        if unknown:
            self._display.warning('capacity_report: formats: ignoring unknown %s (choose from %s)'
                                  % (', '.join(unknown), ', '.join(FORMATS)))
        self.formats = [f for f in FORMATS if f in formats]
        top = self.get_option('top')
        if top is None or top < 1:
            self._display.warning('capacity_report: top must be at least 1, got %r; using 5' % (top,))
            top = 5
        self.top = top
        self.group_by = self.get_option('group_by') or None
        try:
            # compiles it and evaluates it on a full host_resources document (run-time failures)
            check_group_by(self.group_by)
        except ClusterError as exc:
            self._display.warning('capacity_report: %s; reporting without groups' % exc)
            self.group_by = None

    # --- collecting ----------------------------------------------------------

    def v2_runner_on_ok(self, result):
        # A loop's facts come item by item (v2_runner_item_on_ok), each with its own delegation.
        self._take_facts(result)

    def v2_runner_item_on_ok(self, result):
        self._take_facts(result)

    def _take_facts(self, result):
        if _censored(result):
            return
        if _is_stats_task(result._task):
            self.stats_task_seen = True
        self.inputs.add_facts(_facts_host(result), result._result.get('ansible_facts'))

    def _problem(self, result, status, ignored=False):
        stats_task = _is_stats_task(result._task)
        if ignored and not stats_task:
            return
        self.stats_task_seen = self.stats_task_seen or stats_task
        message = None if _censored(result) else result._result.get('msg')
        self.inputs.add_problem(result._host.get_name(), status, result._task.get_name(), message, ignored,
                                hypervisor=stats_task)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._problem(result, 'failed', ignore_errors)

    def v2_runner_on_unreachable(self, result):
        self._problem(result, 'unreachable')

    # --- reporting -----------------------------------------------------------

    def v2_playbook_on_stats(self, stats):
        if not (self.inputs.has_stats() or self.stats_task_seen):
            return
        try:
            try:
                doc = build_report(self.inputs, time.time(), top=self.top, group_by=self.group_by)
            except ClusterError as exc:
                if not self.group_by:
                    raise
                # a group_by that fails on this run's facts costs the groups, not the report
                self._display.warning('capacity_report: group_by %r: %s; reporting without groups' % (self.group_by, exc))
                self.group_by = None
                doc = build_report(self.inputs, time.time(), top=self.top, group_by=None)
        except Exception as exc:  # a report must never turn a finished run into a traceback
            self._display.warning('capacity_report: could not build the report: %s' % exc)
            return
        written = self._write_files(doc)
        if 'table' in self.formats:
            text = render_table(doc)
            if written:
                text += '\n\nWritten to %s: %s' % (_shown_path(self.output_dir),
                                                   ', '.join(os.path.basename(p) for p in written))
            if _machine_readable_stdout():
                # keep a JSON stdout parseable: the table goes to stderr, which job logs show too
                self._display.display('CAPACITY REPORT\n' + text, stderr=True)
            else:
                self._display.banner('CAPACITY REPORT')
                self._display.display(text)
        elif written:
            self._display.vv('capacity_report: wrote %s' % ', '.join(written))

    def _write_files(self, doc):
        wanted = [entry for entry in FILES if entry[0] in self.formats]
        if not wanted:
            return []
        if not self.output_dir:
            self._display.warning('capacity_report: output_dir is not set ([callback_capacity_report] output_dir '
                                  'or HYPERVISOR_STATS_REPORT_DIR); wrote no %s file'
                                  % ', '.join(fmt for fmt, _name, _render in wanted))
            return []
        written = []
        try:
            if not os.path.isdir(self.output_dir):
                os.makedirs(self.output_dir, DIR_MODE)
        except OSError as exc:
            self._display.warning('capacity_report: output_dir: cannot create %s: %s' % (self.output_dir, exc))
            return []
        for _fmt, name, render in wanted:
            path = os.path.join(self.output_dir, name)
            try:
                write_atomic(path, render(doc))
            except (OSError, IOError) as exc:
                self._display.warning('capacity_report: cannot write %s: %s' % (path, exc))
            except Exception as exc:  # a renderer bug must not hide the other formats
                self._display.warning('capacity_report: could not render %s: %s' % (path, exc))
            else:
                written.append(path)
        return written
