"""What a reviewer is asked and what is done with the answer, without Prefect.

For a document with doubtful fields: the items to ask about (each with its image, both engines'
readings, the confidence and the reason in Japanese), the Markdown a reviewer sees beside the
form, the checks an answer must pass (the reader's own validators), and the records written when
the reviewer confirms or sends the document back.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from difflib import SequenceMatcher
from itertools import groupby
from pathlib import Path

import cv2
from sqlmodel import select

from ocr.fields import PAGE_VIEW_DPI, page_image_name
from ocr.render import box_px
from ocr.validate import (
    BANK_FIELD,
    CHECKED_AGAINST,
    Context,
    bank_name,
    branch_name,
    clean_text,
    to_value,
    validate,
    wareki_to_date,
)
from schemas.db import Correction, Document, Entry, FieldValue, Review, Store
from schemas.results import REASONS_JA, reasons_ja
from schemas.templates import ERAS, FieldKind, FieldSpec, FormTemplate, wareki_text

NOT_TICKED = "（印なし）"
BLANK = "空欄"  # what a reviewer types to empty a field: the UI sends a cleared field as "unchanged"
REJECT_REASONS = ("読めない", "様式が違う", "申請者への確認が必要", "その他")
DOC_VALIDATED, DOC_RETURNED = "validated", "review_rejected"


@dataclass(frozen=True)
class Item:
    """One field a reviewer is asked about."""

    spec: FieldSpec
    row: FieldValue
    readings: dict[str, str | None]
    image: Path  # the field as scanned (PNG), written when the document was read
    current: str | None = None  # JSON value as last decided (a reviewer's), when not the reading

    @property
    def value(self) -> object:
        raw = self.row.value if self.current is None else self.current
        return None if raw is None else json.loads(raw)


def refusal_of(store: Store, doc: Document) -> Entry | None:
    """The core system's refusal the document is back for, if that is why it waits for review."""
    return next((e for e in store.entries("refused") if e.document_id == doc.id), None)


def items_for(store: Store, doc: Document, template: FormTemplate, views: Path) -> list[Item]:
    """The document's fields that need a person, in the form's order: the doubtful ones, or, when
    the core system refused the record, the fields it named (every field when it named none)."""
    refusal = refusal_of(store, doc)
    refused = set(json.loads(refusal.fields)) if refusal else set()

    def asked(f: FieldValue) -> bool:
        if refusal is None:
            return f.status != "accepted"
        return not refused or f.name in refused

    rows = {f.name: f for f in store.fields_of(doc.id) if asked(f)}
    readings = store.readings_of([f.id for f in rows.values()])
    latest = decided(store, doc)
    folder = views / doc.sha256[:16]
    return [Item(spec, rows[spec.name], readings.get(rows[spec.name].id, {}), folder / f"{spec.name}.png",
                 latest.get(spec.name)) for spec in template.fields if spec.name in rows]


def decided(store: Store, doc: Document) -> dict[str, str | None]:
    """Field name -> JSON value of the latest correction (a reviewer's or a later one)."""
    out: dict[str, str | None] = {}
    with store.session() as s:
        for c in s.exec(select(Correction).where(Correction.document_id == doc.id).order_by(Correction.id)):
            out[c.field] = c.after
    return out


def final_values(store: Store, doc: Document) -> dict[str, object]:
    """The values to enter: each field as read, or as a person last corrected it."""
    latest = decided(store, doc)
    out = {}
    for f in store.fields_of(doc.id):
        raw = latest[f.name] if f.name in latest else f.value
        out[f.name] = None if raw is None else json.loads(raw)
    return out


to_wareki = wareki_text  # the reviewer's form shows dates as the screens do


