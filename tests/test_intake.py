"""The watched folder: every dropped file ends in exactly one place, and nothing is read twice."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.intake import Folders, Settling, claim, process_ready, recover
from flows.pipeline import sha256_of
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


def test_recovery_leaves_alone_a_file_a_live_run_was_handed(reader, folders):
    """GIVEN two unrecorded files in processing/, one handed to a run that may still read it (a reader
    on another PC has it) WHEN a reconcile recovers THEN only the other goes back to the inbox, and
    no attempt is counted against the busy one."""
    busy = claim(_drop(folders, GOOD, "being-read.jpg"), folders)
    claim(_drop(folders, SAMPLES / "scans" / "pregnancy_notification-300dpi.jpg", "lost.jpg"), folders)
    places = recover(reader.store, folders, busy={busy})
    assert [(p.parent, p.name) for p in places] == [(folders.inbox, "lost.jpg")]
    assert [p.name for p in folders.processing.iterdir()] == ["being-read.jpg"]
    assert reader.store.count_attempt(sha256_of(busy)) == 1  # this call's own: none counted before


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


# --- hostile files through the real intake path --------------------------------------------------

def _name_of_bytes(n: int, suffix: str) -> str:
    """A Japanese name of exactly n bytes (UTF-8) ending in `suffix`."""
    room = n - len(suffix.encode())
    return "申" * (room // 3) + "x" * (room % 3) + suffix


def test_hostile_files_each_end_in_exactly_one_place_with_a_reason(reader, folders, tmp_path):
    """GIVEN in the inbox: a decompression bomb, a PDF of 30 pages, a truncated JPEG, a 1 x 5000 px strip,
    a corrupt file with a 255-byte name, one named with a newline, '#', spaces and a leading '-' in
    NFD, two whose names are not UTF-8 (one of 244 bytes, four times that escaped), a link to a scan outside the inbox, a link to a folder and a
    dangling link
    WHEN the inbox is processed
    THEN every one is in quarantine with its own reason file (a name that fits, giving the original
    name whole and the reason in Japanese), nothing is left in the inbox or processing/, and the
    links' targets were neither read nor changed."""
    import os
    import stat
    import unicodedata

    from PIL import Image

    from tests.test_pages import _pdf, _png_declaring

    inbox = folders.inbox
    (inbox / "bomb.png").write_bytes(_png_declaring(100_000, 100_000))
    _pdf(inbox / "bundle.pdf", 30)
    (inbox / "cut.jpg").write_bytes(GOOD.read_bytes()[:2000])
    Image.new("L", (1, 5000), 255).save(inbox / "strip.png")
    broken = (SAMPLES / "bad" / "truncated-transfer.pdf").read_bytes()
    long_name = _name_of_bytes(255, ".pdf")
    odd_name = unicodedata.normalize("NFD", "-申請 #1\nがぎ.pdf")
    (inbox / long_name).write_bytes(broken)
    (inbox / odd_name).write_bytes(broken + b"%odd")
    (inbox / os.fsdecode(b"scan-\x82\xa0.pdf")).write_bytes(broken + b"%sjis")  # Shift_JIS bytes
    (inbox / os.fsdecode(b"\x82\xa0" * 120 + b".pdf")).write_bytes(broken + b"%long")  # 4 times longer escaped
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(GOOD.read_bytes())
    outside.chmod(0o644)
    (inbox / "link.jpg").symlink_to(outside)
    (inbox / "folder-link").symlink_to(tmp_path)
    (inbox / "dangling.pdf").symlink_to(tmp_path / "nowhere.pdf")
    before = outside.stat()

    filed = list(process_ready(reader, folders, Settling(seconds=0.0)))

    assert len(filed) == 11 and {p.parent for p, _ in filed} == {folders.quarantine}
    assert all(r.status.value == "rejected" for _, r in filed)
    codes = sorted(r.errors[0].code for _, r in filed)
    assert codes == sorted(["page_too_large", "too_many_pages", "corrupt_file", "page_shape", "corrupt_file",
                            "corrupt_file", "corrupt_file", "corrupt_file", "symlink", "symlink", "symlink"])
    where = _everywhere(folders)
    assert where["inbox"] == [] and where["processing"] == [] and where["done"] == []
    assert not any(p.is_symlink() for p in inbox.rglob("*"))  # _everywhere counts no dangling link: look again
    quarantined = sorted(folders.quarantine.iterdir())
    reasons = [p for p in quarantined if p.name.endswith(".reason.txt")]
    scans = [p for p in quarantined if not p.name.endswith(".reason.txt")]
    assert len(scans) == len(reasons) == 11
    for scan in scans:
        assert len(os.fsencode(scan.name + ".reason.txt")) <= 255
        text = (folders.quarantine / (scan.name + ".reason.txt")).read_text(encoding="utf-8")
        assert text.startswith("ファイル: ") and "\n理由: " in text
    texts = "".join(r.read_text(encoding="utf-8") for r in reasons)
    assert f"ファイル: {long_name}\n" in texts  # the whole name, though the file's own is shortened
    assert "ファイル: " + odd_name.replace("\n", "\\n") + "\n" in texts  # the newline cannot forge a line
    assert "ファイル: scan-\\x82\\xa0.pdf\n" in texts
    assert f"リンク先: {outside}\n" in texts and "シンボリックリンク" in texts
    links = [p for p in scans if p.is_symlink()]
    assert sorted(os.readlink(p) for p in links) == sorted([str(outside), str(tmp_path), str(tmp_path / "nowhere.pdf")])
    after = outside.stat()
    assert stat.S_IMODE(after.st_mode) == 0o644 and after.st_mtime_ns == before.st_mtime_ns  # never chmod-ed


