"""vm_stats-shaped samples for the accumulate tests (plugin_utils.counters and the filter)."""

import json

from ansible_collections.hypervisor.stats.plugins.plugin_utils.counters import accumulate

UUID = '11111111-2222-3333-4444-555555555555'
KB = 1024


def vm(uuid=UUID, domain_id=7, cpu=0, vcpus=2, disks=None, nics=None, state='running', name='web', timed_out=False):
    """A vm_stats per-VM dict; disks {dev: (rd_bytes, wr_bytes, rd_req, wr_req)}, nics {dev: (rx_bytes, tx_bytes)}."""
    return {
        'name': name, 'uuid': uuid, 'state': state, 'domain_id': domain_id, 'vcpus': vcpus,
        'cpu_time_ns': cpu, 'cpu_utilization': None, 'timed_out': timed_out,
        'memory': {'max_kb': 1048576, 'actual_kb': 1048576, 'unused_kb': None, 'available_kb': None, 'rss_kb': 2000},
        'disks': dict((dev, dict(zip(('rd_bytes', 'wr_bytes', 'rd_req', 'wr_req'), values)))
                      for dev, values in (disks or {}).items()),
        'nics': dict((dev, {'rx_bytes': rx, 'tx_bytes': tx, 'rx_packets': 1, 'tx_packets': 1, 'rx_errs': 0,
                            'tx_errs': 0, 'rx_drop': 0, 'tx_drop': 0})
                     for dev, (rx, tx) in (nics or {}).items()),
        'totals': {},
    }


def sample(at, *vms, **kw):
    return {'hypervisor_hostname': kw.get('hostname', 'hv'), 'uri': 'test:///default', 'collected_at': at,
            'vms': dict((v['uuid'], v) for v in vms)}


def run(previous, samples, retention=604800):
    state, warnings = accumulate(previous, samples, retention)
    # What goes through the fact cache is JSON: the state must survive it unchanged, with no NaN
    # or infinity (allow_nan=False refuses them: they are not JSON).
    assert json.loads(json.dumps(state, allow_nan=False)) == state
    return state, warnings


def cum(state, host='h1', uuid=UUID):
    return state[host]['vms'][uuid]['cumulative']


def null_device(v, group, dev):
    """The device as vm_stats reports it when its stats call failed: every counter null."""
    v[group][dev] = dict.fromkeys(v[group][dev], None)
    return v


def round_trip(state):
    """The state as the fact cache gives it back."""
    return json.loads(json.dumps(state, allow_nan=False))


# (samples, retention, what the message must name): refused by accumulate and by its filter
BAD_ARGUMENTS = [
    ({'h1': sample(100)}, -1, 'retention_seconds'),
    ({'h1': sample(100)}, 'week', 'retention_seconds'),
    (['h1'], 60, 'samples must be a dict'),
    ({'h1': {'collected_at': 1}}, 60, "samples['h1']"),
    ({'h1': {'vms': {}, 'collected_at': 'now'}}, 60, "samples['h1'].collected_at"),
]


def signal_vm(delay=None, swap=None, disk=None, uuid=UUID, domain_id=7, cpu=0, vcpus=2, usable_kb=None, **kw):
    """A vm() with the contention signals vm_stats reports (issue 14): ``delay`` (cpu_delay_ns, the sum
    over the vCPUs), ``swap`` (swap_in_kb, swap_out_kb), ``disk`` vda's
    (rd_req, wr_req, rd_bytes, wr_bytes, rd_total_times_ns, wr_total_times_ns, fl_req, fl_total_times_ns)."""
    v = vm(uuid=uuid, domain_id=domain_id, cpu=cpu, vcpus=vcpus, **kw)
    v['totals'] = {'cpu_delay_ns': delay}
    v['memory_pressure'] = {'swap_in_kb': swap[0] if swap else None, 'swap_out_kb': swap[1] if swap else None,
                            'usable_kb': usable_kb}
    if disk is not None:
        v['disks'] = {'vda': dict(zip(('rd_req', 'wr_req', 'rd_bytes', 'wr_bytes', 'rd_total_times_ns',
                                       'wr_total_times_ns', 'fl_req', 'fl_total_times_ns'), disk))}
    return v


def rates_of(state, host='h1', uuid=UUID):
    return state[host]['vms'][uuid]['rates']
