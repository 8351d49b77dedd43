"""The review queue in the Prefect UI: one suspended run per document with doubtful fields.

A run named 確認-<form title>-<file>, tagged `needs-review` and the form, suspends with a form
built for exactly the fields a person must look at, each prefilled with the best reading, and a
description with each field's image, both readings, the confidence and the reason. Suspended, it
holds no process; resuming restarts it from the top, and `suspend_flow_run` hands back the answers
already given (keys review-1, review-2, ... replay in order). An answer that fails the reader's
checks is asked again with what is wrong. A review that expires is opened again by `reconcile`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from prefect.runtime import flow_run
from pydantic import Field, create_model

from flows.handoff import REVIEW_TAG as TAG
from flows.handoff import start_entry, start_review
from flows.home import owner_only
from flows.verify import (
    NOT_TICKED,
    REJECT_REASONS,
    Item,
    check,
    final_values,
    items_for,
    markdown,
    record_returned,
    record_validated,
    refusal_of,
    shown,
)
from schemas.db import Document, Entry, Review, Store
from schemas.settings import Settings
from schemas.templates import FieldKind, FormTemplate, load_templates

CONFIRM, RETURN = "確定する", "差し戻す"
NO_REASON = "（差し戻さない）"
CLOSED_RUN_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@lru_cache(maxsize=4)
def _store(url: str) -> Store:
    """One Store per database in this process: a warm reader runs a review run for every document that
    needs one, and a new Store connects and checks its tables again (9 ms of CPU on PostgreSQL), twice
    per run (its name, then its body)."""
    return Store(url)


@lru_cache(maxsize=4)
def _templates(folder: Path) -> dict[str, FormTemplate]:
    """The forms, read once per process (36 ms each time), as the reader reads them once when it starts."""
    return load_templates(folder)


def _title(settings: Settings, doc: Document) -> str:
    templates = _templates(settings.ocr.forms_dir)
    return templates[doc.form].title if doc.form in templates else (doc.form or "")


def _run_name() -> str:
    settings = Settings()
    doc = _store(settings.db_url).document(flow_run.parameters["document_id"])
    return f"確認-{_title(settings, doc)}-{Path(doc.source).name}" if doc else "確認-(不明な書類)"


def review_form(doc: Document, template: FormTemplate, items: list[Item], defaults: dict[str, object],
                problems: dict[str, str], refusal: Entry | None = None,
                accepted: dict[str, object] | None = None) -> type[RunInput]:
    """The RunInput for exactly these items, prefilled. Built with create_model, not
    with_initial_data, which drops the fields' descriptions (DESIGN.md). `accepted`: the document's
    values not asked (a branch code's names are looked up under the bank code accepted or in the form)."""
    fields: dict[str, tuple] = {}
    for n, it in enumerate(items, start=1):
        spec = it.spec
        if spec.kind == FieldKind.checkbox:
            typ: object = bool
        elif spec.kind == FieldKind.choice:
            typ = Literal[tuple([o.label for o in spec.options] + [NOT_TICKED])]
        else:
            typ = str
        readings = " / ".join(f"{e}「{t or ''}」" for e, t in sorted(it.readings.items()))
        hint = "「令和8年11月27日」の形式" if spec.kind == FieldKind.wareki_date else ""
        desc = "　".join(x for x in (problems.get(spec.name, ""), f"読取: {readings}" if readings else "", hint) if x)
        fields[spec.name] = (typ, Field(default=defaults[spec.name], title=f"{n}. {spec.label}", description=desc))
    fields["decision"] = (Literal[CONFIRM, RETURN], Field(defaults.get("decision", CONFIRM), title="判定",
                          description="差し戻すと、この書類は入力されず「差し戻し」として記録されます"))
    fields["reject_reason"] = (Literal[tuple([NO_REASON, *REJECT_REASONS])],
                               Field(defaults.get("reject_reason", NO_REASON), title="差し戻しの理由"))
    fields["reviewer"] = (str, Field(defaults.get("reviewer", ""), title="確認者名",
                                     description=problems.get("reviewer", "記録のため氏名を入力してください")))
    model = create_model("ReviewForm", __base__=RunInput, **fields)
    model._description = markdown(doc, template, items, problems, refusal, {**(accepted or {}), **defaults})
    return model


def _set_tags(add: list[str], remove: list[str]) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, tags=sorted((set(flow_run.tags) - set(remove)) | set(add)))


