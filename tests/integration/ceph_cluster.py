"""A throwaway Ceph cluster on 127.0.0.1 for the integration tests (issue 15).

One monitor, one manager and ``osds`` OSDs with the memstore object store (RAM only, ``osd_bytes``
each), all in one temporary directory with its own fsid and configuration file, no cephx, nothing
under /etc/ceph, /var/lib/ceph or /var/log/ceph. The manager is needed: since Luminous the monitor
answers ``ceph df`` and librados' cluster and pool statistics (which libvirt's rbd backend reads)
from the digest the manager sends it; without one every figure is 0.

Every daemon runs in the foreground as a child of this process (``-f``), so ``stop`` knows exactly
what to end; it then removes the directory. Start-up takes a few seconds.

Usage: ``CephCluster(tmpdir).start()``, then ``ceph('df')`` (parsed JSON), ``rbd(...)``, ``stop()``.
Run as a script (``python ceph_cluster.py``) it starts a cluster, prints ``ceph df`` and stops.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid

DAEMONS = ('ceph-mon', 'ceph-mgr', 'ceph-osd')
MIB = 1024 ** 2


def missing_binaries():
    """The Ceph programs this helper needs that are not installed (bootstrap.sh installs them)."""
    return [b for b in DAEMONS + ('ceph', 'rbd', 'rados', 'monmaptool') if shutil.which(b) is None]


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


CONF = """[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{port}
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = {dir}/run
admin socket = {dir}/run/$name.asok
pid file = {dir}/run/$name.pid
crash dir = {dir}/crash
log file = {dir}/log/$name.log
mon cluster log file = {dir}/log/$cluster.$channel.log
keyring = {dir}/keyring
mon data = {dir}/mon.$id
mgr data = {dir}/mgr.$id
osd data = {dir}/osd.$id
osd objectstore = memstore
memstore device bytes = {osd_bytes}
osd crush chooseleaf type = 0
osd pool default size = {size}
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 1
mgr stats period = 1
mon mgr digest period = 1
osd crush update on start = true
"""


class CephError(RuntimeError):
    pass


class CephCluster(object):
    """A single-node Ceph cluster in ``base_dir`` (created; removed by ``stop``)."""

    def __init__(self, base_dir, pool='hs-rbd', osds=2, size=2, osd_bytes=128 * MIB):
        self.dir = os.path.abspath(str(base_dir))
        self.pool, self.osds, self.size, self.osd_bytes = pool, osds, size, osd_bytes
        self.fsid = str(uuid.uuid4())
        self.port = None
        self.conf = os.path.join(self.dir, 'ceph.conf')
        self.procs = []

    # -- commands ------------------------------------------------------------------------------
    def _run(self, argv, timeout=30):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise CephError('%s: rc %s: %s' % (' '.join(argv), proc.returncode, proc.stderr.strip()[-2000:]))
        return proc.stdout

    def ceph(self, *args, **kw):
        """``ceph ARGS --format json`` against this cluster, parsed (text if ``raw=True``)."""
        raw = kw.pop('raw', False)
        out = self._run(['ceph', '-c', self.conf, '--connect-timeout', '10'] + list(args)
                        + ([] if raw else ['--format', 'json']), **kw)
        return out if raw else json.loads(out)

    def rbd(self, *args):
        return self._run(['rbd', '-c', self.conf] + list(args), timeout=60)

    def rados(self, *args):
        return self._run(['rados', '-c', self.conf] + list(args), timeout=60)

    def rados_df(self):
        """``rados df --format json``: the pools' statistics and the cluster's (librados' cluster stat)."""
        return json.loads(self.rados('df', '--format', 'json'))

    # -- lifecycle -----------------------------------------------------------------------------
    def _daemon(self, name, argv):
        log = open(os.path.join(self.dir, 'log', name + '.out'), 'w')
        proc = subprocess.Popen(argv + ['-f', '-c', self.conf], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        log.close()
        self.procs.append((name, proc))
        return proc

    def _check_alive(self):
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = open(os.path.join(self.dir, 'log', name + '.out')).read()[-2000:]
                raise CephError('%s exited with %s: %s' % (name, proc.returncode, tail))

    def _wait(self, what, predicate, timeout):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            self._check_alive()
            try:
                last = predicate()
                if last:
                    return last
            except (CephError, ValueError, KeyError, subprocess.TimeoutExpired) as exc:
                last = exc
            time.sleep(0.3)
        raise CephError('Ceph: %s not reached within %ss (last: %r)' % (what, timeout, last))

    def start(self, timeout=60):
        missing = missing_binaries()
        if missing:
            raise CephError('Ceph is not installed (missing %s); run `make bootstrap-test`' % ', '.join(missing))
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout):
        for sub in ('run', 'log', 'crash'):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.port = _free_port()
        with open(self.conf, 'w') as f:
            f.write(CONF.format(fsid=self.fsid, port=self.port, dir=self.dir, osd_bytes=self.osd_bytes,
                                size=self.size))
        monmap = os.path.join(self.dir, 'monmap')
        self._run(['monmaptool', '--create', '--fsid', self.fsid, '--addv', 'a',
                   '[v2:127.0.0.1:%d]' % self.port, monmap])
        self._run(['ceph-mon', '-c', self.conf, '--mkfs', '-i', 'a', '--monmap', monmap])
        self._daemon('mon.a', ['ceph-mon', '-i', 'a', '--public-addrv', '[v2:127.0.0.1:%d]' % self.port])
        self._wait('monitor quorum', lambda: self.ceph('quorum_status', timeout=15)['quorum_names'] == ['a'],
                   timeout)
        os.makedirs(os.path.join(self.dir, 'mgr.x'))
        self._daemon('mgr.x', ['ceph-mgr', '-i', 'x'])
        for _i in range(self.osds):
            osd_uuid = str(uuid.uuid4())
            osd_id = int(self.ceph('osd', 'new', osd_uuid, raw=True).strip())
            os.makedirs(os.path.join(self.dir, 'osd.%d' % osd_id))
            self._run(['ceph-osd', '-c', self.conf, '-i', str(osd_id), '--mkfs', '--osd-uuid', osd_uuid])
            self._daemon('osd.%d' % osd_id, ['ceph-osd', '-i', str(osd_id)])
        # The pool (size from `osd pool default size`) can be created before the OSDs are up.
        self.ceph('osd', 'pool', 'create', self.pool, '8', '8', 'replicated', raw=True)
        self._wait('%d OSDs up' % self.osds,
                   lambda: self.ceph('osd', 'stat')['num_up_osds'] == self.osds, timeout)
        self.rbd('pool', 'init', self.pool)   # also tags the pool with the rbd application
        self.wait_settled(timeout)

    def wait_settled(self, timeout=60):
        """Until every PG is active+clean and ``ceph df`` counts every OSD's space."""
        def settled():
            df = self.ceph('df')
            pgs = self.ceph('pg', 'stat')
            states = dict((s['name'], s['num']) for s in pgs['pg_summary']['num_pg_by_state'])
            return (df['stats']['total_bytes'] == self.osds * self.osd_bytes
                    and states.get('active+clean') == pgs['pg_summary']['num_pgs']
                    and any(p['name'] == self.pool for p in df['pools'])) and df
        return self._wait('cluster settled', settled, timeout)

    def stop(self):
        """End every daemon this object started (SIGTERM, then SIGKILL) and remove its directory."""
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=5)        # memstore: nothing to flush, no reason to wait long
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)


if __name__ == '__main__':
    import tempfile
    started = time.time()
    cluster = CephCluster(tempfile.mkdtemp(prefix='ceph-'))
    try:
        cluster.start()
        print('started in %.1fs on 127.0.0.1:%d' % (time.time() - started, cluster.port))
        print(json.dumps(cluster.ceph('df'), indent=1))
        print(json.dumps(cluster.rados_df(), indent=1))
    finally:
        cluster.stop()
