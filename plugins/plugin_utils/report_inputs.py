# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What one run returned, as the capacity report needs it.

The modules' facts come under their own names (``host_resources``, ``vm_stats``).
The filters' outputs are recognised by their shape, under whatever variable a
task stored them (``set_fact``), so the report works with any playbook:

* ``accumulate``: host -> ``{collected_at, vms: {uuid: {cumulative, ...}}}``, or one host's entry;
* ``cluster_totals``: ``{count, inventory, ...}``, or the main job's record of it
  ``{collected_at, group, hosts_collected, hosts_missed, totals: <cluster_totals>, forecast: <forecast>,
  reclaimable: <reclaimable>}``;
* ``forecast``: ``{today, forecast_days, cluster, groups, ...}``;
* ``history``: the store host's entry ``{version, cluster, groups}`` (``hypervisor_stats_history``), or
  the whole output of the filter, ``{cluster: <entry>, hosts}``.
"""

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import HOST_FACT, VM_FACT, is_number

PROBLEM_STATUSES = ('failed', 'unreachable')
MESSAGE_LIMIT = 300


# --- shapes ------------------------------------------------------------------

def is_counters_entry(value):
    """One host's entry of the ``accumulate`` output: a ``vms`` dict whose VMs carry ``cumulative``
    (an entry without VMs needs its ``collected_at``). ``vm_stats`` facts have ``vms`` too, but their
    VMs carry ``totals``, never ``cumulative``."""
    if not isinstance(value, dict):
        return False
    vms = value.get('vms')
    if not isinstance(vms, dict):
        return False
    if not vms:
        return is_number(value.get('collected_at'))
    for vm in vms.values():
        if not isinstance(vm, dict) or 'cumulative' not in vm:
            return False
    return True


def is_counters(value):
    """The whole ``accumulate`` output: a non-empty dict of host -> counters entry."""
    if not isinstance(value, dict) or not value:
        return False
    for entry in value.values():
        if not is_counters_entry(entry):
            return False
    return True


def is_cluster_totals(value):
    """A ``cluster_totals`` output: a host ``count`` and the summed ``inventory``."""
    return isinstance(value, dict) and is_number(value.get('count')) and isinstance(value.get('inventory'), dict)


def is_forecast(value):
    """A ``forecast`` output: the day it was made for, its window and the cluster's scope."""
    return isinstance(value, dict) and isinstance(value.get('today'), str) and 'forecast_days' in value \
        and isinstance(value.get('cluster'), dict)


def is_history_entry(value):
    """The store host's history entry (``history`` filter's ``cluster``): a version and the cluster's series."""
    return isinstance(value, dict) and is_number(value.get('version')) and isinstance(value.get('cluster'), dict) \
        and isinstance(value.get('groups'), dict)


def is_cluster_record(value):
    """The main job's record of a cycle: its ``cluster_totals`` output under ``totals``."""
    return isinstance(value, dict) and is_cluster_totals(value.get('totals'))


def short_message(message, limit=MESSAGE_LIMIT):
    """One line of at most ``limit`` characters."""
    text = ' '.join(str(message or '').split())
    return text if len(text) <= limit else text[:limit - 3] + '...'


# --- what a run returned -------------------------------------------------------

class ReportInputs:
    """What one run returned, as tasks return it. Later results replace earlier ones (per host)."""

    def __init__(self):
        self.host_resources = {}   # inventory host -> host_resources facts
        self.vm_stats = {}         # inventory host -> vm_stats facts
        self.counters = {}         # inventory host -> accumulate entry {collected_at, vms}
        self.cluster = None        # cluster_totals output
        self.forecast = None       # forecast output
        self.reclaimable = None    # reclaimable output (the cluster record's)
        self.history = None        # the store host's history entry
        self.problems = {}         # inventory host -> {status, task, message, ignored}

    def add_facts(self, host, facts):
        """Pick the report's facts out of one result's ``ansible_facts``, set on ``host``;
        True when any was taken."""
        if not isinstance(facts, dict):
            return False
        taken = False
        for name, value in facts.items():
            if not isinstance(value, dict):
                continue
            if name == HOST_FACT:
                self.host_resources[host] = value
            elif name == VM_FACT:
                self.vm_stats[host] = value
            elif is_counters_entry(value):
                self.counters[host] = value
            elif is_counters(value):
                self.counters.update((str(counter_host), entry) for counter_host, entry in value.items())
            elif is_cluster_totals(value):
                self.cluster = value
            elif is_cluster_record(value):
                self.cluster = value['totals']
                if is_forecast(value.get('forecast')):
                    self.forecast = value['forecast']
                if isinstance(value.get('reclaimable'), dict):
                    self.reclaimable = value['reclaimable']
            elif is_forecast(value):
                self.forecast = value
            elif is_history_entry(value):
                self.history = value
            elif isinstance(value.get('hosts'), dict) and is_history_entry(value.get('cluster')):
                self.history = value['cluster']
            else:
                continue
            taken = True
        return taken

    def add_problem(self, host, status, task, message, ignored=False, hypervisor=True):
        """Record a failed or unreachable host; unreachable outranks failed, the first message stays.
        ``hypervisor``: the problem is a hypervisor's (a host_resources or vm_stats task); a failure
        elsewhere (the store host's step) is only listed, never shown as a host without capacity data."""
        if status not in PROBLEM_STATUSES:
            raise ValueError('status must be one of %s' % ', '.join(PROBLEM_STATUSES))
        known = self.problems.get(host)
        if known and (known['status'] == 'unreachable' or status == 'failed'):
            known['hypervisor'] = known['hypervisor'] or bool(hypervisor)
            return
        self.problems[host] = {'status': status, 'task': task, 'message': short_message(message),
                               'ignored': bool(ignored),
                               'hypervisor': bool(hypervisor) or bool(known and known['hypervisor'])}

    def has_stats(self):
        return bool(self.host_resources or self.vm_stats or self.counters or self.cluster)
