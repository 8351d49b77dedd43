"""The watched folder: every dropped file ends in exactly one place, and nothing is read twice."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.intake import Folders, Settling, claim, process_ready, recover
from tests.conftest import SAMPLES

GOOD = SAMPLES / "scans" / "long_term_care-400dpi.jpg"


@pytest.fixture
def folders(reader) -> Folders:
    return Folders.from_settings(reader.settings).ensure()


def _everywhere(folders: Folders) -> dict[str, list[str]]:
    """Every file under the data root's folders, by folder."""
    places = {"inbox": folders.inbox, "processing": folders.processing, "duplicates": folders.duplicates,
              "done": folders.done, "quarantine": folders.quarantine}
    return {k: sorted(p.name for p in v.iterdir() if p.is_file()) for k, v in places.items()}


def test_each_drop_ends_in_one_place_and_a_file_being_written_waits(reader, folders):
    """GIVEN a good scan, the same scan again, a corrupt PDF and a file still being written
    WHEN the inbox is processed THEN the good one is done, the copy is a duplicate, the corrupt one is
    in quarantine with its reason, and the half-written one is taken only once it stops changing."""
    shutil.copy(GOOD, folders.inbox / "scan-1.jpg")
    shutil.copy(SAMPLES / "bad" / "truncated-transfer.pdf", folders.inbox / "broken.pdf")
    (folders.inbox / "upload.pdf.part").write_bytes(b"%PDF-1.4 half")  # a temporary name: never taken
    growing = folders.inbox / "growing.jpg"
    growing.write_bytes(GOOD.read_bytes()[:50_000])
    settling = Settling(seconds=5.0)
    assert settling.ready(folders.inbox, now=0.0) == []  # nothing has settled yet
    growing.write_bytes(GOOD.read_bytes()[:90_000])  # still being written
    done = list(process_ready(reader, folders, settling, now=6.0))
    assert sorted(p.parent.name for p, _ in done) == ["done", "quarantine"]
    assert "growing.jpg" in _everywhere(folders)["inbox"]  # changed at t=6: not yet settled
    shutil.copy(GOOD, folders.inbox / "scan-1-again.jpg")
    growing.write_bytes(GOOD.read_bytes())  # finished writing: a full copy of the good scan
    assert list(process_ready(reader, folders, settling, now=7.0)) == []  # both just changed
    later = list(process_ready(reader, folders, settling, now=13.0))
    assert {p.parent.name for p, _ in later} == {"duplicates"}
    where = _everywhere(folders)
    assert where["inbox"] == ["upload.pdf.part"]
    assert where["processing"] == []
    assert where["done"] == ["scan-1.jpg"]
    assert where["duplicates"] == ["growing.jpg", "scan-1-again.jpg"]
    [quarantined] = [n for n in where["quarantine"] if not n.endswith(".reason.txt")]
    assert quarantined.startswith("broken-") and f"{quarantined}.reason.txt" in where["quarantine"]


def test_a_file_left_in_processing_by_a_killed_run_is_finished_or_queued_again(reader, folders):
    """GIVEN one file that was recorded before the kill and one that was not
    WHEN the intake starts again THEN the recorded one goes to done, the other back to the inbox,
    and nothing is left in processing or recorded twice."""
    recorded = claim(_drop(folders, GOOD, "recorded.jpg"), folders)
    reader.process(recorded, quarantine=False)  # the database committed, then the process died
    claim(_drop(folders, SAMPLES / "scans" / "pregnancy_notification-300dpi.jpg", "half.jpg"), folders)
    places = recover(reader.store, folders)
    assert [p.parent for p in places] == [folders.inbox, folders.done]
    assert sorted(p.name for p in places) == ["half.jpg", "recorded.jpg"]
    assert not any(folders.processing.iterdir())
    from sqlmodel import Session, select

    from schemas.db import Document

    with Session(reader.store.engine) as s:
        assert [Path(d.source).name for d in s.exec(select(Document))] == ["recorded.jpg"]


def _drop(folders: Folders, source: Path, name: str) -> Path:
    dest = folders.inbox / name
    shutil.copy(source, dest)
    return dest


def test_a_fault_of_ours_puts_the_file_back_in_the_inbox(reader, folders, monkeypatch):
    _drop(folders, SAMPLES / "bad" / "blank-page.png", "blank.png")

    def broken(*args, **kwargs):
        raise RuntimeError("injected fault")

    monkeypatch.setattr(reader, "process", broken)
    with pytest.raises(RuntimeError):
        list(process_ready(reader, folders, Settling(seconds=0.0)))
    assert _everywhere(folders)["inbox"] == ["blank.png"]
    assert _everywhere(folders)["processing"] == []