def shown(spec: FieldSpec, value: object) -> str | bool:
    """A value as the reviewer's form shows it."""
    if spec.kind == FieldKind.checkbox:
        return bool(value)
    if value is None:
        return NOT_TICKED if spec.kind == FieldKind.choice else ""
    if spec.kind == FieldKind.choice:
        return next((o.label for o in spec.options if o.name == value), NOT_TICKED)
    if spec.kind == FieldKind.wareki_date:
        try:
            return to_wareki(date.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    return str(value)


_WAREKI = re.compile(r"^(明治|大正|昭和|平成|令和)(元|\d{1,2})年(\d{1,2})月(\d{1,2})日$")


def parse(spec: FieldSpec, answer: str | bool) -> tuple[object, str | None]:
    """The value to store from what the reviewer entered, or a problem in Japanese."""
    if spec.kind == FieldKind.checkbox:
        return bool(answer), None
    text = unicodedata.normalize("NFKC", str(answer)).strip()
    if text in (BLANK, f"({BLANK})"):
        return None, None
    if spec.kind == FieldKind.choice:
        if text in ("", unicodedata.normalize("NFKC", NOT_TICKED)):
            return None, None
        name = next((o.name for o in spec.options if o.label == text or o.name == text), None)
        return (name, None) if name else (None, f"「{text}」は選択肢にありません")
    if spec.kind == FieldKind.wareki_date:
        if not text:
            return None, None
        m = _WAREKI.match(text.replace(" ", ""))
        if m:
            era, y, mo, d = m.groups()
            key = next(k for k, ja in ERAS.items() if ja == era)
            day = wareki_to_date(key, 1 if y == "元" else int(y), int(mo), int(d))
        else:
            try:
                day = date.fromisoformat(text)
            except ValueError:
                return None, "日付は「令和8年11月27日」のように入力してください"
        return (day.isoformat(), None) if day else (None, "存在しない日付です")
    return to_value(spec, clean_text(spec.kind, text)), None


def check(template: FormTemplate, items: list[Item], answers: dict[str, object], accepted: dict[str, object],
          today: date) -> tuple[dict[str, object], dict[str, str]]:
    """Values from the answers, and the problems (field name -> Japanese) the reviewer must fix.
    The reader's validators apply, with the other fields' values for cross-field checks."""
    values, problems = {}, {}
    for it in items:
        value, problem = parse(it.spec, answers.get(it.spec.name, ""))
        if problem:
            problems[it.spec.name] = problem
        values[it.spec.name] = value
    ctx = Context(today=today, values={**accepted, **values})
    for it in items:
        name, value = it.spec.name, values[it.spec.name]
        if name in problems:
            continue
        if value is None or value == "":
            if it.spec.required:
                problems[name] = REASONS_JA["empty_required"]
            continue
        if it.spec.kind in (FieldKind.checkbox, FieldKind.choice):
            continue
        failures = validate(it.spec, value, ctx)
        if failures:
            problems[name] = _failed(failures)
    # a field accepted when read and checked against one the reviewer answers (a branch code against the
    # bank code): checked again against the answer, the problem shown on the answered field
    for spec in template.fields:
        other = next((f for check, f in CHECKED_AGAINST.items() if check in spec.validators), None)
        value = accepted.get(spec.name)
        if other not in values or other in problems or spec.name in values or value in (None, ""):
            continue
        failures = validate(spec, value, ctx)
        if failures:
            problems[other] = f"{spec.label}「{shown(spec, value)}」: {_failed(failures)}"
    return values, problems


def _failed(failures: list[str]) -> str:
    """Validator failures in the words a reviewer reads."""
    return "、".join(reasons_ja([f"validator:{f}" for f in failures]))


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def page_with_outlines(folder: Path, items: list[Item], page: int = 1) -> str | None:
    """The small image of page `page` with each asked field on it outlined and numbered (numbers
    count through all pages), as a data URI."""
    path = folder / page_image_name(page)
    if not path.exists():
        return None
    img = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2BGR)
    for n, it in enumerate(items, start=1):
        if it.spec.page != page:
            continue
        x0, y0, x1, y1 = box_px(it.spec.box.inset(-1.0), PAGE_VIEW_DPI, img.shape)
        cv2.rectangle(img, (x0, y0), (x1, y1), (0, 0, 220), 2)
        cv2.putText(img, str(n), (max(0, x0 - 14), y0 + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 220), 1)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 75])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode() if ok else None


