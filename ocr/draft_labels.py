"""Labels, names and kinds for the writing areas found on a blank form (see `ocr.draft`).

A writing area's label is the text of the cell just left of it (a ruled table's label column),
else the nearest printed line left of it on its row. The label's words give the field's kind and a
romanised name; the person checks both. All positions are mm from the page's top-left.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import ValidationError

from ocr.draft_fields import (
    Candidate, Hole, Proposal, TextLine, candidates, inside, is_date, printed_eras, union, v_overlap,
)
from ocr.layout import layout_field
from schemas.templates import Box, FieldKind, FieldSpec, Option

LABEL_GAP_MM = 2.5  # a label's cell ends this close to its field's writing area
FREE_LABEL_MM = 35.0  # a label printed without a cell of its own ends within this left of its box
SUFFIX_MM = 12.0  # a narrow cell of a few printed characters right after a field is its suffix (円, 人)
SUFFIX_CHARS = 3
ROW_MM = 3.0  # fields whose tops are this close are one row, numbered left to right
SAME_CELLS_MM = 0.5  # boxes this close to the template's even split need no `cells:`
DEFAULT_ERAS = ("showa", "heisei", "reiwa")

# label words -> field name, first match wins; anything else is field_N
NAME_WORDS = (
    ("生年月日", "birth_date"), ("フリガナ", "kana"), ("ふりがな", "kana"), ("氏名", "name"), ("名前", "name"),
    ("郵便番号", "postal_code"), ("〒", "postal_code"), ("住所", "address"), ("電話", "phone"), ("性別", "sex"),
    ("口座番号", "account_number"), ("金額", "amount"), ("所得", "income"), ("職業", "occupation"),
    ("続柄", "relationship"), ("医療機関", "hospital"), ("番号", "number"), ("日", "date"),
)
OPTION_NAMES = {
    "男": "male", "女": "female", "はい": "yes", "いいえ": "no", "有": "yes", "無": "no", "あり": "yes",
    "なし": "no", "新規": "new", "更新": "renewal", "父": "father", "母": "mother", "その他": "other",
}
KANA_WORDS = ("フリガナ", "ふりがな", "カナ")
PHONE_WORDS = ("電話", "TEL", "Tel", "ＴＥＬ", "携帯")
DATE_WORDS = ("生年月日", "年月日", "日付")
NAME_KANJI_WORDS = ("氏名", "名前")
AMOUNT_WORDS = ("金額", "所得", "額")
DIGIT_WORDS = ("番号", "数")



def _label_cells(cands: list[Candidate]) -> None:
    """Give each area the text of the cell just left of it, left to right along each row, so that a
    cell already labelled (a field) is never taken for the next field's label."""
    cells = [c for c in cands if c.hole is not None and c.lines and c.kind is None]
    for c in sorted(cands, key=lambda c: c.anchor.x):
        left = [lab for lab in cells if lab is not c and not lab.label
                and -0.5 <= c.anchor.x - (lab.hole.box.x + lab.hole.box.w) <= LABEL_GAP_MM
                and v_overlap(lab.hole.box, c.anchor) >= 0.5]
        if left:
            lab = max(left, key=lambda lab: lab.hole.box.x)
            c.label = _main_line(lab.lines)
            lab.is_label = True


def _main_line(lines: Sequence[TextLine]) -> str:
    """A label cell's label: its tallest line (the rest is small print, such as a hint)."""
    return max(lines, key=lambda t: t.box.h).text if lines else ""


def _free_labels(cands: list[Candidate], texts: Sequence[TextLine]) -> None:
    """An area with no label cell takes the nearest printed line left of it on its row."""
    taken = [c.box for c in cands if not c.is_label]
    for c in cands:
        if c.label or c.is_label:
            continue
        cy0, cy1 = c.anchor.y, c.anchor.y + c.anchor.h
        left = [t for t in texts
                if c.anchor.x - FREE_LABEL_MM <= t.box.x + t.box.w <= c.anchor.x + 0.5
                and cy0 <= t.box.y + t.box.h / 2 <= cy1
                and not any(inside(t.box, b) for b in taken)]
        if left:
            c.label = max(left, key=lambda t: t.box.x + t.box.w).text
            c.notes.append("label: the nearest printed text left of the box")


def _suffixes(cands: list[Candidate]) -> list[Candidate]:
    """A narrow cell with a word or two in it right after a field (円, 人) becomes its suffix."""
    out = list(cands)
    for s in cands:
        if s.hole is None or s.is_label or s.label or not s.lines or s.hole.box.w > SUFFIX_MM:
            continue
        text = s.printed.replace(" ", "")
        if len(text) > SUFFIX_CHARS:
            continue
        for c in out:
            gap = s.box.x - (c.box.x + c.box.w)
            if c is not s and c.kind not in (FieldKind.choice, FieldKind.checkbox, FieldKind.wareki_date) \
                    and -1.0 <= gap <= 1.0 and abs(c.box.y - s.box.y) <= 0.8 and abs(c.box.h - s.box.h) <= 0.8:
                c.box, c.suffix = union([c.box, s.box]), text
                out.remove(s)
                break
    return out


def _has(text: str, words: Sequence[str]) -> bool:
    return any(w in text for w in words)


def _kind(c: Candidate) -> FieldKind:
    """The kind the label's words (and the print inside the box) suggest."""
    label, printed = c.label, c.printed + " " + " ".join(t.text for t in c.context)
    if _has(label, ("郵便番号", "〒")) or "〒" in printed:
        return FieldKind.postal_code
    if _has(label, KANA_WORDS):
        return FieldKind.kana
    if _has(label, PHONE_WORDS):
        return FieldKind.phone
    if _has(label, DATE_WORDS) or label.endswith("日") or is_date(printed):
        return FieldKind.wareki_date
    if _has(label, NAME_KANJI_WORDS):
        return FieldKind.name_kanji
    if _has(label, AMOUNT_WORDS) or c.suffix == "円":
        return FieldKind.amount
    if c.cells or _has(label, DIGIT_WORDS):
        return FieldKind.digits
    return FieldKind.text


