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

DEMO_PKGS="libvirt-dev pkg-config gcc python3-dev libvirt-clients"
TEST_PKGS="$DEMO_PKGS libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils
  redis-server prometheus chromium busybox-static cpio mmdebstrap e2fsprogs iproute2 util-linux rsync openssh-client"

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

# The collection, as Ansible finds it: a symlink keeps edits live.
mkdir -p "$ROOT/.collections/ansible_collections/hypervisor"
ln -sfn "$ROOT" "$ROOT/.collections/ansible_collections/hypervisor/stats"
