"""Real etcd log lines, verbatim from public issues (sources beside each), for parser tests.

Copied from ../shared/reference/real-log-lines.md, or written by the project's own etcd binaries
(said beside them); none is invented. Each constant is one line.
"""

# slow WAL fsync, capnslog (etcd 3.3) - etcd-io/etcd#10215
CAPNS_FSYNC = "2018-10-25 16:20:35.185438 W | wal: sync duration of 1.134771573s, expected less than 1s"
# capnslog with a minute-long duration - 3.4 blog (find_string id 20091549729)
CAPNS_FSYNC_MINUTES = "2022-03-19 02:51:31.655916 W | wal: sync duration of 1m15.841622694s, expected less than 1s"
# took too long, capnslog - etcd-io/etcd#12405
CAPNS_APPLY = (
    '2020-10-20 12:15:22.876237 W | etcdserver: read-only range request "key:\\"/registry/storageclasses\\" '
    'range_end:\\"/registry/storageclasset\\" count_only:true " with result "range_response_count:0 size:6" '
    "took too long (2.285637356s) to execute"
)
# heartbeat, capnslog - etcd-io/etcd#7312
CAPNS_HEARTBEAT = (
    "2017-02-10 08:02:47.025304 W | etcdserver: failed to send out heartbeat on time "
    "(exceeded the 100ms timeout for 288.915798ms)"
)
# raft 3.3 capnslog - etcd-io/etcd#13346
CAPNS_ELECTED = (
    "2021-09-11 14:46:26.865712 I | raft: raft.node: 305e2d98af38bb40 elected leader 7752c0b6a21319fe at term 58"
)
# raft stdlib logger interleaved with capnslog (3.4c)
RAFT_STDLIB_ELECTED = (
    "raft2022/03/19 02:50:20 INFO: raft.node: d52f541376b969a elected leader 6cb8f75d6cb36170 at term 35"
)
RAFT_STDLIB_BECAME_LEADER = "raft2022/03/19 02:50:20 INFO: 6cb8f75d6cb36170 became leader at term 35"
# grpc-go stray line (3.4 blog) - counted as unparsed
GRPC_STRAY = (
    "WARNING: 2022/03/19 02:50:25 grpc: Server.processUnaryRPC failed to write status: "
    'connection error: desc = "transport is closing"'
)
# zap 3.4 (ms timestamps, no logger key) - etcd-io/etcd#12094
ZAP34_APPLY = (
    '{"level":"warn","ts":"2020-06-30T01:18:21.061Z","caller":"etcdserver/util.go:144","msg":"apply request took '
    'too long","took":"531.978977ms","expected-duration":"100ms","prefix":"read-only range ","request":"key:\\"/regis'
    'try/namespaces/default\\" ","response":"range_response_count:1 size:174"}'
)
ZAP34_ELECTION = (
    '{"level":"info","ts":"2021-09-16T05:38:03.911Z","caller":"raft/raft.go:870",'
    '"msg":"980a75d3196f23b1 is starting a new election at term 898"}'
)
# zap 3.4 heartbeat with +0800 offset - etcd-io/etcd#12528
ZAP34_HEARTBEAT = (
    '{"level":"warn","ts":"2020-12-14T16:57:54.686+0800","caller":"etcdserver/raft.go:376","msg":"leader failed to '
    'send out heartbeat on time; took too long, leader is overloaded likely from slow disk","to":"fd422379fda50e48",'
    '"heartbeat-interval":"100ms","expected-duration":"200ms","exceeded-duration":"4.889343035s"}'
)
# zap 3.5 raft (logger raft) - apache/apisix#11674
ZAP35_PRECANDIDATE = (
    '{"level":"info","ts":"2025-01-13T12:56:15.947362Z","logger":"raft","caller":"etcdserver/zap_raft.go:77",'
    '"msg":"39e3f227d2d33a6d became pre-candidate at term 63"}'
)
# zap 3.6-alpha, µs ts with +0800 - etcd-io/etcd#15247
ZAP36_APPLY_ERROR = (
    '{"level":"warn","ts":"2024-01-31T16:54:41.675186+0800","caller":"txn/util.go:93","msg":"apply request took '
    'too long","took":"4.99863799s","expected-duration":"100ms","prefix":"read-only range ",'
    '"request":"key:\\"t104\\" ","response":"","error":"context canceled"}'
)
# zap 3.6 raft caller v3@v3.6.0 - etcd-io/etcd#18385
ZAP36_ELECTION = (
    '{"level":"info","ts":"2024-07-31T13:32:47.464688+0800","logger":"raft","caller":"v3@v3.6.0-alpha.0/raft.go:956",'
    '"msg":"7c0730f7752a5a15 is starting a new election at term 2"}'
)
# kubelet prefix (must-gather current.log) - bundle-layout.md
KUBELET_CLOCK_DRIFT = (
    '2022-07-04T06:35:26.512448489Z {"level":"warn","ts":"2022-07-04T06:35:26.512Z","caller":"rafthttp/probing_status'
    '.go:86","msg":"prober found high clock drift","round-tripper-name":"ROUND_TRIPPER_SNAPSHOT","remote-peer-id":'
    '"d66e878e1cd03cfc","clock-drift":"8m0.640985013s","rtt":"502.906µs"}'
)
# CRI-O rotated file with stream and tag - bitnami/charts#16615
CRI_SNAPSHOT = (
    '2023-05-31T00:19:49.344617164Z stderr F {"level":"info","ts":"2023-05-31T00:19:49.344Z","caller":"etcdserver/'
    'server.go:2405","msg":"saved snapshot","snapshot-index":3300048}'
)
# CRI-O with +08:00 - etcd-io/etcd#16436
CRI_DROPPED = (
    '2023-08-18T18:38:58.167282393+08:00 stderr F {"level":"warn","ts":"2023-08-18T10:38:58.167Z","caller":'
    '"rafthttp/peer.go:267","msg":"dropped internal Raft message since sending buffer is full (overloaded network)",'
    '"message-type":"MsgHeartbeat","local-member-id":"6f4280d874315789","from":"6f4280d874315789","remote-peer-id":'
    '"63f111c239cc91f8","remote-peer-name":"pipeline","remote-peer-active":false}'
)
# journald prefix around zap - k3s-io/k3s#3511
JOURNALD_DROPPED = (
    'Jun 24 18:20:04 dp4605 k3s[855297]: {"level":"warn","ts":"2021-06-24T18:20:04.739Z","caller":"rafthttp/peer.go'
    ':267","msg":"dropped internal Raft message since sending buffer is full (overloaded network)","message-type":'
    '"MsgHeartbeat","local-member-id":"d1c004e84980efe9","from":"d1c004e84980efe9","remote-peer-id":"865cdac463481cfd"'
    ',"remote-peer-active":false}'
)
# syslog without level, minute durations - etcd-io/etcd#15488
SYSLOG_CLOCK = (
    "Nov  8 17:16:49 moss etcd: the clock difference against peer 361f5805326a5a9a is too high [1m0.155650202s > 1s]"
)
# pre-release 3.4: epoch-float ts - etcd-io/etcd#10000
EPOCH_ELECTED = (
    '{"level":"info","ts":1531181998.771561,"caller":"raft/node.go:306","msg":"raft.node: 620d71aa28ed3b63 elected '
    'leader 4e49bc5f2b3d67c6 at term 4"}'
)
# 3.5 request stats warn (keys with spaces) - syself/cluster-api-provider-hetzner#1434
ZAP35_REQUEST_STATS = (
    '{"level":"warn","ts":"2024-08-12T11:03:57.379342Z","caller":"v3rpc/interceptor.go:197","msg":"request stats",'
    '"start time":"2024-08-12T11:03:56.788653Z","time spent":"590.660665ms","remote":"127.0.0.1:47576","response type"'
    ':"/etcdserverpb.KV/Txn","request count":1,"request size":505,"response count":0,"response size":43,"request '
    'content":"compare:<target:MOD key:\\"/registry/leases/kube-system/cilium-operator-resource-lock\\" mod_revision:'
    '16152659 > success:<request_put:<key:\\"/registry/leases/kube-system/cilium-operator-resource-lock\\" '
    'value_size:439 >> failure:<request_range:<key:\\"/registry/leases/kube-system/cilium-operator-resource-lock\\" '
    '> >"}'
)
# 3.5 custom time format without a date - etcd-io/etcd#21610 (ts unparsable: no time)
ZAP_NO_DATE = (
    '{"level":"warn","ts":"06:22:52.217828-0700","caller":"rafthttp/stream.go:420","msg":"lost TCP streaming '
    'connection with remote peer","stream-reader-type":"stream Message","local-member-id":"57af20a01bb3d0e5",'
    '"remote-peer-id":"6e3f170f02c6c3a","error":"context canceled"}'
)
# defrag zap 3.5 on OpenShift (blog, find_string id 12172825907)
ZAP35_DEFRAG_DONE = (
    '{"level":"info","ts":"2023-11-06T06:40:12.845Z","caller":"backend/backend.go:549","msg":"finished defragmenting '
    'directory","path":"/var/lib/etcd/member/snap/db","current-db-size-bytes-diff":-111833088,"current-db-size-bytes":'
    '122429440,"current-db-size":"122 MB","current-db-size-in-use-bytes-diff":-2002944,"current-db-size-in-use-bytes":'
    '122404864,"current-db-size-in-use":"122 MB","took":"1.278275759s"}'
)
# OpenShift container shell preamble (bundle-layout.md pitfall 6): not etcd lines
PREAMBLE = ["Waiting for ports 2379, 2380 and 9978 to be released.", "+ exec nice -n -19 ionice -c2 -n0 etcd"]

