"""The `entry` flow: validated documents into the core system by bot, once each, with evidence.

A document is ready when every field was accepted or a reviewer validated it. For each, within the
global concurrency limit `<system>-bots` (default 1: one bot in the core system at a time, over
all workers), the bot looks its key up, enters it, checks the confirmation screen and presses 登録.
Then:
- entered (or found already there): the document becomes `entered` with its 受付番号;
- refused by the core system's validation: back to `needs_review` with the message and the
  screenshot in the review form; never retried until a person has looked;
- system errors after every retry: the entry is `failed` and the document stays ready; the run
  stops there (the system is down) and fails visibly. The next run tries again;
- a failure of this document's own (an unknown screen, a 5xx, an error of ours), `rpa.max_attempts`
  runs in a row: back to `needs_review` with the last reason, like a refusal;
- entered by hand (`madoguchi entry mark-manual`): never entered by a bot.
Documents read before `rpa.enter_since` (default: the first `server up`) are not entered.
Each document's screenshots are stored with the receipt number and shown in an artifact.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from sqlmodel import select

from flows.handoff import ENTRY_DEPLOYMENT, queue_review
from flows.home import owner_only, write_private
from flows.verify import final_values, screenshot_uri
from rpa.bot import Bot, Connection, Job, document_key
from rpa.errors import NOT_THE_DOCUMENT, SYSTEM_DOWN, EntryError, EntryFailed, LoginFailed, Refused
from schemas.db import Document, Entry, Store
from schemas.entry import EntryMapping, load_mappings
from schemas.settings import Settings
from schemas.templates import load_templates

DEPLOYMENT = ENTRY_DEPLOYMENT
READY = ("accepted", "validated")
DONE = ("entered", "manual")  # entry states no bot touches again
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


def _since_file(settings: Settings) -> Path:
    return settings.home / "run" / "enter_since"


def fix_enter_since(settings: Settings) -> datetime:
    """At the first `server up` on a data root, record the time: with `rpa.enter_since` unset, bots
    enter only documents read from then on, never a backlog clerks may have typed by hand."""
    f = _since_file(settings)
    if not f.exists():
        write_private(f, datetime.now(UTC).isoformat() + "\n")
    return datetime.fromisoformat(f.read_text(encoding="utf-8").strip())


def enter_since(settings: Settings) -> datetime | None:
    """The setting, else the first `server up`'s time; None (every document) when neither exists."""
    if settings.rpa.enter_since is not None:
        return settings.rpa.enter_since
    f = _since_file(settings)
    return datetime.fromisoformat(f.read_text(encoding="utf-8").strip()) if f.exists() else None


def ready(store: Store, settings: Settings, ids: list[int] | None = None) -> list[Document]:
    """Documents to enter, oldest first: every field accepted or validated by a reviewer, and read
    on or after `enter_since`."""
    since = enter_since(settings)
    docs = sorted((d for status in READY for d in store.documents(status)), key=lambda d: d.id)
    return [d for d in docs if (ids is None or d.id in ids)
            and (since is None or d.created_at.replace(tzinfo=d.created_at.tzinfo or UTC) >= since)]


def _begin(store: Store, doc: Document, system: str, run_id: str | None) -> Entry | None:
    """The document's entry row, marked pending; None when the document is no longer ready (another
    run entered it or sent it back since this run listed it)."""
    with store.session() as s, s.begin():
        d = s.get(Document, doc.id)
        e = s.exec(select(Entry).where(Entry.document_id == doc.id, Entry.system == system)).first()
        if d.status not in READY or (e is not None and e.state in DONE):
            return None
        e = e or Entry(document_id=doc.id, system=system, key=document_key(doc.sha256))
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


