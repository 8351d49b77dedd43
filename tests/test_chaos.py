"""The chaos run: its checker fails on a lost, doubled, twice-read or twice-entered file, and a small
run on the real stack (server, worker, watcher, stand-in under supervisord, killed at random) passes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from flows.bench import chaos_check as cc
from flows.names import derived_name
from flows.pipeline import REASON_SUFFIX

GOOD = cc.Dropped("0000-good-a.jpg", "good", "a" * 64)
COPY = cc.Dropped("0001-duplicate-of-0000-good-a.jpg", "duplicate", "a" * 64)
BAD = cc.Dropped("0002-empty.pdf", "empty", "e" * 64)
DROPPED = [GOOD, COPY, BAD]
KEY = "MDG-" + "a" * 16


def _quarantined(d: cc.Dropped, reason: bool = True) -> cc.Found:
    return cc.Found("quarantine", derived_name(d.name, f"-{d.sha256[:8]}", reserve=REASON_SUFFIX), d.sha256, reason)


def _facts(**changes) -> cc.Facts:
    """What a run that went right leaves: the scan in done/, its copy a duplicate, the empty file in
    quarantine with its reason, one reading each, one record in the core system."""
    facts = cc.Facts(
        files=[cc.Found("done", GOOD.name, GOOD.sha256), cc.Found("duplicates", COPY.name, COPY.sha256),
               _quarantined(BAD)],
        documents={GOOD.sha256: 1, BAD.sha256: 1}, fields={GOOD.sha256: (20, 20)},
        readings={GOOD.name: 1, BAD.name: 1}, interrupted={GOOD.name: 1}, records={KEY: 1}, entered=[KEY])
    return replace(facts, **changes)


def _failed(facts: cc.Facts) -> set[str]:
    return {c.name for c in cc.check(DROPPED, facts) if not c.ok}


def test_a_run_that_went_right_passes_every_check():
    assert _failed(_facts()) == set()


@pytest.mark.parametrize(("what", "facts", "check"), [
    ("a lost file", lambda f: replace(f, files=f.files[1:]), "every file in exactly one place (0 lost)"),
    ("a file in two places", lambda f: replace(f, files=[*f.files, cc.Found("inbox", GOOD.name, GOOD.sha256)]),
     "every file in exactly one place (0 lost)"),
    ("a half-written file taken", lambda f: replace(f, files=[cc.Found("done", GOOD.name, "b" * 64), *f.files[1:]]),
     "every file in exactly one place (0 lost)"),
    ("a file left queued", lambda f: replace(f, files=[cc.Found("processing", GOOD.name, GOOD.sha256), *f.files[1:]]),
     "nothing left queued"),
    ("a file in done/ without its row", lambda f: replace(f, documents={BAD.sha256: 1}),
     "every file in done/ has exactly one document row"),
    ("a file read twice", lambda f: replace(f, readings={GOOD.name: 2, BAD.name: 1}), "no document read twice"),
    ("a copy read as well as its original", lambda f: replace(f, readings={GOOD.name: 1, COPY.name: 1}),
     "no document read twice"),
    ("a document's fields written twice", lambda f: replace(f, fields={GOOD.sha256: (40, 20)}),
     "no document read twice"),
    ("a record entered twice", lambda f: replace(f, records={KEY: 2}), "no record entered twice in the core system"),
    ("an entry our database has but the core system not", lambda f: replace(f, records={}),
     "no record entered twice in the core system"),
    ("a bad file without its reason", lambda f: replace(f, files=[*f.files[:2], _quarantined(BAD, reason=False)]),
     "every bad file in quarantine with a reason"),
    ("the copy read into done/ beside its original",
     lambda f: replace(f, files=[f.files[0], cc.Found("done", COPY.name, COPY.sha256), f.files[2]]),
     "every good scan read: one in done/ per content, copies in done/duplicates/"),
])
def test_the_checker_fails_on(what, facts, check):
    """GIVEN what a correct run leaves, spoiled in one way WHEN checked THEN exactly that check fails."""
    assert check in _failed(facts(_facts())), what


def test_a_bad_file_read_into_done_fails_the_checker():
    files = [cc.Found("done", GOOD.name, GOOD.sha256), cc.Found("duplicates", COPY.name, COPY.sha256),
             cc.Found("done", BAD.name, BAD.sha256)]
    assert "every bad file in quarantine with a reason" in _failed(_facts(files=files))


def test_a_small_chaos_run_loses_nothing_and_does_nothing_twice(tmp_path, monkeypatch):
    """GIVEN `server up` on a fresh data root WHEN 12 files of every kind arrive (good scans, copies,
    a slow copy, truncated, encrypted, empty, wrong types, a huge image) while the watcher, the Prefect
    server and the stand-in core system are each killed with SIGKILL THEN supervisord brings each back,
    nothing is lost, read twice or entered twice, and every bad file is in quarantine with its reason.
    (The worker's kill costs 90 s of missed heartbeats; `make chaos` kills it, this test does not.)"""
    from flows.bench import chaos
    from tests.conftest import REPO

    monkeypatch.chdir(REPO)
    monkeypatch.setenv("MADOGUCHI_HOME", str(tmp_path / "unused"))  # chaos.run sets its own; undone after
    monkeypatch.setenv("MADOGUCHI_SERVER__PORT", "4200")
    report = chaos.run(tmp_path / "chaos", REPO, files=12, kills=3, arrive_seconds=10.0, reviews=1,
                       targets=("watcher", "server", "core_system"), timeout=420.0, seed=5)
    failed = [c for c in report["checks"] if not c["ok"]]
    assert failed == [], failed
    assert report["kills_per_process"] == {"watcher": 1, "server": 1, "core_system": 1}
    assert report["mix"]["good"] >= 1 and report["mix"]["huge"] == 1 and report["mix"]["slow"] == 1
    bad = {k: v for k, v in report["by_kind"].items() if k in cc.BAD_KINDS}
    assert all(set(places) == {"quarantine"} for places in bad.values()), bad
    assert (tmp_path / "chaos" / "chaos.json").exists() and "| check |" in (tmp_path / "chaos" / "chaos.md").read_text()
