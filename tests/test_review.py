"""The review queue against a real Prefect server, worker and deployments (`server up`): a document
with doubtful fields gets one suspended review run; answers are checked, stored, or asked again."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from flows.service import server
from tests.browser import artifact_path, browser_fixture, resume_in_ui  # noqa: F401 (fixture)
from tests.conftest import SAMPLES
from tests.stack import running_stack

READY = ("validated", "entered")  # validated, and maybe entered already by the run the review starts


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with running_stack(tmp_path_factory, "review") as settings:
        with temporary_settings({PREFECT_API_URL: server.api_url(settings)}):
            with get_client(sync_client=True) as client:  # reviews here are opened by the tests, not reconcile
                client.pause_deployment(client.read_deployment_by_name("reconcile/reconcile").id)
            yield settings


@pytest.fixture(scope="module")
def documents(stack, engines):
    """Four sample scans read in this process into the stack's database; all need review. The
    pregnancy notification reads straight through since 2026-12-05, so its names are held to a
    threshold no reading reaches (a fault injected: the review it opens is what is tested)."""
    from flows.pipeline import Reader

    reader = Reader(stack, engines=engines)
    decision = stack.decision.model_copy(update={"thresholds": {**stack.decision.thresholds, "name_kanji": 1.01}})
    strict = Reader(stack.model_copy(update={"decision": decision}), engines=engines)
    out = {}
    for name in ("child_allowance-300dpi.jpg", "long_term_care-tiff-200dpi.tif", "pregnancy_notification-300dpi.jpg",
                 "child_allowance-200dpi-pdf.pdf"):
        path = Path(shutil.copy(SAMPLES / "scans" / name, stack.home / name))
        result = (strict if name.startswith("pregnancy") else reader).process(path)
        assert result.status == "needs_review", name
        out[name] = reader.store.find(result.sha256)
    return reader.store, out


def _wait_state(run_id, states: set[str], seconds: float = 180, after=None):
    """The run once it is in one of `states` (and, given `after`, in a state other than that one)."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + seconds
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            if run.state and run.state.type.value in states and run.state.id != after:
                return run
            assert time.monotonic() < deadline, f"{run.name} still {run.state.type.value if run.state else None}"
            time.sleep(1)


def _form(run):
    """The schema and description a reviewer sees for a suspended run."""
    from prefect.client.orchestration import get_client
    from prefect.input.run_input import keyset_from_paused_state

    keys = keyset_from_paused_state(run.state)
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:  # the run is Paused first, then saves its form
            try:
                schema = json.loads(client.read_flow_run_input(run.id, keys["schema"]))
                description = json.loads(client.read_flow_run_input(run.id, keys["description"]))
                return schema, description
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def _open(store, doc, settings):
    """Open a review from inside a flow run, as reconcile and process_document do."""
    from prefect import flow

    from flows.review import start_review

    @flow(name="open-review-test")
    def opener():
        return start_review(store, doc, settings)

    review = opener()
    run = _wait_state(review.flow_run_id, {"PAUSED", "FAILED", "CRASHED"})
    assert run.state.type.value == "PAUSED", run.state.message  # a subflow could not suspend
    assert run.parent_task_run_id is None
    return run


