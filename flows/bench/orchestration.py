"""`madoguchi bench-prefect`: what the orchestration costs, measured on the real stack.

On a fresh data root it starts what `madoguchi server up` starts (server, worker, watcher), then:
1. intake latency: drops generated scans into the inbox one at a time, `interval` seconds apart,
   as a counter would, and times each from its drop to its document row in the database;
2. batch throughput: the `batch` deployment over a folder of generated scans, against the same
   reading in one plain process (no Prefect) on another data root; the difference is Prefect's
   share (scheduling, worker start, model load in the flow-run process, task bookkeeping, report).
Writes prefect.json and prefect.md into the output folder.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from datetime import UTC
from pathlib import Path

from flows.bench.evaluate import EVAL_SEED
from flows.bench.scale import markdown as scale_markdown
from flows.intake import Folders
from flows.pipeline import Reader
from flows.service import server
from flows.service.drop import drop
from samples.generator.draw import generate
from schemas.db import Store
from schemas.settings import Settings
from schemas.templates import load_templates

INTAKE_SEED = EVAL_SEED + 1  # generated documents only timed, never used to judge accuracy
BATCH_SEED = EVAL_SEED + 2
SCALE_SEED = EVAL_SEED + 5


def _scans(count: int, seed: int, folder: Path) -> list[Path]:
    """`count` generated scans of every form in turn, without their truth files."""
    templates = list(load_templates().values())
    per_form = -(-count // len(templates))
    paths = [p for t in templates for p in generate(t, per_form, seed, folder, ("jpg",))]
    for p in [*folder.glob("*.truth.json"), *paths[count:]]:
        p.unlink()
    return paths[:count]


def _pctl(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def intake_latency(settings: Settings, scans: list[Path], interval: float, timeout: float,
                   idle_before: float = 0.0) -> dict:
    """Drop `scans` into the inbox `interval` seconds apart, the first after `idle_before` seconds of
    nothing, and time each from its drop to its document's row."""
    store = Store(settings.db_url)
    folders = Folders.from_settings(settings)
    dropped: dict[str, float] = {}
    time.sleep(idle_before)
    for i, p in enumerate(scans):
        if i:
            time.sleep(interval)
        d = drop([p], folders.inbox)[0]
        dropped[d.sha256] = time.time()
    deadline = time.monotonic() + timeout
    seen: dict[str, float] = {}
    while len(seen) < len(dropped) and time.monotonic() < deadline:
        for sha in dropped.keys() - seen.keys():
            doc = store.find(sha)
            if doc is not None:
                seen[sha] = doc.created_at.replace(tzinfo=doc.created_at.tzinfo or UTC).timestamp() - dropped[sha]
        time.sleep(0.5)
    lat = list(seen.values())
    return {"files": len(scans), "recorded": len(lat), "interval_seconds": interval, "idle_before_seconds": idle_before,
            "median_seconds": round(statistics.median(lat), 1) if lat else None,
            "p95_seconds": round(_pctl(lat, 0.95), 1) if lat else None,
            "min_seconds": round(min(lat), 1) if lat else None, "max_seconds": round(max(lat), 1) if lat else None}


def batch_throughput(settings: Settings, folder: Path, concurrency: int) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import temporary_settings

    with temporary_settings(server.client_settings(settings)):
        t0 = time.time()
        run = run_deployment("batch/batch", parameters={"folder": str(folder.resolve()), "concurrency": concurrency,
                                                        "report": str((folder.parent / "batch.xlsx").resolve())},
                             timeout=None, tags=["bench"])
        wall = time.time() - t0
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(run.id)
    started = run.start_time.timestamp() - t0
    return {"state": run.state.name, "wall_seconds": round(wall, 1),
            "queued_to_running_seconds": round(started, 1),
            "flow_run_seconds": round(run.total_run_time.total_seconds(), 1)}


def plain_throughput(home: Path, scans: list[Path]) -> dict:
    """The same reading without Prefect: one process, models loaded once, documents in turn."""
    os.environ["MADOGUCHI_HOME"] = str(home)
    t0 = time.perf_counter()
    reader = Reader(Settings())
    load = time.perf_counter() - t0
    stages: dict[str, float] = {}
    for p in scans:
        r = reader.process(p, quarantine=True)
        for k, v in r.timings.items():
            stages[k] = stages.get(k, 0.0) + v
    wall = time.perf_counter() - t0
    return {"wall_seconds": round(wall, 1), "model_load_seconds": round(load, 1),
            "per_document_stage_seconds": {k: round(v / len(scans), 3) for k, v in stages.items()}}


