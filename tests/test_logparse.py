"""Every line format etcd writes, parsed from real lines into typed events."""

import json
import pickle
import re
from datetime import UTC, datetime

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etcd_perf.gather.catalogue import default_catalogue, parse_catalogue
from etcd_perf.gather.durations import duration_ms
from etcd_perf.gather.logparse import (
    EXCERPT_CHARS,
    ZAP_MSG,
    _blank,
    _classify,
    _closed,
    _json_string,
    _strip_prefix,
    _zap_key,
    excerpts,
    file_excerpts,
    joined_lines,
    json_unescape,
    parse_lines,
    wide_events,
)
from tests import real_lines as R


def lines_of(lines: list[str]) -> pl.LazyFrame:
    data = "".join(line + "\n" for line in lines).encode()
    return pl.scan_lines(data, name="raw").with_row_index("line", offset=1)


def parse(lines: list[str], join_partials: bool = False):
    """Events of all kinds in one frame (every catalogue field), in line order, and the line statistics."""
    frames, stats = parse_lines(lines_of(lines), default_catalogue(), join_partials)
    return wide_events(frames, default_catalogue()), stats


def one(line: str) -> dict:
    events, _ = parse([line])
    assert events.height == 1, f"expected one event from {line!r}"
    return events.row(0, named=True)


def test_capnslog_fsync_in_seconds_is_not_dropped():
    ev = one(R.CAPNS_FSYNC)
    assert ev["kind"] == "wal_fsync_slow" and ev["fmt"] == "capnslog" and ev["level"] == "warn"
    assert ev["took_ms"] == pytest.approx(1134.771573)
    assert ev["expected_ms"] == 1000.0
    assert ev["ts"] == datetime(2018, 10, 25, 16, 20, 35, 185438, UTC)


def test_capnslog_fsync_over_a_minute():
    assert one(R.CAPNS_FSYNC_MINUTES)["took_ms"] == pytest.approx(75841.622694)


def test_capnslog_slow_request_keeps_request_and_response():
    ev = one(R.CAPNS_APPLY)
    assert ev["kind"] == "apply_slow"
    assert ev["prefix"] == "read-only range "
    assert ev["took_ms"] == pytest.approx(2285.637356)
    assert "/registry/storageclasses" in ev["request"]
    assert ev["response"] == "range_response_count:0 size:6"


def test_capnslog_heartbeat():
    ev = one(R.CAPNS_HEARTBEAT)
    assert (ev["kind"], ev["expected_ms"], ev["exceeded_ms"]) == ("heartbeat_slow", 100.0, pytest.approx(288.915798))


def test_raft_lines_in_capnslog_and_stdlib_logger():
    ev = one(R.CAPNS_ELECTED)
    assert (ev["kind"], ev["self_id"], ev["leader_id"], ev["term"]) == (
        "raft_leader_elected",
        "305e2d98af38bb40",
        "7752c0b6a21319fe",
        58,
    )
    ev = one(R.RAFT_STDLIB_ELECTED)
    assert (ev["fmt"], ev["leader_id"], ev["term"]) == ("raft", "6cb8f75d6cb36170", 35)
    assert ev["ts"] == datetime(2022, 3, 19, 2, 50, 20, tzinfo=UTC)
    assert one(R.RAFT_STDLIB_BECAME_LEADER)["kind"] == "raft_became_leader"


def test_zap_34_35_36_lines():
    ev = one(R.ZAP34_APPLY)
    assert (ev["kind"], ev["fmt"], ev["took_ms"], ev["expected_ms"]) == ("apply_slow", "zap", 531.978977, 100.0)
    assert ev["request"] == 'key:"/registry/namespaces/default" '  # JSON escapes decoded
    ev = one(R.ZAP34_HEARTBEAT)
    assert ev["peer_id"] == "fd422379fda50e48" and ev["exceeded_ms"] == pytest.approx(4889.343035)
    assert ev["ts"] == datetime(2020, 12, 14, 8, 57, 54, 686000, UTC)
    assert one(R.ZAP34_ELECTION)["term"] == 898
    assert one(R.ZAP35_PRECANDIDATE)["kind"] == "raft_became_precandidate"
    ev = one(R.ZAP36_APPLY_ERROR)
    assert ev["error"] == "context canceled" and ev["took_ms"] == pytest.approx(4998.63799)
    assert one(R.ZAP36_ELECTION)["self_id"] == "7c0730f7752a5a15"


