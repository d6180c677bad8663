"""Small clusters for the failover tests (plugin_utils.failover) and bench/failover_miss_rate.py: random
host_resources facts, an exact packer that tries every placement, and a check that a placement fits.

None of this uses plugin_utils.failover: it is the independent oracle. Inventory records come from
host_capacity.inventory_record, the function host_resources uses.
"""

import itertools

from ansible_collections.hypervisor.stats.plugins.module_utils.host_capacity import inventory_record


def facts(name, inventory, vms):
    """host_resources facts of one host: ``inventory`` {class: (total, reserved, ratio)}, ``vms`` [(uuid, {class: n})];
    each class's ``used`` is the sum of the VMs' claims (it may exceed the capacity: an overcommitted host)."""
    used = dict((rc, sum(claim.get(rc, 0) for _uuid, claim in vms)) for rc in inventory)
    return {
        'hypervisor_hostname': name, 'running_vms': len(vms), 'labels': {},
        'inventory': dict((rc, inventory_record(total, reserved, ratio, used[rc]))
                          for rc, (total, reserved, ratio) in inventory.items()),
        'allocations': dict((uuid, {'name': 'vm-' + uuid, 'resources': dict(claim)}) for uuid, claim in vms),
    }


def random_cluster(rng, hosts=(2, 5), vms=(0, 12)):
    """Host facts of a random small cluster (``rng`` a random.Random): 2-5 hosts, 0-12 VMs, tight enough
    that packings matter; some hosts with PCPU (and pinned VMs), some without DISK_GB."""
    shapes = []
    for _ in range(rng.randint(*hosts)):
        inventory = {'VCPU': (rng.randint(1, 8), 0, rng.choice((1.0, 1.0, 2.0))),
                     'MEMORY_MB': (1024 * rng.randint(1, 8), rng.choice((0, 0, 512)), 1.0)}
        if rng.random() < 0.7:
            inventory['DISK_GB'] = (rng.randint(10, 100), 0, 1.0)
        if rng.random() < 0.3:
            inventory['PCPU'] = (rng.randint(1, 4), 0, 1.0)
        shapes.append((inventory, []))
    for v in range(rng.randint(*vms)):
        inventory, own = shapes[rng.randrange(len(shapes))]
        cpu = 'PCPU' if 'PCPU' in inventory and rng.random() < 0.5 else 'VCPU'
        claim = {cpu: rng.randint(1, 4), 'MEMORY_MB': 256 * rng.randint(1, 16)}
        if 'DISK_GB' in inventory and rng.random() < 0.6:
            claim['DISK_GB'] = rng.randint(1, 40)
        own.append(('%08x-0000-4000-8000-000000000000' % v, claim))
    return [facts('h%d' % i, inventory, own) for i, (inventory, own) in enumerate(shapes)]


def claims_of(hosts, names):
    """[(uuid, {class: n})] of the running VMs of the hosts named."""
    return [(uuid, dict((rc, n) for rc, n in entry['resources'].items() if n))
            for h in hosts if h['hypervisor_hostname'] in names for uuid, entry in h['allocations'].items()]


def takes(host, claim, already=None):
    """Whether ``host`` (facts) takes ``claim`` on top of ``already`` (per class): the class in its
    inventory, no more than its max_unit, and the sum within its free."""
    already = already or {}
    for rc, n in claim.items():
        record = host['inventory'].get(rc)
        if record is None or n > record['max_unit'] or already.get(rc, 0) + n > record['free']:
            return False
    return True


def exact_fits(hosts, lost):
    """Whether some placement puts every VM of the ``lost`` hosts (names) onto the others: every
    assignment is tried (with memory of states already refuted)."""
    vms = sorted((claim for _uuid, claim in claims_of(hosts, lost)), key=lambda c: -sum(c.values()))
    survivors = [h for h in hosts if h['hypervisor_hostname'] not in lost]
    classes = sorted(set(rc for claim in vms for rc in claim))
    refuted = set()

    def place(i, loads):
        if i == len(vms):
            return True
        if (i, loads) in refuted:
            return False
        for j, host in enumerate(survivors):
            load = dict(zip(classes, loads[j]))
            if takes(host, vms[i], load):
                load = tuple(load[rc] + vms[i].get(rc, 0) for rc in classes)
                if place(i + 1, loads[:j] + (load,) + loads[j + 1:]):
                    return True
        refuted.add((i, loads))
        return False
    return place(0, tuple(tuple(0 for _ in classes) for _ in survivors))


def exact_survives(hosts, k):
    """Whether the loss of every set of k hosts leaves a placement of their VMs (never, with k hosts or fewer)."""
    names = [h['hypervisor_hostname'] for h in hosts]
    if len(names) <= k:
        return False
    return all(exact_fits(hosts, set(lost)) for lost in itertools.combinations(names, k))


def placement_errors(hosts, lost, placed):
    """What is wrong with ``placed`` ({uuid: host name}) as a placement of the lost hosts' VMs: a VM
    placed twice or onto a lost host, or a survivor given more than it takes."""
    claims = dict(claims_of(hosts, lost))
    by_name = dict((h['hypervisor_hostname'], h) for h in hosts)
    errors = ['%s is not a VM of a lost host' % uuid for uuid in placed if uuid not in claims]
    loads = {}
    for uuid, name in placed.items():
        if name in lost or name not in by_name:
            errors.append('%s placed onto %s, which is lost or unknown' % (uuid, name))
            continue
        load = loads.setdefault(name, {})
        if not takes(by_name[name], claims.get(uuid, {}), load):
            errors.append('%s does not fit onto %s (already given %s)' % (uuid, name, load))
        for rc, n in claims.get(uuid, {}).items():
            load[rc] = load.get(rc, 0) + n
    return errors
