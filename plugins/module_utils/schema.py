# -*- coding: utf-8 -*-
# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's data schema: every field name, resource class, unit and default, once.

Modules (on the hypervisor) and controller plugins (filters, callback, plugin_utils)
all read their names from here, so adding a counter is one line in one file.
Nothing here imports libvirt or does I/O.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

# --- units -------------------------------------------------------------------

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

# --- placement resource classes, in display order ----------------------------

# PCPU only exists with a dedicated CPU set.
RESOURCE_CLASSES = ('VCPU', 'PCPU', 'MEMORY_MB', 'DISK_GB')
# Fields of one placement inventory record that add up over hosts.
INVENTORY_FIELDS = ('total', 'reserved', 'used', 'capacity', 'free')
# flavor field -> resource class it draws from
FLAVOR_RESOURCES = (('vcpus', 'VCPU'), ('memory_mb', 'MEMORY_MB'), ('disk_gb', 'DISK_GB'))

# --- host_resources facts ----------------------------------------------------

# Nova's os-hypervisors/statistics fields: host facts that add up over hosts.
STATISTICS_FIELDS = ('running_vms', 'vcpus', 'vcpus_used', 'memory_mb', 'memory_mb_used', 'free_ram_mb',
                     'local_gb', 'local_gb_used', 'free_disk_gb', 'disk_available_least')
# Disks held by the host's own storage; network disks (Ceph, iSCSI, NBD ...) live elsewhere.
LOCAL_DISK_TYPES = ('file', 'block')
# Formats whose files grow up to their virtual size (Nova's list).
SPARSE_FORMATS = ('qcow2', 'ploop')
# host_resources' disk_source starts with this when the instance storage cannot be measured
# (instances_path missing: instances on Ceph, say); its disk figures are then null.
DISK_UNAVAILABLE = 'unavailable:'

# --- vm_stats facts ----------------------------------------------------------

# virDomainState
STATE_NAMES = {
    0: 'nostate', 1: 'running', 2: 'blocked', 3: 'paused', 4: 'shutdown',
    5: 'shutoff', 6: 'crashed', 7: 'pmsuspended',
}
# Per disk: (our name, bulk-stats suffix).
DISK_FIELDS = (('rd_bytes', 'rd.bytes'), ('wr_bytes', 'wr.bytes'), ('rd_req', 'rd.reqs'), ('wr_req', 'wr.reqs'))
# Order of virDomainBlockStats' tuple (its fifth value, errs, is not kept).
BLOCK_STATS_ORDER = ('rd_req', 'rd_bytes', 'wr_req', 'wr_bytes')
# Per NIC: (our name, bulk-stats suffix); virDomainInterfaceStats' tuple has exactly this order.
NIC_FIELDS = (('rx_bytes', 'rx.bytes'), ('rx_packets', 'rx.pkts'), ('rx_errs', 'rx.errs'), ('rx_drop', 'rx.drop'),
              ('tx_bytes', 'tx.bytes'), ('tx_packets', 'tx.pkts'), ('tx_errs', 'tx.errs'), ('tx_drop', 'tx.drop'))
# A VM's memory, in KiB: (our name, bulk-stats key, virDomainMemoryStats key or None).
MEMORY_SOURCES = (('max_kb', 'balloon.maximum', None), ('actual_kb', 'balloon.current', 'actual'),
                  ('unused_kb', 'balloon.unused', 'unused'), ('available_kb', 'balloon.available', 'available'),
                  ('rss_kb', 'balloon.rss', 'rss'))
MEMORY_FIELDS = tuple(name for name, _bulk, _call in MEMORY_SOURCES)
# CloudStack's VmStatsEntry totals: (total, device group, per-device counter, divisor).
# KiB totals divide bytes by 1024.0; I/O counts stay integers (divisor 1).
VM_TOTALS = (('network_read_kb', 'nics', 'rx_bytes', 1024.0), ('network_write_kb', 'nics', 'tx_bytes', 1024.0),
             ('disk_read_kb', 'disks', 'rd_bytes', 1024.0), ('disk_write_kb', 'disks', 'wr_bytes', 1024.0),
             ('disk_read_ios', 'disks', 'rd_req', 1), ('disk_write_ios', 'disks', 'wr_req', 1))
