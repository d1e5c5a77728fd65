"""``--redact``: every name that identifies a customer replaced by a stable pseudonym.

A report that leaves the building must not carry the customer's host names, IP addresses, namespaces
or key names, yet must still read: the same node is the same pseudonym everywhere in it, in every run
(a hash of the name, so two reports of one cluster line up). What is replaced:

- member, pod and host names the bundle itself declares (member list, pod directories, peer and
  client URLs, the cluster name of a collect bundle) wherever they appear, file paths included;
- host names in URLs, IPv4 and IPv6 addresses;
- etcd keys: ``/registry/<resource>/<namespace>/<name>`` keeps its resource and hashes every segment
  after it, and the namespace column of the slow-request tables hashes to the same pseudonym.

Member IDs, versions, times and numbers are kept: they identify nothing outside the cluster.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

from etcd_perf.gather.bundle import Bundle

IPV4 = r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"
H16 = r"[0-9A-Fa-f]{1,4}"
IPV6 = (  # full form, or compressed with "::" and at least one group (times like 11:47:12 never match)
    rf"(?<![\w:])(?:(?:{H16}:){{7}}{H16}|(?=[0-9A-Fa-f:]*[0-9A-Fa-f])(?:{H16}(?::{H16})*)?::(?:{H16}(?::{H16})*)?)(?![\w:])"
)
URL_HOST = r"(?<=://)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"  # a sentence's full stop is not the host's
# the resource (with its API group when it has one) is kept; what follows it names the object
KEY = r"(/(?:registry|kubernetes\.io)/(?:[A-Za-z0-9-]+\.[A-Za-z0-9.-]+/)?[A-Za-z0-9.-]+)((?:/[^\s\"'\\/<>;,)}\]]+)+)"
SEGMENT_CATEGORY = "n"  # key segments and namespaces share it, so a namespace matches its keys
REDACTED_SOURCE = "redacted-bundle"


def pseudonym(category: str, value: str) -> str:
    return f"{category}-{hashlib.sha256(value.encode('utf-8')).hexdigest()[:8]}"


class Redactor:
    def __init__(self, names: dict[str, str]) -> None:
        """``names``: literal name -> category of its pseudonym (member, pod, host, cluster).

        A name is found in any letter case ("Ip-10-0-1-2.ec2.internal" starting a sentence) and in its
        environment-variable spelling (``NODE_ip_10_0_1_2_ec2_internal_ETCD_NAME``), inside any longer
        word that is not a longer name itself (``installer-3-<node>``); every spelling of one name reads
        as one pseudonym (a hash of the name in lower case)."""
        self.names: dict[str, tuple[str, str]] = {}  # spelling, lower-cased -> (category, the name)
        for name, category in sorted(names.items()):
            if not name or len(name) < 3:
                continue
            canonical = name.lower()
            for spelling in {canonical, re.sub(r"[-.]", "_", canonical)}:
                self.names.setdefault(spelling, (category, canonical))
        ordered = sorted(self.names, key=lambda n: (-len(n), n))
        self._literal = (
            re.compile(
                r"(?<![A-Za-z0-9])(?:" + "|".join(re.escape(n) for n in ordered) + r")(?![A-Za-z0-9])", re.IGNORECASE
            )
            if ordered
            else None
        )
        self._key = re.compile(KEY)
        self._host = re.compile(URL_HOST)
        self._ips = re.compile(f"{IPV4}|{IPV6}")

    @classmethod
    def for_bundle(cls, bundle: Bundle) -> Redactor:
        return cls(names_of_bundle(bundle))

    def analysis(self, analysis: dict) -> dict:
        out = self.tree(analysis)
        assert isinstance(out, dict)
        out["bundle"]["path"] = REDACTED_SOURCE
        return out

    def text(self, value: str) -> str:
        out = self._key.sub(self._key_pseudonym, value)
        out = self._host.sub(lambda m: self._address(m.group(0)), out)
        out = self._ips.sub(lambda m: pseudonym("ip", m.group(0)), out)
        if self._literal is not None:
            out = self._literal.sub(lambda m: self._pseudonym(m.group(0)), out)
        return out

    def _pseudonym(self, found: str) -> str:
        category, name = self.names[found.lower()]
        return pseudonym(category, name)

    def tree(self, node: object, key: str | None = None) -> object:
        """The analysis with every string redacted; a namespace value becomes its pseudonym whole."""
        if isinstance(node, dict):
            return {k: self.tree(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [self.tree(v, key) for v in node]
        if isinstance(node, str):
            if key == "namespace":
                return pseudonym(SEGMENT_CATEGORY, node)
            return self.text(node)
        return node

    def _address(self, host: str) -> str:
        if re.fullmatch(IPV4, host):
            return pseudonym("ip", host)
        if host.lower() in self.names:
            return self._pseudonym(host)
        return pseudonym("host", host.lower())

    @staticmethod
    def _key_pseudonym(m: re.Match) -> str:
        segments = [s for s in m.group(2).split("/") if s]
        return m.group(1) + "".join("/" + pseudonym(SEGMENT_CATEGORY, s) for s in segments)


def names_of_bundle(bundle: Bundle) -> dict[str, str]:
    """Every name the bundle declares, with the category of its pseudonym."""
    names: dict[str, str] = {}
    for name in bundle.member_names:
        names[name] = "member"
    for pod in bundle.pod_dirs:
        names[pod.rstrip("/").rsplit("/", 1)[-1]] = "pod"
    for pod, spec in bundle.pods.items():
        names[pod] = "pod"
        if spec.node:
            names[spec.node] = "host"
    for installer in bundle.platform.installers:
        names[installer.name] = "pod"
        names[installer.node] = "host"
    for etcd_pod in bundle.platform.etcd_pods:
        names[etcd_pod.pod] = "pod"
        if etcd_pod.node:
            names[etcd_pod.node] = "host"
    for m in bundle.info.members:
        if m.name:
            names[m.name] = "member"
        for url in m.peer_urls + m.client_urls:
            host = urlsplit(url).hostname
            if host:
                names[host] = "host"
    cluster = (bundle.manifest or {}).get("cluster")
    if isinstance(cluster, str):
        names[cluster] = "cluster"
    if bundle.identity.openshift_cluster_id:  # the customer's cluster UUID identifies them
        names[bundle.identity.openshift_cluster_id] = "cluster"
    return names


def names_of_analysis(analysis: dict) -> dict[str, str]:
    """The names an earlier analysis carries (members, pods, nodes, hosts, the cluster): what --redact needs
    when the bundle itself is not at hand (compare of an analysis.json)."""
    names: dict[str, str] = {}
    for m in analysis.get("members") or []:
        if isinstance(m.get("name"), str):
            names[m["name"]] = "member"
        if isinstance(m.get("pod"), str):
            names[m["pod"]] = "pod"
        host = urlsplit(m["endpoint"]).hostname if isinstance(m.get("endpoint"), str) else None
        if host:
            names[host] = "host"
    for path in (analysis.get("bundle") or {}).get("pods") or []:
        if isinstance(path, str):
            names[path.rstrip("/").rsplit("/", 1)[-1]] = "pod"
    for r in analysis.get("rollouts") or []:
        for key, category in (("node", "host"), ("installer", "pod"), ("member", "member")):
            if isinstance(r.get(key), str):
                names[r[key]] = category
    ident = (analysis.get("cluster") or {}).get("identity") or {}
    for key in ("openshift_cluster_id", "name"):
        if isinstance(ident.get(key), str):
            names[ident[key]] = "cluster"
    return names
