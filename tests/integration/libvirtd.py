"""Start and stop a real libvirtd (with virtlogd) for the integration tests.

PID 1 is not systemd on these machines, so the daemons are started by hand,
as root, with the QEMU driver configured to run guests as root without a
security driver. Whatever this module starts, ``stop`` stops.
"""

import os
import shutil
import signal
import subprocess
import time

QEMU_CONF = '/etc/libvirt/qemu.conf'
QEMU_SETTINGS = ('user = "root"', 'group = "root"', 'security_driver = "none"')
SOCKET = '/var/run/libvirt/libvirt-sock-ro'
URI = 'qemu:///system'


def _pidof(name):
    out = subprocess.run(['pgrep', '-x', name], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def _ensure_accounts():
    if subprocess.run(['getent', 'group', 'kvm'], capture_output=True).returncode != 0:
        subprocess.run(['groupadd', '-r', 'kvm'], check=True)
    if subprocess.run(['getent', 'group', 'libvirt-qemu'], capture_output=True).returncode != 0:
        subprocess.run(['groupadd', '-r', 'libvirt-qemu'], check=True)
    if subprocess.run(['id', 'libvirt-qemu'], capture_output=True).returncode != 0:
        subprocess.run(['useradd', '-r', '-g', 'libvirt-qemu', '-s', '/usr/sbin/nologin', 'libvirt-qemu'],
                       check=True)


def _ensure_qemu_conf():
    text = open(QEMU_CONF).read() if os.path.exists(QEMU_CONF) else ''
    active = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith('#')]
    if all(s in active for s in QEMU_SETTINGS):
        return
    os.makedirs(os.path.dirname(QEMU_CONF), exist_ok=True)
    with open(QEMU_CONF, 'a') as conf:
        conf.write('\n# added by hypervisor.stats integration tests\n' + '\n'.join(QEMU_SETTINGS) + '\n')


class Libvirtd:
    """A running libvirtd; ``started`` tells whether this object started it."""

    def __init__(self):
        self.started = []

    def start(self, timeout=30):
        if shutil.which('libvirtd') is None:
            raise RuntimeError('libvirtd is not installed; run `make bootstrap-test`')
        _ensure_accounts()
        _ensure_qemu_conf()
        for d in ('/var/log/libvirt', '/var/run/libvirt', '/var/lib/libvirt/images'):
            os.makedirs(d, exist_ok=True)
        for daemon in ('virtlogd', 'libvirtd'):
            if not _pidof(daemon):
                subprocess.run([daemon, '-d'], check=True)
                self.started.append(daemon)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if subprocess.run(['virsh', '-r', '-c', URI, 'version'], capture_output=True).returncode == 0:
                return self
            time.sleep(0.3)
        raise RuntimeError('libvirtd did not answer on %s within %ss' % (URI, timeout))

    def stop(self):
        for daemon in reversed(self.started):
            for pid in _pidof(daemon):
                os.kill(pid, signal.SIGTERM)
            deadline = time.time() + 15
            while _pidof(daemon) and time.time() < deadline:
                time.sleep(0.2)
        self.started = []
