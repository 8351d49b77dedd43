"""The `entry` flow: validated documents into the core system by bot, once each, with evidence.

A document is ready when every field was accepted or a reviewer validated it. For each, within the
global concurrency limit `<system>-bots` (default 1: one bot in the core system at a time, over
all workers), the bot looks its key up, enters it, checks the confirmation screen and presses 登録.
Then:
- entered (or found already there): the document becomes `entered` with its 受付番号;
- refused by the core system's validation: back to `needs_review` with the message and the
  screenshot in the review form; never retried until a person has looked;
- system errors after every retry: the entry is `failed` and the document stays ready; the run
  stops there (the system is down) and fails visibly. The next run tries again.
Each document's screenshots are stored with the receipt number and shown in an artifact.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from flows.verify import final_values, screenshot_uri
from rpa.bot import Bot, Connection, Job, Outcome, document_key
from rpa.errors import EntryError, EntryFailed, LoginFailed, Refused
from schemas.db import Document, Entry, Store
from schemas.entry import EntryMapping, load_mappings
from schemas.settings import Settings
from schemas.templates import load_templates

DEPLOYMENT = "entry/entry"
READY = ("accepted", "validated")
MAPPINGS = Path(__file__).resolve().parent.parent / "rpa" / "mappings"


class NotConfigured(Exception):
    """The core system's address or the bots' password is missing."""


def mappings(settings: Settings) -> dict[str, EntryMapping]:
    folder = settings.rpa.mappings_dir or MAPPINGS / settings.rpa.system
    return load_mappings(folder, load_templates(settings.ocr.forms_dir))


def core_url(settings: Settings) -> str:
    """The core system's base URL: the setting, or the stand-in `server up` started."""
    if settings.rpa.url:
        return settings.rpa.url
    standin = settings.home / "run" / "core_system.url"
    if standin.exists():
        return standin.read_text().strip()
    raise NotConfigured("基幹システムのURLが設定されていません (MADOGUCHI_RPA__URL)。"
                        "模擬システムは `madoguchi server up` が起動します")


def password(settings: Settings) -> str:
    """From the Prefect Secret block when it exists, else MADOGUCHI_RPA__PASSWORD; never logged."""
    from prefect.blocks.system import Secret

    try:
        return str(Secret.load(settings.rpa.password_block).get())
    except (ValueError, RuntimeError):  # no such block, or no Prefect server at hand
        pass
    if settings.rpa.password is not None:
        return settings.rpa.password.get_secret_value()
    raise NotConfigured(f"基幹システムのパスワードがありません: Secret ブロック「{settings.rpa.password_block}」"
                        "を作るか、MADOGUCHI_RPA__PASSWORD を設定してください")


