"""Tiny real QEMU guests for the integration tests and the benchmarks.

A guest is a Debian cloud kernel booted directly (``<kernel>``/``<initrd>``)
with an initramfs holding only static busybox, the virtio modules and an init
script. It runs under TCG (``<domain type='qemu'>``: /dev/kvm here is PVM-based
and stock kernels hang on it), with 96 MiB, one vCPU, a small raw disk ``vda``,
an IDE CD-ROM ``hdc`` with a small medium (so CD-ROM filtering is exercised),
a virtio NIC on a managed tap whose host side has a link-local /30, and a
virtio balloon with stats. It boots in about 10 s.

Inside, the init script

* loads the virtio modules in the order they depend on each other,
* configures the guest side of the /30,
* generates traffic: every ~2 s it reads 512 KiB of ``vda`` (page cache dropped
  first), writes 256 KiB to it with fsync, and pings the host side of its tap
  once - traffic never leaves guest and tap; after the first round it prints
  ``HS-GUEST-READY`` on the console, so a ready guest has non-zero counters;
* runs every line written to its serial console socket as a shell command, in
  the background (``Guest.run``); ``burn N`` keeps its vCPU busy for N seconds,
  ``unburn`` stops that early.

Building: ``apt-get download`` of the kernel package ``linux-image-cloud-amd64``
depends on, ``dpkg -x`` (never installed on the host), initramfs packed with
``busybox cpio -o -H newc``. Artefacts are cached under CACHE_DIR in a folder
named by a hash of the recipe (kernel package, module list, init script), so a
fresh machine builds them once (~5 s) and later runs reuse them.

Usage (the ``guests`` fixture in conftest.py does this)::

    pool = GuestPool(conn)           # a read-write libvirt connection
    a, b = pool.boot(2)              # defined, started, waited for
    a.domain().info(); a.tap; a.host_address; a.guest_address; a.uuid
    a.run('burn 5')                  # any shell line, in the guest
    with a.burning(60): ...          # its vCPU busy inside the block
    with a.quiet(): ...              # its traffic loop stopped inside the block
    with a.frozen(): ...             # QEMU SIGSTOPped inside the block
    a.reset(); a.destroy(); a.start(); a.wait_ready()
    t = pool.transient('x')          # started, not waited for, not defined
    pool.cleanup()                   # destroys and undefines all it made
"""

import contextlib
import fcntl
import glob
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import libvirt

CACHE_DIR = os.environ.get('HS_GUEST_CACHE', '/var/cache/hypervisor-stats')
IMAGES_DIR = '/var/lib/libvirt/images/hypervisor-stats'
RUN_DIR = '/run/hypervisor-stats'
LOG_DIR = '/var/log/libvirt/qemu'
KERNEL_META = 'linux-image-cloud-amd64'
BUSYBOX = '/bin/busybox'
# Load order matters: each depends on the ones before it.
VIRTIO_MODULES = ('virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci',
                  'virtio_blk', 'failover', 'net_failover', 'virtio_net', 'virtio_balloon')
MEMORY_MIB = 96
DISK_MIB = 32
READY_MARK = 'HS-GUEST-READY'
NAME_PREFIX = 'hs-guest-'
# 169.254.77.0/24 cut into /30s: guest i uses .4i+1 (host side) and .4i+2 (guest side).
SUBNET = '169.254.77.'

INIT_SCRIPT = r'''#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in %(modules)s; do insmod /lib/modules/$m.ko; done
for kv in $(cat /proc/cmdline); do
  case "$kv" in hs.ip=*) IP=${kv#hs.ip=} ;; hs.host=*) HOST=${kv#hs.host=} ;; esac
done
ip link set lo up
ip link set eth0 up
ip addr add "$IP" dev eth0
n=0; while [ ! -b /dev/vda ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
burn() { sh -c 'while :; do :; done' & echo $! > /tmp/burn.pid; sleep "$1"; unburn; }
unburn() { kill $(cat /tmp/burn.pid) 2>/dev/null; }
traffic_round() {
  echo 3 > /proc/sys/vm/drop_caches
  dd if=/dev/vda of=/dev/null bs=64k count=8 2>/dev/null
  dd if=/dev/zero of=/dev/vda bs=64k count=4 seek=64 conv=fsync 2>/dev/null
  ping -c 1 -W 1 "$HOST" >/dev/null 2>&1
}
traffic_round
while :; do sleep 2; traffic_round; done &
echo "%(ready)s $IP"
stty -echo < /dev/ttyS0 2>/dev/null
while :; do
  if read -r line; then (eval "$line") </dev/null >/dev/null 2>&1 & fi
done < /dev/ttyS0
'''


