"""`madoguchi server up|down`: a real Prefect server, deployments, a warm reader, a worker and the watcher, as the
counter runs them. One server for the module (starting it and loading models costs ~30 s)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import time
import urllib.request

import pytest

from flows import cli
from flows.service import server
from flows.service.supervise import alive, descendants
from tests.browser import artifact_path, browser_fixture, screenshot_flow_runs  # noqa: F401 (fixture)
from tests.conftest import REPO, SAMPLES
from tests.stack import running_stack


def _up_through_the_cli(settings) -> None:
    assert cli.main(["server", "up"]) == 0


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    with running_stack(tmp_path_factory, "server", start=_up_through_the_cli) as settings:
        yield settings


def _wait_for(path, seconds: float, settings) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    logs = settings.home / "logs"
    assert path.exists(), "\n".join((logs / f"{n}.log").read_text()[-2500:] for n in ("watcher", "reader", "worker"))


def _flow_runs(settings, name: str) -> list[dict]:
    """Flow runs by name, through the REST API (the browser fixture keeps asyncio busy here)."""
    body = json.dumps({"flow_runs": {"name": {"any_": [name]}}}).encode()
    req = urllib.request.Request(f"{server.api_url(settings)}/flow_runs/filter", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_up_starts_everything_and_a_dropped_scan_reaches_done(running):
    """GIVEN `server up` WHEN a scan is dropped in the inbox THEN the watcher starts a reconcile run and
    the scan reaches done/ through the warm reader."""
    st = server.status(running)
    assert st["healthy"] and st["server"] and st["reader"] and st["worker"] and st["watcher"] and st["core_system"]
    with urllib.request.urlopen(f"{st['core_system_url']}/login", timeout=10) as r:  # the stand-in core system
        assert "ログイン" in r.read().decode()
    inbox = running.home / "inbox"
    shutil.copy(SAMPLES / "scans" / "long_term_care-400dpi.jpg", inbox / "kaigo.jpg")
    _wait_for(running.home / "done" / "kaigo.jpg", 240, running)  # watcher, reconcile, reader, reading
    deadline = time.monotonic() + 60  # the run files the scan, then records its artifact and finishes
    while (states := [r["state_type"] for r in _flow_runs(running, "受付-kaigo.jpg")]) == ["RUNNING"]:
        if time.monotonic() > deadline:
            break
        time.sleep(1)
    assert states == ["COMPLETED"]


def test_everything_under_the_data_root_is_owner_only(running):
    """GIVEN the stack that read a scan (server, worker and its flow run, watcher, stand-in, Prefect's
    own database and logs) THEN nothing under the data root is open to group or others
    (`find HOME -perm /g=rwx,o=rwx` prints nothing), and the time bots enter from is fixed."""
    home = running.home
    assert any((home / "prefect").iterdir()) and any((home / "done").iterdir()) and (home / "madoguchi.db").exists()
    loose = [f"{oct(stat.S_IMODE(p.lstat().st_mode))} {p.relative_to(home)}" for p in [home, *home.rglob("*")]
             if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) & 0o077]
    assert loose == []
    assert (home / "run" / "enter_since").exists()


def _wait_running(settings, run_name: str, seconds: float) -> None:
    """Until the run of that name is Running (its document is being read)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if "RUNNING" in [r["state_type"] for r in _flow_runs(settings, run_name)]:
            return
        time.sleep(0.1)
    raise AssertionError(f"{run_name} never ran: " + (settings.home / "logs" / "reader.log").read_text()[-2500:])