def test_a_review_asks_exactly_the_doubtful_fields_and_stores_the_corrections(stack, documents):
    from prefect.flow_runs import resume_flow_run

    from flows.verify import shown
    from schemas.templates import load_templates

    store, docs = documents
    doc = docs["child_allowance-300dpi.jpg"]
    run = _open(store, doc, stack)
    assert run.name == "確認-児童手当 認定請求書-child_allowance-300dpi.jpg"
    assert {"needs-review", "child_allowance"} <= set(run.tags)
    schema, description = _form(run)
    doubtful = {f.name: f for f in store.fields_of(doc.id) if f.status != "accepted"}
    assert set(schema["properties"]) == set(doubtful) | {"decision", "reject_reason", "reviewer"}
    specs = {f.name: f for f in load_templates()["child_allowance"].fields}
    for name, row in doubtful.items():
        prop = schema["properties"][name]
        assert prop["default"] == shown(specs[name], None if row.value is None else json.loads(row.value))
        assert prop["title"].endswith(specs[name].label)
    assert description.count("data:image/png;base64,") == len(doubtful)  # one image per field
    assert "data:image/jpeg;base64," in description  # the page with the fields outlined

    truth = json.loads((SAMPLES / "scans" / "child_allowance-300dpi.truth.json").read_text(encoding="utf-8"))["fields"]
    answer = {n: schema["properties"][n]["default"] for n in schema["properties"]}
    answer.update({n: shown(specs[n], truth[n]) for n in doubtful}, reviewer="窓口 一郎")  # what the paper says
    resume_flow_run(run.id, run_input=answer)
    done = _wait_state(run.id, {"COMPLETED", "FAILED", "CRASHED"})
    assert done.state.type.value == "COMPLETED", done.state.message
    assert "validated" in done.tags and "needs-review" not in done.tags
    assert store.document(doc.id).status in READY  # the entry run the review started may have entered it already
    corrections = [c for c in store.corrections() if c.document_id == doc.id]
    assert {c.field for c in corrections} == set(doubtful)
    for c in corrections:
        assert json.loads(c.after) == truth[c.field] and c.changed == (json.loads(c.before or "null") != truth[c.field])
    assert all(c.reviewer == "窓口 一郎" and c.seconds > 0 for c in corrections)
    [review] = [r for r in store.reviews() if r.document_id == doc.id]
    assert review.state == "validated" and review.attempts == 1
    _entered_as_validated(stack, store, doc, "child_allowance")


def _entered_as_validated(settings, store, doc, form: str) -> None:
    """The entry run a validated review starts puts the record in the stand-in core system, with the
    values as validated: the accepted readings and the reviewer's answers."""
    from flows.entry import mappings
    from flows.verify import final_values
    from samples.core_system import CoreSystem
    from schemas.templates import load_templates
    from tests.core_system import stored_as_ours

    # an entry run (worker poll, process start, browser, a dozen screens) and, when the stand-in's
    # occasional 500 (1% of requests) hit 登録 and left the entry uncertain, the next scheduled run
    # (every 300 s), which looks the key up before entering: the product's answer, so waited for here
    deadline = time.monotonic() + 240 + 300
    while store.document(doc.id).status != "entered":
        assert time.monotonic() < deadline, f"not entered: {store.entry(doc.id, settings.rpa.system)}"
        time.sleep(1)
    entry = store.entry(doc.id, settings.rpa.system)
    records = CoreSystem(settings.home / "core_system" / "core.db", {}).records()
    [record] = [r for r in records if entry.key in (r["values"].get("biko") or "")]
    mapping = mappings(settings)[form]
    values = final_values(store, doc)
    assert record["receipt"] == entry.receipt
    assert stored_as_ours(record, mapping, load_templates()[form]) == {fm.source: values[fm.source]
                                                                       for fm in mapping.fields}


INVALID = {"wareki_date": "令和7年2月30日", "digits": "abc", "phone": "abc", "postal_code": "abc", "amount": "abc",
           "kana": "山田 花子", "name_kanji": "猪上花子"}  # 猪上: no listed surname, so no space is placed


