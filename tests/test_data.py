"""Residents' data: the data root is owner-only, files of entered documents go after the retention
period while their rows stay, and a backup of the database is consistent while it is written to."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows import cli
from schemas.db import Document, Entry, Store
from schemas.settings import Settings
from schemas.templates import load_templates
from tests.conftest import REPO, SAMPLES
from tests.core_system import save_ready, truth


@pytest.fixture(autouse=True)
def _umask_restored():
    """cli.main sets the process's umask; the rest of the test session keeps its own."""
    mask = os.umask(0o022)
    os.umask(mask)
    yield
    os.umask(mask)


def _loose(home: Path) -> list[str]:
    """Everything under home that its group or others may use (`find home -perm /g=rwx,o=rwx`)."""
    return [f"{oct(p.stat().st_mode & 0o777)} {p.relative_to(home)}" for p in [home, *home.rglob("*")]
            if stat.S_IMODE(p.stat().st_mode) & 0o077]


def test_what_the_command_line_makes_under_the_data_root_is_owner_only(tmp_path):
    """GIVEN a data root made earlier with mode 755 and a command line started with umask 022 WHEN a
    scan is dropped, the database made and backed up THEN the root is 0700 and every folder and
    file under it is owner-only (the dropped scan too, though its original is 0644)."""
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    scan = tmp_path / "scan.jpg"
    scan.write_bytes((SAMPLES / "scans" / "child_allowance-300dpi.jpg").read_bytes())
    scan.chmod(0o644)
    env = {**os.environ, "MADOGUCHI_HOME": str(home)}
    for args in (["drop", str(scan)], ["entry", "list"], ["backup", "--out", str(home / "backups" / "db.sqlite")]):
        done = subprocess.run([sys.executable, "-m", "flows.cli", *args], env=env, cwd=REPO, umask=0o022,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert (home / "inbox" / "scan.jpg").exists() and (home / "madoguchi.db").exists()
    assert (home / "backups" / "db.sqlite").exists()
    assert _loose(home) == []


# -- retention ------------------------------------------------------------------------------------


def _document(store: Store, settings: Settings, name: str, *, entered_days_ago: float | None,
              manual: bool = False) -> tuple[int, list[Path]]:
    """A document read through the inbox: its scan in done/, field images in views/, and, when
    entered, screenshots in evidence/ and an entry row dated `entered_days_ago`."""
    content = (SAMPLES / "scans" / "child_allowance-300dpi.jpg").read_bytes() + name.encode()
    sha = hashlib.sha256(content).hexdigest()
    doc_id = save_ready(store, load_templates(settings.ocr.forms_dir)["child_allowance"],
                        truth("child_allowance"), name, sha)
    done = settings.home / "done" / name
    views = settings.home / "views" / sha[:16]
    files = [done, views / "applicant_name.png", views / "page.jpg"]
    if entered_days_ago is not None:
        files.append(settings.evidence_dir / sha[:16] / f"MDG-{sha[:16]}-confirm.png")
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(content if f == done else b"png")
    if entered_days_ago is not None:
        when = datetime.now(UTC) - timedelta(days=entered_days_ago)
        with store.session() as s, s.begin():
            s.add(Entry(document_id=doc_id, system=settings.rpa.system, key=f"MDG-{sha[:16]}",
                        state="manual" if manual else "entered", receipt=None if manual else "R-1",
                        entered_at=when, evidence=json.dumps([str(files[-1])])))
            s.get(Document, doc_id).status = "entered"
    return doc_id, files


@pytest.fixture
def aged(tmp_path, monkeypatch):
    """Five documents: entered 40 days ago (one by a bot, one by hand, one with a duplicate scan),
    entered 10 days ago, and read 40 days ago but never entered."""
    monkeypatch.setenv("MADOGUCHI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MADOGUCHI_RETENTION__DAYS", "30")
    settings = Settings()
    store = Store(settings.db_url)
    docs = {
        "old": _document(store, settings, "old.jpg", entered_days_ago=40),
        "manual": _document(store, settings, "manual.jpg", entered_days_ago=40, manual=True),
        "dup": _document(store, settings, "dup.jpg", entered_days_ago=45),
        "recent": _document(store, settings, "recent.jpg", entered_days_ago=10),
        "waiting": _document(store, settings, "waiting.jpg", entered_days_ago=None),
    }
    with store.session() as s, s.begin():  # read 40 days ago, still waiting for entry
        s.get(Document, docs["waiting"][0]).created_at = datetime.now(UTC) - timedelta(days=40)
    copy = settings.home / "done" / "duplicates" / "dup-copy.jpg"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(docs["dup"][1][0].read_bytes())
    docs["dup"][1].append(copy)
    return settings, store, docs


def _counts(store: Store) -> dict[str, int]:
    with sqlite3.connect(store.engine.url.database) as c:
        return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("document", "field", "entry")}


