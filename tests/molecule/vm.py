"""The Molecule instance of the collector_timer scenario: a Debian 12 VM booted
through the test machine's libvirtd, reached over SSH on a link-local tap.

    vm.py artefacts   build (or reuse) the image and the wheelhouse; print their paths as JSON
    vm.py create      start libvirtd if needed, boot the VM, wait for sshd; print Molecule's instance config
    vm.py destroy     stop the VM, remove the tap, stop what create started, remove the run's files

Built artefacts live in HS_MOLECULE_CACHE (default /var/cache/hypervisor-stats/molecule),
each under the hash of the recipe that made it, so a changed recipe rebuilds and an
unchanged one is reused. Everything else of a run lives in HS_MOLECULE_STATE_DIR and
goes away with destroy.

The domain is `type='qemu'` (TCG) unless HS_MOLECULE_DOMAIN_TYPE=kvm, or /dev/kvm is
usable and not PVM-based: stock kernels hang under the PVM flavour of KVM found on
these machines.
"""

import hashlib
import json
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))

from libvirtd import Libvirtd, URI  # noqa: E402

CACHE = os.environ.get('HS_MOLECULE_CACHE', '/var/cache/hypervisor-stats/molecule')
STATE_DIR = os.environ.get('HS_MOLECULE_STATE_DIR', '/var/tmp/hs-molecule-collector-timer')
DOMAIN = 'hs-molecule-collector-timer'
INSTANCE = 'collector-timer-debian12'
TAP = 'hsmol0'
# A /30 of its own, unlikely to meet the other suites' link-local guests.
HOST_ADDR = os.environ.get('HS_MOLECULE_HOST_ADDR', '169.254.205.1')
GUEST_ADDR = os.environ.get('HS_MOLECULE_GUEST_ADDR', '169.254.205.2')
PREFIX = 30
MEMORY_MIB = int(os.environ.get('HS_MOLECULE_MEMORY_MIB', '768'))
VCPUS = int(os.environ.get('HS_MOLECULE_VCPUS', '2'))
BOOT_TIMEOUT = int(os.environ.get('HS_MOLECULE_BOOT_TIMEOUT', '300'))


def log(msg):
    print('vm.py: %s' % msg, file=sys.stderr, flush=True)


