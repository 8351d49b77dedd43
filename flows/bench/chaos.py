"""`madoguchi bench-chaos`: files keep arriving while the watcher, the worker (with its flow-run
processes), the Prefect server and the stand-in core system are killed with SIGKILL at random;
nothing is started again by the bench (supervisord does it), and at the end nothing may be lost,
read twice or entered twice.

On a fresh data root under the output folder it runs `server up`, then at once:
- an arrival thread drops the files of `chaos_files` over `arrive_seconds` (a `.part` name then a
  rename, like a scanner; the slow ones written under their final name in chunks over seconds);
- a killer thread kills one of the four programs at each of `kills` random moments (each once it
  has been up a few seconds, so supervisord is never asked to start a program that just started);
- a reviewer answers the review runs of up to `reviews` good scans with their true values, so that
  validated documents are entered by the entry flow during the chaos; the bench also asks for an
  entry run every minute while none is under way, as the scheduled deployment would.
Then it waits until the inbox is empty and nothing is in flight (or `timeout`), checks
(`chaos_check`) and writes chaos.json and chaos.md.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flows.bench import chaos_check as cc
from flows.bench.chaos_files import Planned, make
from flows.home import copy_private
from flows.intake import Folders
from flows.service import server
from flows.service.supervise import Supervisor, descendants
from schemas.settings import Settings

SEED = 20261204
TARGETS = ("watcher", "reader", "worker", "server", "core_system")
UP_SECONDS = 5.0  # a program is killed only after it has been up this long (supervisord's startsecs is 3)
REVIEWER = "カオス 試験"
ACTIVE = ["SCHEDULED", "PENDING", "RUNNING"]


class Chaos:
    """One chaos run on a started stack: its threads share the stop flag and the records."""

    def __init__(self, settings: Settings, plan: list[Planned], *, kills: int, reviews: int,
                 arrive_seconds: float, targets: tuple[str, ...], seed: int):
        self.settings, self.plan, self.rng = settings, plan, random.Random(seed)
        self.folders = Folders.from_settings(settings)
        self.sup: Supervisor = server.supervisor(settings)
        self.base = server.api_url(settings)
        self.arrive_seconds, self.reviews, self.targets = arrive_seconds, reviews, targets
        self.stop = threading.Event()
        self.kills_done = threading.Event()  # every scheduled kill made and its program back (or given up on)
        self.arrived = threading.Event()
        self.kill_log: list[dict] = []
        self.answered: dict[str, str] = {}  # review run id -> the key answered last
        self.entry_runs = 0
        self.t0 = time.monotonic()
        window = arrive_seconds + max(60.0, 0.3 * arrive_seconds)  # kills go on while the backlog is read
        names = [targets[i % len(targets)] for i in range(kills)]
        self.rng.shuffle(names)
        self.schedule = list(zip(sorted(self.rng.uniform(15.0, window) for _ in names), names))
        self.truths = {p.dropped.sha256: p.truth for p in plan if p.truth}

    def now(self) -> float:
        return time.monotonic() - self.t0

    def _sleep_until(self, t: float) -> bool:
        """Wait until `t` seconds into the run; False when told to stop first."""
        return not self.stop.wait(max(0.0, t - self.now()))

    # --- files arrive ---------------------------------------------------------------------------

    def arrive(self) -> None:
        times = sorted(self.rng.uniform(0, self.arrive_seconds) for _ in self.plan)
        writers = []
        for t, p in zip(times, self.plan):
            if not self._sleep_until(t):
                break
            dest = self.folders.inbox / p.dropped.name
            if p.dropped.kind == "slow":
                writers.append(threading.Thread(target=self._write_slowly, args=(p.source, dest), daemon=True))
                writers[-1].start()
            else:
                tmp = dest.with_name("." + dest.name + ".part")
                copy_private(p.source, tmp)
                os.replace(tmp, dest)
        for w in writers:
            w.join()
        self.arrived.set()

    def _write_slowly(self, source: Path, dest: Path) -> None:
        """Written under its final name in 4-8 chunks over seconds, the gaps under the settle time."""
        data = source.read_bytes()
        n = self.rng.randint(4, 8)
        cuts = sorted(self.rng.sample(range(1, len(data)), n - 1))
        with open(dest, "wb") as f:
            for a, b in zip([0, *cuts], [*cuts, len(data)]):
                f.write(data[a:b])
                f.flush()
                time.sleep(self.rng.uniform(0.3, 0.9) * min(1.0, self.settings.intake.settle_seconds / 2))

    # --- processes die --------------------------------------------------------------------------

    def _running(self, name: str, timeout: float = 240.0) -> int | None:
        """The program's pid once the same one has been up UP_SECONDS (the server: and healthy)."""
        deadline, seen, since = time.monotonic() + timeout, None, 0.0
        while time.monotonic() < deadline and not self.stop.is_set():
            pid = self.sup.pid(name)
            if pid != seen:
                seen, since = pid, time.monotonic()
            elif pid and time.monotonic() - since >= UP_SECONDS and (name != "server" or server.healthy(self.settings)):
                return pid
            time.sleep(0.5)
        return None

    def kill(self) -> None:
        try:
            self._kill_all()
        finally:
            self.kills_done.set()

    def _kill_all(self) -> None:
        for at, name in self.schedule:
            if not self._sleep_until(at):
                return
            pid = self._running(name)
            if pid is None:
                self.kill_log.append({"at": round(self.now(), 1), "target": name, "killed": False})
                continue
            busy = sorted(p.name for p in self.folders.processing.iterdir())
            below = descendants(pid)
            try:
                os.killpg(pid, signal.SIGKILL)  # supervisord starts each program as its own process group
            except ProcessLookupError:
                pass
            for p in below:  # flow-run processes that left the group
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            killed_at = time.monotonic()
            back = None
            while time.monotonic() - killed_at < 120 and not self.stop.is_set():
                new = self.sup.pid(name)
                if new and new != pid:
                    back = round(time.monotonic() - killed_at, 1)
                    break
                time.sleep(0.5)
            self.kill_log.append({"at": round(at, 1), "target": name, "killed": True, "pid": pid,
                                  "processes": 1 + len(below), "mid_document": busy, "back_seconds": back})

    # --- a reviewer and the entry runs ----------------------------------------------------------

    def review(self) -> None:
        from flows.review import CONFIRM, RETURN
        from flows.verify import REJECT_REASONS, shown
        from schemas.db import Store
        from schemas.templates import load_templates

        store, specs = Store(self.settings.db_url), {k: {f.name: f for f in t.fields}
                                                      for k, t in load_templates().items()}
        while not self.stop.wait(10.0):
            try:
                paused = cc.flow_runs(self.base, "review_document", ["PAUSED"])
            except OSError:
                continue  # the server is down for a moment
            for run in paused:
                keys = (run.get("state") or {}).get("state_details", {}).get("run_input_keyset") or {}
                doc = store.document(run["parameters"].get("document_id", -1))
                truth = self.truths.get(doc.sha256) if doc else None
                first = run["id"] not in self.answered
                if not keys or truth is None or self.answered.get(run["id"]) == keys["response"] or (
                        first and len(self.answered) >= self.reviews):
                    continue
                try:
                    schema = cc.api(self.base, f"/flow_runs/{run['id']}/input/{keys['schema']}")
                    schema = json.loads(schema) if isinstance(schema, str) else schema
                    answer = {k: v.get("default") for k, v in schema["properties"].items()}
                    form = specs[doc.form]
                    answer.update({k: shown(form[k], truth.get(k)) for k in answer if k in form})
                    answer["reviewer"] = REVIEWER
                    if not first:  # asked again: what was true did not pass the checks; send it back
                        answer.update(decision=RETURN, reject_reason=REJECT_REASONS[-1])
                    else:
                        answer["decision"] = CONFIRM
                    cc.api(self.base, f"/flow_runs/{run['id']}/resume", {"run_input": answer})
                    self.answered[run["id"]] = keys["response"]
                except (OSError, KeyError, ValueError):
                    continue  # the server went away, or the run moved on: the next look tries again

    def _entry_active(self) -> bool:
        soon = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
        body = {"flows": {"name": {"any_": ["entry"]}},
                "flow_runs": {"state": {"type": {"any_": ACTIVE}}, "expected_start_time": {"before_": soon}}}
        return bool(cc.api(self.base, "/flow_runs/filter", body))

    def enter(self) -> None:
        """An entry run every minute while none is under way (the deployment's own schedule is 5 min)."""
        while not self.stop.wait(60.0):
            try:
                if not self._entry_active():
                    dep = cc.api(self.base, "/deployments/name/entry/entry")
                    cc.api(self.base, f"/deployments/{dep['id']}/create_flow_run", {"tags": ["chaos"]})
                    self.entry_runs += 1
            except OSError:
                continue

    # --- the end --------------------------------------------------------------------------------

    def quiet(self) -> bool:
        """Every file filed, no reading or entry run under way, every answered review finished and
        no document waiting to be entered."""
        from schemas.db import Store

        if not self.arrived.is_set():
            return False
        if any(p.is_file() for p in self.folders.inbox.rglob("*")) or any(self.folders.processing.iterdir()):
            return False
        try:
            if cc.flow_runs(self.base, cc.READING_FLOW, ["PENDING", "RUNNING"]) or self._entry_active():
                return False
            reviews = cc.flow_runs(self.base, "review_document", ["SCHEDULED", "PENDING", "RUNNING"])
        except OSError:
            return False
        if any(r["id"] in self.answered for r in reviews):
            return False
        store = Store(self.settings.db_url)
        return not (store.documents("accepted") or store.documents("validated"))

    def run(self, timeout: float) -> dict:
        threads = [threading.Thread(target=f, daemon=True, name=f.__name__)
                   for f in (self.arrive, self.kill, self.review, self.enter)]
        for t in threads:
            t.start()
        deadline = self.t0 + timeout
        calm = 0
        while time.monotonic() < deadline:
            # quiet, and the chaos over: a backlog read before the last kill's moment is no settled run
            calm = calm + 1 if self.kills_done.is_set() and self.quiet() else 0
            if calm >= 3:  # three looks, 10 s apart
                break
            time.sleep(10.0)
        settled = calm >= 3
        self.stop.set()
        for t in threads:
            t.join(timeout=150)
        return {"settled": settled, "wall_seconds": round(self.now(), 1)}


