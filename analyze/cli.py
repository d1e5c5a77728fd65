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
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

try:  # typer 0.29 and later carry their own copy of click; older ones use click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_errors

from etcd_perf.allocator import return_big_blocks
from etcd_perf.analyze import api
from etcd_perf.analyze.api import Options
from etcd_perf.analyze.model import TOOL_VERSION
from etcd_perf.analyze.outputs import COMPARE_NAMES, HISTORY_NAMES, analysis_id, check_output_dir, write_outputs
from etcd_perf.analyze.progress import Progress
from etcd_perf.analyze.redact import Redactor
from etcd_perf.analyze.render import render_json, render_markdown, render_text
from etcd_perf.gather.archive import DEFAULT_MAX_BYTES, DEFAULT_MAX_MEMBERS
from etcd_perf.gather.bundle import Bundle
from etcd_perf.gather.errors import BundleError

EXIT_UNUSABLE = 3

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
    counts = sorted((kind, f.height) for kind, f in bundle.kind_events.items() if f.height)
    print("  events: " + ", ".join(f"{k}={n}" for k, n in counts), file=err)
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
    options = Options(duration, since, until, thresholds, redact, max_bytes, max_members)
    rules = options.rules()
    if output is not None:
        check_output_dir(output)  # before the analysis, not after it
    timings: dict[str, float] = {}
    progress = Progress.for_terminal(quiet=fmt is OutputFormat.json)
    try:
        progress.phase("opening the bundle")
        loaded, label = api.load(bundle, options, progress.bytes, timings)
        progress.phase("analysing")
        result = api.analyze_loaded(loaded, label, options, rules, timings)
        out_dir = (
            output if output is not None else Path(".work") / "etcd-analysis" / analysis_id(result.label, result.data)
        )
        result.write(out_dir, export_html)
    finally:
        progress.close()
    analysis = result.data
    if verbose:
        _verbose_stats(loaded, timings, result.redactor)
    if fmt is OutputFormat.json:
        sys.stdout.buffer.write(render_json(analysis))
    elif fmt is OutputFormat.markdown:
        sys.stdout.write(render_markdown(analysis))
    else:
        sys.stdout.write(render_text(analysis, "summary.txt.j2"))
        sys.stdout.write(f"\nReports: {out_dir}\n")
    sys.stdout.flush()
    return result.exit_code


class CompareFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"
    junit = "junit"


@app.command()
def compare(
    baseline: Annotated[
        Path,
        typer.Argument(
            help="the 'before': a bundle (directory or archive), or an earlier analysis.json or its directory"
        ),
    ],
    candidate: Annotated[Path, typer.Argument(help="the 'after', the same way")],
    duration: Annotated[str, typer.Option(help="minutes before each bundle's collection to analyse, or 'all'")] = "15",
    since: Annotated[str | None, typer.Option(help="window start for both bundles (ISO 8601)")] = None,
    until: Annotated[str | None, typer.Option(help="window end for both bundles (ISO 8601)")] = None,
    export_html: Annotated[bool, typer.Option("--export-html", help="also write compare.html, side by side")] = False,
    output: Annotated[Path | None, typer.Option(help="output directory (default .work/etcd-compare/<ids>)")] = None,
    fmt: Annotated[CompareFormat, typer.Option("--format", help="what stdout carries")] = CompareFormat.text,
    thresholds: Annotated[Path | None, typer.Option(help="YAML file overriding rule thresholds by rule id")] = None,
    max_bytes: Annotated[int, typer.Option(help="cap on bytes unpacked from an archive")] = DEFAULT_MAX_BYTES,
    max_members: Annotated[int, typer.Option(help="cap on files unpacked from an archive")] = DEFAULT_MAX_MEMBERS,
    redact: Annotated[
        bool, typer.Option("--redact", help="replace host names, IPs, namespaces and keys by stable pseudonyms")
    ] = False,
) -> int:
    """Compare two bundles (or analyses) of one cluster: exit 0 no regression, 1 a regression, 2 a regression
    into critical, 3 could not compare."""
    from etcd_perf.analyze.compare import report

    options = Options(duration, since, until, thresholds, redact, max_bytes, max_members)
    if output is not None:
        check_output_dir(output, COMPARE_NAMES)
    result = api.compare_paths(baseline, candidate, options)
    c = result.data
    if output is None:
        ids = [
            analysis_id(s["path"], {"bundle": {"collected_at": s["collected_at"]}})
            for s in (c["baseline"], c["candidate"])
        ]
        output = Path(".work") / "etcd-compare" / f"{ids[0]}-vs-{ids[1]}"
    result.write(output, export_html)
    if fmt is CompareFormat.json:
        sys.stdout.buffer.write(report.render_json(c))
    elif fmt is CompareFormat.markdown:
        sys.stdout.write(report.render_markdown(c))
    elif fmt is CompareFormat.junit:
        sys.stdout.buffer.write(report.render_junit(c))
    else:
        sys.stdout.write(report.render_text(c))
        sys.stdout.write(f"\nReports: {output}\n")
    sys.stdout.flush()
    return result.exit_code


