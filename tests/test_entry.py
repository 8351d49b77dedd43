"""The bot against the stand-in core system, in Debian's Chromium: entered once, with evidence,
system errors retried, business errors handed back, a wrong confirmation screen never committed."""

from __future__ import annotations

import pytest

from flows.entry import MAPPINGS as ENTRY_MAPPINGS
from rpa.bot import Bot, Connection, Job
from rpa.errors import EntryFailed, LoginFailed, Refused
from schemas.entry import load_mappings
from schemas.settings import Settings
from schemas.templates import load_templates
from tests.browser import chromium_path
from tests.core_system import PASSWORD, USER, control, core_system, stored_as_ours, truth
from tests.stack import free_port

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no Chromium (chromium-headless-shell)")
TEMPLATES = load_templates(Settings().ocr.forms_dir)
MAPPINGS = load_mappings(ENTRY_MAPPINGS / "core-system", TEMPLATES)


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    with core_system(tmp_path_factory.mktemp("core") / "core.db") as c:
        yield c


@pytest.fixture(scope="module")
def waits():
    return []  # the backoff waits the bot asked for, instead of sleeping them


@pytest.fixture(scope="module")
def bot(core, waits):
    conn = Connection(core[1], USER, PASSWORD, chromium_path(), timeout_s=10, retries=2, backoff_s=1.0)
    with Bot(conn, log=print, sleep=waits.append) as b:
        yield b


def job(form: str, key: str, tmp_path, **changes) -> Job:
    return Job(key, TEMPLATES[form], MAPPINGS[form], {**truth(form), **changes}, tmp_path / "evidence")


def records_with(core, key: str) -> list[dict]:
    return [r for r in core[0].records() if key in (r["values"].get("biko") or "")]


@pytest.mark.parametrize("form", ["child_allowance", "pregnancy_notification", "long_term_care"])
def test_a_record_is_created_with_the_validated_values(core, bot, form, tmp_path):
    """GIVEN a validated document WHEN the bot enters it THEN the core system stored exactly its
    values, the receipt is the completion screen's, and the confirmation and completion screens
    were photographed."""
    key = f"MDG-create-{form}"
    out = bot.enter(job(form, key, tmp_path))
    assert out.created and out.attempts == 1
    [record] = records_with(core, key)
    assert record["receipt"] == out.receipt
    assert stored_as_ours(record, MAPPINGS[form], TEMPLATES[form]) == {
        fm.source: truth(form)[fm.source] for fm in MAPPINGS[form].fields}
    assert [p.name.rsplit("-", 1)[-1] for p in out.evidence] == ["confirm.png", "complete.png"]
    assert all(p.stat().st_size > 10_000 for p in out.evidence)


def test_the_same_document_again_creates_nothing_and_returns_the_same_receipt(core, bot, tmp_path):
    first = bot.enter(job("child_allowance", "MDG-twice", tmp_path))
    again = bot.enter(job("child_allowance", "MDG-twice", tmp_path))
    assert (again.created, again.receipt) == (False, first.receipt)
    assert len(records_with(core, "MDG-twice")) == 1


def test_a_response_lost_after_register_still_makes_exactly_one_record(core, bot, tmp_path):
    """GIVEN the answer to 登録 never arrives (the record was stored) WHEN the bot retries THEN it
    finds the record by its key instead of entering it again."""
    control(core[1], lose_response=1)
    out = bot.enter(job("pregnancy_notification", "MDG-lost", tmp_path))
    [record] = records_with(core, "MDG-lost")
    assert (out.receipt, out.created, out.attempts) == (record["receipt"], False, 2)
    # Chromium re-sends a POST whose connection closed unanswered; the system's one-time token refuses
    # the second (409). Either way the bot saw an error, not a receipt, and photographed it.
    assert any("-error-" in p.name for p in out.evidence)


def test_a_validation_refusal_is_not_retried_and_carries_the_message_and_screenshot(core, bot, waits, tmp_path):
    before = len(waits)
    with pytest.raises(Refused) as refused:
        bot.enter(job("pregnancy_notification", "MDG-refused", tmp_path, pregnancy_weeks="60"))
    assert refused.value.problems == [("妊娠週数", "妊娠週数は1から45までの数字で入力してください")]
    assert "妊娠週数は1から45" in refused.value.message_ja
    [shot] = refused.value.evidence
    assert shot.name.endswith("refused.png") and shot.exists()
    assert len(waits) == before, "a business error must not be retried"
    assert records_with(core, "MDG-refused") == []