def test_odd_names_keep_their_name_in_done_and_a_clash_still_fits(reader, folders):
    """GIVEN a good scan named in NFD with a leading '-', '#' and a space, and two different good scans,
    one after the other, under the same 255-byte name
    WHEN each is processed THEN the first keeps its exact name in done/; the second 255-byte one keeps
    its name, the third gets `-1` with the name shortened to fit, all in done/."""
    import os
    import unicodedata

    odd = unicodedata.normalize("NFD", "-がっこう #2 申請.jpg")
    long_name = _name_of_bytes(255, ".jpg")
    _drop(folders, GOOD, odd)
    _drop(folders, GOOD.with_name("child_allowance-300dpi.jpg"), long_name)
    first = list(process_ready(reader, folders, Settling(seconds=0.0)))
    _drop(folders, SAMPLES / "scans" / "pregnancy_notification-300dpi.jpg", long_name)
    second = list(process_ready(reader, folders, Settling(seconds=0.0)))
    names = sorted(p.name for p, _ in first + second)
    assert all(p.parent == folders.done for p, _ in first + second)
    assert odd in names and long_name in names
    [clash] = [n for n in names if n not in (odd, long_name)]
    assert clash.endswith("-1.jpg") and len(os.fsencode(clash)) <= 255 and long_name.startswith(clash[:-6])


def test_a_file_whose_reading_stops_every_time_goes_to_quarantine_not_round_forever(tmp_path):
    """GIVEN a file whose reading never finishes (its process is killed, or an error of ours, each
    time) WHEN reconcile finds it in processing/ again and again THEN it goes back to the inbox twice,
    and the third time to quarantine with a Japanese reason and a rejected row, never read again."""
    from schemas.db import Store
    from schemas.settings import Settings

    settings = Settings(home=tmp_path / "home")
    folders = Folders.from_settings(settings).ensure()
    store = Store(settings.db_url)
    path = _drop(folders, GOOD, "stops-the-reader.jpg")
    for attempt in (1, 2):
        claim(path, folders)  # read, and the reading stopped before it recorded anything
        [place] = recover(store, folders, max_attempts=3)
        assert place == path, f"attempt {attempt}"
    claim(path, folders)
    [place] = recover(store, folders, max_attempts=3)
    assert place.parent == folders.quarantine and not path.exists()
    reason = place.with_name(place.name + ".reason.txt").read_text(encoding="utf-8")
    assert "理由: このファイルの読み取りが3回とも途中で止まりました" in reason
    [doc] = store.documents("rejected")
    assert Path(doc.source).name == "stops-the-reader.jpg" and "read_interrupted" in doc.errors
    assert not any(folders.processing.iterdir()) and not any(folders.inbox.iterdir())


def test_a_copy_of_a_reviewed_or_entered_document_is_a_duplicate_not_a_crash(reader, folders):
    """GIVEN a scan read, then validated by a reviewer (or entered into the core system) WHEN an exact
    copy of it is dropped THEN the copy is filed as a duplicate; it used to raise ValueError ('validated'
    is not a DocumentStatus), which stopped reconcile at that file at every run (found by the chaos run)."""
    from sqlmodel import Session

    from schemas.db import Document

    first = reader.process(claim(_drop(folders, GOOD, "original.jpg"), folders), quarantine=False)
    doc = reader.store.find(first.sha256)
    for status in ("validated", "entered", "review_rejected"):
        with Session(reader.store.engine) as s, s.begin():
            row = s.get(Document, doc.id)
            row.status = status
            s.add(row)
        [(place, result)] = list(process_ready(reader, folders, Settling(seconds=0.0)) if
                                 _drop(folders, GOOD, f"copy-{status}.jpg") else [])
        assert place.parent == folders.duplicates and result.duplicate_of, status
