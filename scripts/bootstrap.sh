#!/usr/bin/env bash
# Installs everything `make demo` and `make test` need on a fresh Debian 12
# machine, as root: Debian packages, a virtualenv, and the collection itself
# into a collections path inside the repo. Safe to run again: it only does
# what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
PROFILE=${1:-demo}   # demo | test
CORE_VERSIONS=${CORE_VERSIONS:-"2.16 2.17 2.18"}   # older ansible-core releases, each in .venv-coreX.Y (test)

DEMO_PKGS="libvirt-dev pkg-config gcc python3-dev libvirt-clients"
TEST_PKGS="$DEMO_PKGS libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils
  redis-server prometheus chromium busybox-static cpio mmdebstrap e2fsprogs iproute2 util-linux rsync openssh-client
  ceph-mon ceph-mgr ceph-osd ceph-common libvirt-daemon-driver-storage-rbd"
# ceph-*: the throwaway single-node Ceph of tests/integration/ceph_cluster.py (the manager too: without it the
# monitor reports every cluster and pool statistic as 0); the rbd storage backend lets libvirtd define rbd pools.

want=$DEMO_PKGS
[ "$PROFILE" = test ] && want=$TEST_PKGS
missing=()
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/ansible-playbook" ] || [ requirements.txt -nt "$VENV/.installed" ]; then
  echo "bootstrap: building virtualenv in $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r requirements.txt
  [ "$PROFILE" = test ] && "$VENV/bin/pip" install -q -r requirements-test.txt
  touch "$VENV/.installed"
elif [ "$PROFILE" = test ] && [ requirements-test.txt -nt "$VENV/.installed-test" ]; then
  "$VENV/bin/pip" install -q -r requirements-test.txt
fi
[ "$PROFILE" = test ] && touch "$VENV/.installed-test"

# One virtualenv per older ansible-core release the collection claims (requires_ansible >=2.16):
# tests/integration/test_ansible_versions.py runs the unit suite and a real cycle in each.
# Rebuilt only when missing, when requirements-core-versions.txt changed, or when its ansible-core
# is not of its release; pip's cache keeps the libvirt-python wheel built once.
if [ "$PROFILE" = test ]; then
  for core in $CORE_VERSIONS; do
    cvenv=$ROOT/.venv-core$core
    have=$("$cvenv/bin/python" -c 'import ansible.release as r; print(".".join(r.__version__.split(".")[:2]))' 2>/dev/null || true)
    if [ "$have" != "$core" ] || [ requirements-core-versions.txt -nt "$cvenv/.installed" ]; then
      echo "bootstrap: building virtualenv in $cvenv (ansible-core $core)"
      rm -rf "$cvenv"
      python3 -m venv "$cvenv"
      "$cvenv/bin/pip" install -q --upgrade pip
      "$cvenv/bin/pip" install -q "ansible-core==$core.*" -r requirements-core-versions.txt
      touch "$cvenv/.installed"
    fi
    # The tests run ansible with the ansible.builtin.json stdout callback, a redirect to ansible.posix.json,
    # which the ansible package of the main venv brings and ansible-core alone does not: lend it.
    site=$("$cvenv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    posix=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/ansible_collections/ansible/posix
    mkdir -p "$site/ansible_collections/ansible"
    ln -sfn "$posix" "$site/ansible_collections/ansible/posix"
  done
fi

# The collection, as Ansible finds it: a symlink keeps edits live.
mkdir -p "$ROOT/.collections/ansible_collections/hypervisor"
ln -sfn "$ROOT" "$ROOT/.collections/ansible_collections/hypervisor/stats"