@app.command()
def ingest(
    bundles: Annotated[list[Path] | None, typer.Argument(help="bundles (directories or archives)")] = None,
    store: Annotated[Path, typer.Option(help="the Parquet store to add them to")] = Path(".work/etcd-store"),
    from_list: Annotated[Path | None, typer.Option(help="a file with one bundle path per line")] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="address of an existing Dask scheduler (default: a LocalCluster here)")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="LocalCluster worker processes (default: one per core)")] = None,
    duration: Annotated[str, typer.Option(help="minutes before each bundle's collection to analyse, or 'all'")] = "15",
    thresholds: Annotated[Path | None, typer.Option(help="YAML file overriding rule thresholds by rule id")] = None,
    max_bytes: Annotated[int, typer.Option(help="cap on bytes unpacked from an archive")] = DEFAULT_MAX_BYTES,
    max_members: Annotated[int, typer.Option(help="cap on files unpacked from an archive")] = DEFAULT_MAX_MEMBERS,
) -> int:
    """Analyse many bundles in parallel on Dask distributed into a Parquet store (idempotent); exit 0 when
    every bundle was analysed or already stored, 1 when some could not be analysed (stored as failed)."""
    from etcd_perf.analyze.fleet.ingest import bundle_paths
    from etcd_perf.analyze.fleet.ingest import ingest as run_ingest

    paths = bundle_paths(bundles or [], from_list)
    if not paths:
        raise BundleError("ingest: no bundles given (arguments or --from-list)")
    options = Options(duration=duration, thresholds=thresholds, max_bytes=max_bytes, max_members=max_members)
    options.rules()
    summary = run_ingest(paths, store, options, scheduler, workers, progress=sys.stderr.isatty())
    for r in summary.results:
        if r["status"] == "failed":
            print(f"failed: {r['path']}: {r['error']}", file=sys.stderr)
    print(summary.line())
    return 1 if summary.failed else 0


class HistoryFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


@app.command()
def history(
    store: Annotated[Path, typer.Option(help="the Parquet store ingest wrote")] = Path(".work/etcd-store"),
    cluster: Annotated[str | None, typer.Option(help="one cluster: its OpenShift or etcd cluster ID, or name")] = None,
    fmt: Annotated[HistoryFormat, typer.Option("--format", help="what stdout carries")] = HistoryFormat.text,
    export_html: Annotated[bool, typer.Option("--export-html", help="also write history.html")] = False,
    output: Annotated[Path | None, typer.Option(help="output directory (default .work/etcd-history/<cluster>)")] = None,
) -> int:
    """A cluster's etcd over its bundles: KPI series and their change points, capacity forecast, elections
    and rollouts per day, recurring findings."""
    from etcd_perf.analyze.fleet import report as history_report
    from etcd_perf.analyze.fleet.history import history as build_history

    if output is not None:
        check_output_dir(output, HISTORY_NAMES)
    h = build_history(store, cluster)
    files = {
        "history.json": history_report.render_json(h),
        "history.txt": history_report.render_text(h).encode(),
        "history.md": history_report.render_markdown(h).encode(),
    }
    if export_html:
        files["history.html"] = history_report.render_html(h).encode()
    output = output or Path(".work") / "etcd-history" / (cluster or "all")
    write_outputs(output, files, HISTORY_NAMES)
    if fmt is HistoryFormat.json:
        sys.stdout.buffer.write(files["history.json"])
    elif fmt is HistoryFormat.markdown:
        sys.stdout.buffer.write(files["history.md"])
    else:
        sys.stdout.buffer.write(files["history.txt"])
        sys.stdout.write(f"Reports: {output}\n")
    sys.stdout.flush()
    return 0


def _fail(message: str) -> None:
    """The one line a user reads: a newline inside a message (a file name, a key from their YAML) is shown
    as ``\\n``, never as a second line."""
    print("etcd-perf: " + message.replace("\r", "\\r").replace("\n", "\\n"), file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    return_big_blocks()  # the process is ours: freed log reads go back to the system (etcd_perf/allocator.py)
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