def test_killing_the_reader_mid_document_loses_nothing(running):
    """GIVEN a document being read by the warm reader WHEN the reader is killed (a power cut) THEN its
    run is marked Crashed once its heartbeats stop, and with the reader back (supervisord starts it
    again) the file is read exactly once: in done/, recorded whole, nowhere else."""
    from sqlmodel import Session, select

    from schemas.db import Document, FieldValue, Store
    from schemas.templates import load_templates

    home = running.home
    shutil.copy(SAMPLES / "scans" / "pregnancy_notification-300dpi.jpg", home / "inbox" / "ninshin.jpg")
    claimed = home / "processing" / "ninshin.jpg"
    _wait_for(claimed, 240, running)
    _wait_running(running, "受付-ninshin.jpg", 120)
    reader = server._pid(running, "reader")
    for pid in [*descendants(reader), reader]:
        os.kill(pid, signal.SIGKILL)
    assert claimed.exists() and not (home / "done" / "ninshin.jpg").exists(), "killed too late: already filed"

    _wait_for(home / "done" / "ninshin.jpg", 420, running)  # heartbeats missed (90 s), next reconcile, reading
    assert server._pid(running, "reader") not in (None, reader)  # back by itself, a new process
    assert not any((home / "inbox").iterdir()) and not any((home / "processing").iterdir())
    assert not (home / "done" / "duplicates").exists() or not any((home / "done" / "duplicates").iterdir())
    store = Store(running.db_url)
    with Session(store.engine) as s:
        docs = [d for d in s.exec(select(Document)) if d.source.endswith("ninshin.jpg")]
        assert len(docs) == 1
        fields = list(s.exec(select(FieldValue).where(FieldValue.document_id == docs[0].id)))
    assert len(fields) == len(load_templates()["pregnancy_notification"].fields)  # whole, not half
    states = sorted(r["state_type"] for r in _flow_runs(running, "受付-ninshin.jpg"))
    assert states == ["COMPLETED", "CRASHED"], states  # the killed reading, then the one that filed it


