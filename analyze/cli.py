"""``etcd-perf``: the command line.

Exit codes are part of the interface (0 healthy, 1 warnings, 2 critical, 3 could not analyse),
so click's own usage-error code 2 is caught and turned into 3, and no traceback ever reaches
the user: every failure is one line saying what and where.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

try:  # typer 0.29 and later carry their own copy of click; older ones use click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_errors

from analyze.model import TOOL_VERSION, build_analysis
from analyze.outputs import analysis_id, check_output_dir, detail_areas, detail_rows, render_all, write_outputs
from analyze.progress import Progress
from analyze.redact import REDACTED_SOURCE, Redactor
from analyze.render import render_json, render_markdown, render_text
from analyze.rules import apply_overrides, default_rules
from analyze.window import bundle_window
from gather.archive import DEFAULT_MAX_BYTES, DEFAULT_MAX_MEMBERS, open_bundle
from gather.bundle import Bundle, Prefetch, load_bundle
from gather.errors import BundleError

EXIT_UNUSABLE = 3
SAMPLE_LABEL = "sample"

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Offline etcd performance analysis of OpenShift must-gathers and etcd-perf bundles.",
    pretty_exceptions_enable=False,
)


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


def _show_version(value: bool) -> None:
    if value:  # what a bug report needs: this tool's version and the engine's
        print(f"etcd-perf {TOOL_VERSION} (polars {pl.__version__}, Python {platform.python_version()})")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """Offline etcd performance analysis of OpenShift must-gathers and etcd-perf bundles."""


def sample_bundle() -> Path:
    """The sample bundle shipped with the package (also inside an installed wheel)."""
    return Path(str(resources.files("etcd_perf_sample")))


def _verbose_stats(bundle: Bundle, timings: dict[str, float], redactor: Redactor | None) -> None:
    err = sys.stderr

    def name(path: str) -> str:
        return redactor.text(path) if redactor is not None else path

    print("etcd-perf: parse statistics", file=err)
    for f in bundle.log_files:
        fmts = ", ".join(f"{k}={v}" for k, v in sorted((f.stats.by_format or {}).items()))
        print(f"  {name(f.file)}: {f.stats.lines} lines, {f.stats.unparsed} unparsed ({fmts})", file=err)
    for m in bundle.metrics_files:
        print(f"  {name(m.file)}: {m.kind}, {m.samples} samples in {m.series} series, {m.unparsed} unparsed", file=err)
    if bundle.skipped:
        print(f"  archive: {bundle.skipped} member(s) not unpacked (they cannot hold etcd data)", file=err)
    counts = bundle.events.group_by("kind").len().sort("kind")
    print("  events: " + ", ".join(f"{k}={n}" for k, n in counts.iter_rows()), file=err)
    print("  time: " + ", ".join(f"{k} {v:.3f}s" for k, v in timings.items()), file=err)


@app.command()
def analyze(
    bundle: Annotated[
        Path | None,
        typer.Argument(help="must-gather or collect bundle: a directory or .tar.gz/.tgz/.tar/.tar.xz/.zip"),
    ] = None,
    duration: Annotated[str, typer.Option(help="minutes before collection time to analyse, or 'all'")] = "15",
    since: Annotated[str | None, typer.Option(help="window start (ISO 8601, UTC if no zone)")] = None,
    until: Annotated[str | None, typer.Option(help="window end (ISO 8601); default: collection time")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="parse statistics on stderr")] = False,
    export_html: Annotated[bool, typer.Option("--export-html", help="also write performance_report.html")] = False,
    output: Annotated[Path | None, typer.Option(help="output directory (default .work/etcd-analysis/<id>)")] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="what stdout carries")] = OutputFormat.text,
    thresholds: Annotated[Path | None, typer.Option(help="YAML file overriding rule thresholds by rule id")] = None,
    max_bytes: Annotated[int, typer.Option(help="cap on bytes unpacked from an archive")] = DEFAULT_MAX_BYTES,
    max_members: Annotated[int, typer.Option(help="cap on files unpacked from an archive")] = DEFAULT_MAX_MEMBERS,
    redact: Annotated[
        bool, typer.Option("--redact", help="replace host names, IPs, namespaces and keys by stable pseudonyms")
    ] = False,
) -> int:
    """Analyse a bundle offline and write the executive report; exit 0/1/2 by severity, 3 if unusable."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    rules = default_rules()
    if thresholds is not None:
        rules = apply_overrides(rules, thresholds)
    if output is not None:
        check_output_dir(output)  # before the analysis, not after it
    source_path = bundle if bundle is not None else sample_bundle()
    label = str(bundle) if bundle is not None else SAMPLE_LABEL
    progress = Progress.for_terminal(quiet=fmt is OutputFormat.json)
    try:
        progress.phase("opening the bundle")
        # an archive's logs parse while the rest of it unpacks
        with (
            Prefetch() as prefetch,
            open_bundle(source_path, max_bytes=max_bytes, max_members=max_members, on_file=prefetch.offer) as opened,
        ):
            timings["open"] = time.perf_counter() - t0
            loaded = load_bundle(opened, label, progress=progress.bytes, prefetch=prefetch)
        timings["parse"] = time.perf_counter() - t0 - timings["open"]
        progress.phase("analysing")
        code, out_dir, analysis = _analyse_and_write(
            loaded, duration, since, until, rules, export_html, output, label, timings, redact
        )
    finally:
        progress.close()
    if verbose:
        _verbose_stats(loaded, timings, Redactor.for_bundle(loaded) if redact else None)
    if fmt is OutputFormat.json:
        sys.stdout.buffer.write(render_json(analysis))
    elif fmt is OutputFormat.markdown:
        sys.stdout.write(render_markdown(analysis))
    else:
        sys.stdout.write(render_text(analysis, "summary.txt.j2"))
        sys.stdout.write(f"\nReports: {out_dir}\n")
    sys.stdout.flush()
    return code