VM_TOTAL_FIELDS = tuple(total for total, _group, _counter, _divisor in VM_TOTALS)
# What the accumulate filter keeps cumulative per VM.
COUNTERS = ('cpu_time_ns',) + VM_TOTAL_FIELDS
# Contention signals (issue 14), read from the same bulk record as the fields above. They are
# tuples of their own: MEMORY_FIELDS, DISK_FIELDS and VM_TOTAL_FIELDS are what the accumulate
# filter and the report iterate, and these signals are neither accumulated nor reported there
# (a VM's `memory` is also kept as it is by accumulate, hence a dict of its own for the guest's
# memory pressure).
# Host CPU time of the domain, cpu-total group: (our name, bulk-stats key, getCPUStats(True) key).
CPU_SPLIT_SOURCES = (('cpu_user_ns', 'cpu.user', 'user_time'), ('cpu_system_ns', 'cpu.system', 'system_time'))
CPU_SPLIT_FIELDS = tuple(name for name, _bulk, _call in CPU_SPLIT_SOURCES)
# The per-vCPU list of a VM, and each entry's fields beside 'id' (the vCPU number):
# (our name, bulk-stats suffix after 'vcpu.<n>.'). delay: runnable but waiting for a host CPU
# (the guest's steal time; libvirt >= 7.2); wait: the host scheduler's wait_sum (0 from libvirt
# when the host kernel keeps no schedstats).
VCPUS_DETAIL = 'vcpus_detail'
VCPU_FIELDS = (('delay_ns', 'delay'), ('wait_ns', 'wait'))
# A VM's dict of the guest's memory pressure (balloon statistics the guest reports), and its fields:
# (our name, bulk-stats key, virDomainMemoryStats key). Sizes in KiB, faults counts.
MEMORY_PRESSURE = 'memory_pressure'
MEMORY_PRESSURE_SOURCES = (('swap_in_kb', 'balloon.swap_in', 'swap_in'), ('swap_out_kb', 'balloon.swap_out', 'swap_out'),
                           ('major_faults', 'balloon.major_fault', 'major_fault'),
                           ('minor_faults', 'balloon.minor_fault', 'minor_fault'),
                           ('usable_kb', 'balloon.usable', 'usable'),
                           ('disk_caches_kb', 'balloon.disk_caches', 'disk_caches'))
MEMORY_PRESSURE_FIELDS = tuple(name for name, _bulk, _call in MEMORY_PRESSURE_SOURCES)
# Per disk, beside DISK_FIELDS: latency and flushes, (our name, bulk-stats suffix,
# virDomainBlockStatsFlags key); then sizes in bytes, (our name, bulk-stats suffix), in the order
# of virDomainGetBlockInfo's list.
DISK_LATENCY_SOURCES = (('rd_total_times_ns', 'rd.times', 'rd_total_times'),
                        ('wr_total_times_ns', 'wr.times', 'wr_total_times'),
                        ('fl_req', 'fl.reqs', 'flush_operations'), ('fl_total_times_ns', 'fl.times', 'flush_total_times'))
DISK_SIZE_FIELDS = (('capacity', 'capacity'), ('allocation', 'allocation'), ('physical', 'physical'))
DISK_SIGNAL_FIELDS = tuple(name for name, _bulk, _call in DISK_LATENCY_SOURCES) + tuple(
    name for name, _bulk in DISK_SIZE_FIELDS)
# DISK_FIELDS' counters under their virDomainBlockStatsFlags keys.
BLOCK_STATS_FLAGS_KEYS = (('rd_bytes', 'rd_bytes'), ('wr_bytes', 'wr_bytes'), ('rd_req', 'rd_operations'),
                          ('wr_req', 'wr_operations'))
# A VM's totals beside VM_TOTAL_FIELDS: delay summed over its vCPUs.
VM_SIGNAL_TOTAL_FIELDS = ('cpu_delay_ns',)
# The state of a VM that disappeared, kept until the retention ends.
GONE = 'gone'

# --- fact names ----------------------------------------------------------------

HOST_FACT = 'host_resources'
VM_FACT = 'vm_stats'
# Facts the main job stores in the fact cache (and the report picks up).
COUNTERS_FACT = 'hypervisor_stats_counters'
# host_resources' fact of the defined, shut-off domains with a local disk (their claims, disk bytes).
STOPPED_ALLOCATIONS = 'stopped_allocations'
CLUSTER_FACT = 'hypervisor_stats_cluster'

# --- defaults ------------------------------------------------------------------

