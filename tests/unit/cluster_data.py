"""host_resources-shaped facts for the cluster_totals tests (plugin_utils.cluster and the filter).

Inventory records come from host_capacity.inventory_record, the function host_resources uses.
"""

from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import inventory_record
from ansible_collections.hypervisor.stats.plugins.module_utils.schema import STATISTICS_FIELDS


def host(vcpu_free=10, mem_free=8192, disk_free=100, cluster='east', arch='x86_64', total_vcpus=64, **fields):
    def record(total, free):
        return inventory_record(total, 0, 1.0, total - free)
    facts = dict((f, fields.get(f, 1)) for f in STATISTICS_FIELDS)
    facts.update(labels={'cluster': cluster}, cpu_info={'arch': arch}, hypervisor_type='QEMU',
                 inventory={'VCPU': record(total_vcpus, vcpu_free), 'MEMORY_MB': record(65536, mem_free),
                            'DISK_GB': record(1000, disk_free)})
    return facts


# (keyword arguments, what the message must name): refused by cluster_totals and by its filter
BAD_ARGUMENTS = [
    ({'group_by': 'labels.[cluster'}, 'group_by'),
    ({'group_by': ''}, 'group_by'),
    ({'flavors': {'small': {'memory_mb': 512, 'disk_gb': 1}}}, "flavors['small'].vcpus"),
    ({'flavors': {'small': {'vcpus': 0, 'memory_mb': 512}}}, "flavors['small'].vcpus"),
    ({'flavors': {'small': {'vcpus': 1, 'memory_mb': -1}}}, "flavors['small'].memory_mb"),
    ({'flavors': {'small': 'big'}}, "flavors['small']"),
    ({'flavors': ['small']}, 'flavors must be a dict'),
    ({'failures': -1}, 'failures'),
    ({'failures': 65}, 'failures'),
    ({'failures': True}, 'failures'),
    ({'failures': 1.0}, 'failures'),
    ({'failures': '1.5'}, 'failures'),
    ({'failures': None}, 'failures'),
]