def test_two_readers_on_one_inbox_read_each_file_once(running, tmp_path):
    """GIVEN a second warm reader beside `server up`'s (as on another PC sharing the data root) WHEN
    eight scans are dropped at once THEN each file is read by exactly one run of one reader and
    filed once, and both readers read some of them (a second reader adds throughput)."""
    from samples.generator.draw import generate
    from schemas.templates import load_templates

    made = [p for t in load_templates().values() for p in generate(t, 3, 424243, tmp_path, ("jpg",))][:8]
    env = server.environment(running, REPO)
    log = running.home / "logs" / "reader-second.log"
    with open(log, "wb") as out:
        second = subprocess.Popen([str(REPO / ".venv" / "bin" / "madoguchi"), "reader"], env=env, cwd=REPO,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while "models loaded" not in log.read_text() and time.monotonic() < deadline:
            assert second.poll() is None, log.read_text()[-2500:]
            time.sleep(0.5)
        names = [f"paper-{i}.jpg" for i in range(len(made))]
        for src, name in zip(made, names, strict=True):
            shutil.copy(src, running.home / "inbox" / f".{name}")  # written under a hidden name, then renamed
            os.replace(running.home / "inbox" / f".{name}", running.home / "inbox" / name)
        for name in names:
            _wait_for(running.home / "done" / name, 300, running)
        deadline = time.monotonic() + 60  # a run files its scan, then records its artifact and finishes
        while True:
            runs = {n: _flow_runs(running, f"受付-{n}") for n in names}
            if all(r["state_type"] != "RUNNING" for rs in runs.values() for r in rs) or time.monotonic() > deadline:
                break
            time.sleep(1)
    finally:
        os.killpg(second.pid, signal.SIGKILL)
        second.wait()
    assert {n: [r["state_type"] for r in rs] for n, rs in runs.items()} == {n: ["COMPLETED"] for n in names}
    by = {next(t for t in r["tags"] if t.startswith("reader-")) for rs in runs.values() for r in rs}
    assert len(by) == 2, by  # both readers read
    assert f"reader-{os.uname().nodename}-{second.pid}" in by
    texts = (running.home / "logs" / "reader.log").read_text() + log.read_text()
    assert all(texts.count(f"running process_document of {n} (") == 1 for n in names)  # taken once, by one reader
    assert not any((running.home / "processing").iterdir())


def _secrets_of(truth_file) -> set[str]:
    """What a resident wrote that must not reach a log: names, readings, numbers, addresses (dates
    are left out: a log's own timestamps would match them; so are options' names, e.g. `male`)."""
    fields = json.loads(truth_file.read_text(encoding="utf-8"))["fields"]
    found = set()
    for v in fields.values():
        if isinstance(v, str) and len(v) >= 4 and not v.isalpha() and not (v[:4].isdigit() and v[4:5] == "-"):
            found |= {v, v.replace(" ", "").replace("-", "")}
    return found


def test_no_log_carries_what_a_resident_wrote(running):
    """GIVEN the scans read above (one by a reader killed mid-document) WHEN every log under the
    data root (server, readers with their flow runs, worker, watcher, stand-in) and the log lines in Prefect's
    database are searched THEN no name, reading, number or address from the forms is there."""
    import sqlite3

    home = running.home
    secrets = _secrets_of(SAMPLES / "scans" / "long_term_care-400dpi.truth.json")
    secrets |= _secrets_of(SAMPLES / "scans" / "pregnancy_notification-300dpi.truth.json")
    texts = {str(p): p.read_text(encoding="utf-8", errors="replace") for p in home.rglob("*.log")}
    db = sqlite3.connect(f"file:{home / 'prefect' / 'prefect.db'}?mode=ro", uri=True)
    try:
        texts["prefect.db log"] = "\n".join(m for (m,) in db.execute("SELECT message FROM log"))
    finally:
        db.close()
    assert len(texts) >= 5 and "受付" in "".join(texts.values())  # the logs are there and were searched
    leaks = sorted({(where, v) for where, text in texts.items() for v in secrets if v in text})
    assert leaks == []


def test_the_ui_flow_runs_page_shows_the_runs(running, browser):
    """GIVEN the runs above WHEN a person opens the Prefect UI's runs page THEN they are listed (a
    screenshot is kept in var/test-artifacts/ to look at)."""
    text = screenshot_flow_runs(browser, f"http://127.0.0.1:{running.server.port}",
                                artifact_path("server-flow-runs.png"), ["受付-kaigo.jpg", "受付-ninshin.jpg"])
    assert "受付箱の確認" in text


def test_what_dies_comes_back_by_itself(running):
    """GIVEN the running stack WHEN the Prefect server, the watcher and the stand-in core system are
    killed with SIGKILL (a crash at 3 a.m.) THEN each is running again under a new pid with no
    command typed, the server answers, and a scan dropped afterwards reaches done/."""
    before = server.status(running)
    for name in ("server", "watcher", "core_system"):
        os.killpg(before[name], signal.SIGKILL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        st = server.status(running)
        back = all(st[n] and st[n] != before[n] and alive(st[n]) for n in ("server", "watcher", "core_system"))
        if back and st["healthy"]:
            break
        time.sleep(1)
    assert back and st["healthy"], st
    assert st["worker"] == before["worker"]  # what was not killed was left alone
    shutil.copy(SAMPLES / "scans" / "child_allowance-300dpi.jpg", running.home / "inbox" / "jidou.jpg")
    _wait_for(running.home / "done" / "jidou.jpg", 300, running)


def test_down_stops_exactly_what_up_started(running):
    st = server.status(running)
    pids = [st["server"], st["core_system"], st["reader"], st["worker"], st["watcher"]]
    assert all(pids)
    sentinel = subprocess.Popen(["sleep", "60"])  # a process of ours that `down` must leave alone
    try:
        daemon = server.supervisor(running).daemon_pid()
        assert daemon is not None
        assert cli.main(["server", "down"]) == 0
        assert not any(alive(pid) for pid in [*pids, daemon])
        assert not server.healthy(running)
        assert sentinel.poll() is None
    finally:
        sentinel.kill()