def ensure_limit(settings: Settings) -> None:
    """Create the global concurrency limit `<system>-bots` if missing (a limit changed in the UI stays)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(settings.rpa.limit_name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=settings.rpa.limit_name, limit=settings.rpa.concurrency))
            except ObjectAlreadyExists:  # another run made it meanwhile
                pass


def ready(store: Store, ids: list[int] | None = None) -> list[Document]:
    docs = sorted((d for status in READY for d in store.documents(status)), key=lambda d: d.id)
    return [d for d in docs if ids is None or d.id in ids]


def _begin(store: Store, doc: Document, system: str, run_id: str | None) -> Entry:
    with store.session() as s, s.begin():
        e = store.entry(doc.id, system) or Entry(document_id=doc.id, system=system, key=document_key(doc.sha256))
        e.state, e.flow_run_id, e.updated_at = "pending", run_id, datetime.now(UTC)
        s.add(e)
        s.flush()
        return e


def _finish(store: Store, entry: Entry, state: str, *, doc_status: str | None = None, attempts: int = 0,
            evidence: list[Path] = (), **values) -> None:
    now = datetime.now(UTC)
    with store.session() as s, s.begin():
        e = s.get(Entry, entry.id)
        e.state, e.updated_at, e.attempts = state, now, e.attempts + attempts
        e.evidence = json.dumps(json.loads(e.evidence or "[]") + [str(p) for p in evidence], ensure_ascii=False)
        for k, v in values.items():
            setattr(e, k, v)
        if state == "entered":
            e.entered_at = now
        s.add(e)
        if doc_status:
            d = s.get(Document, e.document_id)
            d.status, d.updated_at = doc_status, now
            s.add(d)


def _artifact(doc: Document, entry: Entry, title: str, outcome: Outcome | None, error: EntryError | None) -> None:
    name = Path(doc.source).name
    if outcome is not None:
        head = (f"## 入力済み: {title} — {name}\n\n- 受付番号: **{outcome.receipt}**\n- 照合キー (備考): `{entry.key}`\n"
                f"- {'新規に登録しました' if outcome.created else '既に登録済みでした（照合キーで確認、二重登録なし）'}"
                f"（{outcome.attempts}回目の試行）\n")
        shots = outcome.evidence
    else:
        head = f"## 入力できませんでした: {title} — {name}\n\n- {error.message_ja}\n- 照合キー (備考): `{entry.key}`\n"
        shots = error.evidence
    lines = [head, "### 証跡 (画面の記録)", ""] + [f"- `{p}`" for p in shots]
    uri = screenshot_uri(shots[-1]) if shots else None
    if uri:
        lines += ["", f"![{shots[-1].name}]({uri})"]
    create_markdown_artifact("\n".join(lines), key=f"entry-document-{doc.id}", description=f"入力 {name}")


def _send_back(store: Store, doc: Document, settings: Settings, log) -> None:
    from flows.review import start_review

    try:
        start_review(store, doc, settings)
    except Exception as exc:  # no review deployment (a bare test server): reconcile opens it
        log.warning("review for document %s not started yet (%s); reconcile will", doc.id, exc)


@flow(name="entry", flow_run_name="基幹システム入力")
def entry(document_ids: list[int] | None = None, limit: int | None = None) -> dict:
    """Enter ready documents (all, or these ids) into the core system; returns counts by outcome."""
    log = get_run_logger()
    settings = Settings()
    store = Store(settings.db_url)
    docs = ready(store, document_ids)[:limit]
    counts = {"entered": 0, "already_there": 0, "refused": 0, "failed": 0, "waiting": len(docs)}
    if not docs:
        log.info("no document is ready for entry")
        return counts
    templates, maps = load_templates(settings.ocr.forms_dir), mappings(settings)
    conn = Connection(core_url(settings), settings.rpa.user, password(settings), settings.rpa.browser,
                      settings.rpa.timeout_seconds, settings.rpa.retries, settings.rpa.backoff_seconds)
    ensure_limit(settings)
    log.info("%d document(s) ready for %s at %s", len(docs), settings.rpa.system, conn.url)
    from prefect.concurrency.sync import concurrency

    stop: EntryError | None = None
    with Bot(conn, log=log.info) as bot:
        for n, doc in enumerate(docs, start=1):
            e = _begin(store, doc, settings.rpa.system, str(flow_run.id) if flow_run.id else None)
            mapping = maps.get(doc.form)
            if mapping is None:
                _finish(store, e, "failed", message=f"様式「{doc.form}」の入力画面の対応表がありません")
                counts["failed"] += 1
                continue
            job = Job(e.key, templates[doc.form], mapping, final_values(store, doc),
                      settings.evidence_dir / doc.sha256[:16])
            outcome, error = None, None
            try:
                with concurrency(settings.rpa.limit_name, occupy=1):
                    outcome = bot.enter(job)
            except Refused as err:
                error = err
                fields = sorted({f for f in (mapping.source_of(label) for label, _ in err.problems) if f})
                _finish(store, e, "refused", doc_status="needs_review", attempts=1, evidence=err.evidence,
                        message=err.message_ja, fields=json.dumps(fields))
                counts["refused"] += 1
                log.warning("document %s refused by the core system: %s; back to review", doc.id, err.detail)
                _send_back(store, doc, settings, log)
            except (EntryFailed, LoginFailed) as err:
                error, stop = err, err
                _finish(store, e, "failed", attempts=getattr(err, "attempts", 1), evidence=err.evidence,
                        message=err.message_ja)
                counts["failed"] += 1
            else:
                _finish(store, e, "entered", doc_status="entered", attempts=outcome.attempts,
                        evidence=outcome.evidence, receipt=outcome.receipt, created=outcome.created, message="")
                counts["entered" if outcome.created else "already_there"] += 1
            counts["waiting"] -= 1
            _artifact(doc, e, mapping.title, outcome, error)
            log.info("%d/%d done: document %s %s", n, len(docs), doc.id,
                     f"→ {outcome.receipt}" if outcome else f"not entered ({type(error).__name__})")
            if stop:
                break
    create_markdown_artifact(
        "| 入力済み | 登録済みを確認 | 差し戻し (確認待ち) | 失敗 | 次回に持ち越し |\n|---|---|---|---|---|\n"
        f"| {counts['entered']} | {counts['already_there']} | {counts['refused']} | {counts['failed']} | "
        f"{counts['waiting']} |", key="entry-summary", description="基幹システム入力の結果")
    if stop:
        raise RuntimeError(f"{stop.message_ja}（未入力 {counts['waiting'] + counts['failed']} 件は書類のまま残ります）")
    return counts