def _artifact(doc: Document, e: Entry, title: str) -> None:
    """The document's entry as the run shows it: outcome, receipt or reason, and its screenshots."""
    name = Path(doc.source).name
    if e.state == "entered":
        how = "新規に登録しました" if e.created else "既に登録済みでした（照合キーで確認、二重登録なし）"
        head = f"## 入力済み: {title} — {name}\n\n- 受付番号: **{e.receipt}**\n- {how}\n"
    else:
        head = (f"## {'確認に戻しました' if e.state == 'refused' else '入力できませんでした'}: {title} — {name}\n\n"
                f"- {e.message}\n")
    shots = [Path(p) for p in json.loads(e.evidence or "[]")]
    lines = [head + f"- 照合キー (備考): `{e.key}`\n", "### 証跡 (画面の記録)", ""] + [f"- `{p}`" for p in shots]
    # entered: the confirmation screen, which shows every value registered; otherwise the last screen
    shown = next((p for p in shots if p.name.endswith("-confirm.png")), None) if e.state == "entered" else None
    shown = shown or (shots[-1] if shots else None)
    uri = screenshot_uri(shown) if shown else None
    if uri:
        lines += ["", f"![{shown.name}]({uri})"]
    create_markdown_artifact("\n".join(lines), key=f"entry-document-{doc.id}", description=f"入力 {name}")


def _hand_back(store: Store, doc: Document, entry_row: Entry, mapping: EntryMapping | None, labels: list[str],
               message: str, evidence: list[Path], settings: Settings, log, attempts: int = 1) -> None:
    """The core system will not take the record as it is: back to review, asking about the fields
    it named (by their labels on its screen; every field when it named none), with its message and
    screenshots. A person has looked once it comes back validated: its failures count from zero."""
    fields = sorted({f for f in map(mapping.source_of, labels) if f}) if mapping else []
    _finish(store, entry_row, "refused", doc_status="needs_review", attempts=attempts, evidence=evidence,
            message=message, fields=json.dumps(fields), failures=0)
    log.warning("document %s not taken by the core system (%s); back to review", doc.id,
                ", ".join(labels) or "no field named")
    queue_review(store, doc, settings, log)


def _failed_here(store: Store, doc: Document, e: Entry, mapping: EntryMapping | None, reason: str,
                 evidence: list[Path], settings: Settings, log, attempts: int = 1) -> str:
    """A failure of this document's own: it waits for the next run, or, after `rpa.max_attempts`
    such runs, goes back to review with the reason (retrying it every 5 minutes would never end)."""
    failures, most = e.failures + 1, settings.rpa.max_attempts
    if failures < most:
        _finish(store, e, "failed", attempts=attempts, evidence=evidence, failures=failures,
                message=f"{reason}。次の入力実行で再試行します（この書類の失敗 {failures}/{most} 回）")
        return "failed"
    log.warning("document %s failed %d entry runs for reasons of its own; back to review", doc.id, failures)
    _hand_back(store, doc, e, mapping, [], f"{failures}回の入力実行で入力できなかったため、確認に戻しました。"
               f"最後の理由: {reason}", evidence, settings, log, attempts=attempts)
    return "refused"


def mark_manual(store: Store, settings: Settings, ids: list[int], who: str = "") -> dict[int, str]:
    """Record documents clerks entered into the core system by hand, so no bot ever enters them;
    returns each id's outcome: marked, already (marked before), entered (by a bot: left as it is),
    pending (a bot is at it now: try again after the run), missing."""
    out = {}
    for doc_id in ids:
        with store.session() as s, s.begin():
            d = s.get(Document, doc_id)
            e = s.exec(select(Entry).where(Entry.document_id == doc_id, Entry.system == settings.rpa.system)).first()
            if d is None or (e is not None and e.state in ("manual", "entered", "pending")):
                out[doc_id] = "missing" if d is None else {"manual": "already"}.get(e.state, e.state)
                continue
            now = datetime.now(UTC)
            e = e or Entry(document_id=doc_id, system=settings.rpa.system, key=document_key(d.sha256))
            e.state, e.updated_at, e.entered_at, e.failures = "manual", now, now, 0
            e.message = "職員が手で入力しました" + (f"（記録: {who}）" if who else "")
            s.add(e)
            if d.status != "rejected":  # an unreadable scan stays counted as such in the ledger
                d.status, d.updated_at = "entered", now
                s.add(d)
            out[doc_id] = "marked"
    return out