def test_zap_keys_with_spaces_are_read():
    ev = one(R.ZAP35_REQUEST_STATS)
    assert ev["kind"] == "request_stats" and ev["took_ms"] == pytest.approx(590.660665)
    assert ev["response_type"] == "/etcdserverpb.KV/Txn" and ev["response_size"] == 43


def test_kubelet_prefix_gives_the_time_and_is_stripped():
    ev = one(R.KUBELET_CLOCK_DRIFT)
    assert ev["kind"] == "clock_drift" and ev["drift_ms"] == pytest.approx(480640.985013)
    assert ev["ts"] == datetime(2022, 7, 4, 6, 35, 26, 512448, UTC)
    quoted = excerpts(lines_of([R.KUBELET_CLOCK_DRIFT]), False, pl.Series([ev["line"]]))
    assert quoted["excerpt"][0].startswith("{")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.text(alphabet='ab {}"', max_size=6)), min_size=1, max_size=12), st.data())
def test_excerpts_read_only_the_stretch_of_the_wanted_lines_and_quote_what_a_whole_scan_quotes(parts, data):
    # CRI lines, partial ones ("P") continuing on the next, read with and without joining
    lines = [f"2020-06-30T01:18:21.{i:03d}Z stdout {'P' if p else 'F'} {t}" for i, (p, t) in enumerate(parts)]
    join = data.draw(st.booleans())
    wanted = pl.Series(data.draw(st.lists(st.integers(1, len(lines)), max_size=5)), dtype=pl.UInt64)
    got = excerpts(lines_of(lines), join, wanted)
    picked = joined_lines(lines_of(lines), join).filter(pl.col("line").is_in(wanted.implode())).select("line", "raw")
    whole = (
        _classify(_strip_prefix(picked, False))
        .select(pl.col("line").cast(pl.UInt64), pl.col("inner").str.slice(0, EXCERPT_CHARS).alias("excerpt"))
        .collect()
    )
    assert got.sort("line").to_dicts() == whole.sort("line").to_dicts()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(st.text(alphabet='ab {}"\u00e9', max_size=40), min_size=1, max_size=60),
    end=st.booleans(),
    block=st.integers(1, 300),
    data=st.data(),
)
def test_quoted_lines_read_by_blocks_and_stretches_are_those_a_whole_scan_quotes(
    tmp_path, monkeypatch, lines, end, block, data
):
    # blocks of any size cut lines anywhere (a line longer than a block among them); the last line may
    # have no line end; the wanted lines may repeat, lie anywhere, or past the file's end
    from etcd_perf.gather import logparse

    path = tmp_path / "log"
    path.write_text("\n".join(lines) + ("\n" if end else ""), encoding="utf-8")
    monkeypatch.setattr(logparse, "QUOTE_BLOCK_BYTES", block)
    wanted = pl.Series(data.draw(st.lists(st.integers(1, len(lines) + 2), max_size=8)), dtype=pl.UInt64)
    # where the parse's stretches started: line 1, then any lines, with their byte offsets
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode()) + 1)
    later = data.draw(st.lists(st.integers(2, len(lines)), unique=True, max_size=4)) if len(lines) > 1 else []
    starts = tuple((n, offsets[n - 1]) for n in [1, *sorted(later)])
    got = file_excerpts(path, False, wanted, starts)
    whole = excerpts(pl.scan_lines(path, name="raw").with_row_index("line", offset=1), False, wanted.unique())
    assert got.schema == whole.schema
    assert got.sort("line").to_dicts() == whole.sort("line").to_dicts()


def test_cri_o_lines_with_stream_tag_and_offset():
    ev = one(R.CRI_SNAPSHOT)
    assert (ev["kind"], ev["revision"]) == ("snapshot_saved", 3300048)
    ev = one(R.CRI_DROPPED)
    assert ev["kind"] == "message_dropped" and ev["ts"] == datetime(2023, 8, 18, 10, 38, 58, 167282, UTC)


def test_journald_and_syslog_prefixes():
    ev = one(R.JOURNALD_DROPPED)
    assert ev["kind"] == "message_dropped" and ev["peer_id"] == "865cdac463481cfd"
    ev = one(R.SYSLOG_CLOCK)
    assert (ev["kind"], ev["fmt"]) == ("clock_drift", "text") and ev["drift_ms"] == pytest.approx(60155.650202)