def run(out: Path, repo: Path, *, intake_files: int = 20, interval: float = 10.0, batch_docs: int = 50,
        concurrencies: tuple[int, ...] = (1,), idle_seconds: float = 600.0, idle_files: int = 3,
        scale_docs: int = 200, scale_readers: tuple[int, ...] = (1, 2)) -> dict:
    """intake_files scans `interval` s apart (warm: a reconcile run lingers between them), then
    `idle_files` scans after `idle_seconds` of nothing, each `linger + 15` s after the last (no
    reconcile run alive when it lands), then the batches, then `scale_docs` scans dropped at once for
    each reader count on PostgreSQL (flows/bench/scale.py; 0: not run)."""
    out = out.resolve()
    if out.exists():
        shutil.rmtree(out)
    home = out / "home"
    os.environ["MADOGUCHI_HOME"] = str(home)
    os.environ["MADOGUCHI_SERVER__PORT"] = str(server.free_port())
    settings = Settings()
    intake_scans = _scans(intake_files, INTAKE_SEED, out / "intake-scans")
    idle_scans = _scans(idle_files, INTAKE_SEED + 10, out / "idle-scans") if idle_files else []
    # one folder per concurrency (documents read once are not read again), the first also read plainly
    batch_dirs = {c: out / f"batch-c{c}" / "scans" for c in concurrencies}
    batch_scans = {c: _scans(batch_docs, BATCH_SEED + i, d) for i, (c, d) in enumerate(batch_dirs.items())}
    server.up(settings, repo)
    try:
        time.sleep(5)  # the watcher is watching
        intake = intake_latency(settings, intake_scans, interval, timeout=600)
        cold = settings.intake.linger_seconds + 15
        idle = intake_latency(settings, idle_scans, cold, timeout=600, idle_before=idle_seconds) if idle_scans else None
        batches = [{"documents": batch_docs, "concurrency": c, **batch_throughput(settings, d, c)}
                   for c, d in batch_dirs.items()]
    finally:
        server.down(settings)
    plain = plain_throughput(out / "plain-home", batch_scans[concurrencies[0]])
    scaled: list[dict] | dict = []
    if scale_docs:
        from flows.bench import scale
        from flows.bench.postgres import PostgresMissingError

        try:
            scaled = scale.run(out, repo, _scans(scale_docs, SCALE_SEED, out / "scale-scans"), scale_readers)
        except PostgresMissingError as e:
            scaled = {"skipped": str(e)}
    for b in batches:
        b["documents_per_minute"] = round(60 * batch_docs / b["wall_seconds"], 1)
        b["prefect_share_seconds"] = round(b["wall_seconds"] - plain["wall_seconds"], 1)
    result = {
        "machine": f"{os.cpu_count()} CPU cores",
        "readers": settings.intake.readers,
        "intake": intake,
        "intake_after_idle": idle,
        "batches": batches,
        "plain": {"documents": batch_docs, **plain, "documents_per_minute": round(60 * batch_docs / plain["wall_seconds"], 1)},
        "scale": scaled,
    }
    (out / "prefect.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "prefect.md").write_text(_markdown(result), encoding="utf-8")
    return result


def _markdown(r: dict) -> str:
    i, p = r["intake"], r["plain"]
    stages = ", ".join(f"{k} {v:.2f}" for k, v in p["per_document_stage_seconds"].items())
    return "\n".join([
        "# What the orchestration costs", "",
        f"Machine: {r['machine']}; warm readers: {r['readers']}.", "",
        "## Intake: drop to database", "",
        f"{i['recorded']} of {i['files']} scans dropped {i['interval_seconds']:.0f} s apart reached the database: "
        f"median {i['median_seconds']} s, p95 {i['p95_seconds']} s (min {i['min_seconds']}, max {i['max_seconds']}).", "",
        *([f"After {a['idle_before_seconds']:.0f} s idle, {a['recorded']} of {a['files']} scans dropped "
           f"{a['interval_seconds']:.0f} s apart (no reconcile run alive when each landed): median "
           f"{a['median_seconds']} s, p95 {a['p95_seconds']} s (min {a['min_seconds']}, max {a['max_seconds']}).", ""]
          if (a := r.get("intake_after_idle")) else []),
        "## Batch of documents", "",
        "| | documents | wall s | documents/min | request to running s | flow run s | more than plain s |",
        "|---|---|---|---|---|---|---|",
        *(f"| `batch` deployment, concurrency {b['concurrency']} | {b['documents']} | {b['wall_seconds']} | "
          f"{b['documents_per_minute']} | {b['queued_to_running_seconds']} | {b['flow_run_seconds']} | "
          f"{b['prefect_share_seconds']} |" for b in r["batches"]),
        f"| plain loop, no Prefect | {p['documents']} | {p['wall_seconds']} | {p['documents_per_minute']} | | | |", "",
        f"Plain loop: model load {p['model_load_seconds']} s, then per document (s): {stages}. "
        "The deployment's extra time is Prefect's share: scheduling and a reader's poll, task bookkeeping, the "
        "Excel report, and review runs started meanwhile (before warm readers: also a new process that loaded "
        "the models again).", "",
        *(scale_markdown(r["scale"]) if isinstance(r.get("scale"), list) else
          [f"Scale run not done: {r['scale']['skipped']}", ""] if r.get("scale") else []),
    ])
