"""Prefect flows over the watched folder: the only module that knows Prefect.

`reconcile` finishes what a killed run left in processing/ and takes every settled inbox file into
processing/, handing each to a run of the `process-document` deployment (named 受付-<file>, tagged
with form and source, with a Markdown artifact of its fields), which any warm reader takes
(flows/service/reader.py, on any machine); with `MADOGUCHI_INTAKE__HAND_OUT=false` it reads them
itself, as subflows. The stages themselves live in flows/pipeline.py and flows/intake.py; tasks
here only wrap them and pass paths, not images.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from prefect import flow, get_run_logger, tags, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows.batch import JST, BatchFile, read_one, resolve_folder, select_files
from flows.handoff import queue_review
from flows.home import owner_only
from flows.intake import Folders, Settling, finish, form_hint, recover, unclaim
from flows.intake import claim as claim_file
from flows.pipeline import Reader
from flows.reports.batch import write_batch_report
from flows.review import reopen_reviews
from schemas.db import Store
from schemas.results import STATUS_JA, DocumentResult, DocumentStatus, FieldStatus
from schemas.settings import Settings
from schemas.templates import load_templates

PROCESS_DEPLOYMENT = "process_document/process-document"
ACTIVE = ("SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING")  # a run that may still read its file
_READING = threading.Lock()  # one document at a time per process: each engine already uses every core
READER_NAME: str | None = None  # set by a warm reader (flows/service/reader.py): its runs are tagged with it


@lru_cache(maxsize=1)
def _reader() -> Reader:
    """The models load once per process (about 12 s), not once per document: in a warm reader, once
    for every run it takes."""
    return Reader(Settings())


def _run_name() -> str:
    return f"受付-{Path(flow_run.parameters['path']).name}"


def _artifact_markdown(result: DocumentResult) -> str:
    lines = [f"## {result.form_title or '読取不可'} — {Path(result.source).name}", "",
             f"状態: **{STATUS_JA.get(result.status.value, result.status.value)}**", ""]
    if result.errors:
        lines += [f"- {e.message_ja}" for e in result.errors] + [""]
    if result.fields:
        # what a resident wrote is shown only where a reviewer must look at it: the UI is not the database
        lines += ["| 項目 | 読取値（確認する項目のみ） | 状態 | 確信度 | 理由 |", "|---|---|---|---|---|"]
        for f in result.fields.values():
            value = "" if f.value is None or f.status == FieldStatus.accepted else str(f.value)
            lines.append(f"| {f.label} | {value} | {STATUS_JA.get(f.status.value, f.status.value)} | "
                         f"{f.confidence:.2f} | {'、'.join(f.reasons_ja)} |")
    return "\n".join(lines)


def _tag_run(result: DocumentResult) -> None:
    """Tag this run with what reading found (the form, the outcome), so the UI can filter on it."""
    from prefect.client.orchestration import get_client

    found = [result.form or "unidentified", result.status.value] + (["duplicate"] if result.duplicate_of else [])
    found += [READER_NAME] if READER_NAME else []
    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, tags=sorted({*flow_run.tags, *found}))


@task(name="読取", retries=0)
def read_document(path: str, form_id: str | None) -> DocumentResult:
    """Read and record one claimed file. Not retried: a bad scan stays bad; a fault of ours puts the
    file back in the inbox (see `finish`)."""
    with _READING:
        return _reader().process(Path(path), form_id=form_id, quarantine=False)


@task(name="振り分け")
def file_document(path: str, result: DocumentResult) -> str:
    return str(finish(Path(path), result, Folders.from_settings(_reader().settings)))


def _queue_review(sha256: str) -> None:
    """Open the document's review run; if that fails, reconcile's next run opens it (never lost)."""
    settings = _reader().settings
    store = _reader().store
    queue_review(store, store.find(sha256), settings, get_run_logger())


@flow(name="process_document", flow_run_name=_run_name)
def process_document(path: str, form_id: str | None = None) -> dict:
    """Read one file already claimed into processing/, record it and file it."""
    owner_only()
    if not os.path.lexists(path):  # put back by a reconcile that took this run for lost: read from the inbox
        get_run_logger().warning("%s is no longer in processing/; nothing to do", Path(path).name)
        return {"source": path, "place": None, "status": "gone", "form": None}
    result = read_document(path, form_id)
    _tag_run(result)
    place = file_document(path, result)
    create_markdown_artifact(_artifact_markdown(result), description=f"受付 {Path(path).name}")
    if result.status == DocumentStatus.needs_review and not result.duplicate_of:
        _queue_review(result.sha256)
    return {"source": path, "place": place, "status": result.status.value, "form": result.form}


def _handed_out(deployment: str = PROCESS_DEPLOYMENT) -> set[Path]:
    """Files of process-document runs that may still read them (waiting for a reader, or being read):
    recovery leaves them alone. A run of a reader that died is marked Crashed (heartbeats stop), and
    its file is then recovered."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    busy, offset, page = set(), 0, 200
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment.split("/")[1]])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType(t) for t in ACTIVE]))),
                limit=page, offset=offset)
            busy |= {Path(r.parameters["path"]) for r in runs if r.parameters.get("path")}
            if len(runs) < page:
                return busy
            offset += page


