"""What can go wrong when a bot enters a record, one class per thing someone acts on differently.

System errors are retried (the record may or may not be there: the key is looked up first);
a business error is the core system refusing the record, which only a person can fix.
"""

from __future__ import annotations

from pathlib import Path

SYSTEM_KINDS_JA = {
    "timeout": "基幹システムの応答がありません（時間切れ）",
    "server_error": "基幹システムでエラーが発生しました",
    "no_response": "登録の応答が届きませんでした",
    "connection": "基幹システムに接続できません",
    "session_expired": "基幹システムのセッションが切れました",
    "maintenance": "基幹システムがメンテナンス中です",
    "mismatch": "確認画面の内容が入力した値と一致しません",
    "unexpected": "基幹システムが想定外の画面を表示しました",
    "uncertain": "登録を押した後の応答がなく、登録されたか確かめられません。次の入力実行で照合キーを検索してから入力します",
}
SYSTEM_DOWN = {"connection", "maintenance", "timeout"}  # the system, not the document: stop the run
# Not held against the document either: a lost answer or an expired session is the system's, and
# "uncertain" (登録 pressed, no answer) is settled by the key's search in the next run. The rest
# (a 5xx after every retry, an unknown screen) may be the document's, and count towards
# rpa.max_attempts, after which a person looks at it.
NOT_THE_DOCUMENT = SYSTEM_DOWN | {"no_response", "session_expired", "uncertain"}


class EntryError(Exception):
    """Base of every entry error; `message_ja` is what a clerk or reviewer reads."""

    message_ja = "基幹システムへの入力に失敗しました"

    def __init__(self, detail: str = "", evidence: list[Path] | None = None):
        super().__init__(detail or self.message_ja)
        self.detail = detail
        self.evidence = list(evidence or [])


class SystemUnavailable(EntryError):
    """Timeout, 5xx, a lost response, a refused connection, an expired session, maintenance,
    or a confirmation screen that does not show what was typed: try again later."""

    def __init__(self, kind: str, detail: str = "", evidence: list[Path] | None = None, labels: list[str] = ()):
        super().__init__(f"{kind}: {detail}" if detail else kind, evidence)
        self.kind, self.labels = kind, list(labels)  # labels: the screen's inputs that differ (mismatch)
        self.message_ja = SYSTEM_KINDS_JA.get(kind, EntryError.message_ja)
        if self.labels:
            self.message_ja += f"（{'、'.join(self.labels)}）"


class Refused(EntryError):
    """The core system's validation refused the record. Never retried: it goes back to a person.
    `problems` are (screen label, the system's message)."""

    def __init__(self, problems: list[tuple[str, str]], evidence: list[Path] | None = None):
        super().__init__("; ".join(f"{label}: {msg}" for label, msg in problems), evidence)
        self.problems = problems
        self.message_ja = "基幹システムが受け付けませんでした: " + "、".join(m for _, m in problems)


class LoginFailed(EntryError):
    """The account or password was refused: every document would fail the same way."""

    message_ja = "基幹システムにログインできません。利用者IDとパスワード（Secret ブロック）を確かめてください"


class EntryFailed(EntryError):
    """System errors went on after every retry. The document stays ready for the next entry run."""

    def __init__(self, last: SystemUnavailable, attempts: int, evidence: list[Path] | None = None):
        super().__init__(f"gave up after {attempts} attempt(s); last: {last}", evidence)
        self.last, self.attempts = last, attempts
        self.message_ja = (last.message_ja if last.kind == "uncertain"
                           else f"{last.message_ja}（{attempts}回試行）。次の入力実行で再試行します")
