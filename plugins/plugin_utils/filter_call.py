# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every filter of the collection does around its logic, written once: a bad argument becomes an
``AnsibleFilterError`` and each warning goes through Ansible's display, both named after the filter."""

from ansible.errors import AnsibleFilterError
from ansible.utils.display import Display


def call_filter(name, errors, function, *args, **kwargs):
    """The result of ``function(*args, **kwargs)``, which returns ``(result, warnings)``; ``errors``: the
    exception classes that mean a bad argument (their message names it)."""
    try:
        result, warnings = function(*args, **kwargs)
    except errors as exc:
        raise AnsibleFilterError('hypervisor.stats.%s: %s' % (name, exc))
    if warnings:
        display = Display()
        for warning in warnings:
            display.warning('hypervisor.stats.%s: %s' % (name, warning))
    return result
