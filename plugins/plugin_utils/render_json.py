# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The capacity report as JSON: the document itself (``capacity.json``; docs/report-schema.md)."""

import json

PRETTY_JSON_MAX_VMS = 1000


def render_json(doc):
    """Indented for a small cluster; compact beyond PRETTY_JSON_MAX_VMS VMs, where Python's
    indenting encoder (pure Python, unlike the compact one) would take seconds."""
    if len(doc['vms']) <= PRETTY_JSON_MAX_VMS:
        return json.dumps(doc, indent=2, sort_keys=True) + '\n'
    return json.dumps(doc, sort_keys=True, separators=(',', ':')) + '\n'
