"""Cluster consistency from etcd_info and the pods: one leader, agreeing terms, every member accounted for."""

from __future__ import annotations

from etcd_perf.analyze.measures import ClusterView
from etcd_perf.analyze.membership import member_pods, membership_problems, missing_from_status
from etcd_perf.gather.bundle import Bundle
from etcd_perf.gather.etcd_info import is_local_socket

LOCAL_SOCKET_NOTE = (
    "unix-socket endpoints are etcd's local listener, which etcdctl in the must-gather pod cannot reach: "
    "they fail on every healthy cluster and say nothing of a member's health"
)


def consistency(bundle: Bundle, view: ClusterView) -> dict:
    info = bundle.info
    leaders = sorted({format(s.leader, "x") for s in info.status if s.leader})
    claiming = sorted(m.name for m in view.members if m.is_leader)
    terms = [s.raft_term for s in info.status if s.raft_term is not None]
    applied = [s.raft_applied_index for s in info.status if s.raft_applied_index is not None]
    listed = {m.name for m in info.members if m.name}
    pods = member_pods(bundle)
    missing_status = missing_from_status(bundle)
    problems = membership_problems(bundle)
    if terms and max(terms) - min(terms) > 1:
        problems.append(f"raft terms differ by {max(terms) - min(terms)} between members")
    # etcd's local Unix socket (unixs://<ip>:0): etcdctl in the must-gather pod cannot reach it, so it fails
    # on every healthy cluster; noted, never a member's health
    sockets = sorted(h.endpoint for h in info.health if is_local_socket(h.endpoint))
    unhealthy = sorted(h.endpoint for h in info.health if h.health is False and not is_local_socket(h.endpoint))
    if unhealthy:
        problems.append(f"unhealthy endpoints: {', '.join(unhealthy)}")
    learners = sorted(m.name or format(m.id, "x") for m in info.members if m.is_learner)
    return {
        "leaders_reported": leaders,
        "members_claiming_leadership": claiming,
        "raft_term_spread": max(terms) - min(terms) if terms else None,
        "applied_index_spread": max(applied) - min(applied) if applied else None,
        "members_listed": sorted(listed),
        "members_with_pods": sorted(pods),
        "missing_from_endpoint_status": missing_status,
        "learners": learners,
        "health_errors": sorted({h.error.strip() for h in info.health if h.error and not is_local_socket(h.endpoint)}),
        "local_socket_endpoints": sockets,
        "local_socket_note": LOCAL_SOCKET_NOTE if sockets else None,
        "problems": problems,
        "consistent": not problems,
    }