@flow(name="review_document", flow_run_name=_run_name)
def review_document(document_id: int, timeout_seconds: int | None = None) -> dict:
    """Ask a person about one document's doubtful fields; record the answer."""
    owner_only()  # also when its worker was started by hand, not by `server up`
    log = get_run_logger()
    settings = Settings()
    store = _store(settings.db_url)
    doc = store.document(document_id)
    if doc is None:
        raise ValueError(f"no document {document_id}")
    if doc.status != "needs_review":  # decided by another review meanwhile
        log.info("document %s is already %s", document_id, doc.status)
        return {"document_id": document_id, "status": doc.status}
    template = _templates(settings.ocr.forms_dir)[doc.form]
    items = items_for(store, doc, template, settings.home / "views")
    review = store.review_for_run(doc.id, str(flow_run.id), len(items))
    refusal = refusal_of(store, doc)
    asked = {it.spec.name for it in items}
    accepted = {k: v for k, v in final_values(store, doc).items() if k not in asked}  # for cross-field checks
    defaults: dict[str, object] = {it.spec.name: shown(it.spec, it.value) for it in items}
    problems: dict[str, str] = {}
    timeout = timeout_seconds or int(settings.review.timeout_days * 86400)
    attempt = 0
    while True:
        attempt += 1
        form = review_form(doc, template, items, defaults, problems, refusal, accepted)
        answer = suspend_flow_run(wait_for_input=form, timeout=timeout, key=f"review-{attempt}").model_dump()
        reviewer = str(answer.get("reviewer", "")).strip()
        defaults = answer
        if not reviewer:
            problems = {"reviewer": "確認者名を入力してください"}
            continue
        if answer["decision"] == RETURN:
            reason = answer["reject_reason"] if answer["reject_reason"] != NO_REASON else "理由の指定なし"
            record_returned(store, review, doc, reviewer, reason, attempt)
            _set_tags(["returned"], [TAG])
            log.info("document %s sent back by the reviewer: %s", document_id, reason)
            return {"document_id": document_id, "status": "review_rejected", "reason": reason}
        values, problems = check(template, items, answer, accepted, date.today())
        if not problems:
            break
        log.info("answer %d has %d problem(s); asking again", attempt, len(problems))
    seconds = (datetime.now(UTC) - review.opened_at.replace(tzinfo=review.opened_at.tzinfo or UTC)).total_seconds()
    changed = record_validated(store, review, doc, items, values, reviewer, seconds, attempt,
                               source="core_system" if refusal else "review")
    _set_tags(["validated"], [TAG])
    create_markdown_artifact(f"確認済み: {len(items)} 項目中 {changed} 項目を修正 (確認者: {reviewer})",
                             description=f"確認 {Path(doc.source).name}")
    log.info("document %s validated: %d of %d field(s) changed; ready for entry", document_id, changed, len(items))
    start_entry(document_id, log)
    return {"document_id": document_id, "status": "validated", "changed": changed, "fields": len(items)}


def reopen_reviews(store: Store, settings: Settings) -> list[int]:
    """Every document waiting for review has exactly one open review run: a review whose run has
    ended without an answer (expired, crashed, cancelled) is closed as `expired` and a new run is
    started, so a document is never lost from the queue. Returns the documents given a new run."""
    from prefect.client.orchestration import get_client

    waiting = store.documents("needs_review")
    if not waiting:
        return []
    open_by_doc: dict[int, list[Review]] = {}
    for r in store.reviews("open"):
        open_by_doc.setdefault(r.document_id, []).append(r)
    started = []
    with get_client(sync_client=True) as client:
        for doc in waiting:
            alive = False
            for r in open_by_doc.get(doc.id, []):
                try:
                    state = client.read_flow_run(r.flow_run_id).state
                except Exception:  # the run is gone (a new Prefect database): the review is not
                    state = None
                if state is None or state.type.value in CLOSED_RUN_STATES:
                    store.set_review_state(r.id, "expired")
                else:
                    alive = True
            if not alive:
                start_review(store, doc, settings)
                started.append(doc.id)
    return started