# etcd 3.5.16 (the project's lab binary) started on a client port already taken: its fatal line, verbatim
ZAP35_FATAL = (
    '{"level":"fatal","ts":"2026-11-29T05:13:02.826281Z","caller":"etcdmain/etcd.go:204","msg":"discovery'
    ' failed","error":"listen tcp 127.0.0.1:23791: bind: address already in use","stacktrace":"go.etcd.io'
    "/etcd/server/etcdmain.startEtcdOrProxyV2\\n\\tgo.etcd.io/etcd/server/etcdmain/etcd.go:204\\ngo.etcd.io/"
    "etcd/server/etcdmain.Main\\n\\tgo.etcd.io/etcd/server/etcdmain/main.go:40\\nmain.main\\n\\tgo.etcd.io/etc"
    'd/server/main.go:31\\nruntime.main\\n\\truntime/proc.go:283"}'
)
# the same with etcd 3.4.23, zap logger
ZAP34_FATAL = (
    '{"level":"fatal","ts":"2026-11-29T05:12:55.984Z","caller":"etcdmain/etcd.go:271","msg":"discovery fa'
    'iled","error":"listen tcp 127.0.0.1:23791: bind: address already in use","stacktrace":"go.etcd.io/et'
    "cd/etcdmain.startEtcdOrProxyV2\\n\\tgo.etcd.io/etcd/etcdmain/etcd.go:271\\ngo.etcd.io/etcd/etcdmain.Mai"
    "n\\n\\tgo.etcd.io/etcd/etcdmain/main.go:46\\nmain.main\\n\\tgo.etcd.io/etcd/main.go:28\\nruntime.main\\n\\tr"
    'untime/proc.go:250"}'
)
# the same with etcd 3.4.23, capnslog logger (level C)
CAPNS34_FATAL = "2026-11-29 05:12:55.962715 C | etcdmain: listen tcp 127.0.0.1:23791: bind: address already in use"
# etcd 3.5.16 (the project's lab binary) started on a bbolt db with trashed pages: the Go runtime's panic,
# the first lines of its goroutine dump after it, verbatim
GO_PANIC = "panic: runtime error: slice bounds out of range [::8589934590] with length 2147483647"
GO_PANIC_DUMP = [
    "",
    "goroutine 132 [running]:",
    "go.etcd.io/bbolt.unsafeByteSlice(...)",
    "\tgo.etcd.io/bbolt/unsafe.go:26",
]