def _drain_prefect_clients(timeout: float = 30.0) -> None:
    """Send what this process's Prefect clients hold (events, logs) while the server still answers:
    left retrying a server that is gone, they hold up the end of the process."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):
        worker.drain_all(timeout=timeout)


def snapshot(settings: Settings, plan: list[Planned]) -> cc.Facts:
    """Everything the checks look at, once the run is over (the server still up)."""
    from schemas.templates import load_templates

    base = server.api_url(settings)
    forms = {k: len(t.fields) for k, t in load_templates().items()}
    for _ in range(60):  # a server killed last may still be starting
        if server.healthy(settings):
            break
        time.sleep(2)
    readings, interrupted = cc.reading_runs(base)
    documents, fields, entered = cc.database_facts(settings.db_url, forms)
    return cc.Facts(files=cc.found_files(Folders.from_settings(settings)), documents=documents, fields=fields,
                    readings=readings, interrupted=interrupted,
                    records=cc.core_records(settings.home / "core_system" / "core.db"), entered=entered)


def summary(plan: list[Planned], facts: cc.Facts, settings: Settings) -> dict:
    """Counts for the report: where each kind of file ended, documents and entries by state."""
    from sqlmodel import Session, select

    from schemas.db import Document, Entry, Store

    where, _ = cc.places([p.dropped for p in plan], facts.files)
    by_kind: dict[str, Counter] = {}
    for p in plan:
        fs = where[p.dropped.name]
        place = "lost" if not fs else ("two places" if len(fs) > 1 else fs[0].folder)
        by_kind.setdefault(p.dropped.kind, Counter())[place] += 1
    store = Store(settings.db_url)
    with Session(store.engine) as s:
        docs = Counter(d.status for d in s.exec(select(Document)))
        entries = Counter(e.state for e in s.exec(select(Entry)))
        created = sum(1 for e in s.exec(select(Entry)) if e.state == "entered" and e.created)
    return {"by_kind": {k: dict(v) for k, v in by_kind.items()}, "documents": dict(docs),
            "entries": dict(entries), "entered_by_this_run": created,
            "entered_found_already_there": entries.get("entered", 0) - created,
            "core_records": sum(facts.records.values()),
            "readings": sum(facts.readings.values()), "interrupted_readings": sum(facts.interrupted.values())}


def run(out: Path, repo: Path, *, files: int = 1000, kills: int = 24, seed: int = SEED,
        arrive_seconds: float | None = None, reviews: int | None = None, targets: tuple[str, ...] = TARGETS,
        timeout: float = 7200.0) -> dict:
    """The whole chaos run; returns the report (also written to out/chaos.json and chaos.md)."""
    out = out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    os.environ["MADOGUCHI_HOME"] = str(out / "home")
    os.environ["MADOGUCHI_SERVER__PORT"] = str(server.free_port())
    settings = Settings()
    plan = make(out / "input", files, seed, repo / "samples")
    good = sum(1 for p in plan if p.dropped.kind in ("good", "slow"))
    reviews = max(1, good // 3) if reviews is None else reviews
    arrive_seconds = 0.9 * files if arrive_seconds is None else arrive_seconds
    t0 = time.monotonic()
    server.up(settings, repo)
    try:
        chaos = Chaos(settings, plan, kills=kills, reviews=reviews, arrive_seconds=arrive_seconds,
                      targets=targets, seed=seed)
        outcome = chaos.run(timeout)
        facts = snapshot(settings, plan)
        status = server.status(settings)
    finally:
        _drain_prefect_clients()
        server.down(settings)
    checks = cc.check([p.dropped for p in plan], facts)
    killed = [k for k in chaos.kill_log if k["killed"]]
    back = [k["back_seconds"] for k in killed]
    checks.append(cc.Check("at least the asked kills, each process back by itself",
                           len(killed) >= kills and None not in back and all(status[t] for t in targets),
                           f"{len(killed)} of {kills} kills done ("
                           + ", ".join(f"{t} {sum(k['target'] == t for k in killed)}" for t in targets) + "); "
                           + (f"every one back by itself, the slowest after {max(back, default=0)} s"
                              if None not in back else "some did not come back within 120 s")))
    checks.append(cc.Check("the run settled before the timeout", outcome["settled"],
                           f"{outcome['wall_seconds']} s of {timeout:.0f} s"))
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} CPU cores",
        "files": files, "seed": seed, "mix": dict(Counter(p.dropped.kind for p in plan)),
        "arrive_seconds": arrive_seconds, "kills_asked": kills, "reviews_answered": len(chaos.answered),
        "entry_runs_asked": chaos.entry_runs, "wall_seconds": round(time.monotonic() - t0, 1), **outcome,
        "kills_per_process": dict(Counter(k["target"] for k in killed)),
        "kills_mid_document": sum(1 for k in killed if k["mid_document"]),
        **summary(plan, facts, settings),
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
        "ok": all(c.ok for c in checks), "kills": chaos.kill_log,
    }
    (out / "chaos.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "chaos.md").write_text(markdown(report) + "\n", encoding="utf-8")
    return report


PLACES = ("done", "duplicates", "quarantine", "inbox", "processing", "lost", "two places")


def markdown(r: dict) -> str:
    """The report as Markdown tables."""
    lines = [(f"Chaos run: {r['files']} files over {r['arrive_seconds']:.0f} s, {len(r['kills'])} kills, "
              f"{r['machine']}, seed {r['seed']}; wall time {r['wall_seconds'] / 60:.1f} min."), "",
             "| file type | files | done/ | done/duplicates/ | quarantine/ (with reason) | still queued | lost |",
             "|---|---|---|---|---|---|---|"]
    for kind, places in r["by_kind"].items():
        n = sum(places.values())
        lines.append(f"| {kind} | {n} | {places.get('done', 0)} | {places.get('duplicates', 0)} | "
                     f"{places.get('quarantine', 0)} | {places.get('inbox', 0) + places.get('processing', 0)} | "
                     f"{places.get('lost', 0) + places.get('two places', 0)} |")
    lines += ["", "| process | SIGKILLs | mid-document | back after (s, slowest) |", "|---|---|---|---|"]
    for t in TARGETS:
        ks = [k for k in r["kills"] if k["target"] == t and k["killed"]]
        backs = [k["back_seconds"] for k in ks if k["back_seconds"] is not None]
        lines.append(f"| {t} | {len(ks)} | {sum(1 for k in ks if k['mid_document'])} | "
                     f"{max(backs) if backs else '-'} |")
    lines += ["", (f"Readings: {r['readings']} (and {r['interrupted_readings']} interrupted by a kill, done again); "
                   f"documents {r['documents']}; reviews answered {r['reviews_answered']}; entries {r['entries']} "
                   f"({r['entered_by_this_run']} records made, {r['entered_found_already_there']} found already "
                   f"there by their key); records in the core system {r['core_records']}."), "",
              "| check | result | found |", "|---|---|---|"]
    lines += [f"| {c['name']} | {'ok' if c['ok'] else '**FAILED**'} | {c['detail']} |" for c in r["checks"]]
    return "\n".join(lines)