def _etcd_lines(bundle: Bundle) -> int:
    """Log lines in a format etcd writes (zap, capnslog, raft, journald): not blank, not stray."""
    return sum(
        n for f in bundle.log_files for fmt, n in (f.stats.by_format or {}).items() if fmt not in ("other", "empty")
    )


def _analyse_and_write(
    loaded: Bundle,
    duration: str,
    since: str | None,
    until: str | None,
    rules: tuple,
    export_html: bool,
    output: Path | None,
    label: str,
    timings: dict[str, float],
    redact: bool,
) -> tuple[int, Path, dict]:
    if not _etcd_lines(loaded) and not loaded.info.members and not loaded.info.status:
        # an empty or all-garbage bundle must not come out HEALTHY
        if loaded.damaged:
            raise BundleError(f"{label}: the archive is damaged and nothing readable in it holds etcd data")
        raise BundleError(
            f"{label}: no etcd data found (etcd_info/ has no members or status, and no etcd pod log has an etcd line)"
        )
    window = bundle_window(loaded, duration, since, until)
    t1 = time.perf_counter()
    areas = detail_areas(loaded, window)
    analysis = build_analysis(loaded, window, rules, quote_also=detail_rows(areas))
    timings["analyse"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    redactor = Redactor.for_bundle(loaded) if redact else None
    if redactor is not None:
        analysis, label = redactor.analysis(analysis), REDACTED_SOURCE
    files = render_all(loaded, window, analysis, export_html, redactor, areas)
    out_dir = output if output is not None else Path(".work") / "etcd-analysis" / analysis_id(label, analysis)
    write_outputs(out_dir, files)
    timings["render"] = time.perf_counter() - t2
    return int(analysis["exit_code"]), out_dir, analysis


def _fail(message: str) -> None:
    """The one line a user reads: a newline inside a message (a file name, a key from their YAML) is shown
    as ``\\n``, never as a second line."""
    print("etcd-perf: " + message.replace("\r", "\\r").replace("\n", "\\n"), file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args:  # the help, on stderr, and the "could not analyse" code, whichever click is installed
        with contextlib.redirect_stdout(sys.stderr):
            app(args=["--help"], prog_name="etcd-perf", standalone_mode=False)
        sys.exit(EXIT_UNUSABLE)
    try:
        result = app(args=args, prog_name="etcd-perf", standalone_mode=False)
    except click_errors.UsageError as exc:
        _fail(exc.format_message())
        sys.exit(EXIT_UNUSABLE)
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted")
        sys.exit(EXIT_UNUSABLE)
    except BundleError as exc:
        _fail(str(exc))
        sys.exit(EXIT_UNUSABLE)
    except click_errors.ClickException as exc:
        _fail(exc.format_message())
        sys.exit(EXIT_UNUSABLE)
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        _fail(f"{exc.strerror or exc}{where}")
        sys.exit(EXIT_UNUSABLE)
    except Exception as exc:  # never a traceback: one line, exit 3 (developers: ETCD_PERF_TRACEBACK=1)
        if os.environ.get("ETCD_PERF_TRACEBACK"):
            raise
        _fail(f"internal error, please report it: {type(exc).__name__}: {exc}")
        sys.exit(EXIT_UNUSABLE)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
