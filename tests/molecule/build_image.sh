#!/usr/bin/env bash
# Builds the Molecule test VM: Debian 12 with systemd, sshd, python3 and the
# libraries the collector_timer role needs offline (python3-venv, libvirt0),
# from Debian's packages. Output in DEST (the cache directory named after the
# hash of this file, see vm.py): disk.raw (ext4, whole disk = root fs),
# vmlinuz, initrd.img, id_ed25519[.pub] (root's key inside the image).
#
#   build_image.sh DEST GUEST_CIDR
set -euo pipefail
DEST=$1
GUEST_CIDR=$2          # e.g. 169.254.205.2/30: eth0's static link-local address
SUITE=bookworm
MIRROR=${HS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# systemd/sshd/python3 make it an Ansible target; python3-apt/-venv/-packaging
# let the role's apt, pip and venv steps run without network; libvirt0 carries
# the test driver the collector reads inside the VM.
PACKAGES=systemd-sysv,openssh-server,python3,python3-apt,python3-venv,python3-packaging,iproute2,ifupdown,linux-image-cloud-amd64,initramfs-tools,libvirt0

tmp=$(mktemp -d /var/tmp/hs-image.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

mmdebstrap --quiet --mode=root --variant=apt --include="$PACKAGES" \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --skip=cleanup/apt/lists \
  "$SUITE" "$root" "$MIRROR"

echo hs-molecule > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 hs-molecule\n' > "$root/etc/hosts"
echo '/dev/vda / ext4 defaults,noatime 0 1' > "$root/etc/fstab"
cat > "$root/etc/network/interfaces.d/eth0" <<NET
auto eth0
iface eth0 inet static
    address $GUEST_CIDR
NET
ssh-keygen -q -t ed25519 -N '' -C hs-molecule -f "$tmp/id_ed25519"
install -d -m 0700 "$root/root/.ssh"
install -m 0600 "$tmp/id_ed25519.pub" "$root/root/.ssh/authorized_keys"
# No DNS on a link-local-only guest: sshd must not wait on reverse lookups.
echo 'UseDNS no' > "$root/etc/ssh/sshd_config.d/hs-molecule.conf"
# Nothing periodic of Debian's may compete with the test for a slow emulated CPU.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer man-db.timer \
            e2scrub_reap.service systemd-timesyncd.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done

install -d "$DEST.new"
cp "$root"/boot/vmlinuz-* "$DEST.new/vmlinuz"
cp "$root"/boot/initrd.img-* "$DEST.new/initrd.img"
rm -rf "$root"/var/cache/apt/archives/*.deb
truncate -s 4G "$DEST.new/disk.raw"
mke2fs -q -t ext4 -L hsroot -d "$root" "$DEST.new/disk.raw"
cp "$tmp/id_ed25519" "$tmp/id_ed25519.pub" "$DEST.new/"
chmod 0600 "$DEST.new/id_ed25519"
rm -rf "$DEST"
mv "$DEST.new" "$DEST"
