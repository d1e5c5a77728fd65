"""--redact: no host name, IP, namespace or key name of the customer's in any output, the same
pseudonyms in every run, and the report still reads (resources, IDs, times and numbers kept)."""

import ipaddress
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etcd_perf.analyze.cli import main
from etcd_perf.analyze.redact import Redactor, pseudonym
from tests import real_lines as R
from tests.factory import make_must_gather
from tests.test_any_bundle_analyses import reports_of

SAMPLE_SECRETS = ["master-0", "master-1", "master-2", "127.0.0.1", "ns-4", "obj-147", "bloat/huge"]


def run(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(["analyze", *args])
    return int(exc.value.code), capsys.readouterr().out


def outputs(directory) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_the_sample_redacted_names_nothing_of_the_customer_and_is_stable(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "--redact", "--export-html", "--verbose", "--output", str(tmp_path / "a")])
    code, (stdout, stderr) = int(exc.value.code), capsys.readouterr()
    assert code == 2 and "parse statistics" in stderr
    files = outputs(tmp_path / "a")
    for name, data in [*files.items(), ("stdout", stdout.encode()), ("stderr", stderr.encode())]:
        for secret in SAMPLE_SECRETS:
            assert secret.encode() not in data, (name, secret)
    run(capsys, "--redact", "--export-html", "--output", str(tmp_path / "b"))
    assert outputs(tmp_path / "b") == files
    # still a report: resources, member IDs and the verdict survive
    text = files["executive_performance_report.txt"].decode()
    assert "CRITICAL" in text and "/kubernetes.io/events/n-" in files["backend_raw_logs.txt"].decode()
    assert re.search(r"member-[0-9a-f]{8}", text)


def test_ips_urls_and_keys_in_log_lines_are_replaced(tmp_path, capsys):
    line = R.ZAP34_APPLY.replace("/registry/namespaces/default", "/registry/secrets/customer-prod/db-password").replace(
        '"response":"', '"response":"peer https://etcd-0.customer.example:2380 10.20.30.40 fd00::1:2:3 '
    )
    mg = make_must_gather(tmp_path / "mg", {"node-a.customer.example": {"current": [line]}})
    run(capsys, str(mg), "--redact", "--duration", "all", "--output", str(tmp_path / "r"))
    everything = b"".join(outputs(tmp_path / "r").values())
    for secret in ["customer-prod", "db-password", "etcd-0.customer.example", "10.20.30.40", "fd00::1:2:3", "node-a"]:
        assert secret.encode() not in everything, secret
    assert b"/registry/secrets/n-" in everything


def test_a_namespace_and_its_keys_share_one_pseudonym():
    r = Redactor({})
    assert r.text("/registry/pods/openshift-etcd/etcd-0") == (
        f"/registry/pods/{pseudonym('n', 'openshift-etcd')}/{pseudonym('n', 'etcd-0')}"
    )
    assert r.tree({"namespace": "openshift-etcd"}) == {"namespace": pseudonym("n", "openshift-etcd")}
    grouped = r.text("/registry/config.openshift.io/clusterversions/version")
    assert grouped == f"/registry/config.openshift.io/clusterversions/{pseudonym('n', 'version')}"


def test_times_versions_and_ids_are_not_mistaken_for_addresses():
    r = Redactor({"m1": "member"})
    kept = "2026-11-26T11:47:12.867Z 3.5.16 8e9e05c52164694d term 4 11:47:12"
    assert r.text(kept) == kept


IDENT = st.from_regex(r"[a-z][a-z0-9]{5,10}", fullmatch=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ns=IDENT,
    obj=IDENT,
    node=IDENT,
    host=IDENT,
    ip4=st.integers(1 << 24, (224 << 24) - 1).map(lambda n: str(ipaddress.IPv4Address(n))),
    ip6=st.integers(1, (1 << 128) - 1).map(lambda n: str(ipaddress.IPv6Address(n))),
    resource=st.sampled_from(["pods", "secrets", "services/endpoints", "example.com/widgets", "leases"]),
)
def test_no_name_or_address_of_the_customer_survives_in_any_report(ns, obj, node, host, ip4, ip6, resource):
    line = R.ZAP34_APPLY.replace("/registry/namespaces/default", f"/registry/{resource}/{ns}/{obj}").replace(
        '"response":"', f'"response":"peer https://{host}.example:2380 {ip4} {ip6} '
    )
    with tempfile.TemporaryDirectory() as d:
        mg = make_must_gather(Path(d) / "mg", {node: {"current": [line, R.ZAP34_HEARTBEAT]}})
        everything = b"".join(reports_of(mg, "all", redact=True).values())
    for secret in [ns, obj, node, host, ip4, ip6]:
        assert secret.encode() not in everything, (secret, resource)


HOSTS = st.from_regex(r"[a-z][a-z0-9]{1,8}(-[a-z0-9]{1,6}){0,4}(\.[a-z][a-z0-9]{1,8}){0,3}", fullmatch=True)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=HOSTS,
    flips=st.lists(st.booleans(), min_size=40, max_size=40),
    before=st.sampled_from(["", "x ", "(", "etcd-", "installer-3-", "NODE_", "https://", '"', "peer="]),
    after=st.sampled_from(["", ": lost", ".", ":2380", "_ETCD_NAME", ", false", '"', " is the oldest"]),
    env=st.booleans(),
)
def test_a_declared_name_is_gone_in_any_letter_case_spelling_and_position(name, flips, before, after, env):
    """`Ip-10-0-187-218.ec2.internal: ...` (a sentence starting with a host), the env-variable spelling
    (`NODE_ip_10_0_187_218_ec2_internal_ETCD_NAME`), inside installer pod names: none survives, and every
    spelling of one name reads as the same pseudonym."""
    if len(name) < 3:
        return
    spelled = re.sub(r"[-.]", "_", name) if env else name
    cased = "".join(c.upper() if flip else c for c, flip in zip(spelled, flips * 3, strict=False))
    red = Redactor({name: "host"})
    out = red.text(f"{before}{cased}{after}")
    assert spelled.lower() not in out.lower() and name.lower() not in out.lower()
    if not (env and before == "https://"):  # no URL has a host in the env-variable spelling
        assert pseudonym("host", name.lower()) in out
