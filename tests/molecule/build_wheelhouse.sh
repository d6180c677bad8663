#!/usr/bin/env bash
# Builds the wheelhouse the collector_timer role installs from inside the test
# VM, which has no network: the collection's runtime requirements as cp311
# wheels. libvirt-python only ships an sdist, so it is compiled here against
# the test machine's libvirt-dev (Debian 12, the same libvirt0 as the image;
# the host's Python 3.11 and Debian's share the cp311 ABI).
#
#   build_wheelhouse.sh DEST REQUIREMENTS_FILE
set -euo pipefail
DEST=$1
REQUIREMENTS=$2
PYTHON=${PYTHON:-python3}
rm -rf "$DEST.new"
"$PYTHON" -m pip wheel --quiet --wheel-dir "$DEST.new" -r "$REQUIREMENTS"
rm -rf "$DEST"
mv "$DEST.new" "$DEST"