def _run(cmd, **kwargs):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kwargs).stdout


def kernel_package():
    """Name of the kernel image package the cloud meta-package depends on."""
    for attempt in (0, 1):
        try:
            out = _run(['apt-cache', 'depends', KERNEL_META])
        except subprocess.CalledProcessError:
            out = ''
        for line in out.splitlines():
            line = line.strip()
            if line.startswith('Depends: linux-image-'):
                return line.split()[1]
        if attempt == 0:
            _run(['apt-get', 'update', '-qq'])
    raise RuntimeError('apt-cache knows no %s; is the Debian archive reachable?' % KERNEL_META)


def recipe_key(package):
    text = '\n'.join([package, ' '.join(VIRTIO_MODULES), INIT_SCRIPT, 'v1'])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_artefacts():
    """(kernel path, initramfs path), built once per recipe into CACHE_DIR."""
    package = kernel_package()
    target = os.path.join(CACHE_DIR, 'guest-' + recipe_key(package))
    kernel, initrd = os.path.join(target, 'vmlinuz'), os.path.join(target, 'initrd.img')
    if os.path.exists(kernel) and os.path.exists(initrd):
        return kernel, initrd
    os.makedirs(CACHE_DIR, exist_ok=True)
    work = tempfile.mkdtemp(prefix='build-', dir=CACHE_DIR)
    try:
        _run(['apt-get', 'download', '-qq', package], cwd=work)
        deb = glob.glob(os.path.join(work, '*.deb'))[0]
        tree = os.path.join(work, 'tree')
        _run(['dpkg', '-x', deb, tree])
        out = os.path.join(work, 'out')
        os.makedirs(out)
        shutil.copy(glob.glob(os.path.join(tree, 'boot', 'vmlinuz-*'))[0], os.path.join(out, 'vmlinuz'))
        _build_initramfs(tree, os.path.join(out, 'initrd.img'))
        try:
            os.rename(out, target)
        except OSError:
            if not os.path.exists(kernel):  # not a concurrent build that won the race
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return kernel, initrd


def _build_initramfs(tree, path):
    root = tempfile.mkdtemp(prefix='initramfs-')
    try:
        for d in ('bin', 'dev', 'proc', 'sys', 'lib/modules', 'tmp'):
            os.makedirs(os.path.join(root, d))
        shutil.copy(BUSYBOX, os.path.join(root, 'bin', 'busybox'))
        for applet in _run([BUSYBOX, '--list']).split():
            if applet != 'busybox':
                os.symlink('busybox', os.path.join(root, 'bin', applet))
        for name in VIRTIO_MODULES:
            found = glob.glob(os.path.join(tree, 'lib', 'modules', '*', 'kernel', '**', name + '.ko'),
                              recursive=True)
            if not found:
                raise RuntimeError('kernel package has no module %s.ko' % name)
            shutil.copy(found[0], os.path.join(root, 'lib', 'modules', name + '.ko'))
        init = os.path.join(root, 'init')
        with open(init, 'w') as f:
            f.write(INIT_SCRIPT % {'modules': ' '.join(VIRTIO_MODULES), 'ready': READY_MARK})
        os.chmod(init, 0o755)
        files = subprocess.run(['find', '.'], cwd=root, check=True, capture_output=True).stdout
        archive = subprocess.run([BUSYBOX, 'cpio', '-o', '-H', 'newc'], cwd=root, input=files,
                                 check=True, capture_output=True).stdout
        with open(path, 'wb') as f:
            f.write(archive)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def domain_xml(name, index, kernel, initrd, disk, cdrom, tap, console, log):
    host, guest = host_address(index), guest_address(index)
    return '''<domain type='qemu'>
  <name>%(name)s</name>
  <description>owner-pid=%(owner)d</description>
  <memory unit='MiB'>%(mem)d</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>%(kernel)s</kernel>
    <initrd>%(initrd)s</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 hs.ip=%(guest)s/30 hs.host=%(host)s</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='%(disk)s'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='%(cdrom)s'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <interface type='ethernet'>
      <mac address='52:54:00:77:00:%(index)02x'/>
      <target dev='%(tap)s' managed='yes'/>
      <model type='virtio'/>
    </interface>
    <serial type='unix'>
      <source mode='bind' path='%(console)s'/>
      <log file='%(log)s' append='off'/>
      <target port='0'/>
    </serial>
    <memballoon model='virtio'>
      <stats period='2'/>
    </memballoon>
  </devices>
</domain>''' % dict(name=name, mem=MEMORY_MIB, kernel=kernel, initrd=initrd, guest=guest, host=host,
                    disk=disk, cdrom=cdrom, index=index, tap=tap, console=console, log=log,
                    owner=os.getpid())


