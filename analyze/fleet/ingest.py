"""``etcd-perf ingest``: many bundles analysed in parallel on Dask distributed, into the Parquet store.

Without a scheduler address a LocalCluster of worker processes runs on this machine (one per core by
default); with one, the batch runs on that existing cluster (``dask scheduler`` / ``dask worker`` on a
few machines, or the Dask operator on Kubernetes). Each bundle is one task that analyses it with
``analyze_bundle`` and writes its rows itself (``store.write_bundle``: atomic, idempotent), so nothing
but a small summary travels back to the client. Dask reruns the task of a worker that died; a bundle
already stored with the same content hash and tool version is skipped; a bundle that cannot be analysed
is stored as ``failed`` with its one-line error and never stops the batch.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from etcd_perf.allocator import return_big_blocks
from etcd_perf.analyze.api import Options, analyze_bundle
from etcd_perf.analyze.fleet import store as st
from etcd_perf.gather.errors import BundleError

FLEET_HINT = "ingest needs Dask distributed: pip install 'etcd-perf[fleet]'"


def ingest_one(path: str, store: str, options: Options) -> dict:
    """One bundle into the store (runs on a Dask worker): analysed, skipped or failed, never raising for a
    bad bundle."""
    return_big_blocks()  # a worker process is ours (etcd_perf/allocator.py)
    store_path = Path(store)
    started = time.perf_counter()
    try:
        if not Path(path).exists():
            raise FileNotFoundError(2, "no such file or directory", path)
        digest = st.content_hash(Path(path))
    except OSError as exc:
        digest = "unreadable-" + hashlib.sha256(path.encode()).hexdigest()
        bid = st.bundle_id(digest)
        error = f"{path}: {exc.strerror or exc}"
        if not st.is_stored(store_path, bid):
            st.write_bundle(store_path, st.failed_rows(bid, digest, path, error))
        return {"path": path, "bundle_id": bid, "status": "failed", "error": error, "seconds": 0.0}
    bid = st.bundle_id(digest)
    if st.is_stored(store_path, bid):
        return {"path": path, "bundle_id": bid, "status": "skipped", "seconds": time.perf_counter() - started}
    try:
        result = analyze_bundle(path, options)
        rows = st.rows_of(result.data, bid, digest, path)
        status, error = "analysed", None
    except BundleError as exc:
        rows, status, error = st.failed_rows(bid, digest, path, str(exc)), "failed", str(exc)
    except (OSError, ValueError, RuntimeError, MemoryError) as exc:  # one bad bundle never stops the batch
        error = f"{path}: {type(exc).__name__}: {exc}".replace("\n", "\\n")
        rows, status = st.failed_rows(bid, digest, path, error), "failed"
    st.write_bundle(store_path, rows)
    return {"path": path, "bundle_id": bid, "status": status, "error": error, "seconds": time.perf_counter() - started}


@dataclass
class Summary:
    analysed: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    results: list[dict] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.analysed} analysed, {self.skipped} skipped, {self.failed} failed in {self.seconds:.1f} s"
            f" ({len(self.results)} bundle(s))"
        )


def bundle_paths(paths: Iterable[Path], from_list: Path | None) -> list[str]:
    """The bundles of a batch, in order, each once: the arguments, then the lines of ``--from-list``."""
    out = [str(p) for p in paths]
    if from_list is not None:
        try:
            lines = from_list.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            raise BundleError(f"--from-list {from_list}: {exc.strerror or exc}") from None
        out += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    seen: set[str] = set()
    return [p for p in out if not (p in seen or seen.add(p))]


def ingest(
    paths: list[str],
    store: Path,
    options: Options = Options(),  # noqa: B008
    scheduler: str | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> Summary:
    """Ingest ``paths`` into ``store`` on Dask: an existing cluster at ``scheduler``, else a LocalCluster of
    ``workers`` processes (default: one per core)."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise BundleError(FLEET_HINT) from None

    store.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    summary = Summary()
    cluster = None
    if scheduler is None:
        n = workers or os.cpu_count() or 1
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
        client = Client(cluster)
    else:
        client = Client(scheduler, timeout="30s")
    try:
        futures = [
            client.submit(ingest_one, p, str(store.resolve()), options, key=f"ingest-{i}-{p}", retries=3, pure=False)
            for i, p in enumerate(paths)
        ]
        for done, future in enumerate(as_completed(futures), 1):
            result = future.result()
            summary.results.append(result)
            setattr(summary, result["status"], getattr(summary, result["status"]) + 1)
            if progress:
                print(
                    f"\r\x1b[Kingest: {done}/{len(paths)} ({summary.analysed} analysed, {summary.skipped} skipped, "
                    f"{summary.failed} failed)",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
        if progress:
            print(file=sys.stderr)
        # every task has ended: what a worker killed mid-write left is debris
        st.remove_debris(store, [r["bundle_id"] for r in summary.results if r.get("bundle_id")])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    summary.results.sort(key=lambda r: r["path"])
    summary.seconds = time.perf_counter() - started
    return summary
