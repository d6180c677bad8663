#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vm_stats
short_description: CloudStack-style runtime statistics of every VM on a libvirt hypervisor
version_added: 0.1.0
description:
  - Reads CPU time and utilisation, vCPUs, memory, per-disk and per-interface counters of the VMs of one
    hypervisor through a read-only libvirt connection, with the totals Apache CloudStack's
    StatsCollector keeps per VM (network and disk KiB read and written, disk I/O counts).
  - From the same call it also reads the signals of contention for the host's resources, each null
    where not reported. They are CPU user and system time, per-vCPU delay (steal) and wait, the
    guest's swapping, page faults and reclaimable memory, and per-disk latency, flushes and sizes.
  - Bulk C(virDomainListGetStats) calls read all VMs at once (groups state, cpu-total, balloon, vcpu,
    interface, block, with the NOWAIT flag), one for stopped VMs and, issued together, up to three
    for running ones so that several QEMUs answer at the same time. Where the driver answers fewer groups (for example
    libvirt's test driver) or lacks the bulk call, each VM is read with info, blockStatsFlags (or
    blockStats), blockInfo, interfaceStats, memoryStats and getCPUStats instead; the facts are the same
    either way, but for the per-vCPU delay and wait, which no per-domain call reports.
  - A VM whose QEMU does not answer its monitor cannot hold the task. Reading stops after O(timeout)
    seconds; every other VM is returned and the stuck one is marked C(timed_out) with a warning.
  - A VM that disappears or stops between listing and reading is skipped.
  - Devices are matched by name, never by position. CD-ROM and floppy drives are left out of C(disks).
  - Changes nothing; C(changed) is always false.
extends_documentation_fragment:
  - hypervisor.stats.libvirt
  - hypervisor.stats.attributes
  - hypervisor.stats.attributes.facts
  - hypervisor.stats.attributes.facts_module
  - hypervisor.stats.attributes.platform