def _enter_one(bot: Bot, job: Job, store: Store, doc: Document, e: Entry, settings: Settings,
               log) -> tuple[str, EntryError | None]:
    """Enter one document and record how it ended; returns the outcome's name and, when the core
    system cannot be worked with at all (down, account refused), the error that stops the run."""
    try:
        out = bot.enter(job)
    except Refused as err:
        _hand_back(store, doc, e, job.mapping, [label for label, _ in err.problems], err.message_ja, err.evidence,
                   settings, log)
        return "refused", None
    except EntryFailed as err:
        if err.last.kind == "mismatch":  # this document's values, not the system: a person decides
            message = (f"{err.last.message_ja}。基幹システムがこの値をそのまま登録できないため、登録していません"
                       "（画面の記録を確認してください）")
            _hand_back(store, doc, e, job.mapping, err.last.labels, message, err.evidence, settings, log,
                       attempts=err.attempts)
            return "refused", None
        if err.last.kind in NOT_THE_DOCUMENT:  # the system, not this document: not counted against it
            _finish(store, e, "failed", attempts=err.attempts, evidence=err.evidence, message=err.message_ja)
            return "failed", err if err.last.kind in SYSTEM_DOWN else None
        return _failed_here(store, doc, e, job.mapping, f"{err.last.message_ja}（{err.attempts}回試行）",
                            err.evidence, settings, log, err.attempts), None
    except LoginFailed as err:
        _finish(store, e, "failed", attempts=1, message=err.message_ja)
        return "failed", err
    except Exception as err:  # a bug of ours or a screen we do not know: this document waits, the others go on
        log.exception("document %s: unexpected error while entering", doc.id)
        return _failed_here(store, doc, e, job.mapping, f"入力中に想定外のエラーが起きました（{type(err).__name__}）。"
                            "ログを確認してください", [], settings, log), None
    _finish(store, e, "entered", doc_status="entered", attempts=out.attempts, evidence=out.evidence,
            receipt=out.receipt, created=out.created, message="")
    return ("entered" if out.created else "already_there"), None


@flow(name="entry", flow_run_name="基幹システム入力")
def entry(document_ids: list[int] | None = None, limit: int | None = None) -> dict:
    """Enter ready documents (all, or these ids) into the core system; returns counts by outcome."""
    owner_only()  # the screenshots; also when its worker was started by hand, not by `server up`
    log = get_run_logger()
    settings = Settings()
    store = Store(settings.db_url)
    docs = ready(store, settings, document_ids)[:limit]
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
            counts["waiting"] -= 1
            # one bot in the core system at a time, and the check that the document is still ready
            # inside the same slot: two runs never both enter it
            with concurrency(settings.rpa.limit_name, occupy=1):
                e = _begin(store, doc, settings.rpa.system, str(flow_run.id) if flow_run.id else None)
                if e is None:
                    log.info("document %s is no longer ready; skipped", doc.id)
                    continue
                mapping = maps.get(doc.form)
                if mapping is None:
                    outcome = _failed_here(store, doc, e, None, f"様式「{doc.form}」の入力画面の対応表がありません",
                                           [], settings, log)
                    counts[outcome] += 1
                    continue
                job = Job(e.key, templates[doc.form], mapping, final_values(store, doc),
                          settings.evidence_dir / doc.sha256[:16])
                outcome, stop = _enter_one(bot, job, store, doc, e, settings, log)
            counts[outcome] += 1
            row = store.entry(doc.id, settings.rpa.system)
            _artifact(doc, row, mapping.title)
            log.info("%d/%d: document %s %s %s", n, len(docs), doc.id, row.state, row.receipt or row.message)
            if stop:
                break
    create_markdown_artifact(
        "| 入力済み | 登録済みを確認 | 差し戻し (確認待ち) | 失敗 | 次回に持ち越し |\n|---|---|---|---|---|\n"
        f"| {counts['entered']} | {counts['already_there']} | {counts['refused']} | {counts['failed']} | "
        f"{counts['waiting']} |", key="entry-summary", description="基幹システム入力の結果")
    if stop:
        raise RuntimeError(f"{stop.message_ja}（未入力の {counts['waiting'] + counts['failed']} 件は入力待ちのまま残ります）")
    if counts["failed"]:
        raise RuntimeError(f"{counts['failed']} 件を入力できませんでした（理由は各書類の成果物と `madoguchi entry list`）。"
                           "入力待ちのまま残り、次の入力実行で再試行します")
    return counts
