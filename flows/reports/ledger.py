"""`madoguchi report --period YYYY-MM`: the accuracy ledger for the city, from the database of real
runs, as an Excel workbook in Japanese. Staff hours saved are formulas over assumption cells the
statistics section can change."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment
from sqlmodel import Session, select

from flows.reports.table import BOLD, column_widths, print_layout, title_row, write_table
from schemas.db import Correction, Document, FieldValue, Store
from schemas.results import REASONS_JA

REPORT = "窓口 読取実績"


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """[start, end) of a month given as YYYY-MM, in UTC."""
    start = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def _rows(store: Store, period: str) -> tuple[list[Document], list[FieldValue], list[Correction]]:
    """The month's documents with their fields, and the corrections made in the month."""
    start, end = month_bounds(period)
    with Session(store.engine) as s:
        docs = list(s.exec(select(Document).where(Document.created_at >= start, Document.created_at < end)))
        ids = [d.id for d in docs]
        fields = list(s.exec(select(FieldValue).where(FieldValue.document_id.in_(ids)))) if ids else []
        corrections = list(s.exec(select(Correction).where(Correction.created_at >= start, Correction.created_at < end)))
    return docs, fields, corrections


def _corrections(wb: Workbook, store: Store, corrections: list[Correction], titles: dict[str, str]) -> None:
    """Reviewers' decisions by form and field: how often the reading was right, how long it took."""
    ws = wb.create_sheet("確認での修正")
    forms = {}
    for c in corrections:
        if c.document_id not in forms:
            doc = store.document(c.document_id)
            forms[c.document_id] = titles.get(doc.form, doc.form) if doc else "?"
    groups: dict[tuple, list[Correction]] = defaultdict(list)
    for c in corrections:
        groups[(forms[c.document_id], c.field, c.kind, "確定後" if c.status_before == "accepted" else "確認")].append(c)
    rows = []
    for key in sorted(groups):
        cs = groups[key]
        changed = sum(c.changed for c in cs)
        rows.append([*key, len(cs), changed, changed / len(cs), round(sum(c.seconds for c in cs) / len(cs))])
    write_table(ws, ["様式", "項目", "種類", "時点", "確認件数", "修正件数", "修正率", "平均所要秒数"], rows,
           [24, 20, 14, 8, 10, 10, 10, 12])
    for row in ws.iter_rows(min_row=2, min_col=7, max_col=7):
        row[0].number_format = "0.0%"


def _summary(wb: Workbook, period: str, docs: list[Document], fields: list[FieldValue],
             corrections: list[Correction]) -> None:
    ws = wb.active
    ws.title = "概要"
    st = Counter(d.status for d in docs)
    doubtful = {f.document_id for f in fields if f.status != "accepted"}
    fs = Counter(f.status for f in fields)
    n = len(fields)
    title_row(ws, f"{REPORT} {period}")
    rows = [
        ("対象期間", period),
        ("受付書類数", len(docs)),
        ("　うち全項目自動確定", sum(d.status != "rejected" and d.id not in doubtful for d in docs)),
        ("　うち要確認項目あり", len(doubtful)),
        ("　うち読取不可（隔離）", st["rejected"]),
        ("読取項目数", n),
        ("自動確定項目数", fs["accepted"]),
        ("自動確定率", fs["accepted"] / n if n else 0),
        ("要確認項目数（確認作業の件数）", fs["needs_review"] + fs["invalid"]),
        ("確認での修正件数", sum(c.changed for c in corrections if c.status_before != "accepted")),
        ("確定後に見つかった誤り", sum(c.changed for c in corrections if c.status_before == "accepted")),
        ("確認した項目数", sum(c.status_before != "accepted" for c in corrections)),
        ("　うち読取どおり確定", sum(not c.changed for c in corrections if c.status_before != "accepted")),
        ("確認待ちの書類", st["needs_review"]),
        ("確認済みの書類", sum(d.id in doubtful and d.status in ("validated", "entered") for d in docs)),
        ("差し戻した書類", st["review_rejected"]),
        ("基幹システムに入力済みの書類", st["entered"]),
        ("基幹システムへの入力待ちの書類", st["accepted"] + st["validated"]),
    ]
    for r in rows:
        ws.append(list(r))
    ws["B9"].number_format = "0.0%"
    column_widths(ws, [34, 60])


