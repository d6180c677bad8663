# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scenario-only filter for verify.yml: the counters and history points found in a fact-cache entry."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json


def _walk(node, path, found):
    if isinstance(node, dict) and '__ansible_type' in node and 'value' in node:
        # ansible-core 2.19's jsonfile keeps a value's origin tags beside it.
        _walk(node['value'], path, found)
    elif isinstance(node, dict):
        for key, value in node.items():
            _walk(value, path + (str(key),), found)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        if path[-1] == 'collected_at' or 'cumulative' in path:
            found['.'.join(path)] = node


def _entry(entry):
    if isinstance(entry, str):
        entry = json.loads(entry)
    if isinstance(entry.get('__payload__'), str):
        # ansible-core 2.19's jsonfile: the facts are JSON inside the entry's JSON.
        entry = json.loads(entry['__payload__'])
    return entry


def _untagged(node):
    while isinstance(node, dict) and '__ansible_type' in node and 'value' in node:
        node = node['value']
    return node


def molecule_history_points(entry):
    """How many cycles the host's own capacity history holds in its every-cycle tier (0 without one)."""
    series = _untagged(_entry(entry).get('hypervisor_stats_host_history'))
    times = _untagged(_untagged((series or {}).get('raw') or {}).get('t')) if isinstance(series, dict) else None
    return len(times.split(',')) if isinstance(times, str) and times else 0


def molecule_counters(entry):
    """Every collected_at and every number under a `cumulative` key, by dotted path.

    Works whatever the collection cycle stores, so the scenario checks growth of
    what is there rather than of a layout it assumes.
    """
    found = {}
    _walk(_entry(entry), (), found)
    return found


def molecule_growth(second, first):
    """Compare two entries: which collected_at and cumulative counters grew, shrank or stayed."""
    before, after = molecule_counters(first), molecule_counters(second)
    common = sorted(set(before) & set(after))
    cumulative = [p for p in common if '.cumulative.' in '.%s.' % p]
    return {
        'collected_at_grown': [p for p in common if p not in cumulative and after[p] > before[p]],
        'collected_at_total': len([p for p in common if p not in cumulative]),
        'cumulative_count': len(cumulative),
        'cumulative_grown': [p for p in cumulative if after[p] > before[p]],
        'cumulative_shrunk': [p for p in cumulative if after[p] < before[p]],
        'cumulative_sum_first': sum(before[p] for p in cumulative),
        'cumulative_sum_second': sum(after[p] for p in cumulative),
        'history_points_first': molecule_history_points(first),
        'history_points_second': molecule_history_points(second),
    }


class FilterModule(object):
    def filters(self):
        return {'molecule_counters': molecule_counters, 'molecule_growth': molecule_growth}
