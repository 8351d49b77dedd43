"""What the chaos run checks at its end, as plain functions over what was found: the files under the
data root, the database, the Prefect runs that read files and the stand-in core system's records.

`collect` gathers the facts (I/O); `check` judges them (no I/O), so a deliberately lost or doubled
file can be shown to fail it in a unit test.
"""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from flows.intake import Folders
from flows.names import derived_name
from flows.pipeline import REASON_SUFFIX, sha256_of

GOOD_KINDS = ("good", "slow", "duplicate")  # readable scans of the built-in forms
BAD_KINDS = ("truncated", "encrypted", "empty", "wrong_type", "huge")
KEY = re.compile(r"MDG-[0-9a-f]{16}")  # rpa.bot.document_key, written into the record's 備考
READING_FLOW = "process_document"


@dataclass(frozen=True)
class Dropped:
    """One file the run put into the inbox."""

    name: str
    kind: str
    sha256: str

    @property
    def bad(self) -> bool:
        return self.kind in BAD_KINDS


@dataclass(frozen=True)
class Found:
    """One file found under the data root after the run."""

    folder: str  # inbox | processing | done | duplicates | quarantine
    name: str
    sha256: str
    reason: bool = False  # quarantine: a reason file beside it


@dataclass
class Facts:
    files: list[Found]
    documents: dict[str, int]  # sha256 -> document rows
    fields: dict[str, tuple[int, int]]  # sha256 -> (field rows, fields of its form), read documents only
    readings: dict[str, int]  # file name -> reading runs that finished with a reading (not a duplicate)
    interrupted: dict[str, int]  # file name -> reading runs that crashed or failed
    records: dict[str, int]  # idempotency key -> records in the core system
    entered: list[str] = field(default_factory=list)  # keys our database says were entered (or found there)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def places(dropped: list[Dropped], files: list[Found]) -> tuple[dict[str, list[Found]], list[Found]]:
    """Where each dropped file is (by name), and the files that are none of them."""
    by_name = {d.name: d for d in dropped}
    # in quarantine a file is `<stem>-<sha256[:8]><suffix>` (shortened to fit)
    by_quarantine = {derived_name(d.name, f"-{d.sha256[:8]}", reserve=REASON_SUFFIX): d for d in dropped}
    out: dict[str, list[Found]] = {d.name: [] for d in dropped}
    strangers = []
    for f in files:
        d = (by_quarantine if f.folder == "quarantine" else by_name).get(f.name)
        if d is None:
            strangers.append(f)
        else:
            out[d.name].append(f)
    return out, strangers


def check(dropped: list[Dropped], facts: Facts) -> list[Check]:
    """Every check of the chaos run, each with what it found."""
    where, strangers = places(dropped, facts.files)
    lost = [n for n, fs in where.items() if not fs]
    doubled = [n for n, fs in where.items() if len(fs) > 1]
    kinds = {d.name: d for d in dropped}
    changed = [n for n, fs in where.items() if len(fs) == 1 and fs[0].sha256 != kinds[n].sha256]
    queued = [n for n, fs in where.items() if fs and fs[0].folder in ("inbox", "processing")]
    out = [Check("every file in exactly one place (0 lost)", not (lost or doubled or changed or strangers),
                 f"{len(dropped)} dropped: {len(lost)} lost, {len(doubled)} in two places, {len(changed)} with other "
                 f"content, {len(strangers)} unknown files" + _names(lost + doubled + changed + [s.name for s in strangers])),
           Check("nothing left queued", not queued, f"{len(queued)} still in inbox/ or processing/" + _names(queued))]
    in_done = [f for f in facts.files if f.folder in ("done", "duplicates")]
    rows = [f for f in in_done if facts.documents.get(f.sha256, 0) != 1]
    out.append(Check("every file in done/ has exactly one document row", not rows,
                     f"{len(in_done)} files in done/ and done/duplicates/, {len(rows)} without exactly one row"
                     + _names([f"{f.name} ({facts.documents.get(f.sha256, 0)} rows)" for f in rows])))
    out.append(_read_once(dropped, facts, where))
    twice = {k: n for k, n in facts.records.items() if n > 1}
    missing = [k for k in facts.entered if facts.records.get(k, 0) == 0]
    out.append(Check("no record entered twice in the core system", not twice and not missing,
                     f"{sum(facts.records.values())} records for {len(facts.records)} documents, {len(twice)} entered "
                     f"more than once, {len(missing)} entered by our database but not in the core system"
                     + _names([f"{k} x{n}" for k, n in twice.items()] + missing)))
    bad = [d for d in dropped if d.bad]
    unquarantined = [d.name for d in bad if [(f.folder, f.reason) for f in where[d.name]] != [("quarantine", True)]]
    out.append(Check("every bad file in quarantine with a reason", not unquarantined,
                     f"{len(bad) - len(unquarantined)} of {len(bad)} bad files" + _names(unquarantined)))
    good = [d for d in dropped if not d.bad]
    unread = [d.name for d in good if [f.folder for f in where[d.name]] not in (["done"], ["duplicates"])]
    in_done_twice = [s for s, n in Counter(f.sha256 for f in facts.files if f.folder == "done").items() if n > 1]
    out.append(Check("every good scan read: one in done/ per content, copies in done/duplicates/",
                     not unread and not in_done_twice,
                     f"{len(good) - len(unread)} of {len(good)} good scans in done/ or done/duplicates/, "
                     f"{len(in_done_twice)} contents in done/ twice" + _names(unread + in_done_twice)))
    return out


