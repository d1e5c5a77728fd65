"""Cluster consistency from etcd_info and the pods: one leader, agreeing terms, every member accounted for."""

from __future__ import annotations

from analyze.measures import ClusterView
from gather.bundle import Bundle


def consistency(bundle: Bundle, view: ClusterView) -> dict:
    info = bundle.info
    leaders = sorted({format(s.leader, "x") for s in info.status if s.leader})
    claiming = sorted(m.name for m in view.members if m.is_leader)
    terms = [s.raft_term for s in info.status if s.raft_term is not None]
    applied = [s.raft_applied_index for s in info.status if s.raft_applied_index is not None]
    listed = {m.name for m in info.members if m.name}
    status_ids = {s.member_id for s in info.status}
    pods = {p.removeprefix("etcd-") for p in bundle.pods} | {f.member for f in bundle.log_files}
    problems = []
    if info.status and len(leaders) != 1:
        problems.append(f"endpoint status reports {len(leaders)} different leaders: {', '.join(leaders) or 'none'}")
    if terms and max(terms) - min(terms) > 1:
        problems.append(f"raft terms differ by {max(terms) - min(terms)} between members")
    missing_status = sorted(m.name or format(m.id, "x") for m in info.members if m.id not in status_ids)
    if info.status and missing_status:
        problems.append(f"members missing from endpoint status: {', '.join(missing_status)}")
    if listed and pods - listed:
        problems.append(f"pods whose member is not in the member list: {', '.join(sorted(pods - listed))}")
    if listed and pods and listed - pods:
        problems.append(f"members without a pod or logs in the bundle: {', '.join(sorted(listed - pods))}")
    unhealthy = sorted(h.endpoint for h in info.health if h.health is False)
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
        "health_errors": sorted({h.error.strip() for h in info.health if h.error}),
        "problems": problems,
        "consistent": not problems,
    }
