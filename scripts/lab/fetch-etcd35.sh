#!/usr/bin/env bash
# fetch-etcd35.sh DIR - unpack Debian trixie's etcd 3.5 (closer to OpenShift 4.x than bookworm's
# 3.4) into DIR without installing it; prints the directory holding etcd and etcdctl.
# Uses the machine's own Debian mirror with the suite switched to trixie. Best effort: exits
# non-zero when the packages cannot be had, and the lab then uses the installed etcd.
set -euo pipefail
dir=${1:?usage: fetch-etcd35.sh DIR}
mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/debs" "$dir/root"
uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[[ -n $uri ]] || { echo "fetch-etcd35: no Debian source found" >&2; exit 1; }
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" > "$dir/sources.list"
opts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=-"
      -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache")
apt-get "${opts[@]}" update -qq >/dev/null
chmod 0777 "$dir/debs"  # apt downloads as the _apt user where it can
(cd "$dir/debs" && apt-get "${opts[@]}" download etcd-server etcd-client >/dev/null 2>&1)
for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir/root"; done
"$dir/root/usr/bin/etcd" --version >/dev/null
echo "$dir/root/usr/bin"