def test_purge_deletes_only_the_files_of_documents_entered_before_the_retention_period(aged, capsys):
    """GIVEN retention of 30 days, documents entered 40 and 45 days ago (by a bot and by hand),
    one entered 10 days ago and one read 40 days ago but not entered WHEN `purge --dry-run` then
    `purge` run THEN the dry run lists the old ones' files and deletes nothing; purge deletes exactly
    those (the scan, its duplicate, field images, screenshots) and records them; every row stays."""
    settings, store, docs = aged
    rows = _counts(store)
    everything = [f for _, files in docs.values() for f in files]

    assert cli.main(["purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "入力から 30 日を過ぎた書類 3 件" in out and "old.jpg" in out and "recent.jpg" not in out
    assert all(f.exists() for f in everything)

    assert cli.main(["purge"]) == 0
    gone = [f for k in ("old", "manual", "dup") for f in docs[k][1]]
    assert [f for f in gone if f.exists()] == []
    assert all(f.exists() for k in ("recent", "waiting") for f in docs[k][1])
    assert not (settings.home / "views" / docs["old"][1][1].parent.name).exists()
    assert _counts(store) == rows
    assert store.entry(docs["old"][0], settings.rpa.system).receipt == "R-1"
    with sqlite3.connect(store.engine.url.database) as c:
        purged = dict(c.execute("SELECT document_id, files FROM purge"))
    assert sorted(purged) == sorted(docs[k][0] for k in ("old", "manual", "dup"))
    assert str(docs["dup"][1][-1]) in json.loads(purged[docs["dup"][0]])

    assert cli.main(["purge", "--dry-run"]) == 0  # nothing is left to go
    assert "書類 0 件" in capsys.readouterr().out


def test_without_a_retention_period_nothing_is_ever_purged(aged, monkeypatch, capsys):
    """GIVEN MADOGUCHI_RETENTION__DAYS unset WHEN purge runs THEN it says so and deletes nothing."""
    settings, store, docs = aged
    monkeypatch.delenv("MADOGUCHI_RETENTION__DAYS")
    assert cli.main(["purge"]) == 0
    assert "設定されていないため、何も削除しません" in capsys.readouterr().out
    assert all(f.exists() for _, files in docs.values() for f in files)


def test_the_purge_flow_deletes_what_purge_lists(aged):
    """GIVEN the same documents WHEN the scheduled flow runs (as its deployment does) THEN the three
    old documents' files go and the others stay."""
    from prefect.testing.utilities import prefect_test_harness

    from flows.retention import purge

    settings, store, docs = aged
    with prefect_test_harness():
        assert purge(dry_run=True)["documents"] == 3
        assert all(f.exists() for _, files in docs.values() for f in files)
        assert purge() == {"documents": 3, "files": 13}
    assert all(f.exists() for k in ("recent", "waiting") for f in docs[k][1])
    assert not any(f.exists() for k in ("old", "manual", "dup") for f in docs[k][1])


# -- backup ---------------------------------------------------------------------------------------


@pytest.fixture
def database(tmp_path, monkeypatch):
    monkeypatch.setenv("MADOGUCHI_HOME", str(tmp_path / "home"))
    settings = Settings()
    store = Store(settings.db_url)
    template = load_templates(settings.ocr.forms_dir)["child_allowance"]
    for n in range(20):
        save_ready(store, template, truth("child_allowance"), f"{n}.jpg", f"{n:064x}")
    return settings, Path(store.engine.url.database)


def _insert(conn: sqlite3.Connection, n: int) -> None:
    conn.execute("INSERT INTO document (sha256, source, status, pages, errors, created_at, updated_at) "
                 "VALUES (?, ?, 'accepted', 1, '[]', '2026-11-30', '2026-11-30')", (f"w{n:063x}", f"/inbox/w{n}.jpg"))


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return c.execute("SELECT count(*) FROM document").fetchone()[0]


def test_a_backup_taken_during_an_open_write_transaction_has_every_committed_row(database, tmp_path):
    """GIVEN another connection in the middle of a write transaction WHEN `backup` runs THEN the
    copy opens, passes SQLite's integrity check, has the 20 committed documents and not the
    uncommitted one, and is readable by its owner only."""
    settings, db = database
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    _insert(writer, 1)
    out = tmp_path / "backups" / "madoguchi-copy.db"
    try:
        assert cli.main(["backup", "--out", str(out)]) == 0
    finally:
        writer.execute("COMMIT")
        writer.close()
    assert _rows(out) == 20
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert _rows(db) == 21


def test_a_backup_while_another_process_keeps_writing_is_one_committed_state(database, tmp_path):
    """GIVEN a writer committing a row at a time without pause WHEN backups are taken meanwhile THEN
    each copy is whole (integrity check) and holds the committed rows of some moment: at least the
    20 from before, never a row more than the writer had committed when the copy finished."""
    from flows.service.backup import backup

    settings, db = database
    started, stop, committed = threading.Event(), threading.Event(), [0]

    def write() -> None:
        conn = sqlite3.connect(db, isolation_level=None, timeout=30)
        n = 0
        while not stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            _insert(conn, 1000 + n)
            conn.execute("COMMIT")
            n += 1
            committed[0] = n
            started.set()
        conn.close()

    t = threading.Thread(target=write)
    t.start()
    try:
        started.wait(30)
        seen = []
        for i in range(5):
            out = backup(settings.db_url, tmp_path / f"copy-{i}.db")
            upper = committed[0]
            rows = _rows(out)
            assert 20 <= rows <= 20 + upper
            seen.append(rows)
    finally:
        stop.set()
        t.join(30)
    assert seen == sorted(seen)


def test_backup_of_a_postgresql_database_says_what_to_run_without_the_password(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MADOGUCHI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MADOGUCHI_DB__URL", "postgresql+psycopg://madoguchi:s3cret@db.city.local:5433/madoguchi")
    assert cli.main(["backup", "--out", str(tmp_path / "m.dump")]) == 1
    out = capsys.readouterr().out
    assert "pg_dump --format=custom" in out and "--host=db.city.local --port=5433 --username=madoguchi madoguchi" in out
    assert "s3cret" not in out
    assert not (tmp_path / "m.dump").exists()