def test_epoch_float_timestamps_of_pre_release_34():
    ev = one(R.EPOCH_ELECTED)
    assert ev["ts"].year == 2018 and ev["term"] == 4


def test_unparsable_ts_without_prefix_keeps_the_event_undated():
    ev = one(R.ZAP_NO_DATE)
    assert ev["kind"] == "stream_lost" and ev["ts"] is None


def test_defrag_fields_are_typed():
    ev = one(R.ZAP35_DEFRAG_DONE)
    assert (ev["kind"], ev["db_size_bytes"], ev["took_ms"]) == (
        "defrag_finished",
        122429440,
        pytest.approx(1278.275759),
    )


def test_stray_lines_are_counted_unparsed_not_fatal():
    events, stats = parse([R.GRPC_STRAY, "", "some other program's output", R.ZAP34_APPLY])
    assert events.height == 1
    assert stats.lines == 4 and stats.unparsed == 2 and stats.by_format["empty"] == 1


def test_the_container_preamble_is_recognised_not_stray():
    """The OpenShift etcd container's shell output before etcd starts (real lines, kubelet prefix and all):
    recognised, with the ETCD_* values kept, and the "Waiting for ports" line with several kubelet times."""
    events, stats = parse(R.REAL_PREAMBLE)
    assert stats.unparsed == 0 and stats.by_format == {"shell": len(R.REAL_PREAMBLE)}
    env = dict(events.filter(pl.col("kind") == "preamble_env").select("env_name", "env_value").iter_rows())
    assert env["ETCD_STATIC_POD_VERSION"] == "3" and env["ETCD_ELECTION_TIMEOUT"] == "1000"
    assert env["ETCD_HEARTBEAT_INTERVAL"] == "100" and env["ETCD_QUOTA_BACKEND_BYTES"] == "7516192768"
    listed = events.filter(pl.col("kind") == "preamble_member")
    assert listed["local_id"].to_list() == ["30c29f1b390a6a04", "5a492cc498c39e02", "bb9c7099bd31ffff"]
    # dated by the first kubelet time of each line, the dots' times after it notwithstanding
    assert events["ts"].min().isoformat().startswith("2021-08-03T09:27:56.832369")
    assert events.filter(pl.col("kind") == "preamble").height == len(R.REAL_PREAMBLE) - 3 - len(env)


def test_cri_partial_chunks_are_joined_before_parsing():
    line = R.ZAP34_APPLY
    cut = 70
    chunks = [
        "2020-06-30T01:18:21.061000000+00:00 stderr P " + line[:cut],
        "2020-06-30T01:18:21.061000001+00:00 stderr P " + line[cut : cut * 2],
        "2020-06-30T01:18:21.061000002+00:00 stderr F " + line[cut * 2 :],
    ]
    events, stats = parse(chunks, join_partials=True)
    assert events.height == 1 and events["took_ms"][0] == pytest.approx(531.978977)
    assert events["line"][0] == 1 and stats.joined_partials == 2


def test_truncated_json_line_is_counted_not_fatal():
    events, stats = parse([R.ZAP34_APPLY[:-30]])
    assert stats.invalid_json == 1
    # what was readable before the cut is kept; the value the cut went through is not guessed at
    ev = events.row(0, named=True)
    assert ev["kind"] == "apply_slow" and ev["took_ms"] is not None and ev["response"] is None


def test_each_catalogue_reads_its_own_keys_though_entry_queries_are_built_once():
    # an entry's query is built once per catalogue (its memo) and reused for every batch: a second catalogue in
    # the same process, whose entry reads other keys into the same field, must not get the first one's query
    def catalogue(key: str):
        return parse_catalogue(
            {
                "fields": {"took_ms": "duration"},
                "messages": [
                    {
                        "kind": "apply_slow",
                        "subsystem": "apply",
                        "needle": "apply request took too long",
                        "formats": ["zap"],
                        "match": "^apply request took too long$",
                        "json": {"took_ms": key},
                    }
                ],
            }
        )

    for _ in range(2):  # the second round reads from the cache
        for key, took in (("took", 531.978977), ("expected-duration", 100.0)):
            frames, _ = parse_lines(lines_of([R.ZAP34_APPLY]), cat := catalogue(key), False)
            assert frames["apply_slow"]["took_ms"].to_list() == [pytest.approx(took)], key
            # a catalogue with its memo filled still travels (to a fleet worker), and the copy parses alike
            copy = pickle.loads(pickle.dumps(cat))
            assert copy == cat and not copy.memo
            frames, _ = parse_lines(lines_of([R.ZAP34_APPLY]), copy, False)
            assert frames["apply_slow"]["took_ms"].to_list() == [pytest.approx(took)], key
            del cat