# The host's CPU time counters (ns, over all its CPUs) host_resources returns as cpu_times, named as
# virNodeGetCPUStats names them; the controller turns their growth into the host's CPU utilisation.
NODE_CPU_TIMES = ('user', 'kernel', 'idle', 'iowait')
DEFAULT_URI = 'qemu:///system'
DEFAULT_INSTANCES_PATH = '/var/lib/libvirt/images'
DEFAULT_STATES = ('running', 'paused')
DEFAULT_VM_TIMEOUT = 10.0
DEFAULT_RETENTION_SECONDS = 604800
DEFAULT_GROUP_BY = 'labels.cluster'
# The main job: the inventory group of hypervisors, and the host whose fact cache keeps the cluster.
DEFAULT_GROUP = 'hypervisors'
DEFAULT_STORE_HOST = 'localhost'
# Planning (controller side): simultaneous host losses simulated (0: off), and the forecasts'
# window of daily points and the fewest points a forecast is made from.
DEFAULT_FAILURES = 0
MAX_FAILURES = 64
DEFAULT_FORECAST_DAYS = 90
DEFAULT_FORECAST_MIN_POINTS = 7
MAX_FORECAST_DAYS = 3 * 366   # the daily history keeps three years
# Reclaimable capacity (issue 14): a VM is idle when its p95 CPU utilisation is below this percent and
# its p95 disk + network I/O below DEFAULT_IDLE_IO_KBPS, over at least DEFAULT_IDLE_DAYS of history;
# right-sizing keeps DEFAULT_RECLAIM_BUFFER (a fraction) above the p95 use.
DEFAULT_IDLE_CPU_PERCENT = 5
DEFAULT_IDLE_DAYS = 14
MAX_IDLE_DAYS = 3 * 366
DEFAULT_IDLE_IO_KBPS = 10
DEFAULT_RECLAIM_BUFFER = 0.2
# host_resources options with a default, as Nova's.
HOST_OPTION_DEFAULTS = {
    'reserved_host_cpus': 0,
    'reserved_host_memory_mb': 512,
    'reserved_host_disk_mb': 0,
    'cpu_allocation_ratio': 4.0,
    'ram_allocation_ratio': 1.0,
    'disk_allocation_ratio': 1.0,
}
ALLOCATION_RATIOS = ('cpu_allocation_ratio', 'ram_allocation_ratio', 'disk_allocation_ratio')
RESERVATIONS = ('reserved_host_cpus', 'reserved_host_memory_mb', 'reserved_host_disk_mb')

# --- ceilings of module inputs -------------------------------------------------
# Each bounds an input before it is used, so that no value can cost the hypervisor memory
# or time, or overflow the arithmetic; the message of a refusal names the option.

# Highest CPU id a CPU set may name. The largest NR_CPUS any Linux architecture allows is
# 8192 (x86_64 with MAXSMP, powerpc; arm64 4096), so no host has a CPU id above 8191, and
# the sets are parsed without expanding anything larger (0-99999999 would cost gigabytes).
MAX_CPU_ID = 8191
# Largest allocation ratio. Nova's defaults are 4.0 (CPU; 16.0 in older releases) and 1.0 (RAM,
# disk); no deployment overcommits anywhere near 1000x, and below it capacity stays exact:
# (total - reserved) * ratio is far below 2**53 for any real host.
MAX_ALLOCATION_RATIO = 1000.0
# Largest reservation (CPUs, MiB): 2**53, above it the arithmetic's floats are no longer exact.
MAX_RESERVATION = 2 ** 53
# Longest vm_stats timeout and CPU sample, in seconds: an hour. A collection cycle runs
# every few minutes; waiting longer on one hypervisor only delays every other result.
MAX_VM_TIMEOUT = 3600.0
MAX_CPU_SAMPLE_SECONDS = 3600.0


# --- number checks -------------------------------------------------------------

def is_number(value):
    """A real int or float; bools are not numbers here. Subclasses count: Ansible hands
    over tagged ints and floats."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite_number(value):
    """A number that is neither NaN nor infinite: the only kind ever written anywhere."""
    return is_number(value) and (isinstance(value, int) or math.isfinite(value))


def number_or_none(value):
    """The value when it is a finite number, else None."""
    return value if is_finite_number(value) else None


# --- ceilings of counters ------------------------------------------------------
# A raw counter (bytes, requests, CPU nanoseconds) is libvirt's unsigned 64-bit integer:
# anything at or above 2**64 is damage, not a reading.
MAX_COUNTER = 2 ** 64
# A cumulative total or a timestamp read back from a cache: far above any real one (10**30
# nanoseconds are 3e13 years), far below where float arithmetic overflows (about 1.8e308),
# so sums and differences of trusted values stay finite.
MAX_TOTAL = 10 ** 30
# A contention reading (ns, KiB, bytes, counts) at or above 2**63 is absurd: -1 read as unsigned
# (libvirt's and QEMU's "unknown") or damage; 2**63 ns are 292 years, 2**63 KiB 8 ZiB.
MAX_READING = 2 ** 63
# Most vCPUs a domain's per-vCPU statistics are looked for (QEMU allows at most a few thousand).
MAX_VCPUS = 16384


def is_count(value, limit=MAX_COUNTER):
    """A finite number in [0, limit); bools and NaN are not. Ints of any size compare exactly,
    so 10**400 is refused without an OverflowError."""
    return is_number(value) and 0 <= value < limit


def reading_or_none(value, limit=MAX_READING):
    """A contention reading as libvirt gives it (an int in [0, limit)), else None: a negative,
    fractional, boolean or absurd value is no reading."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < limit else None


def is_bounded_number(value, limit=MAX_TOTAL):
    """A finite number strictly between -limit and limit (negative allowed: free space can be)."""
    return is_number(value) and -limit < value < limit