# OpenShift etcd container preamble, verbatim from tests/data/real/must-gather-aws.tar.xz
# (etcd-ip-10-0-189-142.ec2.internal current.log, the new pod of the revision 3 rollout): the member-list
# echo, the data-dir check, the wait for the old pod's ports (dots with their own kubelet times on one
# line), its timing and the ETCD_* dump, before etcd's first line
REAL_PREAMBLE = [
    "2021-08-03T09:27:56.832369579Z 30c29f1b390a6a04, started, ip-10-0-189-142.ec2.internal, https://10.0.189.142:2380, https://10.0.189.142:2379,unixs://10.0.189.142:0, false",
    "2021-08-03T09:27:56.832369579Z 5a492cc498c39e02, started, ip-10-0-187-218.ec2.internal, https://10.0.187.218:2380, https://10.0.187.218:2379,unixs://10.0.187.218:0, false",
    "2021-08-03T09:27:56.832369579Z bb9c7099bd31ffff, started, ip-10-0-195-177.ec2.internal, https://10.0.195.177:2380, https://10.0.195.177:2379,unixs://10.0.195.177:0, false",
    "2021-08-03T09:27:56.837128561Z dataDir is present on ip-10-0-189-142.ec2.internal",
    "2021-08-03T09:27:56.850281768Z #### attempt 0",
    '2021-08-03T09:27:56.850281768Z       member={name="ip-10-0-189-142.ec2.internal", peerURLs=[https://10.0.189.142:2380}, clientURLs=[https://10.0.189.142:2379,unixs://10.0.189.142:0]',
    '2021-08-03T09:27:56.850281768Z       member={name="ip-10-0-187-218.ec2.internal", peerURLs=[https://10.0.187.218:2380}, clientURLs=[https://10.0.187.218:2379,unixs://10.0.187.218:0]',
    '2021-08-03T09:27:56.850281768Z       member={name="ip-10-0-195-177.ec2.internal", peerURLs=[https://10.0.195.177:2380}, clientURLs=[https://10.0.195.177:2379,unixs://10.0.195.177:0]',
    '2021-08-03T09:27:56.850281768Z       target={name="ip-10-0-189-142.ec2.internal", peerURLs=[https://10.0.189.142:2380}, clientURLs=[https://10.0.189.142:2379,unixs://10.0.189.142:0]',
    "2021-08-03T09:27:56.852292511Z Waiting for ports 2379, 2380 and 9978 to be released.2021-08-03T09:27:56.856933115Z .2021-08-03T09:27:57.862382544Z .2021-08-03T09:27:58.866927920Z .2021-08-03T09:27:59.871750012Z .2021-08-03T09:28:00.876325403Z .2021-08-03T09:28:01.881126776Z .2021-08-03T09:28:02.885979179Z .2021-08-03T09:28:03.890446037Z .2021-08-03T09:28:04.895202375Z .2021-08-03T09:28:05.900575126Z .2021-08-03T09:28:06.905514757Z .2021-08-03T09:28:07.910179918Z .2021-08-03T09:28:08.914931316Z .2021-08-03T09:28:09.919517135Z .2021-08-03T09:28:10.924132882Z .2021-08-03T09:28:11.930409760Z .2021-08-03T09:28:12.935348013Z .2021-08-03T09:28:13.939936164Z .2021-08-03T09:28:14.945735693Z .2021-08-03T09:28:15.950872027Z .2021-08-03T09:28:16.955610855Z .2021-08-03T09:28:17.960345849Z .2021-08-03T09:28:18.964947473Z ",
    "2021-08-03T09:28:18.964947473Z real\t0m22.113s",
    "2021-08-03T09:28:18.964947473Z user\t0m0.032s",
    "2021-08-03T09:28:18.964947473Z sys\t0m0.079s",
    "2021-08-03T09:28:18.966714810Z ETCD_SOCKET_REUSE_ADDRESS=true",
    "2021-08-03T09:28:18.966714810Z ETCD_PORT_2379_TCP_PORT=2379",
    "2021-08-03T09:28:18.966714810Z ETCD_INITIAL_CLUSTER_STATE=existing",
    "2021-08-03T09:28:18.966714810Z ETCD_STATIC_POD_VERSION=3",
    "2021-08-03T09:28:18.966714810Z ETCD_HEARTBEAT_INTERVAL=100",
    "2021-08-03T09:28:18.966714810Z ETCD_INITIAL_CLUSTER=",
    "2021-08-03T09:28:18.966714810Z ETCD_PORT_2379_TCP=tcp://172.30.221.236:2379",
    "2021-08-03T09:28:18.966714810Z ETCD_SERVICE_PORT_ETCD=2379",
    "2021-08-03T09:28:18.966714810Z ETCD_ENABLE_PPROF=true",
    "2021-08-03T09:28:18.966714810Z ETCDCTL_CERT=/etc/kubernetes/static-pod-certs/secrets/etcd-all-certs/etcd-peer-ip-10-0-189-142.ec2.internal.crt",
    "2021-08-03T09:28:18.966714810Z ETCD_PORT_9979_TCP_PORT=9979",
    "2021-08-03T09:28:18.966714810Z ETCD_PORT_2379_TCP_PROTO=tcp",
    "2021-08-03T09:28:18.966714810Z ETCD_PORT_9979_TCP_ADDR=172.30.221.236",
    "2021-08-03T09:28:18.966714810Z ETCD_SERVICE_HOST=172.30.221.236",
    "2021-08-03T09:28:18.966714810Z ETCD_DATA_DIR=/var/lib/etcd",
    "2021-08-03T09:28:18.966714810Z ETCD_IMAGE=quay.io/openshift-release-dev/ocp-v4.0-art-dev@sha256:7ab0346b7ff58de373ea380dd6c38242741b5323698c30030094c33913876153",
    "2021-08-03T09:28:18.966714810Z ALL_ETCD_ENDPOINTS=https://10.0.187.218:2379,https://10.0.189.142:2379,https://10.0.195.177:2379",
    "2021-08-03T09:28:18.966714810Z ETCDCTL_ENDPOINTS=https://10.0.187.218:2379,https://10.0.189.142:2379,https://10.0.195.177:2379",
    "2021-08-03T09:28:18.966714810Z ETCDCTL_API=3",
    "2021-08-03T09:28:18.966714810Z ETCD_PORT_9979_TCP_PROTO=tcp",
    "2021-08-03T09:28:18.966714810Z ETCD_SERVICE_PORT_ETCD_METRICS=9979",
    "2021-08-03T09:28:18.966714810Z ETCD_CIPHER_SUITES=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "2021-08-03T09:28:18.966714810Z ETCD_ELECTION_TIMEOUT=1000",
    "2021-08-03T09:28:18.966714810Z ETCDCTL_CACERT=/etc/kubernetes/static-pod-certs/configmaps/etcd-serving-ca/ca-bundle.crt",
    "2021-08-03T09:28:18.966714810Z ETCD_NAME=ip-10-0-189-142.ec2.internal",
    "2021-08-03T09:28:18.966714810Z ETCD_QUOTA_BACKEND_BYTES=7516192768",
    "2021-08-03T09:28:18.966714810Z ETCD_PORT_2379_TCP_ADDR=172.30.221.236",
    "2021-08-03T09:28:18.966714810Z ETCD_SERVICE_PORT=2379",
    "2021-08-03T09:28:18.966714810Z ETCD_PORT_9979_TCP=tcp://172.30.221.236:9979",
    "2021-08-03T09:28:18.966714810Z ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL=5s",
    "2021-08-03T09:28:18.966714810Z ETCD_PORT=tcp://172.30.221.236:2379",
    "2021-08-03T09:28:18.966714810Z ETCDCTL_KEY=/etc/kubernetes/static-pod-certs/secrets/etcd-all-certs/etcd-peer-ip-10-0-189-142.ec2.internal.key",
    "2021-08-03T09:28:18.968284348Z + exec ionice -c2 -n0 etcd --logger=zap --log-level=info --initial-advertise-peer-urls=https://10.0.189.142:2380 --cert-file=/etc/kubernetes/static-pod-certs/secrets/etcd-all-certs/etcd-serving-ip-10-0-189-142.ec2.internal.crt --key-file=/etc/kubernetes/static-pod-certs/secrets/etcd-all-certs/etcd-serving-ip-10-0-189-142.ec2.internal.key --trusted-ca-file=/etc/kubernetes/static-pod-certs/configmaps/etcd-serving-ca/ca-bundle.crt --client-cert-auth=true --peer-cert-file=/etc/kubernetes/static-pod-certs/secrets/etcd-all-certs/etcd-peer-ip-10-0-189-142.ec2.internal.crt --peer-key-file=/etc/kubernetes/static-pod-certs/secrets/etcd-all-certs/etcd-peer-ip-10-0-189-142.ec2.internal.key --peer-trusted-ca-file=/etc/kubernetes/static-pod-certs/configmaps/etcd-peer-client-ca/ca-bundle.crt --peer-client-cert-auth=true --advertise-client-urls=https://10.0.189.142:2379,unixs://10.0.189.142:0 --listen-client-urls=https://0.0.0.0:2379,unixs://10.0.189.142:0 --listen-peer-urls=https://0.0.0.0:2380 --listen-metrics-urls=https://0.0.0.0:9978",
]
