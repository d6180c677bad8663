#!/usr/bin/env bash
# Builds the wheelhouse the collector_timer role installs from inside the test
# VM, which has no network: the collection's runtime requirements as cp311
# wheels. libvirt-python only ships an sdist, so it is compiled here against
# the test machine's libvirt-dev (Debian 12, the same libvirt0 as the image;
# the host's Python 3.11 and Debian's share the cp311 ABI). Output: DEST/*.whl
# and DEST/wheelhouse.tar holding them.
#
#   build_wheelhouse.sh DEST REQUIREMENTS_FILE
set -euo pipefail
DEST=$1
REQUIREMENTS=$2
PYTHON=${PYTHON:-python3}
rm -rf "$DEST.new"
"$PYTHON" -m pip wheel --quiet --wheel-dir "$DEST.new" -r "$REQUIREMENTS"
# One archive: the role unpacks it in one step instead of copying wheel by wheel.
tar -C "$DEST.new" -cf "$DEST.new/wheelhouse.tar" --owner=0 --group=0 --mode=0644 $(cd "$DEST.new" && ls *.whl)
rm -rf "$DEST"
mv "$DEST.new" "$DEST"