def _hand_out(working: Path, hint: str | None) -> dict:
    """A process-document run for a claimed file, not waited for: a reader takes it."""
    from prefect.deployments import run_deployment

    run = run_deployment(PROCESS_DEPLOYMENT, parameters={"path": str(working), "form_id": hint}, timeout=0,
                         tags=["inbox"])
    return {"source": str(working), "run": str(run.id), "status": "handed_out"}


@flow(name="reconcile", flow_run_name="受付箱の確認")
def reconcile(settle_seconds: float | None = None, linger_seconds: float | None = None,
              hand_out: bool | None = None) -> list[dict]:
    """Finish what a killed run left behind, then take every settled inbox file, and keep looking
    for `linger_seconds` after the last one, so a scan dropped meanwhile is taken in seconds instead
    of waiting for a new run. Each file taken is handed to a process-document run (`hand_out`, the
    default: any warm reader on any machine reads it) or read here, models loaded only when there is
    a file (a run on an empty inbox costs about a second)."""
    owner_only()  # also when its worker was started by hand, not by `server up`
    log = get_run_logger()
    settings = Settings()
    folders = Folders.from_settings(settings).ensure()
    store = Store(settings.db_url)
    hand_out = settings.intake.hand_out if hand_out is None else hand_out
    busy = _handed_out() if hand_out else set()
    for place in recover(store, folders, settings.intake.max_attempts, busy=busy):
        log.info("recovered %s", place)
    try:
        reopened = reopen_reviews(store, settings)
        if reopened:
            log.info("review opened again for document(s) %s", reopened)
    except Exception as exc:  # the review deployment is missing (a bare test server): reviews wait
        log.warning("reviews not checked: %s", exc)
    settle = settings.intake.settle_seconds if settle_seconds is None else settle_seconds
    linger = settings.intake.linger_seconds if linger_seconds is None else linger_seconds
    settling = Settling(seconds=settle)
    forms = set(load_templates(settings.ocr.forms_dir))
    out, stalled = [], False
    idle_since = time.monotonic()
    while True:
        ready = settling.ready(folders.inbox)  # the first look starts every file's clock
        if ready and not hand_out:
            _reader()  # models loaded before a file is taken: a kill while loading leaves nothing in processing/
        for path in ready:
            try:
                working = claim_file(path, folders)
            except FileNotFoundError:  # taken by a batch meanwhile
                continue
            hint = form_hint(path, folders.inbox, forms)
            if not hand_out:
                with tags("inbox"):
                    out.append(process_document(str(working), hint))
                continue
            try:
                out.append(_hand_out(working, hint))
            except Exception as exc:  # noqa: BLE001 (the server did not take the run: the file waits in the inbox)
                log.warning("could not hand %s to a reader (%s); it stays queued for the next run", working.name, exc)
                unclaim(working, folders)
                stalled = True
                break
        if stalled:
            break
        if ready:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= max(linger, settle + 0.5):  # a file present at the start had its chance
            break
        time.sleep(min(0.5, settle / 2) if settle else 0.1)
    log.info("%d file(s) %s from %s", len(out), "handed to readers" if hand_out else "read", folders.inbox)
    return out


@task(name="一括読取", task_run_name="読取-{item.path.name}")
def batch_read(item: BatchFile) -> DocumentResult | None:
    with _READING:
        return read_one(_reader(), item, Folders.from_settings(_reader().settings))


def _batch_name() -> str:
    p = flow_run.parameters
    return f"一括読取-{p.get('folder') or '受付箱'}"


