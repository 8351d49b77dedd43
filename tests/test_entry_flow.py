"""The `entry` flow on a real (test) Prefect server with the stand-in core system: documents marked
`entered` with their receipt and evidence, a refusal sent back to review, a system that cannot be
reached failing the run without losing a document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.verify import items_for, markdown
from schemas.db import Store
from schemas.settings import Settings
from schemas.templates import load_templates
from tests.browser import chromium_path
from tests.core_system import PASSWORD, USER, core_system, save_ready, truth
from tests.stack import free_port

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no Chromium (chromium-headless-shell)")


@pytest.fixture(scope="module")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


@pytest.fixture
def env(tmp_path, monkeypatch, prefect_server):
    with core_system(tmp_path / "core.db") as (core, url):
        monkeypatch.setenv("MADOGUCHI_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("MADOGUCHI_RPA__URL", url)
        monkeypatch.setenv("MADOGUCHI_RPA__USER", USER)
        monkeypatch.setenv("MADOGUCHI_RPA__PASSWORD", PASSWORD)
        monkeypatch.setenv("MADOGUCHI_RPA__BACKOFF_SECONDS", "0.2")
        monkeypatch.setenv("MADOGUCHI_RPA__RETRIES", "1")
        monkeypatch.setenv("MADOGUCHI_RPA__TIMEOUT_SECONDS", "5")  # also the wait before a second look after 登録
        settings = Settings()
        yield settings, Store(settings.db_url), core


def test_ready_documents_are_entered_once_and_a_refusal_goes_back_to_review(env):
    """GIVEN two accepted documents, one of which the core system will refuse (妊娠週数 60), and a
    review already validated WHEN the entry flow runs twice THEN the first is `entered` with the
    system's receipt and screenshots, the second is back in `needs_review` with the refused field,
    the message and the screen in its review form, and the second run enters nothing again."""
    from flows.entry import entry

    settings, store, core = env
    templates = load_templates(settings.ocr.forms_dir)
    good = save_ready(store, templates["child_allowance"], truth("child_allowance"), "good.jpg", "a" * 64)
    bad = save_ready(store, templates["pregnancy_notification"],
                     {**truth("pregnancy_notification"), "pregnancy_weeks": "60"}, "bad.jpg", "b" * 64)

    counts = entry()
    assert counts == {"entered": 1, "already_there": 0, "refused": 1, "failed": 0, "waiting": 0}

    e = store.entry(good, settings.rpa.system)
    [record] = core.records()
    assert (store.document(good).status, e.state, e.receipt, e.key) == (
        "entered", "entered", record["receipt"], "MDG-" + "a" * 16)
    assert record["values"]["biko"] == f"AI-OCR入力 {e.key}"
    assert [Path(p).name.rsplit("-", 1)[-1] for p in json.loads(e.evidence)] == ["confirm.png", "complete.png"]

    r = store.entry(bad, settings.rpa.system)
    doc = store.document(bad)
    assert (doc.status, r.state, json.loads(r.fields)) == ("needs_review", "refused", ["pregnancy_weeks"])
    assert "妊娠週数は1から45までの数字で入力してください" in r.message
    items = items_for(store, doc, templates["pregnancy_notification"], settings.home / "views")
    assert [it.spec.name for it in items] == ["pregnancy_weeks"] and items[0].value == "60"
    text = markdown(doc, templates["pregnancy_notification"], items, {}, r)
    assert "基幹システムが受け付けませんでした" in text and "data:image/jpeg;base64," in text

    assert entry() == {"entered": 0, "already_there": 0, "refused": 0, "failed": 0, "waiting": 0}
    assert len(core.records()) == 1


def test_a_document_entered_before_our_database_knew_is_found_not_entered_again(env):
    """GIVEN the record is already in the core system (a run crashed after 登録) but our entry row
    says nothing WHEN the flow runs THEN the document is marked entered with the existing receipt."""
    from flows.entry import entry

    settings, store, core = env
    templates = load_templates(settings.ocr.forms_dir)
    doc = save_ready(store, templates["long_term_care"], truth("long_term_care"), "crashed.jpg", "c" * 64)
    first = entry()
    assert first["entered"] == 1
    with store.session() as s, s.begin():  # forget it, as if the run died before writing
        from schemas.db import Document, Entry

        s.delete(s.get(Entry, store.entry(doc, settings.rpa.system).id))
        s.get(Document, doc).status = "accepted"
    assert entry()["already_there"] == 1
    assert store.entry(doc, settings.rpa.system).receipt == core.records()[0]["receipt"]
    assert len(core.records()) == 1


def test_an_unreachable_core_system_fails_the_run_and_keeps_the_documents(env, monkeypatch):
    from prefect.exceptions import FailedRun

    from flows.entry import entry

    settings, store, _ = env
    monkeypatch.setenv("MADOGUCHI_RPA__URL", f"http://127.0.0.1:{free_port()}")
    templates = load_templates(settings.ocr.forms_dir)
    ids = [save_ready(store, templates["child_allowance"], truth("child_allowance"), f"{n}.jpg", str(n) * 64)
           for n in (1, 2)]
    state = entry(return_state=True)
    assert state.is_failed()
    with pytest.raises((FailedRun, RuntimeError), match="基幹システムに接続できません"):
        state.result()
    first = store.entry(ids[0], settings.rpa.system)
    assert (first.state, first.attempts) == ("failed", 2)
    assert store.entry(ids[1], settings.rpa.system) is None, "the run stops at a system that is down"
    assert [store.document(i).status for i in ids] == ["accepted", "accepted"]


def test_a_refused_document_corrected_by_a_reviewer_is_entered_with_the_correction(env):
    """GIVEN a record the core system refused (妊娠週数 60) WHEN a reviewer corrects the field it
    named THEN the next entry run enters the corrected value, and the correction of an accepted
    field counts as an error found after acceptance."""
    from flows.entry import entry
    from flows.verify import record_validated

    settings, store, core = env
    templates = load_templates(settings.ocr.forms_dir)
    doc_id = save_ready(store, templates["pregnancy_notification"],
                        {**truth("pregnancy_notification"), "pregnancy_weeks": "60"}, "weeks.jpg", "d" * 64)
    assert entry()["refused"] == 1
    doc = store.document(doc_id)
    items = items_for(store, doc, templates["pregnancy_notification"], settings.home / "views")
    review = store.review_for_run(doc.id, "run-of-a-reviewer", len(items))
    record_validated(store, review, doc, items, {"pregnancy_weeks": "12"}, "窓口 一郎", 5.0, 1, source="core_system")
    assert entry()["entered"] == 1
    [record] = core.records()
    assert record["values"]["shusu"] == 12
    assert store.document(doc_id).status == "entered"
    [c] = [c for c in store.corrections() if c.document_id == doc_id]
    assert (c.field, c.status_before, c.before, c.after, c.changed, c.source) == (
        "pregnancy_weeks", "accepted", '"60"', '"12"', True, "core_system")


def test_a_value_the_core_system_cannot_hold_goes_to_review_not_into_the_system(env):
    """GIVEN a core system that silently cuts 住所 short WHEN the confirmation screen differs on
    every attempt THEN nothing is registered and the document goes to review asking about 住所."""
    from flows.entry import entry
    from tests.core_system import control

    settings, store, core = env
    templates = load_templates(settings.ocr.forms_dir)
    doc_id = save_ready(store, templates["child_allowance"], truth("child_allowance"), "long.jpg", "e" * 64)
    control(settings.rpa.url, truncate={"jusho": 6})
    assert entry()["refused"] == 1
    e = store.entry(doc_id, settings.rpa.system)
    assert (e.state, json.loads(e.fields), store.document(doc_id).status) == ("refused", ["address"], "needs_review")
    assert "一致しません（住所）" in e.message and e.attempts == 2
    assert core.records() == []


def test_one_document_that_cannot_be_entered_does_not_hold_up_the_others(env):
    """GIVEN two ready documents, the first answered with a 500 on 登録 WHEN the flow runs THEN the
    second is entered, the run fails visibly, and the first stays ready for the next run."""
    from flows.entry import entry
    from tests.core_system import control

    settings, store, core = env
    templates = load_templates(settings.ocr.forms_dir)
    first = save_ready(store, templates["child_allowance"], truth("child_allowance"), "first.jpg", "7" * 64)
    second = save_ready(store, templates["long_term_care"], truth("long_term_care"), "second.jpg", "8" * 64)
    control(settings.rpa.url, fail=[{"path": "/entry/jidou_teate/commit", "status": 500}])
    state = entry(return_state=True)
    assert state.is_failed()
    assert (store.document(first).status, store.entry(first, settings.rpa.system).state) == ("accepted", "failed")
    assert store.document(second).status == "entered"
    assert entry() == {"entered": 1, "already_there": 0, "refused": 0, "failed": 0, "waiting": 0}
    assert sorted(r["procedure"] for r in core.records()) == ["jidou_teate", "kaigo_nintei"]


def test_documents_read_before_the_bots_were_switched_on_are_left_alone(env, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from flows.entry import ready

    settings, store, _ = env
    templates = load_templates(settings.ocr.forms_dir)
    doc = save_ready(store, templates["child_allowance"], truth("child_allowance"), "old.jpg", "9" * 64)
    assert [d.id for d in ready(store, settings)] == [doc]
    monkeypatch.setenv("MADOGUCHI_RPA__ENTER_SINCE", (datetime.now(UTC) + timedelta(minutes=1)).isoformat())
    assert ready(store, Settings()) == []


def test_a_document_failing_for_its_own_reasons_goes_back_to_review_after_max_attempts(env, monkeypatch):
    """GIVEN MADOGUCHI_RPA__MAX_ATTEMPTS=2 and a data-entry screen that answers this document with a
    500 on every attempt WHEN two entry runs fail on it THEN after the first it waits for the next
    run, after the second it is back in review with the reason and every field asked; once a
    reviewer confirms it, it is entered once."""
    from flows.entry import entry
    from flows.verify import record_validated
    from tests.core_system import control

    monkeypatch.setenv("MADOGUCHI_RPA__MAX_ATTEMPTS", "2")
    settings, store, core = env
    template = load_templates(settings.ocr.forms_dir)["child_allowance"]
    doc_id = save_ready(store, template, truth("child_allowance"), "stubborn.jpg", "f" * 64)
    faults = [{"path": "/entry/jidou_teate", "status": 500}] * 2  # both attempts of a run (RETRIES=1)

    control(settings.rpa.url, fail=faults)
    assert entry(return_state=True).is_failed()
    e = store.entry(doc_id, settings.rpa.system)
    assert (store.document(doc_id).status, e.state, e.failures) == ("accepted", "failed", 1)
    assert "基幹システムでエラーが発生しました" in e.message and "1/2" in e.message

    control(settings.rpa.url, fail=faults)
    assert entry()["refused"] == 1
    e = store.entry(doc_id, settings.rpa.system)
    doc = store.document(doc_id)
    assert (doc.status, e.state, e.failures, json.loads(e.fields)) == ("needs_review", "refused", 0, [])
    assert "2回の入力実行で入力できなかったため、確認に戻しました" in e.message
    assert "基幹システムでエラーが発生しました" in e.message
    items = items_for(store, doc, template, settings.home / "views")
    assert [it.spec.name for it in items] == [f.name for f in template.fields]
    assert core.records() == []

    review = store.review_for_run(doc.id, "run-of-a-reviewer", len(items))
    record_validated(store, review, doc, items, {it.spec.name: it.value for it in items}, "窓口 一郎", 5.0, 1,
                     source="core_system")
    assert entry()["entered"] == 1
    assert len(core.records()) == 1


def test_a_system_that_is_down_never_counts_against_a_document(env, monkeypatch):
    """GIVEN MAX_ATTEMPTS=1 and a core system that refuses connections WHEN entry runs twice THEN the
    document stays ready: the system's failures are not the document's."""
    from flows.entry import entry

    monkeypatch.setenv("MADOGUCHI_RPA__MAX_ATTEMPTS", "1")
    monkeypatch.setenv("MADOGUCHI_RPA__URL", f"http://127.0.0.1:{free_port()}")
    settings, store, _ = env
    doc_id = save_ready(store, load_templates(settings.ocr.forms_dir)["child_allowance"], truth("child_allowance"),
                        "patient.jpg", "5" * 64)
    for _ in range(2):
        assert entry(return_state=True).is_failed()
    e = store.entry(doc_id, settings.rpa.system)
    assert (store.document(doc_id).status, e.state, e.failures) == ("accepted", "failed", 0)


def test_documents_clerks_entered_by_hand_are_never_entered_by_a_bot(env, capsys):
    """GIVEN two ready documents WHEN clerks mark one as entered by hand (`entry mark-manual`) THEN
    the command says so in Japanese, the entry run enters only the other, and it stays left alone
    even when a late review validates it again."""
    import os

    from flows import cli
    from flows.entry import entry
    from schemas.db import Document

    settings, store, core = env
    templates = load_templates(settings.ocr.forms_dir)
    by_hand = save_ready(store, templates["child_allowance"], truth("child_allowance"), "hand.jpg", "6" * 64)
    by_bot = save_ready(store, templates["long_term_care"], truth("long_term_care"), "bot.jpg", "4" * 64)
    mask = os.umask(0o022)
    try:
        assert cli.main(["entry", "mark-manual", str(by_hand), "--who", "窓口 花子"]) == 0
        assert cli.main(["entry", "mark-manual", "999"]) == 1
    finally:
        os.umask(mask)
    out = capsys.readouterr().out
    assert "手入力済みとして記録しました" in out and "この番号の書類はありません" in out
    e = store.entry(by_hand, settings.rpa.system)
    assert (e.state, store.document(by_hand).status) == ("manual", "entered") and "窓口 花子" in e.message

    assert entry()["entered"] == 1
    assert [r["procedure"] for r in core.records()] == ["kaigo_nintei"]
    with store.session() as s, s.begin():  # a review answered late sets it validated again
        s.get(Document, by_hand).status = "validated"
    assert entry(document_ids=[by_hand]) == {"entered": 0, "already_there": 0, "refused": 0, "failed": 0,
                                             "waiting": 0}
    assert len(core.records()) == 1


def test_enter_since_is_fixed_at_the_first_server_up_when_unset(env, monkeypatch):
    """GIVEN MADOGUCHI_RPA__ENTER_SINCE unset and a document read before the service first started
    WHEN `server up` fixes the time (run/enter_since, owner-only) THEN that document is never ready,
    one read afterwards is, a later `server up` does not move the time, and the setting overrides it."""
    import stat

    from flows.entry import fix_enter_since, ready

    settings, store, _ = env
    templates = load_templates(settings.ocr.forms_dir)
    before = save_ready(store, templates["child_allowance"], truth("child_allowance"), "backlog.jpg", "3" * 64)
    assert [d.id for d in ready(store, settings)] == [before], "no server up yet: nothing is fixed"
    first = fix_enter_since(settings)
    after = save_ready(store, templates["long_term_care"], truth("long_term_care"), "new.jpg", "2" * 64)
    assert [d.id for d in ready(store, settings)] == [after]
    assert fix_enter_since(settings) == first
    f = settings.home / "run" / "enter_since"
    assert stat.S_IMODE(f.stat().st_mode) & 0o077 == 0
    monkeypatch.setenv("MADOGUCHI_RPA__ENTER_SINCE", "2020-01-01T00:00:00+09:00")
    assert [d.id for d in ready(store, Settings())] == [before, after]