def _read_once(dropped: list[Dropped], facts: Facts, where: dict[str, list[Found]]) -> Check:
    """No file read twice: per file name and per content (sha256), at most one reading run that ended
    with a reading rather than "seen before"; and every read document whole (its form's field rows once)."""
    by_name = [n for n, k in facts.readings.items() if k > 1]
    per_sha: Counter = Counter()
    for d in dropped:
        if not d.bad:
            per_sha[d.sha256] += facts.readings.get(d.name, 0)
    by_sha = [s for s, k in per_sha.items() if k > 1]
    uneven = [s for s, (rows, expected) in facts.fields.items() if rows != expected]
    return Check("no document read twice", not (by_name or by_sha or uneven),
                 f"{sum(facts.readings.values())} readings of {len(facts.readings)} files; {len(by_name)} files and "
                 f"{len(by_sha)} contents read more than once, {len(uneven)} documents with field rows doubled or "
                 f"missing; {sum(facts.interrupted.values())} readings interrupted (crashed or failed) and done again"
                 + _names(by_name + by_sha + uneven))


def _names(items: list[str], most: int = 8) -> str:
    return f" ({', '.join(map(str, items[:most]))}{', ...' if len(items) > most else ''})" if items else ""


# --- gathering the facts ---------------------------------------------------------------------


def found_files(folders: Folders) -> list[Found]:
    """Every file under inbox/, processing/, done/, done/duplicates/ and quarantine/ (not reason files)."""
    out = []
    for name, folder in (("inbox", folders.inbox), ("processing", folders.processing), ("done", folders.done),
                         ("duplicates", folders.duplicates), ("quarantine", folders.quarantine)):
        recurse = name == "inbox"  # sub-folders of the inbox name forms; done/ holds duplicates/
        for p in sorted(folder.rglob("*") if recurse else folder.iterdir()):
            if not p.is_file() or p.name.endswith(REASON_SUFFIX):
                continue
            reason = p.with_name(p.name + REASON_SUFFIX)
            out.append(Found(name, p.name, sha256_of(p), name == "quarantine" and reason.is_file()
                             and "理由: " in reason.read_text(encoding="utf-8")))
    return out


def database_facts(db_url: str, forms: dict[str, int]) -> tuple[dict[str, int], dict[str, tuple[int, int]], list[str]]:
    """Document rows per sha256, field rows per read document against its form's fields, and the keys
    of the entries our database records as in the core system."""
    from sqlalchemy import func
    from sqlmodel import Session, select

    from schemas.db import Document, Entry, FieldValue, Store

    store = Store(db_url)
    with Session(store.engine) as s:
        docs = list(s.exec(select(Document)))
        counts = dict(s.exec(select(FieldValue.document_id, func.count()).group_by(FieldValue.document_id)).all())
        entered = [e.key for e in s.exec(select(Entry).where(Entry.state == "entered"))]
    rows = Counter(d.sha256 for d in docs)
    fields = {d.sha256: (counts.get(d.id, 0), forms[d.form]) for d in docs
              if d.status != "rejected" and d.form in forms}
    return dict(rows), fields, entered


def core_records(core_db: Path) -> dict[str, int]:
    """Records per idempotency key in the stand-in core system's own database."""
    if not core_db.exists():
        return {}
    db = sqlite3.connect(f"file:{core_db}?mode=ro", uri=True)
    try:
        bikos = [b or "" for (b,) in db.execute("select biko from record")]
    finally:
        db.close()
    return dict(Counter(k for b in bikos for k in set(KEY.findall(b))))


def api(base: str, path: str, body: object | None = None, timeout: float = 20.0) -> object:
    """One call to the Prefect server's REST API (a GET without a body)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"},
                                 method="GET" if data is None else "POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


def flow_runs(base: str, flow: str, states: list[str] | None = None) -> list[dict]:
    """Every run of a flow (optionally in these state types), page by page."""
    out, offset = [], 0
    while True:
        body: dict = {"flows": {"name": {"any_": [flow]}}, "limit": 200, "offset": offset}
        if states:
            body["flow_runs"] = {"state": {"type": {"any_": states}}}
        page = api(base, "/flow_runs/filter", body)
        out += page
        if len(page) < 200:
            return out
        offset += 200


def reading_runs(base: str) -> tuple[dict[str, int], dict[str, int]]:
    """Per file name: reading runs that finished with a reading of their own, and runs interrupted."""
    read, interrupted = Counter(), Counter()
    for r in flow_runs(base, READING_FLOW):
        name = r["name"].removeprefix("受付-")
        if r["state_type"] == "COMPLETED" and "duplicate" not in r["tags"]:
            read[name] += 1
        elif r["state_type"] in ("CRASHED", "FAILED"):
            interrupted[name] += 1
    return dict(read), dict(interrupted)