def run(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def virsh(*args, check=True):
    return run('virsh', '-q', '-c', URI, *args, check=check)


def recipe_key(*parts):
    """Hash of the files and strings that make an artefact: its cache key."""
    digest = hashlib.sha256()
    for part in parts:
        if os.path.isfile(part):
            with open(part, 'rb') as f:
                digest.update(f.read())
        else:
            digest.update(part.encode())
    return digest.hexdigest()[:16]


def cached(kind, key, build):
    path = os.path.join(CACHE, '%s-%s' % (kind, key))
    if not os.path.isdir(path):
        os.makedirs(CACHE, exist_ok=True)
        started = time.time()
        log('building %s into %s' % (kind, path))
        build(path)
        log('built %s in %.0f s' % (kind, time.time() - started))
    return path


def image():
    script = os.path.join(HERE, 'build_image.sh')
    cidr = '%s/%d' % (GUEST_ADDR, PREFIX)
    return cached('image', recipe_key(script, cidr),
                  lambda path: subprocess.run(['bash', script, path, cidr], check=True))


def wheelhouse():
    script = os.path.join(HERE, 'build_wheelhouse.sh')
    requirements = os.path.join(ROOT, 'requirements.txt')
    python = sys.executable
    tag = 'cp%d%d' % sys.version_info[:2]
    return cached('wheelhouse', recipe_key(script, requirements, tag),
                  lambda path: subprocess.run(['bash', script, path, requirements], check=True,
                                              env=dict(os.environ, PYTHON=python)))


def domain_type():
    wanted = os.environ.get('HS_MOLECULE_DOMAIN_TYPE')
    if wanted:
        if wanted not in ('qemu', 'kvm'):
            raise SystemExit('HS_MOLECULE_DOMAIN_TYPE must be qemu or kvm, not %r' % wanted)
        return wanted
    if os.path.exists('/sys/module/kvm_pvm') or not os.access('/dev/kvm', os.R_OK | os.W_OK):
        return 'qemu'
    return 'kvm'


def domain_xml(img, disk, console, kind):
    cpu = "<cpu mode='host-passthrough'/>" if kind == 'kvm' else ''
    return """<domain type='{kind}'>
  <name>{name}</name>
  <memory unit='MiB'>{memory}</memory>
  <vcpu>{vcpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{img}/vmlinuz</kernel>
    <initrd>{img}/initrd.img</initrd>
    <cmdline>root=/dev/vda rw console=ttyS0 net.ifnames=0</cmdline>
  </os>
  <features><acpi/></features>
  {cpu}
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='unsafe'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='ethernet'>
      <target dev='{tap}' managed='yes'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'><source path='{console}'/><target port='0'/></serial>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='none'/>
  </devices>
</domain>
""".format(kind=kind, name=DOMAIN, memory=MEMORY_MIB, vcpus=VCPUS, img=img, cpu=cpu,
           disk=disk, tap=TAP, console=console)


def state_file():
    return os.path.join(STATE_DIR, 'state.json')


def save_state(state):
    with open(state_file(), 'w') as f:
        json.dump(state, f)


def wait_for_ssh(console):
    deadline = time.time() + BOOT_TIMEOUT
    while time.time() < deadline:
        try:
            with socket.create_connection((GUEST_ADDR, 22), timeout=3) as sock:
                sock.settimeout(10)
                if sock.recv(64).startswith(b'SSH-'):
                    return
        except OSError:
            pass
        time.sleep(1)
    tail = open(console, errors='replace').read()[-3000:] if os.path.exists(console) else ''
    raise SystemExit('the VM did not answer SSH on %s:22 within %ss; console tail:\n%s'
                     % (GUEST_ADDR, BOOT_TIMEOUT, tail))


def create():
    img = image()
    os.makedirs(STATE_DIR, exist_ok=True)
    os.chmod(STATE_DIR, 0o700)
    state = {'started_daemons': []}
    daemon = Libvirtd()
    try:
        daemon.start()
    finally:
        state['started_daemons'] = list(daemon.started)
        save_state(state)
    if virsh('domstate', DOMAIN, check=False).returncode == 0:
        raise SystemExit('domain %s already exists: run `vm.py destroy` first' % DOMAIN)
    disk = os.path.join(STATE_DIR, 'disk.qcow2')
    run('qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', os.path.join(img, 'disk.raw'), disk)
    console = os.path.join(STATE_DIR, 'console.log')
    kind = domain_type()
    xml = os.path.join(STATE_DIR, 'domain.xml')
    with open(xml, 'w') as f:
        f.write(domain_xml(img, disk, console, kind))
    started = time.time()
    # Transient: nothing stays defined once the domain stops.
    virsh('create', xml)
    run('ip', 'addr', 'add', '%s/%d' % (HOST_ADDR, PREFIX), 'dev', TAP)
    run('ip', 'link', 'set', TAP, 'up')
    wait_for_ssh(console)
    log('domain %s (type %s) answers SSH on %s after %.0f s' % (DOMAIN, kind, GUEST_ADDR, time.time() - started))
    key = os.path.join(STATE_DIR, 'id_ed25519')
    with open(os.path.join(img, 'id_ed25519')) as src, open(key, 'w') as dst:
        dst.write(src.read())
    os.chmod(key, 0o600)
    print(json.dumps({'instance': INSTANCE, 'address': GUEST_ADDR, 'user': 'root', 'port': 22,
                      'identity_file': key, 'domain_type': kind}))


def destroy():
    state = {}
    if os.path.exists(state_file()):
        with open(state_file()) as f:
            state = json.load(f)
    started = state.get('started_daemons', [])
    daemon = Libvirtd()
    running = subprocess.run(['pgrep', '-x', 'libvirtd'], capture_output=True).returncode == 0
    if running:
        if virsh('domstate', DOMAIN, check=False).returncode == 0:
            virsh('destroy', DOMAIN, check=False)
            virsh('undefine', DOMAIN, check=False)
            log('domain %s stopped' % DOMAIN)
    # libvirt removes a managed tap with its domain; this only catches leftovers.
    if run('ip', 'link', 'show', TAP, check=False).returncode == 0:
        run('ip', 'link', 'del', TAP, check=False)
    daemon.started = started
    daemon.stop()
    subprocess.run(['rm', '-rf', STATE_DIR], check=True)


def artefacts():
    print(json.dumps({'image': image(), 'wheelhouse': wheelhouse()}))


if __name__ == '__main__':
    actions = {'artefacts': artefacts, 'create': create, 'destroy': destroy}
    if len(sys.argv) != 2 or sys.argv[1] not in actions:
        raise SystemExit('usage: vm.py %s' % '|'.join(actions))
    actions[sys.argv[1]]()
