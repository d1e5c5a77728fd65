#!/usr/bin/env bash
# collect.sh - capture what etcd-perf needs from a live OpenShift cluster, as a small bundle.
#
# Writes the must-gather tree (etcd_info/, namespaces/<ns>/pods/etcd-<node>/...) plus bundle.json
# (format version, collection time, every command run with its exit status and stderr) and packs it
# as etcd-bundle-<cluster>-<UTC stamp>.tar.gz. A failing command or a member that is down gives a
# partial bundle with the failure recorded, never an abort. Read-only on the cluster.
#
# Usage: scripts/collect.sh [--duration MIN] [--since DURATION] [--output DIR] [--namespace NS] [--help]
set -euo pipefail

NAMESPACE=openshift-etcd
OUTPUT=.
DURATION=""
SINCE=""
OC=${OC:-oc}
FORMAT_VERSION=1

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
}

die() { echo "collect.sh: $*" >&2; exit 3; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION=${2:?--duration needs minutes}; shift 2 ;;
    --since) SINCE=${2:?--since needs a duration such as 2h}; shift 2 ;;
    --output) OUTPUT=${2:?--output needs a directory}; shift 2 ;;
    --namespace) NAMESPACE=${2:?--namespace needs a name}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
if [[ -n $DURATION && ! $DURATION =~ ^[0-9]+$ ]]; then die "--duration must be whole minutes"; fi
if [[ -n $DURATION && -z $SINCE ]]; then SINCE="${DURATION}m"; fi

