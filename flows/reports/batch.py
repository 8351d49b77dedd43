"""The Excel report of one batch, from the database: what the statistics section opens.

A summary sheet (counts, straight-through rate, review load), one sheet per form with every field
of every document (status, confidence, reasons, each engine's reading, and the image of each field
a person must look at), and a sheet of the files that could not be read, with the reason.
Headers are frozen and filtered; statuses are coloured by conditional formatting, so a sorted or
filtered sheet keeps its colours.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook
from openpyxl.drawing.image import Image as XlImage
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from sqlmodel import Session, select

from flows.reports.table import column_widths, header_row, print_layout, title_row
from schemas.db import Document, EngineReading, FieldValue, Store
from schemas.results import STATUS_JA, reasons_ja

REPORT = "窓口 一括読取レポート"
STATUS_FILLS = {  # light fills a printed report still reads
    "自動確定": "E2EFDA",
    "要確認": "FFF2CC",
    "要確認(不正値)": "FCE4D6",
    "読取不可": "F8CBAD",
}
IMAGE_WIDTH_PX = 360  # a field image in the sheet; about 60 mm wide fields at 150 dpi scaled down
EXCEL_SHEET_CHARS = 31
DOC_STATUS_JA = {"accepted": "全項目自動確定", "needs_review": "要確認あり", "rejected": "読取不可",
                 "validated": "確認済み", "review_rejected": "差し戻し", "entered": "入力済み"}


@dataclass(frozen=True)
class BatchSummary:
    """The numbers on the summary sheet; the test compares them with the database."""

    files: int
    documents: int
    read_now: int
    read_before: int
    rejected: int
    fields: int
    accepted: int
    review: int

    @property
    def straight_through(self) -> float | None:
        return self.accepted / self.fields if self.fields else None


def _sheet_name(title: str, used: set[str]) -> str:
    name = "".join(ch for ch in title if ch not in '[]:*?/\\')[:EXCEL_SHEET_CHARS]
    base, n = name, 2
    while name in used:
        name = f"{base[:EXCEL_SHEET_CHARS - 3]}({n})"
        n += 1
    used.add(name)
    return name


def _finish_table(ws: Worksheet, status_col: int | None) -> None:
    ws.auto_filter.ref = ws.dimensions
    if status_col is None or ws.max_row < 2:
        return
    col = get_column_letter(status_col)
    rng = f"{col}2:{col}{ws.max_row}"
    for text, colour in STATUS_FILLS.items():
        ws.conditional_formatting.add(rng, CellIsRule(operator="equal", formula=[f'"{text}"'],
                                                      fill=PatternFill("solid", bgColor=colour)))


def _value(raw: str | None) -> str:
    if raw is None:
        return ""
    v = json.loads(raw)
    return {True: "あり", False: "なし"}.get(v, v) if isinstance(v, bool) else str(v)


def write_batch_report(store: Store, sha256s: list[str], out: Path, *, titles: dict[str, str],
                       views: Path, params: dict[str, str], read_now: set[str], files: int,
                       period: str = "") -> BatchSummary:
    """Write the workbook for the documents `sha256s` (one per file of the batch, files read before
    included); `read_now` are those this batch read; `views` is the data root's views/ folder;
    `period` is what the printed pages' footer says the batch covers."""
    with Session(store.engine) as s:
        docs = list(s.exec(select(Document).where(Document.sha256.in_(sha256s)))) if sha256s else []
        ids = [d.id for d in docs]
        fields = list(s.exec(select(FieldValue).where(FieldValue.document_id.in_(ids)))) if ids else []
        fids = [f.id for f in fields]
        readings = list(s.exec(select(EngineReading).where(EngineReading.field_id.in_(fids)))) if fids else []
    by_field: dict[int, dict[str, str | None]] = defaultdict(dict)
    for r in readings:
        by_field[r.field_id][r.engine] = r.text
    engines = sorted({r.engine for r in readings})
    fields_of: dict[int, list[FieldValue]] = defaultdict(list)
    for f in sorted(fields, key=lambda f: f.id):
        fields_of[f.document_id].append(f)
    fs = Counter(f.status for f in fields)
    summary = BatchSummary(
        files=files, documents=len(docs), read_now=sum(d.sha256 in read_now for d in docs),
        read_before=sum(d.sha256 not in read_now for d in docs), rejected=sum(d.status == "rejected" for d in docs),
        fields=len(fields), accepted=fs["accepted"], review=fs["needs_review"] + fs["invalid"],
    )
    wb = Workbook()
    _summary_sheet(wb.active, summary, docs, fields_of, params)
    used = {wb.active.title}
    for form in sorted({d.form for d in docs if d.form}):
        ws = wb.create_sheet(_sheet_name(titles.get(form, form), used))
        _form_sheet(ws, [d for d in docs if d.form == form], fields_of, by_field, engines, views)
    _rejected_sheet(wb.create_sheet(_sheet_name("読取不可", used)), [d for d in docs if d.status == "rejected"], store)
    for ws in wb.worksheets:
        print_layout(ws, REPORT, period)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return summary


