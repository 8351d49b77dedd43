"""The scale-out path: our database and the Prefect server's, both on a real PostgreSQL cluster."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from flows.pipeline import Reader
from flows.service import server
from schemas.db import Store
from tests.conftest import REPO, SAMPLES
from tests.stack import free_port

pytest_plugins = ["tests.postgres"]  # the `postgres` fixture: a throwaway cluster for this module

SCAN = SAMPLES / "scans" / "long_term_care-400dpi.jpg"



def _database(postgres) -> str:
    return postgres.create_database(f"madoguchi_{uuid.uuid4().hex[:8]}")


@pytest.fixture
def pg_reader(settings, engines, postgres, monkeypatch):
    """The test reader with the real engines, recording into a fresh PostgreSQL database of its own."""
    from schemas.settings import Settings

    monkeypatch.setenv("MADOGUCHI_DB__URL", _database(postgres))
    pg_settings = Settings()
    assert pg_settings.home == settings.home and pg_settings.db_url.startswith("postgresql+psycopg://")
    return Reader(pg_settings, engines=engines)


def _rows(postgres, url: str, sql: str, *params) -> list[tuple]:
    """Read straight from PostgreSQL, past SQLAlchemy: the data really lives there."""
    with postgres.connect(url.rsplit("/", 1)[1]) as conn:
        return conn.execute(sql, params).fetchall()


def test_store_on_postgres_records_a_scan_once(pg_reader, postgres, tmp_path):
    """GIVEN our database on PostgreSQL WHEN a real scan is processed twice THEN the document, its page and
    its fields are rows in PostgreSQL, and the second time is reported as a duplicate, not a second row."""
    scan = shutil.copy(SCAN, tmp_path / "kaigo.jpg")
    first = pg_reader.process(Path(scan))
    assert first.status == "accepted" and first.duplicate_of is None and first.fields

    doc = pg_reader.store.find(first.sha256)
    assert doc is not None and doc.form == "long_term_care" and doc.status == "accepted"
    stored = {f.name: f for f in pg_reader.store.fields_of(doc.id)}
    assert stored.keys() == first.fields.keys()
    for name, f in first.fields.items():  # Japanese text survives the round trip through PostgreSQL
        assert stored[name].value == (None if f.value is None else json.dumps(f.value, ensure_ascii=False))
        assert stored[name].status == f.status.value

    again = pg_reader.process(Path(scan))
    assert again.duplicate_of == str(scan) and again.status == "accepted"
    url = pg_reader.settings.db_url
    assert _rows(postgres, url, "select count(*) from document") == [(1,)]
    assert _rows(postgres, url, "select count(*) from page") == [(1,)]
    assert _rows(postgres, url, "select count(*) from field") == [(len(first.fields),)]


def test_two_workers_saving_the_same_scan_at_once_record_it_once(pg_reader, postgres, tmp_path):
    """GIVEN two workers, each with its own Store (connection pool), that both found a scan new WHEN they
    save it at the same moment THEN PostgreSQL's unique sha256 lets exactly one row in and the other worker
    reports a duplicate of it (the IntegrityError path of Reader.process)."""
    scan = Path(shutil.copy(SCAN, tmp_path / "kaigo.jpg"))
    result = pg_reader.read(scan)  # the real reading, once: both workers would read the same
    at_once = threading.Barrier(2, timeout=30)
    workers = []
    for _ in range(2):
        worker = Reader(pg_reader.settings, engines=pg_reader.engines, store=Store(pg_reader.settings.db_url))
        worker.read = lambda *args, **kwargs: result  # the fault to inject is the timing, not the reading
        save = worker.store.save

        def racing_save(res, save=save):
            at_once.wait()  # both have looked the file up and found nothing
            return save(res)

        worker.store.save = racing_save
        workers.append(worker)
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda w: w.process(scan), workers))

    assert sorted(o.duplicate_of is None for o in outcomes) == [False, True]
    duplicate = next(o for o in outcomes if o.duplicate_of)
    assert duplicate.status == "accepted" and duplicate.form == "long_term_care"
    assert _rows(postgres, pg_reader.settings.db_url, "select count(*) from document where sha256 = %s",
                 duplicate.sha256) == [(1,)]


@pytest.fixture
def prefect_on_postgres(postgres, tmp_path, monkeypatch):
    """A real `prefect server start` whose database is PostgreSQL (MADOGUCHI_SERVER__DATABASE_URL), started
    with the environment `madoguchi server up` gives it. Only the server: deployments, worker and watcher
    are covered by test_server.py and would add ~20 s here."""
    from schemas.settings import Settings

    prefect_db = postgres.create_database("prefect")
    monkeypatch.setenv("MADOGUCHI_SERVER__PORT", str(free_port()))
    monkeypatch.setenv("MADOGUCHI_SERVER__DATABASE_URL", postgres.url("prefect", "asyncpg"))
    settings = Settings(home=tmp_path / "server")  # not the reader's home: nothing shared but the API
    env = server.environment(settings, REPO)
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    log = tmp_path / "prefect-server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("prefect")), "server", "start", "--host",
                                 "127.0.0.1", "--port", str(settings.server.port)], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120  # measured: ~13 s, including the migrations on an empty database
        while not server.healthy(settings):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        yield server.api_url(settings), prefect_db
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_reconcile_runs_against_a_prefect_server_on_postgres(prefect_on_postgres, pg_reader, postgres,
                                                             monkeypatch):
    """GIVEN a Prefect server on PostgreSQL and our database on PostgreSQL WHEN the reconcile flow reads an
    inbox with one scan THEN the runs read back from the server are named and completed, they are rows of
    PostgreSQL's flow_run table, and the document is a row of ours."""
    from prefect.client.orchestration import get_client
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows import orchestrate
    from flows.intake import Folders

    api, prefect_db = prefect_on_postgres
    monkeypatch.setattr(orchestrate, "_reader", lambda: pg_reader)
    folders = Folders.from_settings(pg_reader.settings).ensure()
    shutil.copy(SCAN, folders.inbox / "kaigo.jpg")

    async def runs():
        async with get_client() as client:
            return await client.read_flow_runs()

    with temporary_settings(updates={PREFECT_API_URL: api}):
        out = orchestrate.reconcile(settle_seconds=0.5, linger_seconds=0, hand_out=False)  # no deployments here
        flow_runs = asyncio.run(runs())
        APILogWorker.drain_all(timeout=10)  # send the runs' logs and events while this server is still up
        EventsWorker.drain_all(timeout=10)

    assert [r["status"] for r in out] == ["accepted"]
    assert [p.name for p in folders.done.iterdir() if p.is_file()] == ["kaigo.jpg"]
    assert sorted(r.name for r in flow_runs) == ["受付-kaigo.jpg", "受付箱の確認"]
    assert all(r.state.is_completed() for r in flow_runs)
    assert sorted(_rows(postgres, prefect_db, "select name, state_type::text from flow_run")) == [
        ("受付-kaigo.jpg", "COMPLETED"), ("受付箱の確認", "COMPLETED")]
    assert _rows(postgres, prefect_db, "select count(*) from log")[0][0] > 0
    assert _rows(postgres, pg_reader.settings.db_url, "select form, status from document") == [
        ("long_term_care", "accepted")]