def _name(label: str, number: int, used: set[str]) -> str:
    base = next((name for word, name in NAME_WORDS if word in label), f"field_{number}")
    name, n = base, 2
    while name in used:
        name, n = f"{base}_{n}", n + 1
    used.add(name)
    return name


def _option_names(labels: Sequence[str]) -> list[str]:
    used: set[str] = set()
    out = []
    for i, label in enumerate(labels, start=1):
        base = OPTION_NAMES.get(re.sub(r"\s", "", label), f"option_{i}")
        name, n = base, 2
        while name in used:
            name, n = f"{base}_{n}", n + 1
        used.add(name)
        out.append(name)
    return out


def _same_boxes(found: Sequence[Box], laid_out: Sequence[Box]) -> bool:
    return len(found) == len(laid_out) and all(
        abs(a.x - b.x) <= SAME_CELLS_MM and abs(a.y - b.y) <= SAME_CELLS_MM
        and abs(a.w - b.w) <= SAME_CELLS_MM and abs(a.h - b.h) <= SAME_CELLS_MM
        for a, b in zip(sorted(found, key=lambda b: b.x), sorted(laid_out, key=lambda b: b.x)))


def _tenth(b: Box) -> Box:
    """A box to 0.1 mm, as the YAML gives it."""
    return Box(x=round(b.x, 1), y=round(b.y, 1), w=round(b.w, 1), h=round(b.h, 1))


def _spec_fields(c: Candidate, name: str, kind: FieldKind) -> tuple[dict, list[str]]:
    """What the field's YAML holds, and what the person should check about it."""
    d: dict = {"name": name, "label": c.label, "kind": kind, "box": _tenth(c.box)}
    notes: list[str] = []
    if c.suffix:  # before the boxes are compared with the template's split: it narrows the writing area
        d["suffix"] = c.suffix
        if kind == FieldKind.digits:
            d["exact_length"] = False  # a count (人, 週): fewer digits than boxes is fine
            d["char_boxes"] = 1
    if kind == FieldKind.wareki_date:
        d["eras"] = printed_eras(c.printed) or DEFAULT_ERAS
        if not printed_eras(c.printed):
            notes.append("eras: none printed, so a guess; list those the form lets the applicant circle")
        laid = [b for part in layout_field(FieldSpec(**d), 1.0).date_parts.values() for b in part]
        if not _same_boxes(c.cells, laid):
            notes.append("the paper's date is not laid out as Madoguchi lays one out (era, then 2 boxes each for "
                         "年 月 日): a date written in one box is not read yet (issue 12)")
    elif kind == FieldKind.choice:
        names = _option_names([text for text, _ in c.options])
        d["options"] = [Option(name=n, label=text or n, box=_tenth(b)) for n, (text, b) in zip(names, c.options)]
    elif c.cells and kind != FieldKind.checkbox:
        if kind == FieldKind.postal_code and len(c.cells) != 7:
            kind = d["kind"] = FieldKind.digits
            notes.append(f"{len(c.cells)} boxes: not a postal code's 7, so digits")
        d["char_boxes"] = len(c.cells)
        if not _same_boxes(c.cells, layout_field(FieldSpec(**d), 1.0).cells):
            d["cells"] = tuple(_tenth(b) for b in c.cells)
            notes.append("its character boxes are not evenly spaced: each is given (cells)")
    if kind == FieldKind.postal_code:
        d["validators"] = ["postal_code_exists"]
    return d, notes


def _field_spec(c: Candidate, name: str, kind: FieldKind) -> tuple[FieldSpec, list[str]]:
    d, notes = _spec_fields(c, name, kind)
    try:
        return FieldSpec(**d), notes
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        plain = {"name": name, "label": c.label, "kind": FieldKind.text, "box": _tenth(c.box)}
        return FieldSpec(**plain), [*notes, f"proposed as {kind.value} but refused ({reason}): made text"]


def _reading_order(cands: Sequence[Candidate]) -> list[Candidate]:
    rows: list[list[Candidate]] = []
    for c in sorted(cands, key=lambda c: c.box.y):
        if rows and c.box.y - rows[-1][0].box.y <= ROW_MM:
            rows[-1].append(c)
        else:
            rows.append([c])
    return [c for row in rows for c in sorted(row, key=lambda c: c.box.x)]


def propose(holes: Sequence[Hole], texts: Sequence[TextLine]) -> list[Proposal]:
    """The fields of a blank form from its holes and printed text, numbered in reading order."""
    cands = candidates(holes, texts)
    _label_cells(cands)
    cands = _suffixes([c for c in cands if not c.is_label])
    _free_labels(cands, texts)
    out: list[Proposal] = []
    used: set[str] = set()
    for number, c in enumerate(_reading_order(cands), start=1):
        label_read = c.label
        if not c.label and c.lines:
            c.label = c.printed
            c.notes.append("no label beside it: its label is the text printed inside")
        elif not c.label:
            c.notes.append("no label found: write one")
        kind = c.kind or _kind(c)
        spec, notes = _field_spec(c, _name(c.label, number, used), kind)
        marks = c.cells or tuple(b for _, b in c.options)
        out.append(Proposal(number, spec, label_read, c.printed, tuple(c.notes + notes), marks))
    return out