def _summary_sheet(ws: Worksheet, s: BatchSummary, docs: list[Document], fields_of: dict[int, list[FieldValue]],
                   params: dict[str, str]) -> None:
    ws.title = "概要"
    # as read, from the fields: a document's status moves on (validated, entered) after reading
    read = [d for d in docs if d.status != "rejected"]
    doubtful = sum(any(f.status != "accepted" for f in fields_of[d.id]) for d in read)
    now = Counter(d.status for d in docs)
    title_row(ws, REPORT)
    rows = [(k, v) for k, v in params.items()] + [
        ("対象ファイル数", s.files),
        ("書類数", s.documents),
        ("　うち今回読み取り", s.read_now),
        ("　うち読取済み（重複）", s.read_before),
        ("　うち全項目自動確定", len(read) - doubtful),
        ("　うち要確認あり", doubtful),
        ("　うち読取不可", s.rejected),
        ("読取項目数", s.fields),
        ("自動確定項目数", s.accepted),
        ("自動確定率", s.straight_through if s.straight_through is not None else "-"),
        ("要確認項目数（確認作業の件数）", s.review),
        ("1書類あたりの要確認項目数", round(s.review / max(1, s.documents - s.rejected), 2)),
        ("現在: 確認待ち", now["needs_review"]),
        ("現在: 入力待ち（確定済み）", now["accepted"] + now["validated"]),
        ("現在: 基幹システムに入力済み", now["entered"]),
        ("現在: 差し戻し", now["review_rejected"]),
    ]
    for r in rows:
        ws.append(list(r))
        if r[0] == "自動確定率" and s.straight_through is not None:
            ws.cell(ws.max_row, 2).number_format = "0.0%"
    column_widths(ws, [34, 48])


def _form_sheet(ws: Worksheet, docs: list[Document], fields_of: dict[int, list[FieldValue]],
                by_field: dict[int, dict[str, str | None]], engines: list[str], views: Path) -> None:
    header = ["ファイル", "書類の状態", "項目", "項目名", "読取値", "状態", "確信度", "理由",
              *[f"読取({e})" for e in engines], "画像（要確認の項目）"]
    header_row(ws, header, [28, 14, 18, 16, 28, 14, 8, 40, *[18] * len(engines), 50])
    status_col, image_col = 6, len(header)
    for d in sorted(docs, key=lambda d: d.source):
        for f in fields_of[d.id]:
            reasons = "、".join(reasons_ja([r for r in f.reasons.split(",") if r]))
            ws.append([Path(d.source).name, DOC_STATUS_JA.get(d.status, d.status), f.name, f.label, _value(f.value),
                       STATUS_JA.get(f.status, f.status), f.confidence, reasons,
                       *[by_field[f.id].get(e) or "" for e in engines], ""])
            ws.cell(ws.max_row, 7).number_format = "0.00"
            image = views / d.sha256[:16] / f"{f.name}.png"
            if f.status != "accepted" and image.exists():
                _place_image(ws, image, ws.max_row, image_col)
    _finish_table(ws, status_col)


def _place_image(ws: Worksheet, path: Path, row: int, col: int) -> None:
    img = XlImage(str(path))
    scale = min(1.0, IMAGE_WIDTH_PX / img.width)
    img.width, img.height = round(img.width * scale), round(img.height * scale)
    ws.add_image(img, f"{get_column_letter(col)}{row}")
    ws.row_dimensions[row].height = max(ws.row_dimensions[row].height or 15, img.height * 0.75 + 4)  # px -> pt


def _rejected_sheet(ws: Worksheet, docs: list[Document], store: Store) -> None:
    header_row(ws, ["ファイル", "状態", "理由", "sha256"], [36, 12, 80, 20])
    for d in sorted(docs, key=lambda d: d.source):
        reason = "、".join(e.message_ja for e in store.errors_of(d))
        ws.append([Path(d.source).name, STATUS_JA["rejected"], reason, d.sha256[:16]])
    _finish_table(ws, 2)
