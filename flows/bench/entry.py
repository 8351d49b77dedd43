"""`madoguchi bench-entry`: how fast one bot enters records, and what it costs in CPU.

The stand-in core system runs in its own process (its CPU is counted apart: it is the city's
machine, not ours); one Chromium enters N records of the three procedures, each looked up by its
key first, typed, checked on the confirmation screen and registered, with the two screenshots of
evidence. Our CPU is this process (the bot's Python side) plus its reaped children (Playwright's
driver and Chromium), measured over the bot's whole life, start and stop included.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from flows.entry import MAPPINGS
from rpa.bot import Bot, Connection, Job
from schemas.entry import load_mappings
from schemas.settings import Settings
from schemas.templates import load_templates

FORMS = ("child_allowance", "pregnancy_notification", "long_term_care")
TRUTHS = {"child_allowance": "child_allowance-300dpi", "pregnancy_notification": "pregnancy_notification-300dpi",
          "long_term_care": "long_term_care-400dpi"}
USER, PASSWORD = "bench-bot", "bench-password"


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _standin(out: Path, delay: float) -> tuple[subprocess.Popen, str]:
    url_file = out / "core.url"
    url_file.unlink(missing_ok=True)
    (out / "core.db").unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "samples.core_system", "--db", str(out / "core.db"), "--url-file",
                             str(url_file), "--user", USER, "--delay", str(delay), "--maintenance", "none"],
                            env={**os.environ, "CORE_SYSTEM_PASSWORD": PASSWORD}, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not url_file.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("the stand-in core system did not start")
        time.sleep(0.1)
    return proc, url_file.read_text().strip()


def run_once(out: Path, records: int, delay: float, samples: Path) -> dict:
    settings = Settings()
    templates = load_templates(settings.ocr.forms_dir)
    maps = load_mappings(MAPPINGS / settings.rpa.system, templates)
    truths = {f: json.loads((samples / "scans" / f"{TRUTHS[f]}.truth.json").read_text(encoding="utf-8"))["fields"]
              for f in FORMS}
    proc, url = _standin(out, delay)
    try:
        core_cpu0 = _cpu_of(proc.pid)
        self0, kids0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        created = 0
        with Bot(Connection(url, USER, PASSWORD, settings.rpa.browser), log=lambda m: None) as bot:
            t_ready = time.perf_counter()
            for n in range(records):
                form = FORMS[n % len(FORMS)]
                job = Job(f"MDG-bench{delay:g}-{n:05d}", templates[form], maps[form], truths[form], out / "evidence")
                created += bot.enter(job).created
            t_done = time.perf_counter()
        wall = time.perf_counter() - t0
        self1, kids1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        core_cpu = _cpu_of(proc.pid) - core_cpu0
    finally:
        proc.terminate()
        proc.wait(10)
    ours = (self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime
            + kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime)
    entering = t_done - t_ready
    return {"records": records, "created": created, "stand_in_delay_s": delay,
            "records_per_min": round(records / entering * 60, 1), "s_per_record": round(entering / records, 2),
            "browser_start_s": round(t_ready - t0, 2), "wall_s": round(wall, 1),
            "cpu_s_per_record": round(ours / records, 3), "stand_in_cpu_s_per_record": round(core_cpu / records, 3)}


def main(out: Path, records: int, delays: list[float], samples: Path) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    rows = [run_once(out, records, d, samples) for d in delays]
    (out / "entry.json").write_text(json.dumps(rows, indent=1))
    lines = ["| stand-in delay per response (s) | records | records/min | s/record | CPU-s/record (bot + Chromium) "
             "| CPU-s/record (stand-in) | browser start (s) |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['stand_in_delay_s']} | {r['records']} | {r['records_per_min']} | {r['s_per_record']} | "
              f"{r['cpu_s_per_record']} | {r['stand_in_cpu_s_per_record']} | {r['browser_start_s']} |" for r in rows]
    (out / "entry.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return rows
