"""Who the members are, by every source the bundle has: the member list, endpoint status, the pods.

When the sources disagree (two leaders reported, a member etcdctl could not reach, a pod whose member
is not listed) the cluster is not what it looks like, and a report that said HEALTHY would mislead.
"""

from __future__ import annotations

from etcd_perf.gather.bundle import Bundle
from etcd_perf.gather.etcd_info import is_local_socket


def member_pods(bundle: Bundle) -> set[str]:
    return {p.removeprefix("etcd-") for p in bundle.pods} | {f.member for f in bundle.log_files}


def missing_from_status(bundle: Bundle) -> list[str]:
    info = bundle.info
    status_ids = {s.member_id for s in info.status}
    return sorted(m.name or format(m.id, "x") for m in info.members if m.id not in status_ids)


def membership_problems(bundle: Bundle) -> list[str]:
    info = bundle.info
    problems = []
    leaders = sorted({format(s.leader, "x") for s in info.status if s.leader})
    if info.status and len(leaders) != 1:
        problems.append(f"endpoint status reports {len(leaders)} different leaders: {', '.join(leaders) or 'none'}")
    # a member whose health check failed too did not answer in time (a stalled disk, an overloaded member):
    # it is unresponsive, which its health finding reports, not a disagreement between the sources
    # (etcd's local unixs:// listener fails every check from the must-gather pod: it says nothing of the member)
    unhealthy = {h.endpoint.rstrip("/") for h in info.health if h.health is False and not is_local_socket(h.endpoint)}
    unresponsive = {
        m.name or format(m.id, "x")
        for m in info.members
        if any(u.rstrip("/") in unhealthy for u in m.client_urls if not is_local_socket(u))
    }
    missing = [m for m in missing_from_status(bundle) if m not in unresponsive]
    # an endpoint status that was read but lists nobody leaves every member unaccounted for
    if missing and (info.status or info.files.get("endpoint_status.json") == "ok"):
        problems.append(f"members missing from endpoint status: {', '.join(missing)}")
    listed = {m.name for m in info.members if m.name}
    pods = member_pods(bundle)
    if listed and pods - listed:
        problems.append(f"pods whose member is not in the member list: {', '.join(sorted(pods - listed))}")
    if listed and pods and listed - pods:
        problems.append(f"members without a pod or logs in the bundle: {', '.join(sorted(listed - pods))}")
    return problems
