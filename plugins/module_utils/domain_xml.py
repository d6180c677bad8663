# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of libvirt domain XML: disks, vCPU pinning and interfaces.

Pure: a string in, plain data out, no libvirt. ``host_gather`` reads disks and
pinning for capacity, ``vm_gather`` reads disk targets and interface names to
ask for their counters.

Domain XML can be large (a QEMU guest's is ~5-10 KiB of controllers, CPU
features, ...) and only <vcpu>, <cputune>/<vcpupin>, the <disk>s and the
<interface>s' <target> matter. libvirt writes it in a fixed canonical form (one
element order, quoted attributes, entities escaped), so those elements are read
with a few regular expressions instead of a parser: ~3x cheaper than
ElementTree per domain, which is what keeps 1000 domains within the time
budget. Inside a <disk> the first <driver>, <source> and <target> are the
disk's own: a backing chain's (or a block copy's) <source>s come after them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from collections import namedtuple
from html import unescape

from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import parse_cpu_set

# A start tag's attributes run up to '>' or '/>' (written unrolled: cheaper than a lazy [^>]*?).
_DISK_RE = re.compile(r'<disk\b([^>/]*(?:/(?!>)[^>/]*)*)(?:/>|>(.*?)</disk>)', re.S)
_INTERFACE_RE = re.compile(r'<interface\b[^>/]*(?:/(?!>)[^>/]*)*(?:/>|>(.*?)</interface>)', re.S)
_VCPU_RE = re.compile(r'<vcpu\b([^>]*)>[^<]*</vcpu>')
_CPUTUNE_RE = re.compile(r'<cputune\b[^>]*>(.*?)</cputune>', re.S)
_VCPUPIN_RE = re.compile(r'<vcpupin\b([^>]*?)/?>')
_DISK_CHILD_RE = re.compile(r'<(driver|source|target)\b([^>]*)')
_TARGET_RE = re.compile(r'<target\b([^>]*)')


def _attr_re(name):
    return re.compile(r'''\s%s\s*=\s*(?:'([^']*)'|"([^"]*)")''' % name)


_ATTR = dict((name, _attr_re(name)) for name in ('type', 'device', 'file', 'dev', 'cpuset', 'vcpu'))

Domain = namedtuple('Domain', ('disks', 'pinned_cpus', 'interfaces'))
Domain.__doc__ = """What a domain's XML says about its devices.

``disks``: [{'target', 'type', 'format', 'path'}] of device='disk' disks only
(CD-ROMs, floppies and LUN pass-through hold no instance data), in XML order;
``pinned_cpus``: sorted host CPU ids (see ``parse_domain``);
``interfaces``: host-side device names (``<target dev=...>``) of the interfaces, in XML order
(None when not asked for).
"""


def _attr(tag_text, name):
    """Value of attribute ``name`` in the text of one start tag, or None."""
    match = _ATTR[name].search(tag_text)
    if not match:
        return None
    value = match.group(1) if match.group(2) is None else match.group(2)
    return unescape(value) if '&' in value else value


def parse_domain(xml_text, vcpus=0, interfaces=True):
    """A ``Domain`` from the XML of one domain.

    ``pinned_cpus`` is the union of the host CPUs the domain's first ``vcpus``
    vCPUs may run on when *every* one is restricted (a <vcpupin> for it, or
    <vcpu cpuset=...>), else an empty list: a partly pinned guest still floats
    over the shared CPUs. A CPU set that cannot be read raises
    ``host_capacity.CapacityError``. ``interfaces=False`` leaves the interfaces
    out (None): a caller that does not need them saves their scan (~4 ms per
    1000 domains, a tenth of host_resources' budget).
    """
    # <metadata> holds arbitrary (namespaced) XML of other tools: look after it.
    start = xml_text.find('</metadata>')
    start = 0 if start < 0 else start
    devices = xml_text.find('<devices>', start)
    if devices >= 0:
        head_end = devices
        # The domain's own </devices> is the last one: nothing after it is a <devices>
        # (and '<' in text or attributes is escaped); searching back from the end is cheaper.
        devices_end = xml_text.rfind('</devices>', devices)
        devices_end = len(xml_text) if devices_end < 0 else devices_end
        disks = _disks(xml_text, devices, devices_end)
        nics = _interfaces(xml_text, devices, devices_end) if interfaces else None
    else:
        head_end, disks, nics = len(xml_text), [], [] if interfaces else None
    pinned = _pinned_cpus(xml_text, start, head_end, vcpus) if vcpus else []
    return Domain(disks, pinned, nics)


def _disks(xml_text, pos, endpos):
    disks = []
    for disk_tag, body in _DISK_RE.findall(xml_text, pos, endpos):
        if (_attr(disk_tag, 'device') or 'disk') != 'disk':
            continue
        first = {}
        for name, tag in _DISK_CHILD_RE.findall(body):
            first.setdefault(name, tag)
        source = first.get('source', '')
        disks.append({
            'target': _attr(first.get('target', ''), 'dev'),
            'type': _attr(disk_tag, 'type') or 'file',
            # No driver type means raw to QEMU (its driver writes type='raw'), as to Nova.
            'format': _attr(first.get('driver', ''), 'type'),
            'path': _attr(source, 'file') or _attr(source, 'dev'),
        })
    return disks


def _interfaces(xml_text, pos, endpos):
    names = []
    for body in _INTERFACE_RE.findall(xml_text, pos, endpos):
        target = _TARGET_RE.search(body)
        dev = _attr(target.group(1), 'dev') if target else None
        if dev:
            names.append(dev)
    return names


def _pinned_cpus(xml_text, pos, endpos, vcpus):
    vcpu = _VCPU_RE.search(xml_text, pos, endpos)
    default = _attr(vcpu.group(1), 'cpuset') if vcpu else None
    cputune = _CPUTUNE_RE.search(xml_text, pos, endpos)
    pins = {}
    if cputune:
        for pin in _VCPUPIN_RE.findall(cputune.group(1)):
            pins[_attr(pin, 'vcpu')] = _attr(pin, 'cpuset')
    pinned = set()
    for index in range(vcpus):
        cpuset = pins.get(str(index)) or default
        if not cpuset:
            return []
        pinned.update(parse_cpu_set(cpuset, 'vcpupin'))
    return sorted(pinned)