def test_catalogue_rejects_undeclared_fields_and_bad_regex():
    bad_field = {
        "fields": {},
        "messages": [{"kind": "k", "subsystem": "s", "needle": "x", "formats": ["zap"], "match": "(?P<nope>x)"}],
    }
    with pytest.raises(ValueError, match="not declared"):
        parse_catalogue(bad_field)
    bad_regex = {
        "fields": {},
        "messages": [{"kind": "k", "subsystem": "s", "needle": "x", "formats": ["zap"], "match": "("}],
    }
    with pytest.raises(ValueError, match="bad regex"):
        parse_catalogue(bad_regex)
    for name in ("raw", "line", "_j_took_ms"):  # the parser's own columns: a field must not overwrite them
        with pytest.raises(ValueError, match="parser uses itself"):
            parse_catalogue({"fields": {name: "str"}, "messages": []})


def test_every_catalogue_entry_regex_compiles_in_polars():
    # Python's re validated them; polars uses Rust's regex engine, which must accept them too.
    frame = pl.DataFrame({"t": ["x"]})
    for rule in default_catalogue().messages:
        frame.select(pl.col("t").str.contains(rule.match))


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=120),
        max_size=20,
    )
)
def test_any_lines_parse_without_error_and_every_line_is_counted(lines):
    events, stats = parse(lines)
    assert stats.lines == len(lines)
    assert events.height <= len(lines)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_json_unescape_agrees_with_json_and_never_raises_on_damage(text):
    encoded = json.dumps(text)[1:-1]  # the content of a JSON string, as zap writes it
    frame = pl.DataFrame({"v": [encoded, text]}, schema={"v": pl.String})
    decoded = frame.select(json_unescape(pl.col("v"))).to_series()
    assert decoded[0] == text
    assert decoded[1] is not None  # any text: decoded when it is valid JSON content, else kept


# a free-text key is read by a literal cut and an anchored regex, falling back to the general pattern: the
# two readings agree on any line, whole or damaged (a key twice, a number, a string cut short, junk between)
PIECES = st.sampled_from(['"request":', '"msg":', '"', "\\", '\\"', ",", "}", "{", "[", "]", " ", "1", "x", "µ"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.one_of(PIECES, st.text(max_size=4))).map("".join), min_size=1, max_size=8))
def test_a_free_text_key_reads_as_the_general_pattern_reads_it_on_any_line(lines):
    frame = pl.DataFrame({"raw": lines}, schema={"raw": pl.String})
    general = (
        pl.col("raw")
        .str.extract_groups(_zap_key("request"))
        .struct.with_fields(v=pl.coalesce(pl.field("1"), pl.field("2")))
        .struct.field("v")
    )
    got = frame.select(
        fast=_json_string("request"),
        general=general,
        msg_fast=_json_string("msg", strings_only=True),
        msg_general=pl.col("raw").str.extract(ZAP_MSG, 1),
    )
    assert got["fast"].to_list() == got["general"].to_list()
    assert got["msg_fast"].to_list() == got["msg_general"].to_list()


# the statistics and the zap columns read each line by regexes that copy nothing; on any line they agree
# with the readings they replaced, which stripped a copy of every line (session 17)
LINE_PIECES = st.sampled_from(
    [
        "2026-01-01T00:00:00.012000000Z", "2022-07-04T06:35:26.512448+00:00", "2022-07-04T06:35:26.5+02:00",
        "2026-01-01T00:00:00Z", "2026-13-01T00:00:00Z", "2022-07-04T06:35:26+0200",
        " ", "stdout F ", '{"level":"info"}', "}", "{", "x",
        "é", "\t", "\x0b", "\x0c", "\x85", "\u00a0", "\u2003", "\u3000", "\u200b", "\x00",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.one_of(LINE_PIECES, st.text(max_size=3))).map("".join), min_size=1, max_size=8))
