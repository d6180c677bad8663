# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity report as JSON: the document itself (``capacity.json``; docs/report-schema.md)."""

import json
import math

PRETTY_JSON_MAX_VMS = 1000


def strict(value):
    """The document with NaN and infinities as null: JSON has no such numbers (RFC 8259)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return dict((k, strict(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def render_json(doc):
    """Strict JSON. Indented for a small cluster; compact beyond PRETTY_JSON_MAX_VMS VMs, where Python's
    indenting encoder (pure Python, unlike the compact one) would take seconds."""
    try:
        return _dumps(doc)
    except ValueError:   # a NaN or an infinity somewhere: nulled (the walk costs only then)
        return _dumps(strict(doc))


def _dumps(doc):
    if len(doc['vms']) <= PRETTY_JSON_MAX_VMS:
        return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + '\n'
    return json.dumps(doc, sort_keys=True, separators=(',', ':'), allow_nan=False) + '\n'
