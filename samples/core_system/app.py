"""A stand-in for the city's web-based core system (住民情報システム), for demos, tests and benchmarks.

It behaves like the real thing where a bot must cope: a login with a session that expires when
idle, search by 宛名番号, by name and birth date or by a keyword in 備考, one data-entry screen
per procedure with server-side validation, a confirmation screen, a completion screen with a
受付番号, slow responses, an occasional 500 and a nightly maintenance window. Its records live in
its own SQLite file, so tests and the demo can check what was stored.

With `control=True` it also answers `/_control` (JSON: inject the next faults) and `/_records`;
tests use them to make the system fail the way a real one does, never to skip a screen.
Standard library only: it is someone else's system, not ours.
"""

from __future__ import annotations

import html
import json
import random
import re
import secrets
import sqlite3
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

from samples.core_system.screens import ERAS, SCREENS, Item, Screen

ERA_START = {"M": date(1868, 1, 25), "T": date(1912, 7, 30), "S": date(1926, 12, 25), "H": date(1989, 1, 8),
             "R": date(2019, 5, 1)}
SYSTEM = "下松市 住民情報システム（模擬）"
KANA = re.compile(r"^[ァ-ヶー・\u3000 ]+$")
PHONE = re.compile(r"^0\d{1,4}-?\d{1,4}-?\d{3,4}$")
POSTAL = re.compile(r"^(\d{3})-?(\d{4})$")


@dataclass
class Behaviour:
    """How real the stand-in is. Defaults are those of a healthy, slightly slow system."""

    delay: float = 0.15  # s per response, on average (uniform from half to one and a half times)
    error_rate: float = 0.0  # share of requests answered with a 500
    session_seconds: float = 900.0  # idle time after which a session expires
    maintenance: tuple[str, str] | None = ("02:00", "04:00")  # daily window, local time; None: never
    seed: int | None = None


@dataclass
class Faults:
    """Faults a test asks for, each consumed once: {"status": 500, "path": "/entry/"} (path prefix)."""

    fail: list[dict] = field(default_factory=list)
    lose_response: int = 0  # commits whose response is never sent (the record is stored)
    expire_sessions: bool = False
    maintenance: bool = False
    truncate: dict[str, int] = field(default_factory=dict)  # item id -> characters kept (a narrow column)


def _era_date(era: str, y: str, m: str, d: str) -> date | None:
    try:
        start = ERA_START[era]
        out = date(start.year + int(y) - 1, int(m), int(d))
    except (KeyError, ValueError):
        return None
    later = [s for s in ERA_START.values() if s > start]
    return out if out >= start and (not later or out < min(later)) else None


def wareki(iso: str) -> str:
    d = date.fromisoformat(iso)
    era = max((e for e, s in ERA_START.items() if s <= d), key=lambda e: ERA_START[e])
    y = d.year - ERA_START[era].year + 1
    return f"{ERAS[era]}{'元' if y == 1 else y}年{d.month}月{d.day}日"


def shown(item: Item, value: object) -> str:
    """A stored value as the confirmation and search screens show it."""
    if value in (None, ""):
        return ""
    if item.kind == "date":
        return wareki(str(value))
    if item.kind == "select":
        return dict(item.options).get(str(value), str(value))
    if item.kind == "checkbox":
        return "該当" if value else "非該当"
    return str(value)


