"""`madoguchi bench-prefect`'s scale run: one inbox, both databases on PostgreSQL, 1 then 2 warm
readers (`MADOGUCHI_INTAKE__READERS`), the same generated scans dropped at once each time.

For each reader count: documents a minute from the drop to the last document's row, how many each
reader read (the tag its runs carry), and the exactly-once checks: one document row per file, one
process-document run per file, every run Completed. On a 2-core PC a second reader cannot add
much (each engine already uses both cores); on more cores, or a second PC, it should.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC
from pathlib import Path

from flows.bench.postgres import cluster
from flows.intake import Folders
from flows.service import server
from flows.service.drop import drop
from schemas.db import Store
from schemas.settings import Settings

LOADED = "models loaded"
SETTLE = 120  # seconds the runs may take to end after the last document's row  # what a reader's log says once it can read (flows/service/reader.py)


def _wait(what: str, done, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(1)


def _documents(store: Store) -> list:
    from sqlmodel import Session, select

    from schemas.db import Document

    with Session(store.engine) as s:
        return list(s.exec(select(Document)))


def _runs(settings: Settings) -> list:
    """Every process-document run, with its state, parameters and tags."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.settings import temporary_settings

    out, offset = [], 0
    with temporary_settings(server.client_settings(settings)), get_client(sync_client=True) as client:
        while batch := client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["process-document"])),
                limit=200, offset=offset):
            out += batch
            offset += len(batch)
    return out


def one(out: Path, repo: Path, scans: list[Path], readers: int, pg, timeout: float) -> dict:
    """The scans read by `readers` warm readers on a fresh data root and fresh databases."""
    tag = f"r{readers}"
    os.environ.update({
        "MADOGUCHI_HOME": str(out / f"scale-{tag}" / "home"),
        "MADOGUCHI_SERVER__PORT": str(server.free_port()),
        "MADOGUCHI_DB__URL": pg.create_database(f"madoguchi_{tag}"),
        "MADOGUCHI_SERVER__DATABASE_URL": pg.url(f"prefect_{tag}", "asyncpg"),
        "MADOGUCHI_INTAKE__READERS": str(readers),
    })
    pg.create_database(f"prefect_{tag}")
    settings = Settings()
    store = Store(settings.db_url)
    logs = settings.home / "logs"
    server.up(settings, repo)
    try:
        _wait(f"{readers} reader(s) to load the models",
              lambda: all(LOADED in ((logs / f"{n}.log").read_text(errors="replace")
                                     if (logs / f"{n}.log").exists() else "") for n in server.readers(settings)),
              300)
        t0 = time.time()
        drop(scans, Folders.from_settings(settings).inbox)
        _wait(f"{len(scans)} documents", lambda: len(_documents(store)) >= len(scans), timeout)
        docs = _documents(store)
        last = max(d.created_at.replace(tzinfo=d.created_at.tzinfo or UTC).timestamp() for d in docs)
        # a run still records its artifact after filing its document: count the runs once they have ended
        try:
            _wait("the process-document runs to end", lambda: all(r.state and r.state.is_final()
                                                                  for r in _runs(settings)), SETTLE)
        except TimeoutError:
            pass  # counted as they are: runs_not_completed says how many had not ended
        runs = _runs(settings)
    finally:
        server.down(settings)
    per_file = Counter(Path(r.parameters.get("path", "")).name for r in runs)
    by_reader = Counter(next((t for t in r.tags if t.startswith("reader-")), "none") for r in runs)
    wall = last - t0
    return {
        "readers": readers, "files": len(scans), "documents": len(docs),
        "distinct_documents": len({d.sha256 for d in docs}),
        "process_document_runs": len(runs),
        "files_read_more_than_once": sum(1 for n in per_file.values() if n > 1),
        "runs_not_completed": sum(1 for r in runs if not (r.state and r.state.is_completed())),
        "by_reader": dict(sorted(by_reader.items())),
        "wall_seconds": round(wall, 1), "documents_per_minute": round(60 * len(scans) / wall, 1),
    }


def run(out: Path, repo: Path, scans: list[Path], readers: tuple[int, ...] = (1, 2), timeout: float = 3600) -> list[dict]:
    saved = {k: os.environ.get(k) for k in ("MADOGUCHI_HOME", "MADOGUCHI_SERVER__PORT", "MADOGUCHI_DB__URL",
                                             "MADOGUCHI_SERVER__DATABASE_URL", "MADOGUCHI_INTAKE__READERS")}
    try:
        with cluster() as pg:
            return [one(out, repo, scans, n, pg, timeout) for n in readers]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def markdown(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    return [
        "## Scale: warm readers on one inbox, PostgreSQL for both databases", "",
        "| readers | files | documents | documents/min | read by | files read twice | runs not completed |",
        "|---|---|---|---|---|---|---|",
        *(f"| {r['readers']} | {r['files']} | {r['documents']} ({r['distinct_documents']} distinct) | "
          f"{r['documents_per_minute']} | {', '.join(f'{v}' for v in r['by_reader'].values())} | "
          f"{r['files_read_more_than_once']} | {r['runs_not_completed']} |" for r in rows), "",
    ]
