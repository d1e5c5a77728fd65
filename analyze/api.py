"""The library: one function analyses a bundle and returns the analysis; the CLI, compare and the batch
all call it, so a figure means the same wherever it is read.

    from etcd_perf.analyze.api import Options, analyze_bundle
    result = analyze_bundle("must-gather.tar.gz", Options(duration="60"))
    result.data["summary"]["headline"], result.exit_code
    result.write("out/", export_html=True)   # the same files `etcd-perf analyze` writes

An earlier analysis (its output directory or its ``analysis.json``) is read back with ``load_analysis``,
so a comparison needs no second pass over a bundle that was analysed last week.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import orjson

from etcd_perf.analyze import metric_measures
from etcd_perf.analyze.model import build_analysis
from etcd_perf.analyze.outputs import COMPARE_NAMES, DetailAreas, detail_areas, detail_rows, render_all, write_outputs
from etcd_perf.analyze.redact import REDACTED_SOURCE, Redactor, names_of_analysis, names_of_bundle
from etcd_perf.analyze.rules import Rule, apply_overrides, default_rules
from etcd_perf.analyze.window import Window, bundle_window
from etcd_perf.gather.archive import DEFAULT_MAX_BYTES, DEFAULT_MAX_MEMBERS, open_bundle
from etcd_perf.gather.bundle import Bundle, Prefetch, load_bundle
from etcd_perf.gather.errors import BundleError

ANALYSIS_SCHEMA = "etcd-perf/analysis/v1"
ANALYSIS_FILE = "analysis.json"
SAMPLE_LABEL = "sample"
MAX_ANALYSIS_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Options:
    """What ``etcd-perf analyze`` takes besides the bundle; the defaults are the CLI's."""

    duration: str = "15"
    since: str | None = None
    until: str | None = None
    thresholds: Path | None = None
    redact: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS

    def rules(self) -> tuple[Rule, ...]:
        rules = default_rules()
        return apply_overrides(rules, self.thresholds) if self.thresholds is not None else rules


@dataclass
class Analysis:
    """One bundle's analysis: ``data`` is ``analysis.json`` (redacted under ``Options.redact``); the bundle
    and window are kept so the reports can be rendered from the same model."""

    data: dict
    label: str
    bundle: Bundle | None = None
    window: Window | None = None
    redactor: Redactor | None = None
    areas: DetailAreas | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return int(self.data["exit_code"])

    def write(self, directory: Path | str, export_html: bool = False) -> Path:
        """Every report file into ``directory``, all at once or not at all."""
        if self.bundle is None or self.window is None:
            raise BundleError(f"{self.label}: an analysis read back from analysis.json cannot render its reports again")
        t = time.perf_counter()
        files = render_all(self.bundle, self.window, self.data, export_html, self.redactor, self.areas)
        write_outputs(Path(directory), files)
        self.timings["render"] = self.timings.get("render", 0.0) + time.perf_counter() - t
        return Path(directory)


def sample_bundle() -> Path:
    """The sample bundle shipped with the package (also inside an installed wheel)."""
    return Path(str(resources.files("etcd_perf.sample")))


def _etcd_lines(bundle: Bundle) -> int:
    """Log lines in a format etcd writes (zap, capnslog, raft, journald): not blank, not stray."""
    return sum(
        n for f in bundle.log_files for fmt, n in (f.stats.by_format or {}).items() if fmt not in ("other", "empty")
    )


def load(
    path: Path | str | None,
    options: Options = Options(),
    progress: Callable[[int], None] | None = None,
    timings: dict[str, float] | None = None,
) -> tuple[Bundle, str]:
    """The bundle at ``path`` (None: the sample), unpacked and parsed; an archive's logs parse while the
    rest of it unpacks."""
    timings = timings if timings is not None else {}
    t0 = time.perf_counter()
    source = Path(path) if path is not None else sample_bundle()
    label = str(path) if path is not None else SAMPLE_LABEL
    with (
        Prefetch() as prefetch,
        open_bundle(
            source, max_bytes=options.max_bytes, max_members=options.max_members, on_file=prefetch.offer
        ) as opened,
    ):
        timings["open"] = time.perf_counter() - t0
        loaded = load_bundle(
            opened, label, progress=progress, prefetch=prefetch, metric_families=metric_measures.FAMILIES
        )
    timings["parse"] = time.perf_counter() - t0 - timings["open"]
    return loaded, label


