"""The `madoguchi` command: forms, samples and processing a batch with bad files in it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from flows import cli
from tests.conftest import SAMPLES

TODAY = "2026-11-27"  # the committed samples were filled in November 2026


def test_forms_list_prints_one_form_per_line_id_first(capsys, settings):
    assert cli.main(["forms", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["child_allowance", "child_allowance_claim", "disaster_certificate",
                                                       "long_term_care", "pregnancy_notification"]
    assert "児童手当 認定請求書" in lines[0]


def test_forms_render_writes_a_printable_pdf(tmp_path, settings):
    out = tmp_path / "form.pdf"
    assert cli.main(["forms", "render", "pregnancy_notification", "--out", str(out)]) == 0
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+1$", info, re.M) and "(A4)" in info
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "妊娠届出書" in text and "出産予定日" in text


def test_bad_arguments_exit_2(settings, tmp_path, capsys):
    assert cli.main(["forms", "render", "no_such_form", "--out", str(tmp_path / "x.pdf")]) == cli.EXIT_USAGE
    assert cli.main(["process", str(tmp_path / "missing.pdf"), "--out", str(tmp_path / "o")]) == cli.EXIT_USAGE
    assert "no such file" in capsys.readouterr().err


def test_collect_skips_temporary_hidden_and_result_files(tmp_path):
    for name in ["a.pdf", "b.png.part", "~$c.pdf", ".d.png", "e.truth.json", "f.tmp", "g.jpg"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in cli.collect([tmp_path])] == ["a.pdf", "g.jpg"]


@pytest.fixture
def batch(tmp_path, reader, monkeypatch):
    """GIVEN a folder with two good scans and every kind of bad file, processed once by the CLI."""
    inbox = tmp_path / "in"
    shutil.copytree(SAMPLES / "bad", inbox)
    for name in ["child_allowance-200dpi-pdf.pdf", "pregnancy_notification-upside-down.jpg"]:
        shutil.copy(SAMPLES / "scans" / name, inbox / name)
    shutil.copy(SAMPLES / "scans" / "child_allowance-200dpi-pdf.pdf", inbox / "copy-of-first.pdf")
    before = sorted((p.name, p.stat().st_size) for p in inbox.iterdir())
    monkeypatch.setattr("flows.pipeline.Reader", lambda settings: reader)  # reuse the loaded engines
    out = tmp_path / "out"
    code = cli.main(["process", str(inbox), "--out", str(out), "--today", TODAY, "--quiet"])
    return code, inbox, out, before, reader


def test_batch_goes_on_past_bad_files_and_quarantines_each_with_a_reason(batch):
    """WHEN the batch runs THEN every bad file is copied to quarantine with a Japanese reason, the good
    ones are read, the given files are untouched, and the exit code is 0."""
    code, inbox, out, before, reader = batch
    assert code == 0
    assert sorted((p.name, p.stat().st_size) for p in inbox.iterdir()) == before  # never moved or deleted
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    reasons = {Path(q["source"]).name: q["reason"] for q in summary["quarantined"]}
    assert reasons == {
        "empty-zero-bytes.pdf": "empty_file",
        "truncated-transfer.pdf": "corrupt_file",
        "encrypted-password.pdf": "encrypted_pdf",
        "blank-page.png": "blank_page",
        "wrong-form-not-ours.png": "unknown_form",
        "photo-not-a-form.jpg": "unknown_form",
        "wrong-type-meeting-notes.docx": "unsupported_file",
    }
    quarantine = reader.settings.quarantine_dir
    for name in reasons:
        stem = Path(name).stem
        [copy] = [p for p in quarantine.iterdir() if p.name.startswith(stem) and not p.name.endswith(".reason.txt")]
        text = Path(f"{copy}.reason.txt").read_text(encoding="utf-8")
        assert "理由:" in text and "reason (" in text
        result = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))
        assert result["status"] == "rejected" and result["errors"][0]["message_ja"]


def test_batch_reads_good_scans_into_the_json_contract(batch):
    code, inbox, out, before, reader = batch
    doc = json.loads((out / "child_allowance-200dpi-pdf.json").read_text(encoding="utf-8"))
    assert {"source", "sha256", "form", "pages", "fields", "status", "errors"} <= set(doc)
    assert (doc["form"], doc["pages"]) == ("child_allowance", 1)
    truth = json.loads((SAMPLES / "scans" / "child_allowance-200dpi-pdf.truth.json").read_text(encoding="utf-8"))
    assert set(doc["fields"]) == set(truth["fields"])
    assert sum(f["status"] == "accepted" for f in doc["fields"].values()) >= 10  # of 15
    for name, f in doc["fields"].items():
        assert f["status"] in ("accepted", "needs_review", "invalid")
        assert 0.0 <= f["confidence"] <= 1.0
        if f["status"] == "accepted":
            assert f["value"] == truth["fields"][name], name
    flipped = json.loads((out / "pregnancy_notification-upside-down.json").read_text(encoding="utf-8"))
    assert flipped["form"] == "pregnancy_notification"


def test_same_file_twice_is_reported_as_duplicate_not_read_again(batch):
    code, inbox, out, before, reader = batch
    copy = json.loads((out / "copy-of-first.json").read_text(encoding="utf-8"))
    assert copy["duplicate_of"] and Path(copy["duplicate_of"]).name == "child_allowance-200dpi-pdf.pdf"
    from sqlmodel import Session, select

    from schemas.db import Document

    with Session(reader.store.engine) as s:
        docs = s.exec(select(Document)).all()
    assert len(docs) == 9  # 2 read + 7 rejected; the copy added no row
    assert len({d.sha256 for d in docs}) == 9


def test_an_unexpected_fault_in_one_file_does_not_stop_the_batch(tmp_path, reader, monkeypatch):
    """GIVEN a fault of ours while reading one file WHEN the batch runs THEN the other files are
    still processed, the faulty file stays where it is, is not quarantined, and the exit code is 1."""
    inbox = tmp_path / "in"
    inbox.mkdir()
    shutil.copy(SAMPLES / "bad" / "empty-zero-bytes.pdf", inbox / "a-empty.pdf")
    shutil.copy(SAMPLES / "bad" / "blank-page.png", inbox / "b-faulty.png")
    real_read = reader.read_raw

    def read_raw(path, **kw):
        if path.name == "b-faulty.png":
            raise RuntimeError("injected fault")
        return real_read(path, **kw)

    monkeypatch.setattr(reader, "read_raw", read_raw)
    monkeypatch.setattr("flows.pipeline.Reader", lambda settings: reader)
    out = tmp_path / "out"
    assert cli.main(["process", str(inbox), "--out", str(out), "--quiet"]) == cli.EXIT_FAILED
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert [Path(q["source"]).name for q in summary["quarantined"]] == ["a-empty.pdf"]
    assert [Path(e["source"]).name for e in summary["internal_errors"]] == ["b-faulty.png"]
    assert (inbox / "b-faulty.png").exists()
    assert not any("b-faulty" in p.name for p in reader.settings.quarantine_dir.iterdir())


def test_rerun_into_the_same_folder_keeps_earlier_results_and_retries_rejected_files(tmp_path, reader, monkeypatch):
    inbox = tmp_path / "in"
    inbox.mkdir()
    shutil.copy(SAMPLES / "bad" / "blank-page.png", inbox / "blank.png")
    monkeypatch.setattr("flows.pipeline.Reader", lambda settings: reader)
    out = tmp_path / "out"
    for _ in range(2):
        assert cli.main(["process", str(inbox), "--out", str(out), "--quiet"]) == 0
    results = sorted(p.name for p in out.glob("blank*.json"))
    assert len(results) == 2 and "blank.json" in results
    for name in results:  # a rejected file is read again, not reported as a duplicate
        assert json.loads((out / name).read_text(encoding="utf-8"))["errors"][0]["code"] == "blank_page"
    from sqlmodel import Session, select

    from schemas.db import Document

    with Session(reader.store.engine) as s:
        assert len(s.exec(select(Document)).all()) == 1


def test_a_bad_date_is_a_usage_error_before_anything_loads(tmp_path, settings):
    assert cli.main(["process", str(SAMPLES / "bad"), "--out", str(tmp_path), "--today", "27/11/2026"]) == cli.EXIT_USAGE


def test_two_workers_recording_the_same_file_leave_one_document(tmp_path, reader):
    """GIVEN another worker records the same file between our duplicate check and our save
    WHEN ours saves THEN it reports a duplicate instead of failing, and one document is recorded."""
    from schemas.db import Store

    path = tmp_path / "blank.png"
    shutil.copy(SAMPLES / "bad" / "blank-page.png", path)
    other = Store(reader.settings.db_url)  # the other worker's connection
    real_find = reader.store.find
    calls = []

    def find_then_race(digest):
        calls.append(digest)
        found = real_find(digest)
        if len(calls) == 1:  # right after our check, the other worker commits the same file
            from schemas.results import DocumentResult, DocumentStatus

            other.save(DocumentResult(source="other/blank.png", sha256=digest, status=DocumentStatus.needs_review))
        return found

    reader.store.find = find_then_race
    result = reader.process(path)
    assert result.duplicate_of == "other/blank.png"
    from sqlmodel import Session, select

    from schemas.db import Document

    with Session(other.engine) as s:
        assert len(s.exec(select(Document)).all()) == 1


def test_a_value_found_wrong_after_acceptance_is_recorded_and_counted_in_the_ledger(tmp_path, reader, monkeypatch,
                                                                                    capsys):
    """GIVEN an accepted document WHEN staff record that an accepted field was wrong THEN the
    correction is stored and the month's ledger counts one error found after acceptance; an
    impossible value is refused with the reason in Japanese."""
    from datetime import UTC, datetime

    from openpyxl import load_workbook

    scan = Path(shutil.copy(SAMPLES / "scans" / "long_term_care-400dpi.jpg", tmp_path / "kaigo.jpg"))
    result = reader.process(scan)
    assert result.status == "accepted"
    doc = reader.store.find(result.sha256)
    date_field = next(n for n, f in result.fields.items() if f.kind == "wareki_date")
    assert cli.main(["correct", str(doc.id), date_field, "令和7年2月30日", "--who", "窓口"]) == cli.EXIT_USAGE
    assert "存在しない日付です" in capsys.readouterr().err
    from datetime import date, timedelta

    from flows.verify import to_wareki

    right = date.today() - timedelta(days=3)
    assert result.fields[date_field].value != right.isoformat()
    assert cli.main(["correct", str(doc.id), date_field, to_wareki(right), "--who", "窓口"]) == cli.EXIT_OK
    [c] = reader.store.corrections()
    assert (c.field, c.status_before, json.loads(c.after), c.changed) == (date_field, "accepted", right.isoformat(), True)
    out = tmp_path / "ledger.xlsx"
    assert cli.main(["report", "--period", datetime.now(UTC).strftime("%Y-%m"), "--out", str(out)]) == cli.EXIT_OK
    summary = {r[0]: r[1] for r in load_workbook(out)["概要"].iter_rows(min_row=2, values_only=True)}
    assert summary["確定後に見つかった誤り"] == 1
