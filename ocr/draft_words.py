"""What the printed words of a blank say (see `ocr.draft`): a field's name, kind and validators from
its label, an option's name, which boxes are the office's own (受付印), and the section a field is
printed under (a group's cell 「申請者」, a heading 「■ 支給の対象となる児童」). All positions are mm
from the page's top-left.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ocr.draft_fields import SHARED_RULE_MM, Candidate, Hole, TextLine, inside, is_date
from schemas.templates import Box, FieldKind

# label words -> field name, first match wins; anything else is field_N
NAME_WORDS = (
    ("申請日", "application_date"), ("請求日", "application_date"), ("届出日", "application_date"),
    ("被災日", "disaster_date"), ("被災場所", "disaster_place"), ("被害の種類", "damage_kind"),
    ("必要枚数", "copies"), ("児童氏名", "child_name"), ("児童生年月日", "child_birth_date"),
    ("金融機関コード", "bank_code"), ("支店コード", "branch_code"), ("口座番号", "account_number"),
    ("預金種別", "account_type"), ("口座名義", "account_holder"),
    ("生年月日", "birth_date"), ("フリガナ", "kana"), ("ふりがな", "kana"), ("氏名", "name"), ("名前", "name"),
    ("郵便番号", "postal_code"), ("〒", "postal_code"), ("住所", "address"), ("電話", "phone"), ("性別", "sex"),
    ("金額", "amount"), ("所得", "income"), ("職業", "occupation"),
    ("続柄", "relationship"), ("医療機関", "hospital"), ("番号", "number"), ("日", "date"),
)
CHILD_WORDS = ("児童", "子ども", "こども")  # a section about the child: its name, birth date... are the child's
CHILD_NAMES = ("name", "kana", "birth_date", "sex")
VALIDATORS = {  # by the field's name
    "application_date": ("date_recent",), "disaster_date": ("date_past",), "birth_date": ("date_past",),
    "child_birth_date": ("date_past",), "postal_code": ("postal_code_exists",),
    "address": ("address_matches_postal_code",),  # address_exists when the form has no postal_code
    "disaster_place": ("address_exists",), "place": ("address_exists",),  # a place: no postal code beside it
    "bank_code": ("bank_exists",), "branch_code": ("branch_exists",),  # the Zengin master
    "relationship": ("relationship_exists",),  # 続柄 written out (a choice's tick passes it)
}
USUALLY_REQUIRED = ("application_date", "name", "address", "birth_date", "child_name", "child_birth_date")
OPTION_NAMES = {
    "男": "male", "女": "female", "はい": "yes", "いいえ": "no", "有": "yes", "無": "no", "あり": "yes",
    "なし": "no", "新規": "new", "更新": "renewal", "父": "father", "母": "mother", "その他": "other",
    "火災": "fire", "風水害": "flood", "水害": "flood", "地震": "earthquake", "会社員": "employee",
    "公務員": "civil_servant", "自営業": "self_employed", "無職": "unemployed", "学生": "student",
    "普通": "ordinary", "当座": "current", "貯蓄": "savings", "本人": "self", "代理人": "agent",
}
KANA_WORDS = ("フリガナ", "ふりがな", "カナ")
PHONE_WORDS = ("電話", "TEL", "Tel", "ＴＥＬ", "携帯")
DATE_WORDS = ("生年月日", "年月日", "日付")
NAME_KANJI_WORDS = ("氏名", "名前")
AMOUNT_WORDS = ("金額", "所得", "額")
DIGIT_WORDS = ("番号", "数", "コード")
OFFICE_WORDS = ("受付", "審査", "決裁", "処理", "担当", "係印", "職員", "事務", "確認印", "入力", "整理番号")
OFFICE_CHARS = 8  # an office box's print is a word or two, not a sentence that mentions 受付
HEADING_CHARS = 20  # a section's heading is short...
HEADING_MM = 10.0  # ...and printed within this above its table
HEADING_MARKS = "■□●○◆◇▼・ 　"


def _has(text: str, words: Sequence[str]) -> bool:
    return any(w in text for w in words)


def kind_of(c: Candidate) -> FieldKind:
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


def name_of(label: str, section: str, kind: FieldKind, number: int, used: set[str]) -> str:
    """A field's name from its label's words, made the child's in a section about the child and a
    kana one's when the label asks for kana (口座名義（カナ）); field_N when no word matched."""
    base = next((name for word, name in NAME_WORDS if word in label), f"field_{number}")
    if base in CHILD_NAMES and _has(section, CHILD_WORDS):
        base = f"child_{base}"
    if kind == FieldKind.kana and base not in ("kana", f"field_{number}") and not base.endswith("_kana"):
        base = f"{base}_kana"
    name, n = base, 2
    while name in used:
        name, n = f"{base}_{n}", n + 1
    used.add(name)
    return name