def analyze_loaded(
    loaded: Bundle,
    label: str,
    options: Options = Options(),
    rules: tuple[Rule, ...] | None = None,
    timings: dict[str, float] | None = None,
) -> Analysis:
    """The analysis of a bundle already loaded (``load``)."""
    timings = timings if timings is not None else {}
    if not _etcd_lines(loaded) and not loaded.info.members and not loaded.info.status:
        # an empty or all-garbage bundle must not come out HEALTHY
        if loaded.damaged:
            raise BundleError(f"{label}: the archive is damaged and nothing readable in it holds etcd data")
        raise BundleError(
            f"{label}: no etcd data found (etcd_info/ has no members or status, and no etcd pod log has an etcd line)"
        )
    window = bundle_window(loaded, options.duration, options.since, options.until)
    t1 = time.perf_counter()
    areas = detail_areas(loaded, window)
    data = build_analysis(
        loaded, window, rules if rules is not None else options.rules(), quote_also=detail_rows(areas)
    )
    timings["analyse"] = time.perf_counter() - t1
    redactor = Redactor.for_bundle(loaded) if options.redact else None
    if redactor is not None:
        data, label = redactor.analysis(data), REDACTED_SOURCE
    return Analysis(data, label, loaded, window, redactor, areas, timings)


def analyze_bundle(
    path: Path | str | None,
    options: Options = Options(),
    progress: Callable[[int], None] | None = None,
) -> Analysis:
    """Analyse the bundle at ``path`` (a directory or an archive; None: the sample) offline.

    Raises ``BundleError`` (one line: what and where) when nothing in it can be analysed."""
    rules = options.rules()  # a bad thresholds file fails before the bundle is read
    timings: dict[str, float] = {}
    loaded, label = load(path, options, progress, timings)
    return analyze_loaded(loaded, label, options, rules, timings)


def load_analysis(path: Path | str) -> Analysis:
    """An earlier analysis: its output directory or its ``analysis.json``."""
    p = Path(path)
    file = p / ANALYSIS_FILE if p.is_dir() else p
    if not file.is_file():
        raise BundleError(f"{path}: no {ANALYSIS_FILE} in it")
    if file.stat().st_size > MAX_ANALYSIS_BYTES:
        raise BundleError(f"{file}: too large for an analysis.json ({file.stat().st_size} bytes)")
    try:
        data = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise BundleError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != ANALYSIS_SCHEMA:
        raise BundleError(f"{file}: not an etcd-perf analysis (schema is not {ANALYSIS_SCHEMA})")
    return Analysis(data, str(path))


def is_analysis(path: Path | str) -> bool:
    """Whether ``path`` is an earlier analysis rather than a bundle: an ``analysis.json``, or a directory
    holding one and no etcd data of its own."""
    p = Path(path)
    if p.is_file():
        return p.name.endswith(".json")
    return p.is_dir() and (p / ANALYSIS_FILE).is_file() and not (p / "etcd_info").exists()


@dataclass
class Comparison:
    """Two analyses compared (``etcd-perf/compare/v1``); the two analyses kept for the side-by-side charts."""

    data: dict
    baseline: dict
    candidate: dict

    @property
    def exit_code(self) -> int:
        return int(self.data["exit_code"])

    def files(self, export_html: bool = False) -> dict[str, bytes]:
        from etcd_perf.analyze.compare import report

        files = {
            "compare.json": report.render_json(self.data),
            "compare.txt": report.render_text(self.data).encode(),
            "compare.md": report.render_markdown(self.data).encode(),
            "compare.junit.xml": report.render_junit(self.data),
        }
        if export_html:
            files["compare.html"] = report.render_html(self.data, self.baseline, self.candidate).encode()
        return files

    def write(self, directory: Path | str, export_html: bool = False) -> Path:
        write_outputs(Path(directory), self.files(export_html), COMPARE_NAMES)
        return Path(directory)


def analysis_of(path: Path | str, options: Options = Options()) -> Analysis:
    """A side of a comparison: an earlier analysis as it is, or a bundle analysed now (never redacted here:
    compare redacts both sides with one set of names)."""
    if is_analysis(path):
        return load_analysis(path)
    return analyze_bundle(path, replace(options, redact=False))


def compare_paths(
    baseline: Path | str,
    candidate: Path | str,
    options: Options = Options(),
) -> Comparison:
    """Compare two bundles or earlier analyses of one cluster: what regressed, what improved."""
    from etcd_perf.analyze.compare.engine import compare

    options.rules()  # a bad thresholds file fails before either bundle is read
    sides = [analysis_of(p, options) for p in (baseline, candidate)]
    labels = [str(baseline), str(candidate)]
    datas = [s.data for s in sides]
    if options.redact:
        names: dict[str, str] = {}
        for s in sides:
            names.update(names_of_bundle(s.bundle) if s.bundle is not None else names_of_analysis(s.data))
        redactor = Redactor(names)
        datas = [redactor.analysis(d) for d in datas]
        labels = [f"{REDACTED_SOURCE} (baseline)", f"{REDACTED_SOURCE} (candidate)"]
    return Comparison(compare(datas[0], datas[1], labels[0], labels[1]), datas[0], datas[1])
