#!/usr/bin/env bash
# offline-kit.sh - everything an air-gapped site needs to install etcd-perf, in one file.
#
#   scripts/offline-kit.sh [--output DIR] [--python X.Y] [--platform TAG]
#     -> DIR/etcd-perf-<version>-offline-<python tag>-<platform>.tar.gz
#
# Run on a connected machine. The kit holds etcd-perf's wheel, every dependency's wheel for that Python
# and platform (the fleet extra, Dask distributed, included), SHA256SUMS and install.sh. On the target:
#
#   tar xzf etcd-perf-*-offline-*.tar.gz && etcd-perf-*-offline/install.sh /opt/etcd-perf
#   /opt/etcd-perf/bin/etcd-perf --version
#
# install.sh checks every wheel against SHA256SUMS (one line and exit 1 on a mismatch), creates the venv
# when it does not exist, and installs with `pip install --no-index --find-links`: it never needs a network.
# --python defaults to this interpreter's version, --platform to manylinux for this machine's architecture
# (x86_64 or aarch64); e.g. --python 3.12 --platform aarch64.
set -euo pipefail

out=dist
py=""
plat=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --output) out=${2:?--output needs a directory}; shift 2 ;;
    --python) py=${2:?--python needs X.Y}; shift 2 ;;
    --platform) plat=${2:?--platform needs a tag}; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "offline-kit: unknown argument $1" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
py=${py:-$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}
[[ $py =~ ^3\.[0-9]+$ ]] || { echo "offline-kit: --python must be X.Y (3.11, 3.12, ...), not $py" >&2; exit 2; }
arch=${plat:-$(uname -m)}
case $arch in
  x86_64|aarch64) tags=(manylinux_2_28_"$arch" manylinux_2_17_"$arch" manylinux2014_"$arch") ;;
  manylinux*) tags=("$arch"); arch=${arch##*_} ;;
  *) echo "offline-kit: --platform must be x86_64, aarch64 or a manylinux tag, not $arch" >&2; exit 2 ;;
esac
pytag="cp${py/./}"
version=$("$python" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$here/pyproject.toml")
name="etcd-perf-$version-offline"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kit="$work/$name"
mkdir -p "$kit/wheels"

# etcd-perf itself: pure Python, one wheel for every platform
"$python" -m pip wheel "$here" --no-deps --quiet -w "$kit/wheels"
# its dependencies and the fleet extra, as wheels for the target (never an sdist: the site has no compiler)
mapfile -t reqs < <("$python" - "$here/pyproject.toml" <<'PY'
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
for r in project["dependencies"] + project["optional-dependencies"]["fleet"]:
    print(r)
PY
)
platform_args=()
for t in "${tags[@]}"; do platform_args+=(--platform "$t"); done
"$python" -m pip download --quiet --only-binary=:all: --implementation cp --python-version "$py" \
  "${platform_args[@]}" --dest "$kit/wheels" "${reqs[@]}"

(cd "$kit" && sha256sum wheels/*.whl > SHA256SUMS)
cat > "$kit/install.sh" <<'SH'
#!/usr/bin/env bash
# install.sh VENV_DIR - install etcd-perf (with the fleet extra) from this kit, without a network.
set -euo pipefail
venv=${1:?usage: install.sh VENV_DIR}
kit=$(cd "$(dirname "$0")" && pwd)
if ! (cd "$kit" && sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1); then
  bad=$(cd "$kit" && sha256sum --quiet -c SHA256SUMS 2>/dev/null | head -n1 | cut -d: -f1) || true
  echo "install.sh: ${bad:-a wheel} does not match SHA256SUMS: the kit is damaged; nothing was installed" >&2
  exit 1
fi
[[ -x $venv/bin/python ]] || "${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --no-index --find-links "$kit/wheels" "etcd-perf[fleet]"
"$venv/bin/etcd-perf" --version
SH
chmod +x "$kit/install.sh"
cat > "$kit/README.txt" <<TXT
etcd-perf $version for CPython $py on manylinux $arch, with every dependency as a wheel.

  ./install.sh /opt/etcd-perf          # checks SHA256SUMS, creates the venv, installs without a network
  /opt/etcd-perf/bin/etcd-perf --version
  /opt/etcd-perf/bin/etcd-perf analyze must-gather.tar.gz --export-html
TXT
mkdir -p "$out"
archive="$out/$name-$pytag-$arch.tar.gz"
tar -C "$work" -czf "$archive" "$name"
echo "$archive"