def host_address(index):
    return SUBNET + str(4 * index + 1)


def guest_address(index):
    return SUBNET + str(4 * index + 2)


class Guest:
    """One tiny guest. Attributes: name, uuid, index, tap (host-side device = the key
    of its NIC in ``vm_stats``), host_address, guest_address, console (unix socket),
    log (console log file)."""

    def __init__(self, conn, name, index, tap, console, log, persistent):
        self.conn = conn
        self.name = name
        self.index = index
        self.tap = tap
        self.console = console
        self.log = log
        self.persistent = persistent
        self.host_address = host_address(index)
        self.guest_address = guest_address(index)
        self.uuid = self.domain().UUIDString()

    def address_tap(self):
        """Give the host side of the tap its address (libvirt recreates the tap on every start).

        Not done with libvirt's <source><ip/></source>: libvirt re-adds that address
        on every resume and fails because it is already there."""
        # No IPv6 on the host side: its autoconfiguration chatter would be the only
        # traffic reaching a paused guest, and traffic stays between guest and tap.
        with open('/proc/sys/net/ipv6/conf/%s/disable_ipv6' % self.tap, 'w') as f:
            f.write('1')
        subprocess.run(['ip', 'addr', 'replace', '%s/30' % self.host_address, 'dev', self.tap], check=True)
        subprocess.run(['ip', 'link', 'set', self.tap, 'up'], check=True)

    def domain(self):
        """The libvirt domain, looked up afresh (read-write connection)."""
        return self.conn.lookupByName(self.name)

    def qemu_pid(self):
        with open('/run/libvirt/qemu/%s.pid' % self.name) as f:
            return int(f.read().strip())

    def wait_ready(self, timeout=120):
        """Wait until the guest printed its ready mark (network and traffic loop up)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with open(self.log, errors='replace') as f:
                    if READY_MARK in f.read():
                        return self
            except FileNotFoundError:
                pass
            if not self.domain().isActive():
                raise RuntimeError('guest %s stopped while booting; see %s' % (self.name, self.log))
            time.sleep(0.5)
        raise RuntimeError('guest %s not ready after %ss; see %s' % (self.name, timeout, self.log))

    def run(self, line):
        """Run a shell line in the guest, in the background; no output comes back."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(self.console)
            s.sendall(line.encode() + b'\n')
            time.sleep(0.2)  # let QEMU read it before the client goes away

    def wait_mark(self, mark, timeout=60):
        """Wait until ``mark`` shows in the console log (a line run in the guest echoes it to ttyS0)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(self.log, errors='replace') as f:
                if mark in f.read():
                    return
            time.sleep(0.3)
        raise RuntimeError('guest %s did not print %s within %ss; see %s' % (self.name, mark, timeout, self.log))

    def _acknowledged(self, line, timeout=60):
        """Run ``line`` in the guest and wait until it succeeded (it echoes a fresh mark to the console)."""
        mark = 'HS-DONE-%d' % time.monotonic_ns()
        self.run('%s && echo %s > /dev/ttyS0' % (line, mark))
        self.wait_mark(mark, timeout)

    @contextlib.contextmanager
    def burning(self, seconds):
        """Its vCPU kept busy (``burn seconds``) inside the block, stopped on every way out. The
        burn's own ``sleep`` is ended too: when it ran out later it would stop the next burn."""
        self.run('burn %d' % seconds)
        try:
            yield self
        finally:
            self.run("unburn; kill $(ps | awk '$(NF-1) == \"sleep\" && $NF == \"%d\" {print $1}')" % seconds)

    @contextlib.contextmanager
    def quiet(self):
        """Its traffic loop SIGSTOPped inside the block (no disk or network I/O of its own: an idle
        guest), continued on every way out. The loop is the oldest child of init that is a copy of init."""
        self._acknowledged("c=$(cut -d' ' -f2 /proc/1/stat); cat /proc/[0-9]*/stat 2>/dev/null"
                           " | awk -v c=\"$c\" '$4 == 1 && $2 == c {print $1}' | sort -n | head -n 1 > /tmp/traffic.pid"
                           " && kill -STOP $(cat /tmp/traffic.pid)")
        try:
            yield self
        finally:
            self._acknowledged('kill -CONT $(cat /tmp/traffic.pid)')

    def freeze(self):
        """SIGSTOP the QEMU process: its monitor stops answering, as with a hung QEMU."""
        os.kill(self.qemu_pid(), signal.SIGSTOP)

    def thaw(self):
        os.kill(self.qemu_pid(), signal.SIGCONT)

    @contextlib.contextmanager
    def frozen(self):
        """QEMU SIGSTOPped inside the block, SIGCONTinued on every way out."""
        pid = self.qemu_pid()
        os.kill(pid, signal.SIGSTOP)
        try:
            yield self
        finally:
            os.kill(pid, signal.SIGCONT)

    def reset(self):
        """Hard reset: the guest reboots, the QEMU process (and domain id) stay."""
        self.domain().reset()

    def reboot(self):
        """Guest-initiated reboot (``reboot -f`` inside); wait_ready() to wait for it."""
        self._truncate_log()
        self.run('reboot -f')

    def destroy(self):
        dom = self.domain()
        if dom.isActive():
            dom.destroy()

    def start(self):
        """Start a destroyed persistent guest again; wait_ready() to wait for its boot."""
        self._truncate_log()
        self.domain().create()
        self.address_tap()

    def _truncate_log(self):
        try:
            open(self.log, 'w').close()
        except OSError:
            pass