def test_an_invalid_answer_is_asked_again_with_the_reason(stack, documents):
    """GIVEN a suspended review WHEN the reviewer leaves out their name, then enters a value the
    reader's checks refuse THEN each time the run suspends again saying what is wrong, and the
    third, correct answer validates the document."""
    from prefect.flow_runs import resume_flow_run

    from flows.verify import shown
    from schemas.templates import load_templates

    store, docs = documents
    doc = docs["long_term_care-tiff-200dpi.tif"]
    specs = {f.name: f for f in load_templates()["long_term_care"].fields}
    truth = json.loads((SAMPLES / "scans" / "long_term_care-tiff-200dpi.truth.json").read_text(encoding="utf-8"))["fields"]
    run = _open(store, doc, stack)
    schema, _ = _form(run)
    doubtful = [n for n in schema["properties"] if n in specs]
    good = {n: schema["properties"][n]["default"] for n in schema["properties"]}
    good.update({n: shown(specs[n], truth[n]) for n in doubtful}, reviewer="窓口 二郎")

    resume_flow_run(run.id, run_input={**good, "reviewer": ""})
    run = _wait_state(run.id, {"PAUSED"}, 240, after=run.state.id)
    _, description = _form(run)
    assert "確認者名を入力してください" in description

    target = next((n for n in doubtful if specs[n].kind.value in INVALID), None)
    attempts = 2
    if target is not None:  # the doubtful fields of this scan can be given an impossible value
        resume_flow_run(run.id, run_input={**good, target: INVALID[specs[target].kind.value]})
        run = _wait_state(run.id, {"PAUSED"}, 240, after=run.state.id)
        _, description = _form(run)
        assert "入力内容を確認してください" in description and specs[target].label in description
        attempts = 3
    resume_flow_run(run.id, run_input=good)
    done = _wait_state(run.id, {"COMPLETED", "FAILED", "CRASHED"}, 240)
    assert done.state.type.value == "COMPLETED", done.state.message
    assert store.document(doc.id).status in READY
    [review] = [r for r in store.reviews() if r.document_id == doc.id]
    assert review.attempts == attempts and review.reviewer == "窓口 二郎"


def test_a_reviewer_can_send_a_document_back_with_a_reason(stack, documents):
    from prefect.flow_runs import resume_flow_run

    store, docs = documents
    doc = docs["pregnancy_notification-300dpi.jpg"]
    run = _open(store, doc, stack)
    schema, _ = _form(run)
    answer = {n: schema["properties"][n]["default"] for n in schema["properties"]}
    resume_flow_run(run.id, run_input={**answer, "decision": "差し戻す", "reject_reason": "申請者への確認が必要",
                                       "reviewer": "窓口 三郎"})
    done = _wait_state(run.id, {"COMPLETED", "FAILED", "CRASHED"})
    assert done.state.type.value == "COMPLETED" and "returned" in done.tags
    assert store.document(doc.id).status == "review_rejected"
    [review] = [r for r in store.reviews() if r.document_id == doc.id]
    assert review.state == "rejected" and review.reject_reason == "申請者への確認が必要"
    assert not [c for c in store.corrections() if c.document_id == doc.id]


def test_an_expired_review_is_put_back_in_the_queue(stack, documents):
    from flows.review import reopen_reviews, start_review

    store, docs = documents
    doc = docs["child_allowance-200dpi-pdf.pdf"]
    first = start_review(store, doc, stack, timeout_seconds=5)
    expired = _wait_state(first.flow_run_id, {"FAILED", "CRASHED", "CANCELLED"}, 240)  # paused, never resumed
    assert expired.state.type.value == "FAILED"
    reopened = reopen_reviews(store, stack)
    assert reopened == [doc.id]  # the others are decided
    states = {r.flow_run_id: r.state for r in store.reviews() if r.document_id == doc.id}
    assert states[first.flow_run_id] == "expired" and list(states.values()).count("open") == 1
    assert store.document(doc.id).status == "needs_review"
    assert reopen_reviews(store, stack) == []  # one open review at a time