def test_line_readings_that_copy_nothing_agree_with_those_that_stripped_each_line(lines):
    frame = pl.DataFrame({"raw": lines}, schema={"raw": pl.String})
    raw = pl.col("raw")
    got = frame.select(
        blank=_blank(raw),
        blank_stripped=raw.str.strip_chars() == "",
        closed=_closed(raw),
        closed_stripped=raw.str.strip_chars_end().str.ends_with("}"),
    )
    assert got["blank"].to_list() == got["blank_stripped"].to_list()
    assert got["closed"].to_list() == got["closed_stripped"].to_list()


# --- every zap entry's JSON fields, read by regex off the raw line, against json.loads as the oracle ---

CATALOGUE = default_catalogue()
_META = re.compile(r"[\[\]().*+?{}|^$]")


def _literal_message(pattern: str) -> str | None:
    """The one message a catalogue regex matches when it is a plain literal (most zap entries)."""
    body = pattern.removeprefix("^").removesuffix("$")
    return None if _META.search(re.sub(r"\\.", "", body)) else re.sub(r"\\(.)", r"\1", body)


ZAP_ENTRIES = [
    (m, msg)
    for m in CATALOGUE.messages
    if "zap" in m.formats
    and m.json
    and (msg := _literal_message(m.match) or ("trace[42] range" if m.kind == "trace" else None))
]
FREE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
GO_DURATION = st.one_of(
    st.builds(
        "{}{}".format,
        st.decimals(min_value=0, max_value=10**5, places=6).map(lambda d: format(d.normalize(), "f")),
        st.sampled_from(["ns", "µs", "ms", "s"]),
    ),
    # over a minute, and what no Go duration is: read by duration_ms's other path, in the same batch
    st.builds("{}h{}m{}s".format, st.integers(0, 3), st.integers(0, 59), st.integers(0, 59)),
    st.builds("{}m{}.{}s".format, st.integers(1, 59), st.integers(0, 59), st.integers(0, 999)),
    st.sampled_from(["", "fast", "1e5ms", "5.ms", "-3s"]),
)
VALUES = {
    "duration": GO_DURATION,
    "uint": st.integers(0, 2**64 - 1),  # member IDs and indexes: above 2**53, exact or wrong
    "int": st.integers(-(2**63), 2**63 - 1),
    "hex": st.integers(0, 2**64 - 1).map("{:x}".format),
    "str": FREE_TEXT,
    "bool": st.booleans(),
    "array": st.lists(FREE_TEXT, max_size=4),
}
OTHER_KEYS = st.dictionaries(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=10).map("x-{}".format),
    st.one_of(FREE_TEXT, st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none()),
    max_size=3,
)


@st.composite
def zap_lines(draw):
    """A zap line of some catalogue entry: its keys with any values (in any order, among other keys,
    escaped as zap does or as an ASCII-only re-encoder does), and what each field must read as."""
    entry, msg = draw(st.sampled_from(ZAP_ENTRIES))
    values = {name: draw(VALUES[CATALOGUE.fields[name]]) for name in sorted(entry.json)}
    keyed = [(entry.json[name], value) for name, value in values.items() if CATALOGUE.fields[name] != "array"]
    keyed += list(draw(OTHER_KEYS).items())
    keyed = draw(st.permutations(keyed))
    # etcd writes a trace's steps last but for their count: "the line's last array" is the contract
    keyed += [(entry.json[n], v) for n, v in values.items() if CATALOGUE.fields[n] == "array"]
    obj = {"level": "warn", "ts": "2024-05-13T10:21:33.123456Z", "caller": "etcdserver/x.go:1", "msg": msg}
    obj.update(keyed)
    if any(CATALOGUE.fields[n] == "array" for n in values):
        obj["step_count"] = 3
    line = json.dumps(obj, ensure_ascii=draw(st.booleans()), separators=(",", ":"))
    if draw(st.booleans()):
        line = "2024-05-13T10:21:34.000000001Z " + line
    return entry.kind, line, values


def _expected(typ: str, value):
    if typ == "duration":
        return pl.select(duration_ms(pl.lit(value))).item()
    return value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(zap_lines(), min_size=1, max_size=6))