def validate(screen: Screen, form: dict[str, str], today: date) -> tuple[dict[str, object], dict[str, str]]:
    """Values to store (dates ISO, numbers int, selects their code) and messages by item id."""
    values: dict[str, object] = {}
    errors: dict[str, str] = {}
    for it in screen.items:
        raw = unicodedata.normalize("NFKC", form.get(it.id, "")).strip() if it.kind != "kana" else \
            form.get(it.id, "").strip()
        if it.kind == "date":
            parts = [form.get(f"{it.id}_{p}", "").strip() for p in ("era", "y", "m", "d")]
            if not any(parts):
                raw = ""
            else:
                d = _era_date(*parts)
                if d is None:
                    errors[it.id] = f"{it.label}は存在しない日付です"
                    continue
                if it.past and d > today:
                    errors[it.id] = f"{it.label}に未来の日付は入力できません"
                    continue
                raw = d.isoformat()
        if it.kind == "checkbox":
            values[it.id] = raw == "1"
            continue
        if raw == "":
            if it.required:
                errors[it.id] = f"{it.label}を入力してください"
            values[it.id] = None
            continue
        problem = _check(it, raw)
        if problem:
            errors[it.id] = problem
        else:
            values[it.id] = int(raw) if it.kind == "number" else \
                ("{}-{}".format(*POSTAL.match(raw).groups()) if it.kind == "postal" else raw)
    _cross_checks(values, errors)
    return values, errors


def _check(it: Item, raw: str) -> str | None:
    if it.max and it.kind in ("text", "kana", "remarks") and len(raw) > it.max:
        return f"{it.label}は{it.max}文字以内で入力してください"
    if it.kind == "kana" and not KANA.match(raw):
        return f"{it.label}は全角カタカナで入力してください"
    if it.kind == "digits" and not (raw.isdigit() and len(raw) == it.min):
        return f"{it.label}は{it.min}桁の数字で入力してください"
    if it.kind == "number" and not (raw.isdigit() and it.min <= int(raw) <= it.max):
        return f"{it.label}は{it.min}から{it.max}までの数字で入力してください"
    if it.kind == "postal" and not POSTAL.match(raw):
        return "郵便番号は「744-0000」の形式で入力してください"
    if it.kind == "phone" and not PHONE.match(raw):
        return "電話番号の形式が正しくありません（市外局番から入力してください）"
    if it.kind == "select" and raw not in dict(it.options):
        return f"{it.label}の選択が正しくありません"
    return None


def _cross_checks(values: dict[str, object], errors: dict[str, str]) -> None:
    born, child = values.get("seinengappi"), values.get("jido_seinengappi")
    if born and child and child <= born:
        errors["jido_seinengappi"] = "児童生年月日が請求者の生年月日より前になっています"
    filed, due = values.get("todokedebi"), values.get("yotei")
    if filed and due and due <= filed:
        errors["yotei"] = "出産予定日が届出日より前になっています"