def screenshot_uri(path: Path, width: int = 900) -> str | None:
    """A core-system screenshot, made small enough to sit in a review form (JPEG data URI)."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.exists() else None
    if img is None:
        return None
    if img.shape[1] > width:
        img = cv2.resize(img, (width, round(img.shape[0] * width / img.shape[1])), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode() if ok else None


def markdown(doc: Document, template: FormTemplate, items: list[Item], problems: dict[str, str],
             refusal: Entry | None = None, known: dict[str, object] | None = None) -> str:
    """What the reviewer reads above the form: per field its image, readings, confidence, reason, and
    for a bank or branch code what the Zengin master calls each code read (a branch's, of the bank
    code in `known`: the values accepted or in the form); first, when the core system refused the
    record, its message and the screen it showed."""
    lines = [f"## {template.title} — {Path(doc.source).name}", ""]
    if refusal is not None:
        lines += ["### ⛔ 基幹システムが受け付けませんでした", "", refusal.message, "",
                  "下の項目を申請書と照らし合わせて直し、確定してください。確定すると、もう一度入力されます。"
                  "申請者への確認が必要なときは差し戻してください。", ""]
        shots = [Path(p) for p in json.loads(refusal.evidence or "[]")]
        uri = screenshot_uri(shots[-1]) if shots else None
        if uri:
            lines += [f"![基幹システムの画面]({uri})", ""]
    lines += [f"確認が必要な項目が {len(items)} 件あります。画像を見て、下の欄の値を直すか、そのまま確定してください。"
              f"記入がない項目は「{BLANK}」と入力してください。読取結果のうち読取器ごとに違う字は `このように` 示します。"
              "読めない・様式が違う・申請者への確認が必要なときは「判定」で差し戻してください。", ""]
    if problems:
        lines += ["### ⚠ 入力内容を確認してください", ""]
        labels = {it.spec.name: it.spec.label for it in items} | {"reviewer": "確認者名"}
        lines += [f"- **{labels.get(n, n)}**: {p}" for n, p in problems.items()]
        lines.append("")
    for n, it in enumerate(items, start=1):
        lines += [f"### {n}. {it.spec.label}", ""]
        if it.image.exists():
            lines += [f"![{it.spec.label}]({_data_uri(it.image, 'image/png')})", ""]
        readings = "、".join(f"{e}: 「{t}」" for e, t in marked_readings(it.readings).items()) or "—"
        reasons = "、".join(reasons_ja([r for r in it.row.reasons.split(",") if r])) or "—"
        lines += [f"- 読取結果: {readings}", f"- 確信度: {it.row.confidence:.2f}", f"- 理由: {reasons}"]
        names = _master_names(it, known or {})
        if names:
            lines.append(f"- 全銀協の金融機関一覧: {names}")
        if it.current is not None:
            lines.append(f"- 確認済みの値: 「{shown(it.spec, it.value)}」")
        lines.append("")
    for page in sorted({it.spec.page for it in items}):
        uri = page_with_outlines(items[0].image.parent, items, page)
        if uri:
            where = f"（{page}枚目）" if template.pages > 1 else ""
            lines += [f"### 用紙全体{where}（赤枠が確認する項目）", "", f"![用紙全体{where}]({uri})", ""]
    return "\n".join(lines)


def marked_readings(readings: dict[str, str | None]) -> dict[str, str]:
    """Each engine's reading as the review page shows it, in engine order, with the characters where
    the readers differ set as inline code (`1`): where most readers read 0170 and one 0171, the last
    character of each. Code spans, not bold: CommonMark drops bold around a hyphen between digits.

    Each reading is aligned with the one most readers gave (`SequenceMatcher`); a reading marks its
    characters that the alignment does not match, and the most common one marks its characters that
    any other reading lacks or reads otherwise. Readings that all agree are shown as they are."""
    texts = {e: t or "" for e, t in sorted(readings.items())}
    inked = [t for t in texts.values() if t]
    if len(set(inked)) < 2 or any("`" in t for t in inked):
        return texts
    common = Counter(inked).most_common(1)[0][0]
    ops = {t: SequenceMatcher(None, common, t, autojunk=False).get_opcodes() for t in set(inked) - {common}}
    marks = {t: {j for tag, _, _, j1, j2 in o if tag != "equal" for j in range(j1, j2)} for t, o in ops.items()}
    marks[common] = {i for o in ops.values() for tag, i1, i2, _, _ in o if tag != "equal" for i in range(i1, i2)}
    return {e: _code_spans(t, marks.get(t, set())) for e, t in texts.items()}


def _code_spans(text: str, marked: set[int]) -> str:
    """`text` with each run of the marked positions in backticks."""
    parts = []
    for is_marked, chars in groupby(enumerate(text), key=lambda ic: ic[0] in marked):
        run = "".join(ch for _, ch in chars)
        parts.append(f"`{run}`" if is_marked else run)
    return "".join(parts)


def _master_names(it: Item, known: dict[str, object]) -> str:
    """Each code read for a bank or branch code field, and the one in the form now (a reviewer's
    answer asked again), with its name in the Zengin master; "" for other fields, and for a branch
    code while its bank code is none of the master's."""
    bank = known.get(BANK_FIELD)
    read = sorted(t for t in it.readings.values() if t)
    codes = list(dict.fromkeys(c for c in (*read, it.value, known.get(it.spec.name)) if c))
    if "bank_exists" in it.spec.validators:
        names = [bank_name(c) for c in codes]
    elif "branch_exists" in it.spec.validators and bank_name(bank):
        names = [branch_name(bank, c) for c in codes]
    else:
        return ""
    return "、".join(f"「{c}」{n or 'は一覧にありません'}" for c, n in zip(codes, names))