def test_zap_fields_read_off_the_raw_line_are_what_json_decoding_gives(lines):
    events, stats = parse([line for _, line, _ in lines])
    assert events.height == len(lines) and stats.invalid_json == 0
    for row, (kind, line, values) in zip(events.iter_rows(named=True), lines, strict=True):
        assert row["kind"] == kind, line
        for name, value in values.items():
            typ = CATALOGUE.fields[name]
            got = json.loads(row[name]) if typ == "array" else row[name]
            assert got == _expected(typ, value), (name, line)


# --- every text-format entry of the catalogue, on messages its own regex generates ---

# entries matched by level are pinned on real lines above; the wrappers below write warn and info lines
TEXT_ENTRIES = [m for m in CATALOGUE.messages if {"capnslog", "raft", "text"} & set(m.formats) and not m.levels]
PRINTABLE_ASCII = st.characters(codec="ascii", categories=["L", "N", "P", "S", "Zs"])
WRAP = {
    "capnslog": "2024-05-13 10:21:33.123456 W | etcdserver: {}",
    "raft": "raft2024/05/13 10:21:33 INFO: {}",
    "text": "May 13 10:21:33 master-0 etcd[1224]: {}",
}


def _first_entry(text: str, fmt: str):
    """What the catalogue says a message is, by its documented rule, with Python's ``re`` as the oracle:
    the first entry in file order whose needle the text holds, whose formats include the line's and whose
    regex matches."""
    for m in TEXT_ENTRIES:
        if fmt in m.formats and m.needle in text and (found := re.search(m.match, text)):
            return m, found.groupdict()
    return None, {}


def _typed_oracle(typ: str, text: str | None):
    if text is None:
        return None
    if typ == "duration":
        return pl.select(duration_ms(pl.lit(text))).item()
    value = text.strip()
    if typ in ("uint", "int"):
        low, high = (0, 2**64) if typ == "uint" else (-(2**63), 2**63)
        return int(value) if re.fullmatch(r"[+-]?\d+", value) and low <= int(value) < high else None
    return {"hex": value.lower(), "bool": value.lower() == "true"}.get(typ, text)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_message_matching_an_entrys_regex_parses_to_the_first_such_entry_with_its_groups(data):
    entry = data.draw(st.sampled_from(TEXT_ENTRIES))
    text = data.draw(st.from_regex(entry.match, fullmatch=True, alphabet=PRINTABLE_ASCII))
    fmt = data.draw(st.sampled_from(sorted({"capnslog", "raft", "text"} & set(entry.formats))))
    assert entry.needle in text  # the catalogue's contract: every match holds the needle
    expected, groups = _first_entry(text, fmt)
    events, _ = parse([WRAP[fmt].format(text)])
    assert events.height == (expected is not None)
    if expected is not None:
        row = events.row(0, named=True)
        assert row["kind"] == expected.kind
        for name, value in groups.items():
            assert row[name] == _typed_oracle(CATALOGUE.fields[name], value), (name, text)


@pytest.mark.parametrize("line", [R.ZAP35_FATAL, R.ZAP34_FATAL, R.CAPNS34_FATAL], ids=["zap35", "zap34", "capnslog34"])
def test_the_error_etcd_stopped_on_is_an_event_whatever_its_message(line):
    ev = one(line)
    assert (ev["kind"], ev["level"]) == ("fatal_error", "fatal")
    assert ev["error"] == "listen tcp 127.0.0.1:23791: bind: address already in use"


def test_a_fatal_line_with_a_catalogued_message_stays_that_message():
    # entries matched by level come last: they take only the lines no other entry claims
    line = R.ZAP35_FATAL.replace('"msg":"discovery failed"', '"msg":"slow fdatasync","took":"1.5s"')
    assert one(line)["kind"] == "wal_fsync_slow"


def test_a_go_runtime_panic_is_the_fatal_error_and_its_goroutine_dump_is_stray():
    stamp = "2026-11-29T05:19:51.463441000Z "
    events, stats = parse([stamp + line for line in [R.GO_PANIC, *R.GO_PANIC_DUMP]])
    (ev,) = events.rows(named=True)
    assert (ev["kind"], ev["fmt"], ev["level"]) == ("fatal_error", "go", "panic")
    assert ev["error"] == R.GO_PANIC
    assert ev["ts"] == datetime(2026, 11, 29, 5, 19, 51, 463441, UTC)
    assert stats.by_format["go"] == 1 and stats.unparsed == 3