class CoreSystem:
    """The system's state: users, sessions, records (SQLite), behaviour and injected faults."""

    def __init__(self, db_path: Path, users: dict[str, str], behaviour: Behaviour | None = None,
                 control: bool = False):
        self.users, self.behaviour, self.control = users, behaviour or Behaviour(), control
        self.faults = Faults()
        self.sessions: dict[str, dict] = {}
        self.rng = random.Random(self.behaviour.seed)
        self.lock = threading.RLock()
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(db_path, check_same_thread=False)
        self.db.execute("""create table if not exists record (id integer primary key, receipt text unique,
            procedure text, atena_no text, shimei text, seinengappi text, biko text, data text, created_by text,
            created_at text)""")
        self.db.commit()

    def records(self, **where: str) -> list[dict]:
        """Stored records, newest last; `where` filters by equality on a column."""
        sql, args = "select receipt, procedure, data, created_by, created_at from record", []
        if where:
            sql += " where " + " and ".join(f"{k} = ?" for k in where)
            args = list(where.values())
        with self.lock:
            rows = self.db.execute(sql + " order by id", args).fetchall()
        return [{"receipt": r[0], "procedure": r[1], "values": json.loads(r[2]), "created_by": r[3],
                 "created_at": r[4]} for r in rows]

    def search(self, atena_no: str = "", shimei: str = "", seinengappi: str = "", biko: str = "") -> list[dict]:
        sql, args = "select receipt, procedure, data, created_at from record where 1=1", []
        for col, value, like in (("atena_no", atena_no, False), ("shimei", shimei, True),
                                 ("seinengappi", seinengappi, False), ("biko", biko, True)):
            if value:
                sql += f" and {col} {'like' if like else '='} ?"
                args.append(f"%{value}%" if like else value)
        if not args:
            return []
        with self.lock:
            rows = self.db.execute(sql + " order by id", args).fetchall()
        return [{"receipt": r[0], "procedure": r[1], "values": json.loads(r[2]), "created_at": r[3]} for r in rows]

    def commit(self, procedure: str, values: dict[str, object], user: str) -> str:
        screen = SCREENS[procedure]
        with self.lock:
            cur = self.db.execute(
                "insert into record (procedure, atena_no, shimei, seinengappi, biko, data, created_by, created_at) "
                "values (?, ?, ?, ?, ?, ?, ?, ?)",
                (procedure, values.get("atena_no"), values.get("shimei"), values.get("seinengappi"),
                 values.get("biko") or "", json.dumps(values, ensure_ascii=False), user,
                 datetime.now().isoformat(timespec="seconds")))
            receipt = f"{screen.code}{date.today().year}-{cur.lastrowid:06d}"
            self.db.execute("update record set receipt = ? where id = ?", (receipt, cur.lastrowid))
            self.db.commit()
        return receipt

    def in_maintenance(self) -> bool:
        if self.faults.maintenance:
            return True
        window = self.behaviour.maintenance
        if not window:
            return False
        now = datetime.now().strftime("%H:%M")
        start, end = window
        return start <= now < end if start <= end else (now >= start or now < end)

    def take_fault(self, path: str) -> int | None:
        with self.lock:
            for f in self.faults.fail:
                if path.startswith(f.get("path", "/")):
                    self.faults.fail.remove(f)
                    return int(f.get("status", 500))
        if self.behaviour.error_rate and self.rng.random() < self.behaviour.error_rate:
            return 500
        return None

    def serve(self, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
        """A server bound to host:port (0: a free port); call `serve_forever()` on it."""
        system = self

        class Handler(_Handler):
            core = system

        server = ThreadingHTTPServer((host, port), Handler)
        server.daemon_threads = True
        return server


def _page(main_id: str, title: str, body: str, user: str | None = None) -> str:
    nav = (f'<nav><a href="/menu">メニュー</a> <a href="/search">検索</a> <span id="user">{html.escape(user)}</span>'
           '<form method="post" action="/logout" style="display:inline"><button>ログアウト</button></form></nav>'
           if user else "")
    return f"""<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>{html.escape(title)} | {SYSTEM}</title>
<style>body{{font-family:"Noto Sans CJK JP",sans-serif;margin:0}} header{{background:#1d4f91;color:#fff;padding:8px 16px}}
main{{padding:16px}} label{{display:inline-block;width:9em}} .row{{margin:6px 0}} .errors{{color:#b00020;border:1px solid #b00020;padding:8px 24px}}
.err{{color:#b00020;margin-left:1em}} .req{{color:#b00020;font-size:80%;margin-right:.5em}} table{{border-collapse:collapse}} td,th{{border:1px solid #999;padding:4px 8px;text-align:left}}
nav{{background:#e8eef7;padding:6px 16px}} nav a{{margin-right:1em}}</style></head>
<body><header>{SYSTEM}</header>{nav}<main id="{main_id}"><h1>{html.escape(title)}</h1>{body}</main></body></html>"""


def _input(it: Item, form: dict[str, str], error: str | None) -> str:
    e = html.escape
    err = f'<span class="err" id="err-{it.id}">{e(error)}</span>' if error else ""
    req = '<span class="req">必須</span>' if it.required else ""  # outside the label: labels name inputs exactly
    if it.kind == "date":
        era = form.get(f"{it.id}_era", "")
        opts = "".join(f'<option value="{c}"{" selected" if c == era else ""}>{n}</option>' for c, n in ERAS.items())
        parts = "".join(f'<input id="f-{it.id}-{p}" name="{it.id}_{p}" size="3" aria-label="{e(it.label)} {n}" '
                        f'value="{e(form.get(f"{it.id}_{p}", ""))}">{n}' for p, n in (("y", "年"), ("m", "月"), ("d", "日")))
        return (f'<div class="row"><fieldset id="f-{it.id}"><legend>{e(it.label)}</legend>{req}'
                f'<select id="f-{it.id}-era" name="{it.id}_era" aria-label="{e(it.label)} 元号"><option value="">--</option>'
                f'{opts}</select> {parts}{err}</fieldset></div>')
    if it.kind == "select":
        cur = form.get(it.id, "")
        opts = "".join(f'<option value="{c}"{" selected" if c == cur else ""}>{e(n)}</option>' for c, n in it.options)
        return (f'<div class="row"><label for="f-{it.id}">{e(it.label)}</label>{req}<select id="f-{it.id}" '
                f'name="{it.id}"><option value="">選択してください</option>{opts}</select>{err}</div>')
    if it.kind == "checkbox":
        checked = " checked" if form.get(it.id) == "1" else ""
        return (f'<div class="row"><label for="f-{it.id}">{e(it.label)}</label><input type="checkbox" id="f-{it.id}" '
                f'name="{it.id}" value="1"{checked}>{err}</div>')
    if it.kind == "remarks":
        return (f'<div class="row"><label for="f-{it.id}">{e(it.label)}</label><textarea id="f-{it.id}" name="{it.id}" '
                f'rows="2" cols="60">{e(form.get(it.id, ""))}</textarea>{err}</div>')
    return (f'<div class="row"><label for="f-{it.id}">{e(it.label)}</label>{req}<input id="f-{it.id}" name="{it.id}" '
            f'size="40" value="{e(form.get(it.id, ""))}">{err}</div>')


class _Handler(BaseHTTPRequestHandler):
    core: CoreSystem
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the demo's logs are ours
        pass

    # --- plumbing -------------------------------------------------------------------------
    def _send(self, status: int, body: str, headers: dict[str, str] | None = None,
              ctype: str = "text/html; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, where: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(303)
        self.send_header("Location", where)
        self.send_header("Content-Length", "0")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def _form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def _session(self) -> tuple[str | None, dict | None]:
        cookies = dict(c.strip().split("=", 1) for c in (self.headers.get("Cookie") or "").split(";") if "=" in c)
        sid = cookies.get("SID")
        core = self.core
        with core.lock:
            s = core.sessions.get(sid or "")
            if s is None:
                return sid, None
            if core.faults.expire_sessions or time.monotonic() - s["seen"] > core.behaviour.session_seconds:
                core.sessions.pop(sid, None)
                core.faults.expire_sessions = False
                return sid, {"expired": True}
            s["seen"] = time.monotonic()
            return sid, s

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method: str) -> None:
        # the body is read before any answer: one left unread would be taken for the next request
        n = int(self.headers.get("Content-Length") or 0) if method == "POST" else 0
        self.body = self.rfile.read(n) if n else b""
        path = urlsplit(self.path).path
        core = self.core
        if path.startswith("/_") and core.control:
            return self._control(method, path)
        b = core.behaviour
        if b.delay:
            time.sleep(core.rng.uniform(0.5 * b.delay, 1.5 * b.delay))
        if core.in_maintenance():
            start, end = b.maintenance or ("", "")
            return self._send(503, _page("maintenance", "システムメンテナンス中", "<p>ただいまシステムメンテナンス中です。"
                              f"しばらくしてから再度アクセスしてください。（定期メンテナンス {start}〜{end}）</p>"),
                              {"Retry-After": "600"})
        if (status := core.take_fault(path)) is not None:
            return self._send(status, _page("error", "システムエラー", f"<p>システムエラーが発生しました（{status}）。"
                              "時間をおいて再度操作してください。</p>"))
        if path == "/login":
            return self._login(method)
        sid, s = self._session()
        if s is None or s.get("expired"):
            return self._redirect("/login?expired=1" if s else "/login")
        try:
            self._route(method, path, sid, s)
        except KeyError:
            self._send(404, _page("error", "ページがありません", "<p>指定された画面はありません。</p>", s["user"]))

    def _route(self, method: str, path: str, sid: str, s: dict) -> None:
        parts = [p for p in path.split("/") if p]
        if method == "POST" and path == "/logout":
            self.core.sessions.pop(sid, None)
            return self._redirect("/login")
        if path in ("/", "/menu"):
            links = "".join(f'<li><a id="menu-{k}" href="/entry/{k}">{sc.title} 登録</a></li>' for k, sc in SCREENS.items())
            return self._send(200, _page("menu", "業務メニュー", f'<ul>{links}<li><a id="menu-search" href="/search">'
                                         "登録済みの検索</a></li></ul>", s["user"]))
        if path == "/search":
            return self._search(s)
        if parts[0] == "entry" and len(parts) == 2:
            return self._entry(method, SCREENS[parts[1]], parts[1], s)
        if parts[0] == "entry" and len(parts) == 3 and parts[1] in SCREENS:
            if parts[2] == "confirm" and method == "GET":
                return self._confirm(parts[1], s)
            if parts[2] == "commit" and method == "POST":
                return self._commit(parts[1], s)
        if parts[0] == "complete" and len(parts) == 2:
            return self._send(200, _page("complete", "登録完了", f'<p>登録が完了しました。</p><p>受付番号: <strong id="receipt">'
                                         f'{html.escape(parts[1])}</strong></p><p><a href="/menu">メニューへ戻る</a></p>',
                                         s["user"]))
        raise KeyError(path)

    def _login(self, method: str) -> None:
        msg = ""
        if method == "POST":
            form = self._form()
            if self.core.users.get(form.get("user", "")) == form.get("password") and form.get("password"):
                sid = secrets.token_urlsafe(24)
                with self.core.lock:
                    self.core.sessions[sid] = {"user": form["user"], "seen": time.monotonic(), "drafts": {}}
                return self._redirect("/menu", {"Set-Cookie": f"SID={sid}; Path=/; HttpOnly; SameSite=Lax"})
            msg = '<p class="errors" role="alert" id="login-error">利用者IDまたはパスワードが違います。</p>'
        elif "expired=1" in (urlsplit(self.path).query or ""):
            msg = '<p class="errors" role="alert" id="expired">セッションの有効期限が切れました。もう一度ログインしてください。</p>'
        body = (f'{msg}<form method="post" action="/login"><div class="row"><label for="user">利用者ID</label>'
                '<input id="user" name="user" autocomplete="username"></div><div class="row"><label for="password">'
                'パスワード</label><input id="password" name="password" type="password" autocomplete="current-password">'
                '</div><button id="do-login" type="submit">ログイン</button></form>')
        self._send(200 if method == "GET" else 401, _page("login", "ログイン", body))

    def _search(self, s: dict) -> None:
        q = {k: v[-1].strip() for k, v in parse_qs(urlsplit(self.path).query).items()}
        born = ""
        if all(q.get(f"seinengappi_{p}") for p in ("era", "y", "m", "d")):
            d = _era_date(*(q[f"seinengappi_{p}"] for p in ("era", "y", "m", "d")))
            born = d.isoformat() if d else "invalid"
        found = self.core.search(q.get("atena_no", ""), q.get("shimei", ""), born, q.get("biko", ""))
        items = [Item("atena_no", "宛名番号"), Item("shimei", "氏名"), Item("seinengappi", "生年月日", "date"),
                 Item("biko", "備考（キーワード）")]
        form = "".join(_input(it, q, None) for it in items)
        rows = "".join(f'<tr><td class="receipt">{r["receipt"]}</td><td>{SCREENS[r["procedure"]].title}</td>'
                       f'<td>{html.escape(r["values"].get("shimei") or "")}</td>'
                       f'<td>{html.escape(shown(Item("d", "", "date"), r["values"].get("seinengappi")))}</td>'
                       f'<td class="biko">{html.escape(r["values"].get("biko") or "")}</td><td>{r["created_at"]}</td></tr>'
                       for r in found)
        result = ("" if not q else
                  f'<p id="count">{len(found)}件</p><table id="results"><tr><th>受付番号</th><th>手続</th><th>氏名</th>'
                  f"<th>生年月日</th><th>備考</th><th>登録日時</th></tr>{rows}</table>")
        self._send(200, _page("search", "登録済みの検索", f'<form method="get" action="/search">{form}'
                              f'<button id="do-search" type="submit">検索</button></form>{result}', s["user"]))

    def _entry(self, method: str, screen: Screen, key: str, s: dict, form: dict | None = None) -> None:
        errors: dict[str, str] = {}
        if method == "POST":
            form = self._form()
            values, errors = validate(screen, form, date.today())
            for item_id, keep in self.core.faults.truncate.items():  # cut silently, as a fixed-width column does
                if isinstance(values.get(item_id), str):
                    values[item_id] = values[item_id][:keep]
            if not errors:
                s["drafts"][key] = {"form": form, "values": values, "token": secrets.token_urlsafe(12)}
                return self._redirect(f"/entry/{key}/confirm")
        elif form is None:
            form = s["drafts"].get(key, {}).get("form", {})
        listing = "".join(f'<li data-item="{i}">{html.escape(m)}</li>' for i, m in errors.items())
        top = f'<ul class="errors" role="alert" id="errors">{listing}</ul>' if errors else ""
        inputs = "".join(_input(it, form, errors.get(it.id)) for it in screen.items)
        self._send(422 if errors else 200, _page("entry", f"{screen.title} 入力", f'{top}<form method="post" '
                   f'action="/entry/{key}">{inputs}<button id="next" type="submit">確認画面へ</button></form>', s["user"]))

    def _confirm(self, key: str, s: dict) -> None:
        draft = s["drafts"].get(key)
        if draft is None:
            return self._redirect(f"/entry/{key}")
        screen = SCREENS[key]
        rows = "".join(f'<tr data-item="{it.id}"><th>{html.escape(it.label)}</th><td>'
                       f'{html.escape(shown(it, draft["values"].get(it.id)))}</td></tr>' for it in screen.items)
        body = (f'<p>次の内容で登録します。よろしければ「登録」を押してください。</p><table id="confirm-table">{rows}</table>'
                f'<form method="post" action="/entry/{key}/commit"><input type="hidden" name="token" '
                f'value="{draft["token"]}"><button id="commit" type="submit">登録</button> '
                f'<a id="back" href="/entry/{key}">修正する</a></form>')
        self._send(200, _page("confirm", f"{screen.title} 確認", body, s["user"]))

    def _commit(self, key: str, s: dict) -> None:
        form = self._form()
        draft = s["drafts"].get(key)
        if draft is None or form.get("token") != draft["token"]:
            return self._send(409, _page("error", "二重送信", "<p>この入力は既に登録されたか、やり直されています。"
                                         "検索で登録状況を確かめてください。</p>", s["user"]))
        receipt = self.core.commit(key, draft["values"], s["user"])
        s["drafts"].pop(key, None)
        with self.core.lock:
            lose = self.core.faults.lose_response > 0
            self.core.faults.lose_response -= lose
        if lose:  # the record is stored, but the answer never reaches the browser
            self.close_connection = True
            return
        self._redirect(f"/complete/{quote(receipt)}")

    def _control(self, method: str, path: str) -> None:
        core = self.core
        if path == "/_records":
            return self._send(200, json.dumps(core.records(), ensure_ascii=False), ctype="application/json")
        if path == "/_control" and method == "POST":
            ask = json.loads(self.body or b"{}")
            with core.lock:
                core.faults.fail.extend(ask.get("fail", []))
                core.faults.lose_response += int(ask.get("lose_response", 0))
                core.faults.expire_sessions = bool(ask.get("expire_sessions", core.faults.expire_sessions))
                core.faults.maintenance = bool(ask.get("maintenance", core.faults.maintenance))
                if "truncate" in ask:
                    core.faults.truncate = {k: int(v) for k, v in ask["truncate"].items()}
                if "delay" in ask:
                    core.behaviour.delay = float(ask["delay"])
            return self._send(200, "{}", ctype="application/json")
        self._send(404, "{}", ctype="application/json")