def option_names(labels: Sequence[str]) -> list[str]:
    """Romanised option names (火災 fire, 普通 ordinary), option_N where the word is not known."""
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


def _own_texts(h: Hole, holes: Sequence[Hole], texts: Sequence[TextLine]) -> list[TextLine]:
    """The lines printed in h and in no smaller box inside it."""
    smaller = [o for o in holes if o is not h and inside(o.box, h.box)]
    return [t for t in texts if inside(t.box, h.box) and not any(inside(t.box, o.box) for o in smaller)]


def office_boxes(holes: Sequence[Hole], texts: Sequence[TextLine]) -> tuple[list[Hole], list[TextLine], list[str]]:
    """The office's own boxes (受付印, 受付番号, 審査: a box whose print is only such a word, and the
    empty box right under it) taken out: the holes and text lines kept, and what was left out."""
    office: list[tuple[Hole, str]] = []
    for h in holes:
        words = "".join(t.text for t in _own_texts(h, holes, texts)).replace(" ", "")
        if 0 < len(words) <= OFFICE_CHARS and _has(words, OFFICE_WORDS):
            office.append((h, words))
    out, said = set(), []
    for o, words in office:
        below = [h for h in holes if h.empty and h.frame == o.frame and abs(h.box.x - o.box.x) <= 1.0
                 and abs(h.box.w - o.box.w) <= 1.0 and 0 <= h.box.y - o.box.y - o.box.h <= SHARED_RULE_MM]
        area = Box(x=o.box.x, y=o.box.y, w=o.box.w, h=max(b.box.y + b.box.h for b in [o, *below]) - o.box.y)
        said.append(f"{words} [{area.x:.1f}, {area.y:.1f}, {area.w:.1f}, {area.h:.1f}]")
        out |= {id(o), *(id(b) for b in below)}
    gone = [h.box for h in holes if id(h) in out]
    return ([h for h in holes if id(h) not in out], [t for t in texts if not any(inside(t.box, b) for b in gone)],
            said)


def sections(holes: Sequence[Hole], texts: Sequence[TextLine]) -> Callable[[Box], str]:
    """The section a box is printed in: the heading just above its table (a short line of its own)
    and the group cell beside its row (「申請者」), joined by 「 / 」; "" when neither."""
    frames: dict[int, Box] = {}
    for h in holes:
        if h.table:
            b = frames.get(h.frame, h.box)
            x0, y0 = min(b.x, h.box.x), min(b.y, h.box.y)
            frames[h.frame] = Box(x=x0, y=y0, w=max(b.x + b.w, h.box.x + h.box.w) - x0,
                                  h=max(b.y + b.h, h.box.y + h.box.h) - y0)
    loose = [t for t in texts if not any(inside(t.box, h.box) for h in holes)
             and len(t.text.strip(HEADING_MARKS)) <= HEADING_CHARS and not t.text.endswith("。")]
    headings = {}
    for f, b in frames.items():
        above = [t for t in loose if b.y - HEADING_MM <= t.box.y + t.box.h <= b.y + 0.5
                 and t.box.x < b.x + b.w and b.x < t.box.x + t.box.w]
        if above:
            headings[f] = max(above, key=lambda t: t.box.y).text.strip(HEADING_MARKS)
    groups = [h for h in holes if h.group]

    def section(box: Box) -> str:
        cy = box.y + box.h / 2
        cells = [h for h in holes if h.table and inside(box, h.box, 1.0)]
        frame = max(cells, key=lambda h: h.box.w * h.box.h).frame if cells else None
        group = [g.group for g in groups if g.frame == frame and g.box.y <= cy <= g.box.y + g.box.h
                 and g.box.x + g.box.w <= box.x + 0.5]
        return " / ".join(s for s in [headings.get(frame, "") if frame is not None else "", *group] if s)

    return section