command -v "$OC" >/dev/null 2>&1 || die "'$OC' not found in PATH"
command -v python3 >/dev/null 2>&1 || die "python3 is needed to write bundle.json"
"$OC" whoami >/dev/null 2>&1 || die "not logged in to a cluster ('$OC whoami' failed)"
"$OC" auth can-i get pods -n "$NAMESPACE" >/dev/null 2>&1 || die "no permission to read pods in $NAMESPACE"

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
CLUSTER=$("$OC" get infrastructure cluster -o jsonpath='{.status.infrastructureName}' 2>/dev/null || true)
CLUSTER=${CLUSTER:-cluster}
CLUSTER=${CLUSTER//[^A-Za-z0-9._-]/-}
mkdir -p "$OUTPUT"
WORK=$(mktemp -d "${OUTPUT%/}/.etcd-bundle.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
ROOT="$WORK/etcd-bundle-$CLUSTER-$STAMP"
mkdir -p "$ROOT/etcd_info" "$ROOT/namespaces/$NAMESPACE/pods"
COMMANDS="$WORK/commands.jsonl"
: > "$COMMANDS"

# run <output file> <command...>: stdout to the file, exit status and stderr to the manifest.
run() {
  local out=$1; shift
  local err rc=0
  err=$(mktemp "$WORK/err.XXXXXX")
  "$@" > "$out" 2> "$err" || rc=$?
  python3 - "$COMMANDS" "$rc" "$err" "${out#"$ROOT"/}" "$@" <<'PY'
import json, sys
path, rc, err, out, *cmd = sys.argv[1:]
with open(err, errors="replace") as f:
    stderr = f.read()[-4000:]
with open(path, "a") as f:
    f.write(json.dumps({"command": cmd, "exit_status": int(rc), "stderr": stderr, "output": out}) + "\n")
PY
  rm -f "$err"
  return 0
}

PODS=$("$OC" get pods -n "$NAMESPACE" -l app=etcd -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.phase}{"\n"}{end}' 2>/dev/null || true)
RUNNING=$(awk '$2 == "Running" {print $1}' <<< "$PODS")
[[ -n $PODS ]] || die "no etcd pods (label app=etcd) in namespace $NAMESPACE"
FIRST=$(head -n1 <<< "$RUNNING")

ETCDCTL=(etcdctl)
if [[ -n $FIRST ]]; then
  exec_ctl() { "$OC" exec -n "$NAMESPACE" "$FIRST" -c etcdctl -- "${ETCDCTL[@]}" "$@"; }
  run "$ROOT/etcd_info/member_list.json" exec_ctl member list -w json
  run "$ROOT/etcd_info/endpoint_status.json" exec_ctl endpoint status --cluster -w json
  run "$ROOT/etcd_info/endpoint_health.json" exec_ctl endpoint health --cluster -w json
  run "$ROOT/etcd_info/alarm_list.json" exec_ctl alarm list -w json
  count_objects() {
    "$OC" exec -n "$NAMESPACE" "$FIRST" -c etcdctl -- sh -c \
      "etcdctl get / --prefix --keys-only | sed '/^\$/d' | cut -d/ -f3 | sort | uniq -c | sort -rn"
  }
  run "$ROOT/etcd_info/etcd_object_count" count_objects
fi

# Metrics for the window: the Prometheus dump gather_etcd_more takes (etcd_info/metrics.openmetrics),
# else one /metrics scrape per member (etcd_info/scrapes/<pod>.prom: distributions since start).
METRIC_MINUTES=${DURATION:-60}
MAX_MS=$(( $(date -u +%s) * 1000 ))
MIN_MS=$(( MAX_MS - METRIC_MINUTES * 60000 ))
MATCHES=()
for m in etcd_disk_wal_fsync_duration_seconds_bucket etcd_disk_backend_commit_duration_seconds_bucket \
         etcd_network_peer_round_trip_time_seconds_bucket etcd_network_peer_sent_failures_total \
         etcd_server_proposals_failed_total etcd_server_proposals_pending etcd_server_leader_changes_seen_total \
         etcd_server_slow_apply_total etcd_server_heartbeat_send_failures_total etcd_server_has_leader \
         etcd_mvcc_db_total_size_in_bytes etcd_mvcc_db_total_size_in_use_in_bytes etcd_server_quota_backend_bytes \
         grpc_server_handled_total; do
  MATCHES+=("--match=${m}{job=~\".*etcd.*\"}")
done
MATCHES+=('--match=grpc_server_handling_seconds_bucket{job=~".*etcd.*",grpc_method!="Defragment",grpc_type="unary"}')
PROM_NS=${PROM_NAMESPACE:-openshift-monitoring}
PROM_POD=$("$OC" get pods -n "$PROM_NS" -l app.kubernetes.io/name=prometheus \
  -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true)
DUMP="$ROOT/etcd_info/metrics.openmetrics"
if [[ -n $PROM_POD ]]; then
  run "$DUMP" "$OC" exec -n "$PROM_NS" "$PROM_POD" -c prometheus -- promtool tsdb dump-openmetrics \
    --min-time="$MIN_MS" --max-time="$MAX_MS" "${MATCHES[@]}" /prometheus
fi
if [[ ! -s $DUMP ]] || ! grep -q '_bucket{' "$DUMP"; then
  rm -f "$DUMP"
  mkdir -p "$ROOT/etcd_info/scrapes"
  scrape_metrics() {
    # shellcheck disable=SC2016  # the certificate variables expand inside the pod, not here
    "$OC" exec -n "$NAMESPACE" "$1" -c etcdctl -- sh -c \
      'curl -sS --cacert "$ETCDCTL_CACERT" --cert "$ETCDCTL_CERT" --key "$ETCDCTL_KEY" https://localhost:2379/metrics'
  }
  while read -r pod; do
    [[ -n $pod ]] && run "$ROOT/etcd_info/scrapes/$pod.prom" scrape_metrics "$pod"
  done <<< "$RUNNING"
fi

# Logs last: they then cover everything the metrics dump above does.
LOG_ARGS=(--timestamps)
[[ -n $SINCE ]] && LOG_ARGS+=(--since="$SINCE")
while read -r pod phase; do
  [[ -n $pod ]] || continue
  case "$pod" in etcd-guard-*|etcd-quorum-guard-*|installer-*|revision-pruner-*) continue ;; esac
  d="$ROOT/namespaces/$NAMESPACE/pods/$pod"
  mkdir -p "$d/etcd/etcd/logs"
  run "$d/$pod.yaml" "$OC" get pod -n "$NAMESPACE" "$pod" -o yaml
  run "$d/etcd/etcd/logs/current.log" "$OC" logs -n "$NAMESPACE" "$pod" -c etcd "${LOG_ARGS[@]}"
  run "$d/etcd/etcd/logs/previous.log" "$OC" logs -n "$NAMESPACE" "$pod" -c etcd --previous "${LOG_ARGS[@]}"
  : "$phase"
done <<< "$PODS"
# What the platform did to etcd: every pod of the namespace (installer pods say which static-pod revision
# was rolled out on which node, and when) and the events of the etcd namespaces (the operator's rollout
# steps, the kubelet stopping pods): etcd-perf tells planned restarts and elections from etcd trouble.
mkdir -p "$ROOT/namespaces/$NAMESPACE/core" "$ROOT/namespaces/openshift-etcd-operator/core"
run "$ROOT/namespaces/$NAMESPACE/core/pods.yaml" "$OC" get pods -n "$NAMESPACE" -o yaml
run "$ROOT/namespaces/$NAMESPACE/core/events.yaml" "$OC" get events -n "$NAMESPACE" -o yaml
run "$ROOT/namespaces/openshift-etcd-operator/core/events.yaml" "$OC" get events -n openshift-etcd-operator -o yaml
mkdir -p "$ROOT/cluster-scoped-resources/config.openshift.io/clusteroperators"
run "$ROOT/cluster-scoped-resources/config.openshift.io/clusteroperators/etcd.yaml" "$OC" get clusteroperator etcd -o yaml
# the cluster's identity (spec.clusterID), as must-gather keeps it: compare warns across two clusters
mkdir -p "$ROOT/cluster-scoped-resources/config.openshift.io/clusterversions"
run "$ROOT/cluster-scoped-resources/config.openshift.io/clusterversions/version.yaml" "$OC" get clusterversion version -o yaml

OC_VERSION=$("$OC" version --client 2>/dev/null | head -n1 || true)
run "$WORK/clusterversion.txt" "$OC" get clusterversion version -o jsonpath='{.status.desired.version}'
CLUSTER_VERSION=$(cat "$WORK/clusterversion.txt" 2>/dev/null || true)
# The collection time is when the logs had all been fetched: nothing in them is later.
COLLECTED_AT=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
python3 - "$ROOT/bundle.json" "$COMMANDS" "$FORMAT_VERSION" "$COLLECTED_AT" "$SINCE" "$NAMESPACE" "$CLUSTER" \
  "$OC_VERSION" "$STARTED_AT" "$CLUSTER_VERSION" "$DURATION" <<'PY'
import json, os, sys
out, commands, version, collected, since, ns, cluster, oc_version, started, cluster_version, minutes = sys.argv[1:]
etcd_versions = {}
status_file = os.path.join(os.path.dirname(out), "etcd_info", "endpoint_status.json")
try:
    with open(status_file) as f:
        for ep in json.load(f):
            etcd_versions[ep["Endpoint"]] = ep["Status"].get("version")
except (OSError, ValueError, KeyError, TypeError):
    pass
with open(commands) as f:
    cmds = [json.loads(line) for line in f if line.strip()]
manifest = {
    "format": "etcd-perf-bundle", "format_version": int(version), "collected_at": collected,
    "collection_started_at": started,
    "window": {"since": since or None, "minutes": int(minutes) if minutes else None},
    "namespace": ns, "cluster": cluster,
    "versions": {"oc": oc_version or None, "cluster": cluster_version or None, "etcd": etcd_versions},
    "commands": cmds,
    "failed_commands": sum(1 for c in cmds if c["exit_status"] != 0),
}
with open(out, "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
    f.write("\n")
PY

NAME="etcd-bundle-$CLUSTER-$STAMP.tar.gz"
tar -C "$WORK" -czf "$WORK/$NAME.partial" "$(basename "$ROOT")"
mv "$WORK/$NAME.partial" "${OUTPUT%/}/$NAME"
echo "${OUTPUT%/}/$NAME"