@pytest.mark.parametrize("fault", [{"fail": [{"path": "/entry/", "status": 500}]}, {"expire_sessions": True},
                                   {"fail": [{"path": "/search", "status": 503}]}],
                         ids=["500", "session-expired", "503"])
def test_system_errors_are_retried_with_backoff_and_succeed(core, bot, waits, fault, tmp_path):
    key = f"MDG-retry-{len(waits)}"
    before = len(waits)
    control(core[1], **fault)
    out = bot.enter(job("long_term_care", key, tmp_path))
    assert (out.created, out.attempts) == (True, 2)
    assert waits[before:] == [1.0]
    assert len(records_with(core, key)) == 1


def test_a_confirmation_screen_that_differs_is_never_committed(core, bot, tmp_path):
    """GIVEN a core system that silently cuts 住所 short WHEN the bot reads the confirmation back
    THEN it does not press 登録; after the retries the entry fails visibly."""
    control(core[1], truncate={"jusho": 6})
    try:
        with pytest.raises(EntryFailed) as failed:
            bot.enter(job("child_allowance", "MDG-cut", tmp_path))
    finally:
        control(core[1], truncate={})
    assert failed.value.last.kind == "mismatch" and "住所" in failed.value.last.detail
    assert "一致しません" in failed.value.message_ja
    assert records_with(core, "MDG-cut") == []


def test_maintenance_fails_visibly_after_the_retries(core, bot, waits, tmp_path):
    before = len(waits)
    control(core[1], maintenance=True)
    try:
        with pytest.raises(EntryFailed) as failed:
            bot.enter(job("child_allowance", "MDG-maint", tmp_path))
    finally:
        control(core[1], maintenance=False)
    assert failed.value.last.kind == "maintenance" and failed.value.attempts == 3
    assert waits[before:] == [1.0, 2.0]
    assert "メンテナンス中" in failed.value.message_ja


def test_connection_refused_ends_in_a_clear_failure(tmp_path):
    conn = Connection(f"http://127.0.0.1:{free_port()}", USER, PASSWORD, chromium_path(), timeout_s=5, retries=1,
                      backoff_s=0.0)
    with Bot(conn, sleep=lambda s: None) as b, pytest.raises(EntryFailed) as failed:
        b.enter(job("child_allowance", "MDG-refused-conn", tmp_path))
    assert failed.value.last.kind == "connection" and failed.value.attempts == 2
    assert failed.value.message_ja.startswith("基幹システムに接続できません（2回試行）")


def test_a_wrong_password_is_not_retried(core, tmp_path):
    conn = Connection(core[1], USER, "wrong", chromium_path(), timeout_s=5, retries=3, backoff_s=0.0)
    with Bot(conn, sleep=lambda s: pytest.fail("retried")) as b, pytest.raises(LoginFailed):
        b.enter(job("child_allowance", "MDG-login", tmp_path))


def test_an_unanswered_register_is_never_pressed_twice_in_one_run(core, bot, waits, tmp_path):
    """GIVEN 登録 answered with a 500 (nothing stored) WHEN the bot cannot find the key, even after
    waiting a screen's timeout THEN it does not press 登録 again in this run (the system might still
    be writing); the next run finds no record and enters it once."""
    before = len(waits)
    control(core[1], fail=[{"path": "/entry/jidou_teate/commit", "status": 500}])
    with pytest.raises(EntryFailed) as failed:
        bot.enter(job("child_allowance", "MDG-unsure", tmp_path))
    assert failed.value.last.kind == "uncertain" and failed.value.attempts == 2
    assert waits[before:] == [1.0, 10.0]  # the backoff, then a screen's timeout before the second look
    assert "確かめられません" in failed.value.message_ja
    assert records_with(core, "MDG-unsure") == []
    again = bot.enter(job("child_allowance", "MDG-unsure", tmp_path))
    assert again.created and len(records_with(core, "MDG-unsure")) == 1
