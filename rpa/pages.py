"""One page object per screen of the core system. Selectors live here and nowhere else: labels a
clerk reads where possible, stable ids otherwise. Every navigation ends in `landed`, which turns
whatever the system showed instead (an error page, maintenance, the login screen of an expired
session, the browser's own error page) into a SystemUnavailable.
"""

from __future__ import annotations

from urllib.parse import urljoin

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from rpa.errors import LoginFailed, Refused, SystemUnavailable
from rpa.mapping import Fill

SCREEN_IDS = {"login", "menu", "search", "entry", "confirm", "complete", "error", "maintenance"}


class Screen:
    """What every screen shares: where the system is, how long to wait, how to tell where we are."""

    def __init__(self, page: Page, base_url: str, timeout_s: float):
        self.page, self.base, self.timeout_ms = page, base_url.rstrip("/") + "/", timeout_s * 1000

    def goto(self, path: str, *expected: str) -> str:
        try:
            self.page.goto(urljoin(self.base, path.lstrip("/")), timeout=self.timeout_ms)
        except PlaywrightTimeout as e:
            raise SystemUnavailable("timeout", str(e).splitlines()[0]) from e
        except PlaywrightError as e:  # the browser names network failures only in its message
            kind = "connection" if "ERR_CONNECTION_REFUSED" in str(e) else "no_response"
            raise SystemUnavailable(kind, str(e).splitlines()[0]) from e
        return self.landed(*expected)

    def button(self, name: str) -> Locator:
        return self.page.get_by_role("button", name=name, exact=True)

    def click(self, target: Locator, *expected: str) -> str:
        """Click something that submits a form, and wait for the next screen."""
        try:
            with self.page.expect_navigation(timeout=self.timeout_ms, wait_until="load"):
                target.click(timeout=self.timeout_ms)
        except PlaywrightTimeout as e:
            raise SystemUnavailable("timeout", str(e).splitlines()[0]) from e
        except PlaywrightError as e:
            raise SystemUnavailable("no_response", str(e).splitlines()[0]) from e
        return self.landed(*expected)

    def landed(self, *expected: str) -> str:
        """The screen we are on, if it is one of `expected`; otherwise the system error it shows."""
        if self.page.url.startswith("chrome-error://"):
            raise SystemUnavailable("no_response", "the browser shows its own error page")
        try:
            screen = self.page.locator("main").first.get_attribute("id", timeout=self.timeout_ms) or ""
        except PlaywrightTimeout as e:
            raise SystemUnavailable("timeout", "no screen") from e
        if screen in expected:
            return screen
        if screen == "login":
            raise SystemUnavailable("session_expired", self.page.url)
        if screen == "maintenance":
            raise SystemUnavailable("maintenance", self.text())
        if screen == "error":
            raise SystemUnavailable("server_error", self.text())
        raise SystemUnavailable("unexpected", f"{screen or 'unknown'} at {self.page.url}")

    def text(self) -> str:
        return " ".join(self.page.locator("main").first.inner_text().split())

    def screenshot(self, path) -> None:
        self.page.screenshot(path=str(path), full_page=True, timeout=self.timeout_ms)


class LoginPage(Screen):
    def login(self, user: str, password: str) -> None:
        self.goto("/login", "login")
        self.page.get_by_label("利用者ID", exact=True).fill(user)
        self.page.get_by_label("パスワード", exact=True).fill(password)
        try:
            self.click(self.button("ログイン"), "menu")
        except SystemUnavailable as e:
            if e.kind == "session_expired" and self.page.locator("#login-error").count():  # the account was refused
                raise LoginFailed("the core system refused the account") from e
            raise


class SearchPage(Screen):
    def by_keyword(self, keyword: str) -> list[str]:
        """受付番号 of the records whose 備考 holds the keyword."""
        self.goto("/search", "search")
        self.page.get_by_label("備考（キーワード）", exact=True).fill(keyword)
        self.click(self.button("検索"), "search")
        rows = self.page.locator("#results tr").filter(has=self.page.locator("td.biko", has_text=keyword))
        return [r.strip() for r in rows.locator("td.receipt").all_inner_texts()]


class EntryPage(Screen):
    def open(self, path: str) -> None:
        self.goto(path, "entry")

    def fill(self, items: list[Fill]) -> None:
        page, t = self.page, self.timeout_ms
        for f in items:
            if f.how == "date":
                era, y, m, d = f.value if f.value else ("", "", "", "")
                page.get_by_label(f"{f.label} 元号", exact=True).select_option(label=era or "--", timeout=t)
                for part, v in (("年", y), ("月", m), ("日", d)):
                    page.get_by_label(f"{f.label} {part}", exact=True).fill(str(v), timeout=t)
            elif f.how == "select":
                page.get_by_label(f.label, exact=True).select_option(label=f.value or "選択してください", timeout=t)
            elif f.how == "checkbox":
                page.get_by_label(f.label, exact=True).set_checked(bool(f.value), timeout=t)
            else:
                page.get_by_label(f.label, exact=True).fill(str(f.value), timeout=t)

    def submit(self) -> None:
        """To the confirmation screen, or Refused with the system's messages by label."""
        if self.click(self.button("確認画面へ"), "confirm", "entry") == "entry":
            problems = self.problems()
            if not problems:  # back on an empty form without a message (a lost draft): not a refusal
                raise SystemUnavailable("unexpected", "the entry screen came back without messages")
            raise Refused(problems)

    def problems(self) -> list[tuple[str, str]]:
        out = []
        for li in self.page.locator("#errors li").all():
            item = li.get_attribute("data-item") or ""
            label = self.page.locator(f"label[for='f-{item}'], #f-{item} > legend").first
            out.append((label.inner_text().strip() if label.count() else item, li.inner_text().strip()))
        return out


class ConfirmPage(Screen):
    def values(self) -> dict[str, str]:
        """label -> text as the confirmation table shows it."""
        rows = self.page.locator("#confirm-table tr").all()
        return {r.locator("th").inner_text().strip(): r.locator("td").inner_text().strip() for r in rows}

    def commit(self) -> str:
        """Press 登録; the 受付番号 from the completion screen."""
        self.click(self.button("登録"), "complete")
        return self.page.locator("#receipt").inner_text(timeout=self.timeout_ms).strip()
