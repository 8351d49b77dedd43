"""Prefect flows over the watched folder: the only module that knows Prefect.

`reconcile` finishes what a killed run left in processing/ and reads every settled inbox file,
one `process_document` subflow each (named 受付-<file>, tagged with form and source, with a
Markdown artifact of its fields). The stages themselves live in flows/pipeline.py and
flows/intake.py; tasks here only wrap them and pass paths, not images.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

from prefect import flow, get_run_logger, tags, task
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from flows.intake import Folders, Settling, finish, form_hint, recover
from flows.intake import claim as claim_file
from flows.pipeline import Reader
from flows.report import STATUS_JA
from schemas.results import DocumentResult
from schemas.settings import Settings


@lru_cache(maxsize=1)
def _reader() -> Reader:
    """The models load once per worker process (about 12 s), not once per document."""
    return Reader(Settings())


def _run_name() -> str:
    return f"受付-{Path(flow_run.parameters['path']).name}"


def _artifact_markdown(result: DocumentResult) -> str:
    lines = [f"## {result.form_title or '読取不可'} — {Path(result.source).name}", "",
             f"状態: **{STATUS_JA.get(result.status.value, result.status.value)}**", ""]
    if result.errors:
        lines += [f"- {e.message_ja}" for e in result.errors] + [""]
    if result.fields:
        lines += ["| 項目 | 値 | 状態 | 確信度 | 理由 |", "|---|---|---|---|---|"]
        for f in result.fields.values():
            lines.append(f"| {f.label} | {f.value if f.value is not None else ''} | "
                         f"{STATUS_JA.get(f.status.value, f.status.value)} | {f.confidence:.2f} | {'、'.join(f.reasons_ja)} |")
    return "\n".join(lines)


def _tag_run(result: DocumentResult) -> None:
    """Tag this run with what reading found (the form, the outcome), so the UI can filter on it."""
    from prefect.client.orchestration import get_client

    found = [result.form or "unidentified", result.status.value] + (["duplicate"] if result.duplicate_of else [])
    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, tags=sorted({*flow_run.tags, *found}))


@task(name="読取", retries=0)
def read_document(path: str, form_id: str | None) -> DocumentResult:
    """Read and record one claimed file. Not retried: a bad scan stays bad; a fault of ours puts the
    file back in the inbox (see `finish`)."""
    return _reader().process(Path(path), form_id=form_id, quarantine=False)


@task(name="振り分け")
def file_document(path: str, result: DocumentResult) -> str:
    return str(finish(Path(path), result, Folders.from_settings(_reader().settings)))


@flow(name="process_document", flow_run_name=_run_name)
def process_document(path: str, form_id: str | None = None) -> dict:
    """Read one file already claimed into processing/, record it and file it."""
    result = read_document(path, form_id)
    _tag_run(result)
    place = file_document(path, result)
    create_markdown_artifact(_artifact_markdown(result), description=f"受付 {Path(path).name}")
    return {"source": path, "place": place, "status": result.status.value, "form": result.form}


@flow(name="reconcile", flow_run_name="受付箱の確認")
def reconcile(settle_seconds: float | None = None) -> list[dict]:
    """Finish what a killed run left behind, then read every settled inbox file."""
    log = get_run_logger()
    reader = _reader()
    folders = Folders.from_settings(reader.settings).ensure()
    for place in recover(reader, folders):
        log.info("recovered %s", place)
    settle = reader.settings.intake.settle_seconds if settle_seconds is None else settle_seconds
    settling = Settling(seconds=settle)
    settling.ready(folders.inbox)  # first look: starts every file's clock
    out = []
    for path in settling.ready(folders.inbox, now=_later(settle)):
        working = claim_file(path, folders)
        hint = form_hint(path, folders.inbox, set(reader.templates))
        with tags("inbox"):
            out.append(process_document(str(working), hint))
    log.info("%d file(s) read from %s", len(out), folders.inbox)
    return out


def _later(seconds: float) -> float:
    """Wait until files that have not changed for `seconds` count as settled."""
    time.sleep(seconds)
    return time.monotonic()