def _period(since: date | None, until: date | None, now: datetime) -> str:
    """What a batch covers, for its report's printed footer: its scan dates, or the day it ran."""
    if since or until:
        return f"スキャン日 {since or '指定なし'} 〜 {until or '指定なし'}"
    return f"{now:%Y-%m-%d} 実行"


@flow(name="batch", flow_run_name=_batch_name, task_runner=ThreadPoolTaskRunner(max_workers=8))
def batch(folder: str | None = None, forms: list[str] | None = None, since: date | None = None,
          until: date | None = None, last_days: int | None = None, concurrency: int = 1,
          report: str | None = None) -> dict:
    """Read a folder (None: the inbox backlog; relative: under the data root, e.g. `done`) and
    write an Excel report of its documents.

    forms: only these forms' sub-folders (others are left alone); since/until: scan dates,
    inclusive, Japan time; last_days: the last N days up to today instead; concurrency: documents
    in hand at once (their reading still goes one at a time, `_READING`: on 2 cores each engine
    already uses both; 2 read at once measured slower, 14.0 against 19.3 documents a minute)."""
    owner_only()
    log = get_run_logger()
    reader = _reader()
    settings = reader.settings
    folders = Folders.from_settings(settings).ensure()
    source = resolve_folder(folder, folders, settings.home)
    if not source.is_dir():
        raise FileNotFoundError(f"batch folder {source} does not exist")
    unknown = set(forms or ()) - set(reader.templates)
    if unknown:
        raise ValueError(f"unknown forms {sorted(unknown)}; known: {sorted(reader.templates)}")
    now = datetime.now(JST)
    if last_days is not None:
        since, until = now.date() - timedelta(days=max(1, last_days) - 1), now.date()
    files = select_files(source, inbox=folders.inbox, forms=set(forms or ()), known_forms=set(reader.templates),
                         since=since, until=until)
    log.info("%d file(s) in %s (%s to %s)", len(files), source, since or "-", until or "-")
    progress = create_progress_artifact(0.0, description=f"一括読取 {source}")
    pending, results, failures = [], [], []

    def collect(fut, item: BatchFile) -> None:
        out = fut.result(raise_on_failure=False)
        if isinstance(out, BaseException):
            failures.append(f"{item.path.name}: {type(out).__name__}: {out}")
        elif out is not None:
            results.append(out)
        done = len(results) + len(failures)
        update_progress_artifact(progress, 100.0 * done / max(1, len(files)))
        if done % 10 == 0 or done == len(files):
            log.info("%d/%d file(s) read", done, len(files))

    for item in files:
        if len(pending) >= max(1, concurrency):
            collect(*pending.pop(0))
        pending.append((batch_read.submit(item), item))
    for fut, item in pending:
        collect(fut, item)
    shas = list(dict.fromkeys(r.sha256 for r in results if r.sha256))
    out = Path(report) if report else settings.home / "reports" / f"batch-{now:%Y%m%d-%H%M%S}.xlsx"
    params = {"読取元": str(source), "様式": "、".join(forms) if forms else "すべて",
              "スキャン日": f"{since or '指定なし'} 〜 {until or '指定なし'}", "実行日時": f"{now:%Y-%m-%d %H:%M} (日本時間)"}
    summary = write_batch_report(reader.store, shas, out, titles={k: t.title for k, t in reader.templates.items()},
                                 views=settings.home / "views", params=params,
                                 read_now={r.sha256 for r in results if r.sha256 and not r.duplicate_of},
                                 files=len(files), period=_period(since, until, now))
    stp = summary.straight_through
    create_markdown_artifact("\n".join([
        f"## 一括読取 {source}", "",
        f"- 対象ファイル: {len(files)} 件、書類: {summary.documents} 件(今回読取 {summary.read_now}、読取済み {summary.read_before})",
        f"- 読取不可: {summary.rejected} 件",
        f"- 自動確定率: {stp:.1%}" if stp is not None else "- 自動確定率: -",
        f"- 要確認項目: {summary.review} 件",
        f"- レポート: `{out.resolve()}`",
        *([f"- 内部エラー: {len(failures)} 件(ファイルは受付箱か元の場所に残っています)"] if failures else []),
    ]), key="batch-report", description="一括読取の結果")
    log.info("report written to %s", out.resolve())
    if failures:
        raise RuntimeError(f"{len(failures)} file(s) hit an internal error and stay queued: " + "; ".join(failures))
    return {"files": len(files), "documents": summary.documents, "report": str(out.resolve()),
            "straight_through": stp, "review_fields": summary.review}