def _by_form(wb: Workbook, docs: list[Document], fields: list[FieldValue], titles: dict[str, str]) -> None:
    ws = wb.create_sheet("様式別")
    form_of = {d.id: titles.get(d.form, d.form) if d.form else "（読取不可）" for d in docs}
    docs_by = Counter(form_of.values())
    fs: dict[str, Counter] = defaultdict(Counter)
    for f in fields:
        fs[form_of[f.document_id]][f.status] += 1
    rows = []
    for form, count in sorted(docs_by.items()):
        c = fs[form]
        total = sum(c.values())
        rows.append([form, count, total, c["accepted"], (c["accepted"] / total) if total else None,
                     c["needs_review"], c["invalid"]])
    write_table(ws, ["様式", "書類数", "項目数", "自動確定", "自動確定率", "要確認", "要確認(不正値)"], rows, [26, 10, 10, 10, 12, 10, 14])
    for row in ws.iter_rows(min_row=2, min_col=5, max_col=5):
        row[0].number_format = "0.0%"


def _by_field(wb: Workbook, docs: list[Document], fields: list[FieldValue], titles: dict[str, str]) -> None:
    ws = wb.create_sheet("項目別")
    form_of = {d.id: titles.get(d.form, d.form) for d in docs}
    c: dict[tuple, Counter] = defaultdict(Counter)
    reasons: dict[tuple, Counter] = defaultdict(Counter)
    for f in fields:
        key = (form_of[f.document_id], f.name, f.label)
        c[key][f.status] += 1
        reasons[key].update(r for r in f.reasons.split(",") if r)
    rows = []
    for key in sorted(c):
        total = sum(c[key].values())
        top = "、".join(f"{REASONS_JA.get(r, r)}({k})" for r, k in reasons[key].most_common(3))
        rows.append([*key, total, c[key]["accepted"], c[key]["accepted"] / total, c[key]["needs_review"] + c[key]["invalid"], top])
    write_table(ws, ["様式", "項目", "項目名", "件数", "自動確定", "自動確定率", "要確認", "主な確認理由"], rows, [24, 20, 16, 8, 10, 12, 8, 50])
    for row in ws.iter_rows(min_row=2, min_col=6, max_col=6):
        row[0].number_format = "0.0%"


def _hours(wb: Workbook) -> None:
    """Hours saved as formulas over assumption cells, so the section can change the assumptions."""
    ws = wb.create_sheet("削減時間の試算")
    rows = [
        ["前提（変更できます）", "値", "説明"],
        ["手入力 1項目あたりの秒数", 12, "職員が用紙を見て基幹システムに1項目を入力・確認する時間の想定"],
        ["確認 1項目あたりの秒数", 8, "画像と読取結果を見比べて確定・修正する時間の想定"],
        ["読取不可 1件あたりの秒数", 300, "再スキャンの依頼または全項目の手入力"],
        ["試算", "値", "計算式"],
        ["自動確定項目数", "=概要!B8", "概要シートより"],
        ["要確認項目数", "=概要!B10", "概要シートより"],
        ["読取不可件数", "=概要!B6", "概要シートより"],
        ["従来の入力時間（時間）", "=(B6+B7)*B2/3600+B8*B4/3600", "全項目を手入力した場合"],
        ["窓口導入後の作業時間（時間）", "=B7*B3/3600+B8*B4/3600", "確認作業と読取不可分のみ"],
        ["削減時間（時間）", "=B9-B10", ""],
    ]
    for r in rows:
        ws.append(r)
    for cell in ("A1", "A5"):
        ws[cell].font = BOLD
    for r in (9, 10, 11):
        ws[f"B{r}"].number_format = "0.0"
    column_widths(ws, [32, 14, 60])
    for row in ws.iter_rows():
        for c in row:
            c.alignment = Alignment(vertical="top", wrap_text=True)


def write_ledger(store: Store, period: str, out: Path, titles: dict[str, str]) -> Path:
    """Write the ledger workbook for one month; `titles` maps form ids to their Japanese titles."""
    docs, fields, corrections = _rows(store, period)
    wb = Workbook()
    _summary(wb, period, docs, fields, corrections)
    _by_form(wb, docs, fields, titles)
    _by_field(wb, docs, fields, titles)
    _corrections(wb, store, corrections, titles)
    _hours(wb)
    for ws in wb.worksheets:
        print_layout(ws, REPORT, f"対象期間 {period}")
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out