def test_a_reviewer_answers_in_the_prefect_ui_with_the_images_shown(stack, documents, browser):
    """GIVEN the review opened again above WHEN a reviewer opens it in the Prefect UI (⋮ → Resume),
    sees the field images load, types what the paper says and their name, and submits THEN the
    corrections reach the database. Screenshots: var/test-artifacts/review-*.png.

    Last in the module: the browser keeps an event loop in this thread, so only sync clients here."""
    from flows.verify import BLANK, shown
    from schemas.templates import load_templates

    store, docs = documents
    doc = docs["child_allowance-200dpi-pdf.pdf"]
    [review] = [r for r in store.reviews("open") if r.document_id == doc.id]
    run = _wait_state(review.flow_run_id, {"PAUSED"})
    schema, _ = _form(run)
    specs = {f.name: f for f in load_templates()["child_allowance"].fields}
    truth = json.loads((SAMPLES / "scans" / "child_allowance-200dpi-pdf.truth.json").read_text(encoding="utf-8"))["fields"]
    doubtful = [n for n in schema["properties"] if n in specs]
    changes = {schema["properties"][n]["title"]: shown(specs[n], truth[n]) for n in doubtful}
    changes = {title: BLANK if value == "" else value for title, value in changes.items()}  # "" would keep the reading
    changes["確認者名"] = "窓口 四郎"
    seen = resume_in_ui(browser, f"http://127.0.0.1:{stack.server.port}", review.flow_run_id, changes,
                        artifact_path("review-dialog.png"), filled_png=artifact_path("review-filled.png"))
    assert seen["images_total"] == seen["images"] == len(doubtful) + 1  # each field, and the page
    done = _wait_state(review.flow_run_id, {"COMPLETED", "FAILED", "CRASHED"}, 240)
    assert done.state.type.value == "COMPLETED", done.state.message
    assert store.document(doc.id).status in READY
    corrections = [c for c in store.corrections() if c.document_id == doc.id]
    assert {c.field: json.loads(c.after) if c.after else None for c in corrections} == {n: truth[n] for n in doubtful}
    assert {c.reviewer for c in corrections} == {"窓口 四郎"}


def test_a_record_the_core_system_refuses_comes_back_to_review_and_is_entered_once_corrected(stack):
    """GIVEN an accepted document whose 妊娠週数 (60) the core system refuses WHEN the entry
    deployment runs THEN the entry run itself opens a review asking only that field, with the
    system's message and screen; and once the reviewer corrects it, the record is entered with the
    correction, through the entry run the review starts. (Prefect through its sync client only: the
    module's browser may be open, and then Prefect's sync-or-async calls hand back coroutines.)"""
    from prefect.client.orchestration import get_client

    from schemas.db import Store
    from schemas.templates import load_templates
    from tests.core_system import save_ready, truth

    store = Store(stack.db_url)
    template = load_templates()["pregnancy_notification"]
    doc_id = save_ready(store, template, {**truth("pregnancy_notification"), "pregnancy_weeks": "60"}, "weeks.jpg",
                        "f" * 64)
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("entry/entry")
        client.create_flow_run_from_deployment(deployment.id, parameters={"document_ids": [doc_id]})
    deadline = time.monotonic() + 240
    while not (open_ := [r for r in store.reviews("open") if r.document_id == doc_id]):
        assert time.monotonic() < deadline, f"no review: {store.entry(doc_id, stack.rpa.system)}"
        time.sleep(1)
    assert store.document(doc_id).status == "needs_review"
    run = _wait_state(open_[0].flow_run_id, {"PAUSED"}, 240)
    schema, description = _form(run)
    assert set(schema["properties"]) == {"pregnancy_weeks", "decision", "reject_reason", "reviewer"}
    assert schema["properties"]["pregnancy_weeks"]["default"] == "60"
    assert "基幹システムが受け付けませんでした" in description and "妊娠週数は1から45までの数字" in description
    assert "data:image/jpeg;base64," in description  # the refusing screen
    answer = {n: p["default"] for n, p in schema["properties"].items()}
    with get_client(sync_client=True) as client:
        client.resume_flow_run(run.id, run_input={**answer, "pregnancy_weeks": "12", "reviewer": "窓口 五郎"})
    _entered_as_validated(stack, store, store.document(doc_id), "pregnancy_notification")
    [c] = [c for c in store.corrections() if c.document_id == doc_id]
    assert (c.before, c.after, c.source, c.status_before) == ('"60"', '"12"', "core_system", "accepted")
