"""The bot: one headless Chromium, logged in to the core system, entering one document at a time
the way a careful clerk would.

Exactly once: every document has a key that is written into the record's 備考. Before entering,
and again before every retry, the bot searches for the key; a record already there (a click on
登録 whose answer was lost, a run that crashed) is returned, never entered a second time.
Before 登録, the confirmation screen is read back and compared with the values.

Playwright's sync API runs an event loop in the thread that opened it, so the browser lives in a
thread of its own and callers (Prefect flows among them) call `enter` from any thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError

from rpa.errors import EntryFailed, Refused, SystemUnavailable
from rpa.mapping import differences, fills
from rpa.pages import ConfirmPage, EntryPage, LoginPage, SearchPage
from schemas.entry import EntryMapping
from schemas.templates import FormTemplate

CHROMIUM_CANDIDATES = (
    Path("/usr/lib/chromium/chromium-headless-shell"),  # apt: chromium-headless-shell
    Path("/usr/lib/chromium/chromium"),  # apt: chromium (not the /usr/bin/chromium wrapper script)
)
VIEWPORT = {"width": 1280, "height": 900}  # CSS px


def chromium() -> Path:
    for p in CHROMIUM_CANDIDATES:
        if p.is_file():
            return p
    raise FileNotFoundError("no Chromium: install Debian's chromium-headless-shell (make does) "
                            f"or set MADOGUCHI_RPA__BROWSER; looked for {', '.join(map(str, CHROMIUM_CANDIDATES))}")


def document_key(sha256: str) -> str:
    """The idempotency key of a document: from the file's hash, so it survives even our database."""
    return f"MDG-{sha256[:16]}"


@dataclass(frozen=True)
class Job:
    """One document to enter."""

    key: str
    template: FormTemplate
    mapping: EntryMapping
    values: dict[str, object]
    evidence_dir: Path


@dataclass
class Outcome:
    receipt: str
    created: bool  # False: the record was already there (found by its key)
    attempts: int
    evidence: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class Connection:
    url: str
    user: str
    password: str = field(repr=False)
    browser: Path | None = None
    timeout_s: float = 30.0
    retries: int = 3
    backoff_s: float = 2.0


class Bot:
    """`with Bot(conn) as bot: bot.enter(job)`; raises Refused (business error) or EntryFailed."""

    def __init__(self, conn: Connection, log: Callable[[str], None] = print,
                 sleep: Callable[[float], None] = time.sleep):
        self.conn, self.log, self.sleep = conn, log, sleep
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bot")
        self._logged_in = False

    def __enter__(self) -> Bot:
        self._pool.submit(self._start).result()
        return self

    def __exit__(self, *exc) -> None:
        self._pool.submit(self._stop).result()
        self._pool.shutdown()

    def enter(self, job: Job) -> Outcome:
        return self._pool.submit(self._enter, job).result()

    # --- in the bot's thread ------------------------------------------------------------------
    def _start(self) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=str(self.conn.browser or chromium()))
        self._context = self._browser.new_context(viewport=VIEWPORT, locale="ja-JP", timezone_id="Asia/Tokyo")
        self._page = self._context.new_page()

    def _stop(self) -> None:
        self._context.close()
        self._browser.close()
        self._pw.stop()

    def _screen(self, cls):
        return cls(self._page, self.conn.url, self.conn.timeout_s)

    def _shot(self, job: Job, evidence: list[Path], name: str) -> None:
        """A full-page screenshot named by the key, the time of this entry and the step (never by
        anything secret); a later entry of the same document never overwrites an earlier one's."""
        job.evidence_dir.mkdir(parents=True, exist_ok=True)
        path = job.evidence_dir / f"{job.key}-{self._stamp}-{len(evidence) + 1:02d}-{name}.png"
        try:
            self._screen(ConfirmPage).screenshot(path)
            evidence.append(path)
        except Exception as e:  # evidence of an error must not hide the error itself
            self.log(f"screenshot {path.name} failed: {e}")

    def _enter(self, job: Job) -> Outcome:
        evidence: list[Path] = []
        self._stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self._pressed = False  # 登録 was pressed in this entry and its outcome is not known
        attempts = self.conn.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                try:
                    return self._attempt(job, attempt, evidence)
                except PlaywrightError as e:  # an input or a text the page lacks: not a known screen
                    raise SystemUnavailable("unexpected", str(e).splitlines()[0]) from e
            except SystemUnavailable as e:
                self._shot(job, evidence, f"error-{e.kind}")
                if e.kind == "session_expired":
                    self._logged_in = False
                if attempt == attempts or e.kind == "uncertain":
                    raise EntryFailed(e, attempt, evidence) from e
                wait = self.conn.backoff_s * 2 ** (attempt - 1)
                self.log(f"{job.key}: {e.kind} ({e.detail[:120]}); attempt {attempt} of {attempts}, "
                         f"looking the key up again in {wait:.1f} s")
                self.sleep(wait)
            except Refused as e:
                self._shot(job, evidence, "refused")
                e.evidence = evidence
                raise
        raise AssertionError("unreachable")

    def _attempt(self, job: Job, attempt: int, evidence: list[Path]) -> Outcome:
        if not self._logged_in:
            self._screen(LoginPage).login(self.conn.user, self.conn.password)
            self._logged_in = True
        found = self._screen(SearchPage).by_keyword(job.key)
        if not found and self._pressed:
            # 登録 went unanswered: the system may still be writing it. Look once more after a while;
            # if it is still not there, leave it to the next run rather than risk a second record.
            self.sleep(self.conn.timeout_s)
            found = self._screen(SearchPage).by_keyword(job.key)
            if not found:
                raise SystemUnavailable("uncertain", "no record with the key after an unanswered 登録")
        if found:
            self._shot(job, evidence, "found")
            if len(found) > 1:
                self.log(f"{job.key}: {len(found)} records carry this key: {found}; reporting the first")
            self.log(f"{job.key}: already in the core system as {found[0]}; nothing entered")
            return Outcome(found[0], False, attempt, evidence)
        typed = fills(job.mapping, job.template, job.values, job.key)
        entry = self._screen(EntryPage)
        entry.open(job.mapping.screen)
        entry.fill(typed)
        entry.submit()
        confirm = self._screen(ConfirmPage)
        wrong = differences(typed, confirm.values())
        if wrong:
            raise SystemUnavailable("mismatch", ", ".join(wrong), labels=wrong)
        self._shot(job, evidence, "confirm")
        self._pressed = True
        receipt = confirm.commit()
        self._pressed = False
        self._shot(job, evidence, "complete")
        self.log(f"{job.key}: entered as {receipt} (attempt {attempt})")
        return Outcome(receipt, True, attempt, evidence)
