"""The Prefect flows against a real (temporary) Prefect server: runs, names, artifacts, filing."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from flows.intake import Folders
from tests.conftest import SAMPLES


@pytest.fixture(scope="module")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


def _write_slowly(src, dest, seconds: float) -> threading.Thread:
    """A scanner still writing: `dest` grows chunk by chunk over `seconds`."""
    data = src.read_bytes()
    chunks = 20

    def run():
        with open(dest, "wb") as fh:
            for i in range(chunks):
                fh.write(data[i * len(data) // chunks:(i + 1) * len(data) // chunks])
                fh.flush()
                time.sleep(seconds / chunks)

    t = threading.Thread(target=run)
    t.start()
    return t


def test_reconcile_files_each_drop_once_and_waits_for_a_file_still_being_written(prefect_server, reader,
                                                                                monkeypatch):
    """GIVEN a good scan, the same scan under another name and a corrupt PDF in the inbox, and a
    fourth scan still being written WHEN the reconcile flow runs (lingering a few seconds) THEN each
    file gets its own run named 受付-<file> with a Markdown artifact and ends in done/,
    done/duplicates/ or quarantine/; the fourth is taken only once complete (its recorded sha256 is
    the whole file's); nothing is read twice."""
    from prefect.client.orchestration import get_client
    from sqlmodel import Session, select

    from flows import orchestrate
    from flows.pipeline import sha256_of
    from schemas.db import Document

    monkeypatch.setattr(orchestrate, "_reader", lambda: reader)
    folders = Folders.from_settings(reader.settings).ensure()
    shutil.copy(SAMPLES / "scans" / "long_term_care-400dpi.jpg", folders.inbox / "kaigo.jpg")
    shutil.copy(SAMPLES / "scans" / "long_term_care-400dpi.jpg", folders.inbox / "kaigo2.jpg")
    shutil.copy(SAMPLES / "bad" / "truncated-transfer.pdf", folders.inbox / "broken.pdf")
    slow = SAMPLES / "scans" / "child_allowance-300dpi.jpg"  # one field to review (its child's name)
    writer = _write_slowly(slow, folders.inbox / "teate.jpg", 12.0)
    out = orchestrate.reconcile(settle_seconds=1.0, linger_seconds=8.0, hand_out=False)
    writer.join()
    assert [r["status"] for r in out] == ["rejected", "accepted", "accepted", "needs_review"]
    assert out[-1]["source"].endswith("teate.jpg")  # last: it was still being written
    assert not any(folders.inbox.iterdir()) and not any(folders.processing.iterdir())
    assert sorted(p.name for p in folders.done.iterdir() if p.is_file()) == ["kaigo.jpg", "teate.jpg"]
    assert [p.name for p in folders.duplicates.iterdir()] == ["kaigo2.jpg"]
    assert len(list(folders.quarantine.glob("broken-*.pdf"))) == 1
    assert len(list(folders.quarantine.glob("broken-*.pdf.reason.txt"))) == 1
    with Session(reader.store.engine) as s:
        docs = {Path(d.source).name: (d.status, d.sha256) for d in s.exec(select(Document))}
    assert {k: v[0] for k, v in docs.items()} == {"kaigo.jpg": "accepted", "broken.pdf": "rejected",
                                                   "teate.jpg": "needs_review"}
    assert docs["teate.jpg"][1] == sha256_of(slow)  # read whole, never half

    async def runs():
        async with get_client() as client:
            return await client.read_flow_runs(), await client.read_artifacts()

    flow_runs, artifacts = asyncio.run(runs())
    names = sorted(r.name for r in flow_runs)
    assert names.count("受付箱の確認") == 1
    for name in ("kaigo.jpg", "kaigo2.jpg", "broken.pdf", "teate.jpg"):
        assert names.count(f"受付-{name}") == 1, name  # one run per file: nothing read twice
    assert all(r.state.is_completed() for r in flow_runs)
    by_name = {r.name: r for r in flow_runs}
    assert {"inbox", "long_term_care", "accepted"} <= set(by_name["受付-kaigo.jpg"].tags)
    assert "duplicate" in by_name["受付-kaigo2.jpg"].tags
    assert {"inbox", "unidentified", "rejected"} <= set(by_name["受付-broken.pdf"].tags)
    assert {"child_allowance", "needs_review"} <= set(by_name["受付-teate.jpg"].tags)
    text = "\n".join(a.data for a in artifacts if a.type == "markdown")
    assert "要介護・要支援認定申請書" in text and "ファイルが壊れているか" in text
    kaigo = json.loads((SAMPLES / "scans" / "long_term_care-400dpi.truth.json").read_text(encoding="utf-8"))["fields"]
    assert kaigo["name"] not in text and kaigo["insured_number"] not in text  # accepted: no reviewer needs them


def test_batch_reads_a_folder_in_place_and_its_report_matches_the_database(prefect_server, reader, monkeypatch,
                                                                           tmp_path):
    """GIVEN a folder of scans (one twice, under another name) and a broken PDF WHEN the batch flow
    runs THEN each file is read once, left where it was, and the Excel report's numbers, rows,
    colours and review images match the database; a second batch reads nothing again."""
    from openpyxl import load_workbook
    from sqlmodel import Session, select

    from flows import orchestrate
    from schemas.db import Document, FieldValue

    monkeypatch.setattr(orchestrate, "_reader", lambda: reader)
    archive = tmp_path / "2026-10"
    archive.mkdir()
    for name in ("child_allowance-300dpi.jpg", "pregnancy_notification-300dpi.jpg", "long_term_care-tiff-200dpi.tif"):
        shutil.copy(SAMPLES / "scans" / name, archive / name)
    shutil.copy(SAMPLES / "scans" / "child_allowance-300dpi.jpg", archive / "copy-of-child.jpg")
    shutil.copy(SAMPLES / "bad" / "truncated-transfer.pdf", archive / "broken.pdf")
    out = orchestrate.batch(folder=str(archive), concurrency=2, report=str(tmp_path / "batch.xlsx"))
    assert out["files"] == 5 and out["documents"] == 4  # the copy is the same document
    assert sorted(p.name for p in archive.iterdir()) == sorted(
        ["child_allowance-300dpi.jpg", "pregnancy_notification-300dpi.jpg", "long_term_care-tiff-200dpi.tif",
         "copy-of-child.jpg", "broken.pdf"])  # read in place, nothing moved
    assert len(list(reader.settings.quarantine_dir.glob("broken-*.pdf.reason.txt"))) == 1

    with Session(reader.store.engine) as s:
        docs = list(s.exec(select(Document)))
        fields = list(s.exec(select(FieldValue)))
    wb = load_workbook(tmp_path / "batch.xlsx")
    summary = {r[0]: r[1] for r in wb["概要"].iter_rows(min_row=2, values_only=True) if r[0]}
    assert summary["書類数"] == len(docs) == 4
    assert summary["　うち読取不可"] == sum(d.status == "rejected" for d in docs) == 1
    assert summary["読取項目数"] == len(fields)
    assert summary["自動確定項目数"] == sum(f.status == "accepted" for f in fields)
    assert summary["要確認項目数（確認作業の件数）"] == sum(f.status != "accepted" for f in fields)
    assert summary["自動確定率"] == pytest.approx(summary["自動確定項目数"] / len(fields))
    doubtful = {f.document_id for f in fields if f.status != "accepted"}
    read = [d for d in docs if d.status != "rejected"]
    assert summary["　うち要確認あり"] == sum(d.id in doubtful for d in read)
    assert summary["　うち全項目自動確定"] == sum(d.id not in doubtful for d in read)
    titles = {t.title for t in reader.templates.values()}
    form_sheets = [ws for ws in wb.worksheets if ws.title in titles]
    assert len(form_sheets) == 3
    rows = [r for ws in form_sheets for r in ws.iter_rows(min_row=2, values_only=True)]
    assert len(rows) == len(fields)
    assert sum(r[5] == "自動確定" for r in rows) == summary["自動確定項目数"]
    for ws in form_sheets:
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref
        assert {r.formula[0] for cf in ws.conditional_formatting for r in cf.rules} >= {'"自動確定"', '"要確認"'}
    review_rows = sum(r[5] != "自動確定" for r in rows)
    assert review_rows > 0, "the samples have doubtful fields; the report must show their images"
    assert sum(len(ws._images) for ws in form_sheets) == review_rows
    assert [r[0] for r in wb["読取不可"].iter_rows(min_row=2, values_only=True)] == ["broken.pdf"]

    again = orchestrate.batch(folder=str(archive), report=str(tmp_path / "again.xlsx"))
    assert again["documents"] == 4
    again_summary = {r[0]: r[1] for r in load_workbook(tmp_path / "again.xlsx")["概要"].iter_rows(values_only=True)}
    assert again_summary["　うち今回読み取り"] == 1  # only the broken PDF is tried again; good scans are not re-read
    with Session(reader.store.engine) as s:
        assert len(list(s.exec(select(Document)))) == 4


def test_a_run_left_pending_by_a_lost_worker_is_crashed_and_frees_its_deployments_slot(prefect_server):
    """
    GIVEN a deployment that runs one at a time (as reconcile does), a run of it Pending whose worker
          was lost (its Pending event lost with a killed server, so no automation sees it), and a
          second run that cannot start while the first holds the slot
    WHEN the watcher looks for stuck runs
    THEN a run Pending for less than the limit is left alone; past it, it is marked Crashed and the
         second run can start
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType
    from prefect.states import Pending

    from flows.service.watcher import crash_stuck

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("one-at-a-time")
        deployment = client.create_deployment(flow_id, "one-at-a-time", concurrency_limit=1)
        first, second = (client.create_flow_run_from_deployment(deployment) for _ in range(2))
        assert client.set_flow_run_state(first.id, Pending()).state.type == StateType.PENDING
        assert client.set_flow_run_state(second.id, Pending()).state.type != StateType.PENDING  # no slot
        assert crash_stuck(client, older_than=3600) == []
        assert client.read_flow_run(first.id).state.type == StateType.PENDING
        time.sleep(1.0)
        assert [r.id for r in crash_stuck(client, older_than=0.5)] == [first.id]
        assert client.read_flow_run(first.id).state.type == StateType.CRASHED
        assert client.set_flow_run_state(second.id, Pending()).state.type == StateType.PENDING


def test_a_reader_asking_for_a_run_another_reader_already_suspended_is_refused_not_stopped(prefect_server):
    """GIVEN a review run that one reader took and suspended after another reader saw it Scheduled
    WHEN the second reader asks for it THEN it is told no (False), not stopped by Prefect's Pause
    (a reader died so in a scale run with two readers); a Scheduled run is still taken."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled, Suspended

    from flows.service.reader import take

    @flow(name="nothing")
    def nothing() -> None:
        return None

    with get_client(sync_client=True) as client:
        suspended = client.create_flow_run(nothing, state=Scheduled())
        client.set_flow_run_state(suspended.id, Suspended(), force=True)
        assert take(client, client.read_flow_run(suspended.id)) is False
        waiting = client.create_flow_run(nothing, state=Scheduled())
        assert take(client, client.read_flow_run(waiting.id)) is True
        assert client.read_flow_run(waiting.id).state.is_pending()