options:
  domains:
    description:
      - Names or UUIDs of the VMs to include. Empty means all VMs in O(states).
      - Names match exactly (libvirt's names are case-sensitive); UUIDs match in any case, with or without dashes.
      - A name that matches no VM in O(states) gives a warning, not a failure.
    type: list
    elements: str
    default: []
  states:
    description: States of the VMs to include.
    type: list
    elements: str
    choices: [running, paused, shutoff, crashed, pmsuspended, blocked, shutdown, nostate]
    default: [running, paused]
  cpu_sample_seconds:
    description:
      - When greater than 0, CPU time is sampled twice this many seconds apart and C(cpu_utilization)
        is the share of the VM's vCPUs that were busy, in percent (0-100).
      - When 0, C(cpu_utilization) is null.
      - A finite number from 0 to 3600.
    type: float
    default: 0
  timeout:
    description:
      - Seconds the reading may take (the second CPU sample gets the same again, after O(cpu_sample_seconds)).
      - VMs not read by then are returned with C(timed_out=true) and a warning.
      - A finite number greater than 0 and at most 3600.
    type: float
    default: 10
seealso:
  - module: hypervisor.stats.host_resources
  - name: CloudStack VmStatsEntry
    description: The per-VM statistics whose meanings the totals follow.
    link: https://github.com/apache/cloudstack/blob/main/core/src/main/java/com/cloud/agent/api/VmStatsEntry.java
  - name: virConnectGetAllDomainStats
    description: The bulk call and the meaning of its fields.
    link: https://libvirt.org/html/libvirt-libvirt-domain.html#virConnectGetAllDomainStats
author:
  - hypervisor.stats contributors (@hypervisor-stats)
'''

EXAMPLES = r'''
- name: Statistics of the running and paused VMs of the local hypervisor
  hypervisor.stats.vm_stats:

- name: CPU utilisation over 5 seconds of two VMs, giving up on a stuck one after 20 s
  hypervisor.stats.vm_stats:
    uri: qemu:///system
    domains: [web01, 3f1c2b9e-7a9d-4c1e-9a53-2f7c0f1e4d11]
    cpu_sample_seconds: 5
    timeout: 20

- name: Every VM, stopped ones too, of a simulated host
  hypervisor.stats.vm_stats:
    uri: "test://{{ playbook_dir }}/nodes/compute1.xml"
    states: [running, paused, shutoff]

- name: Show what each VM wrote to disk
  ansible.builtin.debug:
    msg: "{{ item.value.name }}: {{ item.value.totals.disk_write_kb }} KiB written"
  loop: "{{ ansible_facts.vm_stats.vms | dict2items }}"
  loop_control:
    label: "{{ item.value.name }}"
'''

RETURN = r'''
ansible_facts:
  description: Facts added to the host.
  returned: success
  type: dict
  contains:
    vm_stats:
      description: Runtime statistics of the selected VMs of the hypervisor.
      returned: success
      type: dict
      contains:
        hypervisor_hostname:
          description: Host name libvirt reports.
          type: str
          returned: success
        uri:
          description: The URI used, without its secrets (user-info password, secret query parameters).
          type: str
          returned: success
        collected_at:
          description: Epoch seconds when collection started.
          type: int
          returned: success
        vms:
          description:
            - Per VM, keyed by domain UUID. Counters are cumulative since the domain started;
              a value the guest or driver does not report is null.
            - C(name), C(uuid), C(state) (running, paused, shutoff, crashed, pmsuspended, blocked, shutdown,
              nostate), C(domain_id) (null when not running), C(vcpus), C(cpu_time_ns),
              C(cpu_utilization) (percent of the VM's vCPUs, null unless O(cpu_sample_seconds) > 0).
            - C(cpu_user_ns) and C(cpu_system_ns), the domain's host CPU time in user and kernel mode
              (C(cpu.user), C(cpu.system) of the cpu-total group; C(getCPUStats) on the per-domain path).
            - C(vcpus_detail), a list with one entry per vCPU libvirt gives runtime statistics for (vcpu
              group), in vCPU order, each with C(id) (the vCPU number; an unplugged vCPU leaves a gap), C(delay_ns)
              (C(vcpu.<n>.delay), time the vCPU thread was runnable but waited for a host CPU, which the
              guest sees as steal time; libvirt 7.2 or later) and C(wait_ns) (C(vcpu.<n>.wait), the host
              scheduler's wait time; libvirt reports 0 when the host kernel keeps no scheduler statistics).
              Empty for a stopped VM and on the per-domain path (no per-domain call reports them).
            - C(memory) with C(max_kb), C(actual_kb) (balloon size), C(unused_kb), C(available_kb) and
              C(rss_kb), in KiB.
            - C(memory_pressure), the guest's memory pressure as its balloon driver reports it (balloon
              group; C(memoryStats) on the per-domain path), with C(swap_in_kb), C(swap_out_kb) (KiB swapped
              in and out since boot), C(major_faults), C(minor_faults) (page faults since boot), C(usable_kb)
              (memory the guest could use without swapping) and C(disk_caches_kb) (memory it could reclaim
              from its disk caches), each null without a balloon with statistics.
            - C(disks) keyed by target device (C(vda), ...) with C(rd_bytes), C(wr_bytes), C(rd_req),
              C(wr_req); C(rd_total_times_ns), C(wr_total_times_ns) (time spent on reads and writes),
              C(fl_req), C(fl_total_times_ns) (flush requests and their time); C(capacity) (the disk's size
              as the guest sees it), C(allocation) (for a running VM, the highest offset written) and
              C(physical) (what the image takes on the host; for a file, the storage it occupies), in
              bytes, as libvirt's block group reports them. CD-ROM and floppy drives left out.
            - C(nics) keyed by host-side device name with C(rx_bytes), C(tx_bytes), C(rx_packets),
              C(tx_packets), C(rx_errs), C(tx_errs), C(rx_drop), C(tx_drop), from the guest's point
              of view as libvirt reports them (rx is what the guest received).
            - C(totals) with CloudStack's meanings, summed over devices, KiB = bytes / 1024
              C(network_read_kb) (received), C(network_write_kb) (sent), C(disk_read_kb), C(disk_write_kb),
              C(disk_read_ios), C(disk_write_ios); null when a device's counter is unknown. C(cpu_delay_ns)
              is C(delay_ns) summed over the vCPUs that report it, null when none does.
            - Each of these contention signals (C(cpu_user_ns), C(cpu_system_ns), C(vcpus_detail),
              C(memory_pressure), the disk latency and sizes, C(cpu_delay_ns)) is null where the driver, the libvirt
              version or the guest does not report it (never 0), and when libvirt's reading is no count
              (negative, fractional, 2^63 or more).
            - C(timed_out) true when the VM did not answer within O(timeout). What needs its QEMU monitor
              (disk counters, balloon statistics) is then null; what libvirt reads without it (state, CPU
              time, NIC counters) is given when libvirt answered that part in time. Do not take its
              counters as a complete sample.
          type: dict
          returned: success
          sample:
            0b5c0e3e-8a6c-4d8e-9a0e-3f0f1a2b3c4d:
              name: web01
              uuid: 0b5c0e3e-8a6c-4d8e-9a0e-3f0f1a2b3c4d
              state: running
              domain_id: 7
              vcpus: 2
              cpu_time_ns: 91234000000
              cpu_utilization: 12.5
              cpu_user_ns: 80112000000
              cpu_system_ns: 9877000000
              vcpus_detail:
                - {id: 0, delay_ns: 1843000000, wait_ns: 0}
                - {id: 1, delay_ns: 1710000000, wait_ns: 0}
              memory: {max_kb: 2097152, actual_kb: 2097152, unused_kb: 1500000, available_kb: 2030000,
                       rss_kb: 800000}
              memory_pressure: {swap_in_kb: 0, swap_out_kb: 0, major_faults: 312, minor_faults: 481516,
                                usable_kb: 1720000, disk_caches_kb: 220000}
              disks:
                vda: {rd_bytes: 10485760, wr_bytes: 2097152, rd_req: 640, wr_req: 128,
                      rd_total_times_ns: 1520000000, wr_total_times_ns: 310000000, fl_req: 64,
                      fl_total_times_ns: 95000000, capacity: 21474836480, allocation: 3221225472,
                      physical: 3221225472}
              nics:
                vnet3: {rx_bytes: 20480, tx_bytes: 10240, rx_packets: 200, tx_packets: 100,
                        rx_errs: 0, tx_errs: 0, rx_drop: 0, tx_drop: 0}
              totals: {network_read_kb: 20.0, network_write_kb: 10.0, disk_read_kb: 10240.0,
                       disk_write_kb: 2048.0, disk_read_ios: 640, disk_write_ios: 128, cpu_delay_ns: 3553000000}
              timed_out: false
'''

import time

from ansible_collections.hypervisor.stats.plugins.module_utils.libvirt_client import LibvirtModule
from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    DEFAULT_STATES, DEFAULT_VM_TIMEOUT, STATE_NAMES, VM_FACT)
from ansible_collections.hypervisor.stats.plugins.module_utils.vm_facts import (
    VmOptionError, check_vm_options, vm_stats_facts)
from ansible_collections.hypervisor.stats.plugins.module_utils.vm_gather import collect, host_name


def main():
    lm = LibvirtModule(
        argument_spec=dict(
            domains=dict(type='list', elements='str', default=[]),
            states=dict(type='list', elements='str', default=list(DEFAULT_STATES),
                        choices=sorted(STATE_NAMES.values())),
            cpu_sample_seconds=dict(type='float', default=0),
            timeout=dict(type='float', default=DEFAULT_VM_TIMEOUT),
        ),
    )
    params = lm.params
    try:
        check_vm_options(params)
    except VmOptionError as exc:
        lm.fail_json(msg=str(exc))
    collected_at = int(time.time())
    with lm:
        hostname = host_name(lm.conn)
        result = collect(lm.conn, params['states'], names=params['domains'], timeout=params['timeout'],
                         cpu_sample_seconds=params['cpu_sample_seconds'])
    for warning in result.warnings:
        lm.warn(warning)
    facts = vm_stats_facts(hostname, lm.uri, collected_at, result.vms)
    lm.module.exit_json(changed=False, ansible_facts={VM_FACT: facts})


if __name__ == '__main__':
    main()