class GuestPool:
    """Builds the artefacts and owns every guest it starts; ``cleanup`` removes them all."""

    def __init__(self, conn):
        self.conn = conn
        self.kernel, self.initrd = build_artefacts()
        self.guests = []
        for d in (IMAGES_DIR, RUN_DIR, LOG_DIR):
            os.makedirs(d, exist_ok=True)
        self._remove_leftovers()

    def _remove_leftovers(self):
        # Guests of an earlier run killed before its cleanup (owner process gone);
        # guests of a concurrent run (other engineers, other sessions) are left alone.
        for dom in self.conn.listAllDomains(0):
            if dom.name().startswith(NAME_PREFIX) and not _owner_alive(dom):
                _remove(dom)

    def _allocate(self):
        """The lowest index whose name, tap and /30 nobody uses (under a lock: runs may overlap)."""
        used = set()
        for dom in self.conn.listAllDomains(0):
            digits = dom.name()[len(NAME_PREFIX):].split('-')[0]
            if dom.name().startswith(NAME_PREFIX) and digits.isdigit():
                used.add(int(digits))
        for index in range(64):
            if index not in used and not os.path.exists('/sys/class/net/hsvm%d' % index):
                return index
        raise RuntimeError('no free guest slot in %s0/24' % SUBNET)

    def _create(self, persistent, suffix=''):
        with open(os.path.join(RUN_DIR, 'allocate.lock'), 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            index = self._allocate()
            name = '%s%d%s' % (NAME_PREFIX, index, suffix)
            disk = os.path.join(IMAGES_DIR, name + '.raw')
            cdrom = os.path.join(IMAGES_DIR, name + '.iso')
            for path, mib in ((disk, DISK_MIB), (cdrom, 1)):
                with open(path, 'wb') as f:
                    f.truncate(mib * 1024 * 1024)
            console = os.path.join(RUN_DIR, name + '.console')
            log = os.path.join(LOG_DIR, name + '-console.log')
            tap = 'hsvm%d' % index
            xml = domain_xml(name, index, self.kernel, self.initrd, disk, cdrom, tap, console, log)
            if persistent:
                self.conn.defineXML(xml).create()
            else:
                self.conn.createXML(xml, 0)
        guest = Guest(self.conn, name, index, tap, console, log, persistent)
        self.guests.append(guest)
        guest.address_tap()
        return guest

    def boot(self, count, timeout=180):
        """``count`` persistent guests, started together and waited for."""
        started = [self._create(True) for _ in range(count)]
        for guest in started:
            guest.wait_ready(timeout)
        return started

    def transient(self, suffix='transient'):
        """A transient guest, started but not waited for: destroying it makes it vanish."""
        return self._create(False, '-' + suffix)

    def cleanup(self):
        """Destroy and undefine every guest made here and delete its files; keeps going
        past errors (a libvirtd that went away) and raises the first one at the end."""
        errors = []
        for guest in self.guests:
            try:
                guest.thaw()  # a SIGSTOPped QEMU would not die on SIGTERM
            except (OSError, ValueError):
                pass
            try:
                _remove(guest.domain())
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    errors.append(exc)
            for path in glob.glob(os.path.join(IMAGES_DIR, guest.name + '.*')):
                os.unlink(path)
        self.guests = []
        if errors:
            raise errors[0]


def _owner_alive(dom):
    try:
        desc = dom.metadata(libvirt.VIR_DOMAIN_METADATA_DESCRIPTION, None)
        pid = int(desc.split('owner-pid=')[1].split()[0])
    except (libvirt.libvirtError, IndexError, ValueError):
        return False
    return os.path.exists('/proc/%d' % pid)


def _remove(dom):
    try:
        if dom.isActive():
            dom.destroy()
        if dom.isPersistent():
            dom.undefine()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise
