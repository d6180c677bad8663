# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The main job's inputs, checked once with the rules of the modules and filters that use them.

Inputs arrive as inventory variables, extra vars or AWX survey answers: numbers may
be text, dicts may be JSON or YAML text, and an unanswered question is an empty
string, which means "not set". ``check_cycle_inputs`` turns them into plain values
or raises ``CycleInputError`` naming the variable.
"""

import math

import yaml

from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import CapacityError, check_options
from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    ALLOCATION_RATIOS, DEFAULT_FAILURES, DEFAULT_FORECAST_DAYS, DEFAULT_FORECAST_MIN_POINTS, DEFAULT_GROUP,
    DEFAULT_GROUP_BY, DEFAULT_IDLE_CPU_PERCENT, DEFAULT_IDLE_DAYS, DEFAULT_RETENTION_SECONDS, DEFAULT_STORE_HOST,
    MAX_FAILURES, MAX_FORECAST_DAYS, MAX_IDLE_DAYS, RESERVATIONS, is_number)
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import (
    ClusterError, check_flavors, check_group_by)
from ansible_collections.hypervisor.stats.plugins.plugin_utils.forecast import ForecastError, check_planned

PREFIX = 'hypervisor_stats_'
# Every input of the job (without the prefix) and what it must be. The role's
# meta/argument_specs.yml documents the same names (a unit test keeps them equal).
INPUTS = dict(
    [(name, 'text') for name in ('group', 'store_host', 'uri', 'cpu_shared_set', 'cpu_dedicated_set',
                                 'instances_path', 'storage_pool', 'shared_storage_id')]
    + [(name, 'whole') for name in ('retention_seconds', 'failures', 'forecast_days', 'forecast_min_points', 'slices',
                                    'idle_cpu_percent', 'idle_days') + RESERVATIONS]
    + [(name, 'positive') for name in ALLOCATION_RATIOS + ('vm_timeout', 'now')]
    + [('labels', 'dict'), ('flavors', 'dict'), ('planned', 'list'), ('group_by', 'group_by')])
# Whole-number inputs with bounds of their own: (lowest, highest).
BOUNDS = {
    'failures': (0, MAX_FAILURES),
    'forecast_days': (1, MAX_FORECAST_DAYS),
    'forecast_min_points': (2, MAX_FORECAST_DAYS),
    'idle_cpu_percent': (0, 100),
    'idle_days': (0, MAX_IDLE_DAYS),
}


class CycleInputError(ValueError):
    """A bad input; the message names the variable."""


def _number(name, value, whole):
    """A number from a number or its text; whole numbers >= 0, or finite numbers > 0."""
    text = value.strip() if isinstance(value, str) else value
    try:
        number = int(text) if whole else float(text)
    except (TypeError, ValueError, OverflowError):
        number = None
    if isinstance(value, bool) or number is None or (whole and is_number(value) and value != int(value)) or \
            not math.isfinite(number) or (number < 0 if whole else number <= 0):
        raise CycleInputError('%s must be %s, got %r' % (
            PREFIX + name, 'a whole number >= 0' if whole else 'a finite number greater than 0', value))
    return number


def _mapping(name, value):
    """A dict, or its JSON/YAML text."""
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise CycleInputError('%s is not valid JSON/YAML: %s' % (PREFIX + name, ' '.join(str(exc).split())))
    if not isinstance(value, dict):
        raise CycleInputError('%s must be a dict (or its JSON/YAML text), got %r' % (PREFIX + name, value))
    return dict(value)


def _list(name, value):
    """A list, or its JSON/YAML text."""
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise CycleInputError('%s is not valid JSON/YAML: %s' % (PREFIX + name, ' '.join(str(exc).split())))
    if not isinstance(value, (list, tuple)):
        raise CycleInputError('%s must be a list (or its JSON/YAML text), got %r' % (PREFIX + name, value))
    return list(value)


def _bounded(name, number):
    low, high = BOUNDS.get(name, (0, None))
    if number < low or (high is not None and number > high):
        raise CycleInputError('%s must be from %d to %d, got %r' % (PREFIX + name, low, high, number))
    return number


def check_cycle_inputs(values):
    """{hypervisor_stats_<name>: raw value} -> {<name>: checked value}, unset ones left out.

    ``uri`` is checked but left out of the result, which the cycle stores as a fact: the
    modules take it from ``hypervisor_stats_uri`` itself and redact it at the source.

    An empty string or None means not set, except for ``group_by``, where an empty
    string turns grouping off (None then stands for "no groups").
    """
    if not isinstance(values, dict):
        raise CycleInputError('inputs must be a dict of variable -> value, got %s' % type(values).__name__)
    checked = {}
    for variable, value in values.items():
        name = str(variable)[len(PREFIX):] if str(variable).startswith(PREFIX) else str(variable)
        kind = INPUTS.get(name)
        if kind is None:
            raise CycleInputError('%s is not an input of the collection cycle' % variable)
        if kind == 'group_by':
            checked[name] = value.strip() or None if isinstance(value, str) else value
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if kind == 'whole':
            checked[name] = _bounded(name, int(_number(name, value, True)))
        elif kind == 'positive':
            checked[name] = _number(name, value, False)
        elif kind == 'dict':
            checked[name] = _mapping(name, value)
        elif kind == 'list':
            checked[name] = _list(name, value)
        elif not isinstance(value, str):
            raise CycleInputError('%s must be text, got %r' % (PREFIX + name, value))
        else:
            checked[name] = value.strip()
    checked.setdefault('group_by', DEFAULT_GROUP_BY)
    checked.setdefault('group', DEFAULT_GROUP)
    checked.setdefault('store_host', DEFAULT_STORE_HOST)
    checked.setdefault('retention_seconds', DEFAULT_RETENTION_SECONDS)
    checked.setdefault('failures', DEFAULT_FAILURES)
    checked.setdefault('forecast_days', DEFAULT_FORECAST_DAYS)
    checked.setdefault('forecast_min_points', DEFAULT_FORECAST_MIN_POINTS)
    checked.setdefault('idle_cpu_percent', DEFAULT_IDLE_CPU_PERCENT)
    checked.setdefault('idle_days', DEFAULT_IDLE_DAYS)
    try:
        check_options(checked)
        check_group_by(checked['group_by'])  # compiles, and evaluates on a full host_resources document
        if 'flavors' in checked:
            checked['flavors'] = check_flavors(checked['flavors'])
        if 'planned' in checked:
            check_planned(checked['planned'], checked.get('flavors'))   # the groups are known once collected
    except CapacityError as exc:
        raise CycleInputError(PREFIX + str(exc))
    except (ClusterError, ForecastError) as exc:
        raise CycleInputError('hypervisor_stats_%s' % exc)
    # Checked, never returned: a password in it must not land in a fact that -v prints.
    checked.pop('uri', None)
    return checked
