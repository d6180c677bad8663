#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: host_resources
short_description: Nova-style capacity facts of a libvirt hypervisor
version_added: 0.1.0
description:
  - Reads one hypervisor through a read-only libvirt connection and returns its vCPUs, RAM and disk,
    what is used, and a placement-style inventory with reservations and overcommit ratios,
    computed as OpenStack Nova's libvirt driver and resource tracker do.
  - Changes nothing; C(changed) is always false. The connection is read-only and closed on every path.
  - A domain that cannot be read is skipped with a warning; the other domains are still counted.
extends_documentation_fragment:
  - hypervisor.stats.libvirt
  - hypervisor.stats.attributes
  - hypervisor.stats.attributes.facts
  - hypervisor.stats.attributes.facts_module
  - hypervisor.stats.attributes.platform
options:
  labels:
    description:
      - Free-form labels passed through to the facts (for example cluster, zone, rack);
        M(hypervisor.stats.host_resources) does not interpret them, the C(cluster_totals) filter can group by them.
    type: dict
    default: {}
  cpu_shared_set:
    description:
      - Host CPUs that guests' shared vCPUs may use, in Nova's syntax, for example C(0-7,^3,10)
        (CPUs and ranges, C(^) excludes a CPU or range).
      - When given, C(vcpus) is the size of this set instead of the number of online host CPUs.
      - A set naming CPUs the host does not have online, or that leaves no CPUs, fails; so does a CPU id
        above 8191 (the highest any Linux kernel allows), before anything is expanded.
    type: str
  cpu_dedicated_set:
    description:
      - Host CPUs reserved for pinned guest vCPUs, in Nova's syntax; its size is C(pcpus)
        and adds a C(PCPU) inventory record.
      - Must not overlap O(cpu_shared_set). Given without O(cpu_shared_set), no CPUs are left for
        unpinned guests and C(vcpus) is 0, as in Nova.
      - An active domain whose every vCPU is pinned (C(vcpupin) or C(vcpu cpuset)) inside this set
        counts as C(PCPU) usage; all other active domains count as C(VCPU) usage.
    type: str
  reserved_host_cpus:
    description: Host vCPUs kept for the host itself (Nova's C(reserved_host_cpus)).
    type: int
    default: 0
  reserved_host_memory_mb:
    description: Host RAM kept for the host itself, in MiB (Nova's C(reserved_host_memory_mb)).
    type: int
    default: 512
  reserved_host_disk_mb:
    description: Instance disk kept for the host, in MiB; rounded up to whole GiB in the inventory.
    type: int
    default: 0
  cpu_allocation_ratio:
    description: vCPU overcommit ratio; a finite number greater than 0 and at most 1000.
    type: float
    default: 4.0
  ram_allocation_ratio:
    description: RAM overcommit ratio; a finite number greater than 0 and at most 1000.
    type: float
    default: 1.0
  disk_allocation_ratio:
    description: Disk overcommit ratio; a finite number greater than 0 and at most 1000.
    type: float
    default: 1.0
  instances_path:
    description:
      - Directory whose filesystem holds instance disks (Nova's C(instances_path)); measured with
        statvfs on the host that runs the module.
      - Defaults to C(/var/lib/libvirt/images) when O(storage_pool) is not given.
      - Mutually exclusive with O(storage_pool).
      - When it cannot be measured (it does not exist, as on a host whose instances live on Ceph), the module
        does not fail; the disk figures are null, C(DISK_GB) is left out of the inventory, C(disk_source)
        starts with C(unavailable:) and a warning says why. CPU and memory facts are returned as usual.
    type: path
  storage_pool:
    description:
      - Name of a libvirt storage pool whose capacity, allocation and available space stand for
        the instance storage instead of O(instances_path). Works over remote URIs.
      - A pool that cannot be read fails the module, after every other option has been checked.
      - For an C(rbd) pool the figures are libvirt's, which come from the Ceph cluster's raw statistics
        (capacity and available summed over all OSDs, before replication); see C(disk_source_detail).
    type: str
  shared_storage_id:
    description:
      - Declares that the instance storage is shared with other hosts, under this identity; every host giving the
        same value is counted once by the C(cluster_totals) filter in C(DISK_GB) totals and disk fits.
      - For storage that detection cannot recognise, for example a SAN LUN with a cluster filesystem, or a C(dir)
        pool on an NFS mount. Overrides the detected C(shared_id).
      - Detected without it for nfs, nfs4, cephfs, glusterfs, ocfs2, gfs2 and gpfs mounts (O(instances_path)) and for
        rbd, netfs, gluster and iscsi pools (O(storage_pool)). A local filesystem is never shared.
    type: str
seealso:
  - name: Nova libvirt driver get_available_resource
    description: The computation these facts follow.
    link: https://docs.openstack.org/nova/latest/admin/configuration/schedulers.html
author:
  - hypervisor.stats contributors (@hypervisor-stats)
'''

EXAMPLES = r'''
- name: Gather capacity facts of the local hypervisor
  hypervisor.stats.host_resources:

- name: Gather with Nova-like settings and labels used for grouping
  hypervisor.stats.host_resources:
    uri: qemu:///system
    cpu_shared_set: "2-31"
    cpu_dedicated_set: "32-63"
    reserved_host_memory_mb: 4096
    cpu_allocation_ratio: 16.0
    labels:
      cluster: east
      rack: r12

- name: A simulated host from libvirt's test driver, disk measured from a pool
  hypervisor.stats.host_resources:
    uri: "test://{{ playbook_dir }}/nodes/compute1.xml"
    storage_pool: default-pool

- name: Show free vCPUs
  ansible.builtin.debug:
    msg: "{{ ansible_facts.host_resources.inventory.VCPU.free }} vCPUs free"
'''

RETURN = r'''
ansible_facts:
  description: Facts added to the host.
  returned: success
  type: dict
  contains:
    host_resources:
      description: Capacity of the hypervisor, with Nova's field names and meanings.
      returned: success
      type: dict
      contains:
        hypervisor_hostname:
          description: 'Host name libvirt reports.'
          type: str
          returned: success
        hypervisor_type:
          description: 'libvirt driver type, for example C(QEMU).'
          type: str
          returned: success
        hypervisor_version:
          description: 'Hypervisor version as an integer (major * 1000000 + minor * 1000 + release).'
          type: int
          returned: success
        libvirt_version:
          description: 'libvirt version of the daemon, as C(M.m.r).'
          type: str
          returned: success
        uri:
          description: 'The URI used, without its secrets (user-info password, secret query parameters).'
          type: str
          returned: success
        collected_at:
          description: 'Epoch seconds when collection started.'
          type: int
          returned: success
        labels:
          description: 'The O(labels) option, passed through.'
          type: dict
          returned: success
        vcpus:
          description: 'Online host CPUs (nodeinfo), or the size of O(cpu_shared_set); 0 with only O(cpu_dedicated_set).'
          type: int
          returned: success
        pcpus:
          description: 'Size of O(cpu_dedicated_set), 0 without one.'
          type: int
          returned: success
        cpu_shared_set:
          description: 'The shared set, normalised, or null.'
          type: str
          returned: success
        cpu_dedicated_set:
          description: 'The dedicated set, normalised, or null.'
          type: str
          returned: success
        vcpus_used:
          description: 'Sum of the current vCPUs of active (running or paused) domains, pinned or not.'
          type: int
          returned: success
        running_vms:
          description: 'Number of active domains.'
          type: int
          returned: success
        memory_mb:
          description:
            - Host RAM in MiB, the node memory stats' total (the host's /proc/meminfo) where the driver has them,
              else nodeinfo's. Nova reads nodeinfo, which can disagree with /proc/meminfo and then makes
              C(memory_mb_used) negative; one source keeps the figures consistent.
          type: int
          returned: success
        memory_mb_used:
          description: 'Host RAM in use in MiB, see C(memory_mb_used_source).'
          type: int
          returned: success
        memory_mb_used_source:
          description:
            - C(node_memory_stats) when the driver reports host memory stats; then C(memory_mb_used) is
              memory_mb - (free + buffers + cached), as Nova's get_memory_mb_used.
            - C(domains) when it does not (for example libvirt's test driver); then the sum of the
              current memory of active domains stands in.
          type: str
          returned: success
        free_ram_mb:
          description: 'memory_mb - memory_mb_used.'
          type: int
          returned: success
        local_gb:
          description: 'Size of the instance storage in GiB; null when it cannot be measured (see O(instances_path)).'
          type: int
          returned: success
        local_gb_used:
          description: 'Used instance storage in GiB; null when it cannot be measured.'
          type: int
          returned: success
        free_disk_gb:
          description: 'local_gb - local_gb_used; null when the storage cannot be measured.'
          type: int
          returned: success
        disk_available_least:
          description:
            - As Nova, free instance storage (rounded down to GiB) minus the over-commitment of the disks of all
              domains, active or not, in GiB; may be negative.
            - Over-commitment counts file-backed qcow2 and ploop disks only, as virtual size minus the bytes
              allocated on disk; raw files and block devices count 0.
            - Disk sizes come from the storage volume when the disk file is in a libvirt pool, else from the
              domain's block info.
            - Null when the instance storage cannot be measured.
          type: int
          returned: success
        disk_source:
          description:
            - C(path:DIR) or C(pool:NAME) - where the disk figures come from.
            - C(unavailable:path:DIR) when O(instances_path) cannot be measured - the disk figures are then null.
          type: str
          returned: success
        disk_source_detail:
          description:
            - What the disk figures come from. C(kind) is C(filesystem), C(pool) or C(unavailable).
            - A filesystem has C(mount) (its mount point), C(fstype) and C(source) (the mount source, for example
              C(nfs.example:/export)), read from C(/proc/self/mountinfo) on the host that runs the module.
            - A pool has C(pool_type), C(pool_name) and C(source) (its source hosts, directory, name or device).
            - C(shared_by) is C(detected), C(declared) (O(shared_storage_id)) or null (local storage).
          type: dict
          returned: success
        shared_id:
          description:
            - The identity of shared instance storage, the same on every host that sees it; null for local storage.
            - C(nfs:SERVER:/EXPORT) (an nfs mount and a netfs pool of the same export agree), C(cephfs:...),
              C(glusterfs:VOLUME), C(ocfs2:UUID), C(gfs2:UUID), C(gpfs:DEVICE), C(rbd:MONITORS/POOL),
              C(iscsi:IQN), or O(shared_storage_id) as given.
            - A pool's identity comes from its type and source, never from its local name or UUID.
            - The disk figures of a host with a shared_id are the whole shared storage's; the C(cluster_totals)
              filter counts them once per shared_id.
          type: str
          returned: success
        cpu_info:
          description: Host CPU C(arch), C(model), C(vendor), C(topology) (cells, sockets, cores, threads) and
            C(features), from the capabilities XML (nodeinfo fills a missing topology or arch).
          type: dict
          returned: success
        numa_topology:
          description: C(cells) from the capabilities XML, each with C(id), C(cpus), C(memory_mb) and C(siblings)
            (lists of SMT thread siblings).
          type: dict
          returned: success
        inventory:
          description:
            - Per resource class (C(VCPU), C(MEMORY_MB), C(DISK_GB), and C(PCPU) with a dedicated set) a record with
              C(total), C(reserved), C(allocation_ratio), C(min_unit), C(max_unit), C(step_size), C(used) (allocated to
              active domains), C(capacity) = (total - reserved) * allocation_ratio rounded down and C(free) = capacity - used.
            - C(used) is, for C(VCPU), the vCPUs of active domains not pinned into O(cpu_dedicated_set); for C(PCPU),
              those pinned into it; for C(MEMORY_MB), the maximum memory of active domains; for C(DISK_GB), the virtual
              sizes of active domains' file and block disks (CD-ROMs and network disks excluded).
            - C(VCPU) is kept with C(total) 0 when there are no shared CPUs (Nova would omit it).
            - C(DISK_GB) is left out when the instance storage cannot be measured (see O(instances_path)) -
              unknown, not zero, so that cluster totals add up the disks that are known.
          type: dict
          returned: success
          sample:
            VCPU: {total: 16, reserved: 0, allocation_ratio: 4.0, min_unit: 1, max_unit: 16, step_size: 1,
                   used: 6, capacity: 64, free: 58}
        allocations:
          description:
            - Each active domain's own claim on the inventory, keyed by domain UUID, as Placement records a
              consumer's - C(name) and C(resources) (C(VCPU), or C(PCPU) when pinned into O(cpu_dedicated_set);
              C(MEMORY_MB); C(DISK_GB) when it has local disks), rounded up to whole MiB and GiB.
            - What the failover simulation re-places when a host is lost.
          type: dict
          returned: success
          sample:
            0d4c1b5e-3b1a-4d8e-9a51-1f2a3b4c5d6e: {name: web-1, resources: {VCPU: 2, MEMORY_MB: 4096, DISK_GB: 20}}
        stopped_allocations:
          description:
            - Each defined, shut-off domain with a local disk, keyed by domain UUID - C(name), C(resources) (its claim
              as in RV(ansible_facts.host_resources.allocations); Nova keeps a stopped instance's allocations) and
              C(disk_bytes), the bytes its local disks take on this host (their allocation, else their capacity;
              null when a disk has neither).
            - Not in C(used) (only running domains are); the main job reports them as C(stopped) reclaimable capacity.
          type: dict
          returned: success
          sample:
            7f0e2a4c-9b1d-4c3e-8a2f-3d4e5f6a7b8c: {name: old-1, resources: {VCPU: 4, MEMORY_MB: 8192, DISK_GB: 40},
                                                   disk_bytes: 26843545600}
        cpu_times:
          description:
            - The host's CPU time counters in nanoseconds, summed over its CPUs - C(user), C(kernel), C(idle) and
              C(iowait) (virNodeGetCPUStats); null where the driver has none.
            - Counters since boot; the main job turns their growth between two cycles into the host's CPU utilisation
              for the history, so the module never waits to sample.
          type: dict
          returned: success
          sample: {user: 9797400000, kernel: 34678723400000, idle: 87264900000, iowait: 763600000}
'''

from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import (
    CapacityError, check_options, host_facts)
from ansible_collections.hypervisor.stats.plugins.module_utils.host_gather import gather_host
from ansible_collections.hypervisor.stats.plugins.module_utils.libvirt_client import LibvirtModule
from ansible_collections.hypervisor.stats.plugins.module_utils.schema import (
    DEFAULT_INSTANCES_PATH, HOST_FACT, HOST_OPTION_DEFAULTS as DEFAULTS)


def main():
    lm = LibvirtModule(
        argument_spec=dict(
            labels=dict(type='dict', default={}),
            cpu_shared_set=dict(type='str'),
            cpu_dedicated_set=dict(type='str'),
            reserved_host_cpus=dict(type='int', default=DEFAULTS['reserved_host_cpus']),
            reserved_host_memory_mb=dict(type='int', default=DEFAULTS['reserved_host_memory_mb']),
            reserved_host_disk_mb=dict(type='int', default=DEFAULTS['reserved_host_disk_mb']),
            cpu_allocation_ratio=dict(type='float', default=DEFAULTS['cpu_allocation_ratio']),
            ram_allocation_ratio=dict(type='float', default=DEFAULTS['ram_allocation_ratio']),
            disk_allocation_ratio=dict(type='float', default=DEFAULTS['disk_allocation_ratio']),
            instances_path=dict(type='path'),
            storage_pool=dict(type='str'),
            shared_storage_id=dict(type='str'),
        ),
        mutually_exclusive=[('instances_path', 'storage_pool')],
    )
    params = lm.params
    try:
        check_options(params)
        with lm:
            raw = gather_host(lm.conn, lm.uri,
                              instances_path=params['instances_path'] or DEFAULT_INSTANCES_PATH,
                              storage_pool=params['storage_pool'],
                              shared_storage_id=params['shared_storage_id'] or None)
        facts = host_facts(raw, params)
    except (CapacityError, LookupError) as exc:
        lm.fail_json(msg=str(exc))
    for warning in raw['warnings']:
        lm.warn(warning)
    lm.module.exit_json(changed=False, ansible_facts={HOST_FACT: facts})


if __name__ == '__main__':
    main()
