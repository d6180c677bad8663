# Copyright: hypervisor.stats contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failure headroom (issue 13): would each group still run its VMs after losing ``k`` hosts?

The running VMs of the lost hosts (their ``allocations``, the claims host_resources reports) are
re-placed onto the surviving hosts of the same group by first-fit decreasing, with the rules of
``cluster.host_fits``: a claim needs the resource class in the host's inventory, that much
``free``, and no more than ``max_unit``. First-fit decreasing is a heuristic: it may miss a
packing that exists, so ``survives: false`` means "no placement found", but every ``true`` rests
on a placement that fits. See docs/failover.md for the model, the choice of the worst hosts and
the limits.

A group whose hosts all keep their instances on one shared storage (one ``shared_id``) loses no
disk with a host: its VMs' disks stay where they are and are evacuated with them, as Nova evacuates
on shared storage. Their re-placement then claims no DISK_GB, and the group's disk headroom and
disk fits after the loss are the shared storage's free space, once (``cluster.merge_shared``).

Speed: a group's hosts' room per class sits in a max-tree (``_RoomTree``), so the first host
with room for a VM is found in about log(n) steps instead of a scan; each loss scenario masks
the lost hosts in the tree and undoes its own placements afterwards, so the tree is built once
per group, and each host's VMs are sorted once.
"""

import gc
import math
import re
from itertools import combinations

from ansible_collections.hypervisor.stats.plugins.module_utils.schema import RESOURCE_CLASSES, is_bounded_number, is_number
from ansible_collections.hypervisor.stats.plugins.plugin_utils.cluster import (
    ClusterError, _host_name, check_flavors, compile_group_by, group_of, host_fits, is_host_facts, merge_shared,
    shared_fits, shared_id_of)

# Most simultaneous host failures asked for; beyond it no cluster plans, and the greedy's cost grows with k^2.
MAX_FAILURES = 64
# For k >= 2, every set of k hosts of a group is tried when there are at most this many sets
# (a group of 63 hosts at k = 2); above it the worst set is chosen greedily.
EXHAUSTIVE_SETS = 2000
# The room of a host for a class it cannot give (no inventory record, or a damaged one).
NO_ROOM = float('-inf')


def check_failures(value):
    """``failures`` as an int from 0 to MAX_FAILURES (digits as text accepted, as Ansible may template
    them), or ClusterError naming failures."""
    if isinstance(value, str) and re.match(r'^\s*[0-9]{1,3}\s*$', value):
        value = int(value)
    if not is_number(value) or not isinstance(value, int) or not 0 <= value <= MAX_FAILURES:
        raise ClusterError('failures must be a whole number of hosts from 0 to %d, got %r' % (MAX_FAILURES, value))
    return int(value)


class _RoomTree(object):
    """Per resource class, a max-tree over the hosts' room (free capped by max_unit): the first host
    with room for a claim is found by going down from the root, left first, skipping any subtree
    whose maximum lacks room in some class."""

    def __init__(self, rooms, classes):
        size = 1
        while size < len(rooms):
            size *= 2
        self.size = size
        self.trees = []
        for r in range(classes):
            tree = [NO_ROOM] * (2 * size)
            for i, row in enumerate(rooms):
                tree[size + i] = row[r]
            for node in range(size - 1, 0, -1):
                tree[node] = max(tree[2 * node], tree[2 * node + 1])
            self.trees.append(tree)

    def set(self, host, r, room):
        tree = self.trees[r]
        node = self.size + host
        tree[node] = room
        node //= 2
        while node:
            best = max(tree[2 * node], tree[2 * node + 1])
            if tree[node] == best:
                break   # the ancestors' maxima are unchanged too
            tree[node] = best
            node //= 2

    def checks(self, demand):
        """``demand`` ((class, amount), ...) as the (tree, amount) pairs ``first`` compares."""
        trees = self.trees
        return tuple([(trees[r], amount) for r, amount in demand])

    def first(self, checks):
        """The lowest host index with room for every (tree, amount) of ``checks``, or -1."""
        size = self.size
        node = 1
        while True:
            for tree, amount in checks:
                if tree[node] < amount:
                    break
            else:
                if node >= size:
                    return node - size
                node *= 2   # the left subtree first: lower host indices
                continue
            # No room under this node: on to the next subtree to its right.
            while node & 1:
                node //= 2
            if not node:
                return -1
            node += 1


def _claims(allocations):
    """[(uuid, name, [(class, amount > 0)])] of a host's allocations, or None when they are not in the
    shape host_resources writes (then the host's VMs are unknown)."""
    if not isinstance(allocations, dict):
        return None
    claims = []
    for uuid, entry in allocations.items():
        resources = entry.get('resources') if isinstance(entry, dict) else None
        if not isinstance(resources, dict):
            return None
        pairs = []
        for rc, amount in resources.items():
            # An int first: the usual case needs only its sign checked (this runs for every VM).
            whole = isinstance(amount, int) or is_bounded_number(amount) and amount == int(amount)
            if not whole or isinstance(amount, bool) or amount < 0:
                return None
            if amount:
                pairs.append((rc, int(amount)))
        name = entry.get('name')
        claims.append((str(uuid), name if isinstance(name, str) and name else str(uuid), pairs))
    return claims


def _record_fields(record):
    """(free, max_unit or None, capacity) of a usable inventory record, else None."""
    if not isinstance(record, dict) or not is_bounded_number(record.get('free')):
        return None
    max_unit = record.get('max_unit')
    capacity = record.get('capacity')
    return (record['free'], max_unit if is_bounded_number(max_unit) else None,
            capacity if is_bounded_number(capacity) else 0)


class _Group(object):
    """One group's hosts as rows of numbers per resource class, and the loss scenarios on them."""

    def __init__(self, members):
        """``members``: [(name, facts)], the group's hosts in input order (first fit follows it)."""
        self.names = [name for name, _facts in members]
        inventories = [facts.get('inventory') if isinstance(facts.get('inventory'), dict) else {}
                       for _name, facts in members]
        claims = [_claims(facts.get('allocations')) for _name, facts in members]
        found = set(rc for inventory in inventories for rc in inventory)
        found.update(rc for host in claims if host for _uuid, _name, pairs in host for rc, _amount in pairs)
        self.classes = [rc for rc in RESOURCE_CLASSES if rc in found] + sorted(found - set(RESOURCE_CLASSES))
        index = dict((rc, r) for r, rc in enumerate(self.classes))
        width = len(self.classes)

        self.free, self.room, self.max_unit = [], [], []
        self.capacity = [0] * width
        self.inventoried = [False] * width   # classes some host has: the keys of headroom_after
        for inventory in inventories:
            free, room, max_unit = [0] * width, [NO_ROOM] * width, [None] * width
            for rc, record in inventory.items():
                fields = _record_fields(record)
                if fields is None:
                    continue
                r = index[rc]
                free[r], max_unit[r] = fields[0], fields[1]
                room[r] = fields[0] if fields[1] is None else min(fields[0], fields[1])
                self.capacity[r] += fields[2]
                self.inventoried[r] = True
            self.free.append(free)
            self.room.append(room)
            self.max_unit.append(max_unit)
        self.free_sum = [sum(row[r] for row in self.free) for r in range(width)]
        self.tree = _RoomTree(self.room, width)
        self.pool = self._shared_pool(members, index)

        # Each known host's VMs as (order, demand, host, uuid, name, the tree's checks), sorted once:
        # largest dominant share first.
        self.vms = []
        for i, host in enumerate(claims):
            if host is None:
                self.vms.append(None)
                continue
            vms = []
            for uuid, name, pairs in host:
                demand = tuple([(index[rc], amount) for rc, amount in pairs
                                if self.pool is None or rc != 'DISK_GB'])
                vms.append(((-self._share(demand), i, uuid), demand, i, uuid, name, self.tree.checks(demand)))
            vms.sort()
            self.vms.append(vms)
        self.known = [i for i, vms in enumerate(self.vms) if vms is not None]
        self.unknown = [self.names[i] for i, vms in enumerate(self.vms) if vms is None]

    @staticmethod
    def _shared_pool(members, index):
        """The DISK_GB record of the one shared storage every host of the group keeps its instances on
        (counted once), or None: hosts on local or on different storages, or a host without the record."""
        sids = set(shared_id_of(facts) for _name, facts in members)
        if len(sids) != 1 or None in sids or 'DISK_GB' not in index:
            return None
        records = [(facts.get('inventory') or {}).get('DISK_GB') for _name, facts in members]
        if not all(isinstance(record, dict) and _record_fields(record) for record in records):
            return None
        _winner, _values, record = merge_shared([(name, facts, ({}, record))
                                                 for (name, facts), record in zip(members, records)])
        return record if _record_fields(record) else None

    def _share(self, demand):
        """The dominant share: the largest fraction of the group's capacity of a class the demand takes."""
        capacity = self.capacity
        return max([amount / capacity[r] if capacity[r] > 0 else math.inf for r, amount in demand], default=0.0)

    def _headroom(self, lost, placed):
        """Free per class summed over the survivors, after ``placed`` (per class) went onto them; a shared
        storage's DISK_GB free once, whichever hosts are lost."""
        headroom = [self.free_sum[r] - sum(self.free[i][r] for i in lost) - placed[r] for r in range(len(self.classes))]
        if self.pool is not None:
            headroom[self.classes.index('DISK_GB')] = self.pool['free']
        return headroom

    def _severity(self, unplaced, headroom):
        """Larger is worse: more VMs unplaced, then less room left in the scarcest class (as a share of the
        group's capacity of that class)."""
        shares = [headroom[r] / self.capacity[r] for r in range(len(self.classes)) if self.capacity[r] > 0]
        return (unplaced, -min(shares) if shares else 0.0)

    def replace(self, lost):
        """First-fit decreasing of the lost hosts' VMs onto the others. Returns (unplaced VMs,
        headroom per class, [(vm, host index)] placed, free rows after); the tree is left as it was."""
        tree, width = self.tree, len(self.classes)
        vms = self.vms[lost[0]] if len(lost) == 1 else sorted(vm for i in lost for vm in self.vms[i])
        for i in lost:
            for r in range(width):
                tree.set(i, r, NO_ROOM)
        saved = {}
        unplaced, placements = [], []
        placed = [0] * width
        # A VM that claims nothing passes every check, even the masked hosts': it goes to the first survivor.
        anywhere = next((i for i in range(len(self.names)) if i not in lost), -1)
        for vm in vms:
            demand = vm[1]
            j = tree.first(vm[5]) if demand else anywhere
            if j < 0:
                unplaced.append(vm)
                continue
            if j not in saved:
                saved[j] = self.free[j][:]
            free, max_unit = self.free[j], self.max_unit[j]
            for r, amount in demand:
                free[r] -= amount
                placed[r] += amount
                tree.set(j, r, free[r] if max_unit[r] is None else min(free[r], max_unit[r]))
            placements.append((vm, j))
        after = dict((j, self.free[j][:]) for j in saved)
        # Undo: the next scenario starts from the group as it is.
        for j, row in saved.items():
            self.free[j] = row
            for r in range(width):
                tree.set(j, r, self.room[j][r])
        for i in lost:
            for r in range(width):
                tree.set(i, r, self.room[i][r])
        return unplaced, self._headroom(lost, placed), placements, after

    def _worse(self, lost, worst):
        """(severity, lost) of this scenario when it is worse than ``worst``, else ``worst``: the first
        scenario tried wins a tie, so the result follows the input order."""
        unplaced, headroom, _placements, _after = self.replace(lost)
        severity = self._severity(len(unplaced), headroom)
        return (severity, lost) if worst is None or severity > worst[0] else worst

    def worst_loss(self, k):
        """(the worst set of k known hosts as a tuple of indices or None, whether every set was tried)."""
        if k == 1 or math.comb(len(self.known), k) <= EXHAUSTIVE_SETS:
            worst = None
            for lost in combinations(self.known, k):
                worst = self._worse(lost, worst)
            return (worst[1] if worst else None), True
        # Greedy: add, one at a time, the host whose loss together with those already chosen is worst,
        # each time re-placing the whole set's VMs from the group as it is.
        chosen = ()
        for _step in range(k):
            worst = None
            for i in self.known:
                if i not in chosen:
                    worst = self._worse(chosen + (i,), worst)
            if worst is None:
                break   # fewer known hosts than k: the rest are unknown
            chosen = worst[1]
        return chosen, False

    def certified(self, k):
        """Whether every set of k hosts survives, shown on a virtual group that is worse than all of them.

        VMs are taken by shape (the classes they claim: VCPU or PCPU, with or without DISK_GB), each
        host's VMs of a shape in first-fit-decreasing order. The virtual lost VMs are, per shape, k
        copies of a list whose j-th VM claims, per class, the most that any host's j-th VM of that
        shape claims. The virtual survivors are n - k hosts, the j-th with, per class, the least room
        among hosts j..j+k of an order by classes and size (whichever k hosts are lost, the j-th
        survivor is one of those). Each real VM of a lost host then maps to its own virtual VM, no
        smaller, and each virtual survivor to its own real survivor, no smaller: a placement of the
        virtual VMs is one of the real VMs."""
        n, width = len(self.names), len(self.classes)
        ranked = {}   # shape -> [claim per class] by rank
        for vms in self.vms:
            ranks = {}
            for vm in vms:
                shape = tuple(sorted(r for r, _amount in vm[1]))
                j = ranks[shape] = ranks.get(shape, -1) + 1
                claims = ranked.setdefault(shape, [])
                if j == len(claims):
                    claims.append([0] * width)
                for r, amount in vm[1]:
                    claims[j][r] = max(claims[j][r], amount)
        virtual = []
        for claims in ranked.values():
            for claim in claims:
                demand = tuple((r, amount) for r, amount in enumerate(claim) if amount)
                virtual.extend([(-self._share(demand), demand)] * k)
        virtual.sort()

        # Any order of the hosts gives a sound bound; neighbours alike lose least to the minimum:
        # hosts with the same classes together, then by overall room.
        def order(i):
            usable = tuple(self.room[i][r] != NO_ROOM for r in range(width))
            return usable, sum(max(self.room[i][r], 0) / self.capacity[r] for r in range(width) if self.capacity[r] > 0)
        return self._virtual_fit(virtual, sorted(range(n), key=order), k)

    def _virtual_fit(self, virtual, hosts, k):
        """Whether first-fit decreasing places ``virtual`` [(order, demand)] onto the n - k virtual survivors of
        ``hosts`` in this order: the j-th with, per class, the least room among hosts j..j+k."""
        width = len(self.classes)
        bins = [[min(self.room[hosts[x]][r] for x in range(j, j + k + 1)) for r in range(width)]
                for j in range(len(hosts) - k)]
        tree = _RoomTree(bins, width)
        for _order, demand in virtual:
            j = tree.first(tree.checks(demand))
            if j < 0:
                return False
            for r, amount in demand:
                bins[j][r] -= amount
                tree.set(j, r, bins[j][r])
        return True

    def record(self, k, flavors):
        """The group's failover record (docs/failover.md)."""
        n = len(self.names)
        if n <= k:
            # No host survives: every known VM is unplaced and nothing is left.
            lost, exhaustive = tuple(range(n)), True
            vms = sorted(vm for i in self.known for vm in self.vms[i])
            unplaced, headroom, after = vms, [0] * len(self.classes), {}
            survives = False
        else:
            lost, exhaustive = self.worst_loss(k)
            lost = lost or ()
            unplaced, headroom, _placements, after = self.replace(lost)
            if unplaced:
                survives = False
            elif self.unknown:
                survives = None   # the loss of a host whose VMs are unknown is not simulated
            else:
                survives = exhaustive or self.certified(k)
                survives = True if survives else None
        record = {
            'survives': survives,
            'worst_hosts': [self.names[i] for i in lost],
            'unplaced': {'count': len(unplaced),
                         'vms': [{'name': vm[4], 'uuid': vm[3], 'host': self.names[vm[2]]} for vm in unplaced]},
            'headroom_after': dict((rc, headroom[r]) for r, rc in enumerate(self.classes) if self.inventoried[r]),
            'exhaustive': exhaustive,
            'unknown_hosts': list(self.unknown),
        }
        if flavors is not None:
            survivors = [i for i in range(n) if i not in lost]
            hosts = [{'inventory': self._inventory_after(i, after.get(i, self.free[i]))} for i in survivors]
            if self.pool is None:
                record['fits_after'] = dict((name, sum(host_fits(h, flavor) for h in hosts))
                                            for name, flavor in flavors.items())
            else:
                sharers = [(self.names[i], h, ({}, self.pool)) for i, h in zip(survivors, hosts)]
                record['fits_after'] = dict((name, shared_fits(sharers, self.pool, flavor)) for name, flavor in flavors.items())
        return record

    def _inventory_after(self, i, free):
        """Host i's inventory as host_fits reads it, with ``free`` after the re-placement."""
        inventory = {}
        for r, rc in enumerate(self.classes):
            if self.room[i][r] != NO_ROOM:
                inventory[rc] = {'free': free[r]}
                if self.max_unit[i][r] is not None:
                    inventory[rc]['max_unit'] = self.max_unit[i][r]
        return inventory


def _combined(records, flavors):
    """The cluster's record from its groups': each group losing its own worst hosts at once."""
    survives = [r['survives'] for r in records]
    headroom, fits = {}, dict((name, 0) for name in flavors or ())
    for r in records:
        for rc, value in r['headroom_after'].items():
            headroom[rc] = headroom.get(rc, 0) + value
        for name, count in r.get('fits_after', {}).items():
            fits[name] += count
    combined = {
        'survives': False if False in survives else None if None in survives else True,
        'worst_hosts': [name for r in records for name in r['worst_hosts']],
        'unplaced': {'count': sum(r['unplaced']['count'] for r in records),
                     'vms': [vm for r in records for vm in r['unplaced']['vms']]},
        'headroom_after': dict((rc, headroom[rc]) for rc in RESOURCE_CLASSES if rc in headroom),
        'exhaustive': all(r['exhaustive'] for r in records),
        'unknown_hosts': [name for r in records for name in r['unknown_hosts']],
    }
    combined['headroom_after'].update((rc, v) for rc, v in sorted(headroom.items()) if rc not in RESOURCE_CLASSES)
    if flavors is not None:
        combined['fits_after'] = fits
    return combined


def simulate(members, failures, flavors=None, grouped=False, warnings=None):
    """The failover result of hosts already checked and grouped: ``members`` is [(name, group key, facts)]
    (group key None without grouping). ``cluster_totals`` calls this with the hosts and groups it summed."""
    if warnings is None:
        warnings = []
    groups = {}
    for name, key, facts in members:
        groups.setdefault(key, []).append((name, facts))
    # A few new tuples per VM and per placement make CPython run full garbage collections over all the
    # hosts' facts again and again on big clusters (as in counters.accumulate); nothing here makes cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        groups = dict((key, _Group(hosts)) for key, hosts in groups.items())
        records = dict((key, group.record(failures, flavors)) for key, group in groups.items())
    finally:
        if collecting:
            gc.enable()
    unknown = [name for group in groups.values() for name in group.unknown]
    if unknown:
        names = 'host %s' % unknown[0] if len(unknown) == 1 else '%d hosts (%s)' % (
            len(unknown), ', '.join(unknown[:5]) + (', ...' if len(unknown) > 5 else ''))
        warnings.append('failover: no valid allocations on %s (facts from a host_resources without them?): '
                        'their VMs are unknown, their loss is not simulated, and their group claims no '
                        'survival (survives: null) unless another loss already fails' % names)
    result = {'failures': failures}
    if grouped:
        result['cluster'] = _combined(list(records.values()), flavors) if records else _Group([]).record(failures, flavors)
        result['groups'] = records
    else:
        result['cluster'] = records.get(None) or _Group([]).record(failures, flavors)
    return result


def failover(hosts, failures, group_by=None, flavors=None, warnings=None):
    """Whether each group (the cluster without ``group_by``) still runs its VMs after losing ``failures`` hosts.

    Returns None for ``failures`` 0 (off), else ``{'failures': k, 'cluster': record, 'groups': {group: record}}``
    (``groups`` with ``group_by``, keyed as ``cluster_totals`` keys its groups). Items that are not
    host_resources facts are skipped, and a host whose ``group_by`` fails is in the ``null`` group, as
    in ``cluster_totals`` (which warns about both); hosts without ``allocations`` add a warning.
    """
    failures = check_failures(failures)
    if not isinstance(hosts, (list, tuple)):
        raise ClusterError('input must be a list of host_resources facts, got %s' % type(hosts).__name__)
    expression = compile_group_by(group_by)
    flavors = check_flavors(flavors)
    if not failures:
        return None
    members = [(_host_name(index, facts), group_of(expression, facts), facts)
               for index, facts in enumerate(hosts) if is_host_facts(facts)]
    return simulate(members, failures, flavors, grouped=expression is not None, warnings=warnings)


def replace_vms(hosts, lost):
    """The re-placement ``failover`` simulates for one set of lost hosts, all of ``hosts`` being one group:
    ``{'placed': {uuid: host name}, 'unplaced': [{'name', 'uuid', 'host'}], 'headroom_after': {class: free}}``.
    ``lost`` names hosts (``hypervisor_hostname``). Shows where each VM of a record's worst case would go."""
    members = [(_host_name(index, facts), facts) for index, facts in enumerate(hosts) if is_host_facts(facts)]
    group = _Group(members)
    lost = set(lost)
    indices = tuple(i for i, name in enumerate(group.names) if name in lost)
    if any(group.vms[i] is None for i in indices):
        raise ClusterError('the VMs of %s are unknown (no allocations)' % ', '.join(group.unknown))
    unplaced, headroom, placements, _after = group.replace(indices)
    return {'placed': dict((vm[3], group.names[j]) for vm, j in placements),
            'unplaced': [{'name': vm[4], 'uuid': vm[3], 'host': group.names[vm[2]]} for vm in unplaced],
            'headroom_after': dict((rc, headroom[r]) for r, rc in enumerate(group.classes) if group.inventoried[r])}