def accepted_values(store: Store, doc: Document) -> dict[str, object]:
    return {f.name: None if f.value is None else json.loads(f.value)
            for f in store.fields_of(doc.id) if f.status == "accepted"}


def record_validated(store: Store, review: Review, doc: Document, items: list[Item], values: dict[str, object],
                     reviewer: str, seconds: float, attempts: int, source: str = "review") -> int:
    """Store every asked field's decision (changed or confirmed) and mark the document validated;
    returns how many values the reviewer changed. `source` is core_system for a review the core
    system's refusal asked for (calibration counts only first reviews of a reading)."""
    now = datetime.now(UTC)
    changed = 0
    with store.session() as s, s.begin():
        for it in items:
            after = values[it.spec.name]
            diff = after != it.value
            changed += diff
            s.add(Correction(document_id=doc.id, review_id=review.id, field=it.spec.name, kind=it.spec.kind.value,
                             status_before=it.row.status, confidence=it.row.confidence, reasons=it.row.reasons,
                             before=None if it.value is None else json.dumps(it.value, ensure_ascii=False),
                             after=None if after is None else json.dumps(after, ensure_ascii=False), changed=diff,
                             reviewer=reviewer, seconds=seconds, source=source, created_at=now))
        _close(s, review, doc, "validated", DOC_VALIDATED, reviewer, "", attempts, now)
    return changed


def record_returned(store: Store, review: Review, doc: Document, reviewer: str, reason: str, attempts: int) -> None:
    """The reviewer sent the document back: it leaves the queue as `review_rejected` with the reason."""
    with store.session() as s, s.begin():
        _close(s, review, doc, "rejected", DOC_RETURNED, reviewer, reason, attempts, datetime.now(UTC))


def _close(s, review: Review, doc: Document, state: str, doc_status: str, reviewer: str, reason: str,
           attempts: int, now: datetime) -> None:
    r = s.get(Review, review.id)
    r.state, r.reviewer, r.reject_reason, r.attempts, r.closed_at = state, reviewer, reason, attempts, now
    d = s.get(Document, doc.id)
    d.status, d.updated_at = doc_status, now
    s.add(r)
    s.add(d)


def record_later_correction(store: Store, doc: Document, template: FormTemplate, field: str, answer: str,
                            who: str, source: str = "staff") -> Correction:
    """A value found wrong after it was recorded (the applicant called, the core system refused it):
    checked like a reviewer's answer, stored as a correction of the field as it was decided. An
    accepted field corrected here counts as an error found after acceptance in the ledger."""
    spec = next((f for f in template.fields if f.name == field), None)
    if spec is None:
        raise ValueError(f"{template.id} has no field {field!r}; fields: {[f.name for f in template.fields]}")
    row = next(f for f in store.fields_of(doc.id) if f.name == field)
    value, problem = parse(spec, answer)
    if problem is None and value is not None and spec.kind not in (FieldKind.checkbox, FieldKind.choice):
        failures = validate(spec, value, Context(today=date.today(), values=accepted_values(store, doc)))
        problem = "、".join(reasons_ja([f"validator:{f}" for f in failures])) or None
    if problem:
        raise ValueError(problem)
    before = None if row.value is None else json.loads(row.value)
    c = Correction(document_id=doc.id, field=field, kind=spec.kind.value, status_before=row.status,
                   confidence=row.confidence, reasons=row.reasons, before=row.value,
                   after=None if value is None else json.dumps(value, ensure_ascii=False), changed=value != before,
                   reviewer=who, source=source)
    with store.session() as s, s.begin():
        s.add(c)
    return c
