#!/usr/bin/env bash
# Sanity: `ansible-test sanity` on a copy of the collection laid out as
# ansible_collections/hypervisor/stats (ansible-test insists on that path and
# resolves symlinks), then ansible-lint on playbooks and roles.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
export PATH=$VENV/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=${ANSIBLE_COLLECTIONS_PATH:-$ROOT/.collections}

# ansible-test fetches a pip bootstrap script from a host outside the reachable
# registries; give it a stand-in that installs pip from PyPI's wheel instead.
pip_version=$(python - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
cache=$HOME/.ansible/test/cache
standin=$cache/get_pip_${pip_version//./_}.py
if ! ls "$cache"/pip-"$pip_version"-*.whl >/dev/null 2>&1; then
  mkdir -p "$cache"
  pip download -q --no-deps -d "$cache" "pip==$pip_version"
fi
cp tests/sanity/get_pip_standin.py "$standin"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/hypervisor/stats
mkdir -p "$dest"
# Tracked and new (not ignored) files, as they are in the working tree. Only the
# content that ships is checked: tests/, bench/ and scripts/ hold our pytest
# suites and tooling, not ansible-test targets (they are excluded from the
# Galaxy build too), and pytest plus ansible-lint cover them.
git ls-files -z --cached --others --exclude-standard -- . ':!tests' ':!bench' ':!scripts' tests/config.yml | \
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done | \
  rsync -a --from0 --files-from=- ./ "$dest/"
(
  cd "$dest"
  git init -q && git add -A >/dev/null   # ansible-test lists files through git
  ansible-test sanity --requirements --python "$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
    --color no ${SANITY_ARGS:-}
)
echo "sanity: ansible-test passed"

lint_paths=()
for d in playbooks roles examples; do [ -d "$d" ] && lint_paths+=("$d"); done
ansible-lint --offline -q "${lint_paths[@]}"
echo "sanity: ansible-lint passed"
