"""The city's monthly ledger: an Excel workbook whose numbers match the database."""

from datetime import UTC, datetime

from openpyxl import load_workbook

from flows.ledger import write_ledger
from schemas.db import Document, Store
from schemas.results import DocumentResult, DocumentStatus, FieldResult, FieldStatus


def _doc(sha: str, statuses: list[str], form="child_allowance") -> DocumentResult:
    fields = {f"f{i}": FieldResult(value="x", status=FieldStatus(s), confidence=0.9, label=f"項目{i}", kind="text",
                                   reasons=[] if s == "accepted" else ["engines_disagree"])
              for i, s in enumerate(statuses)}
    status = DocumentStatus.accepted if set(statuses) == {"accepted"} else DocumentStatus.needs_review
    return DocumentResult(source=f"{sha}.png", sha256=sha, form=form, pages=1, fields=fields, status=status)


def test_ledger_numbers_match_the_database(tmp_path):
    """GIVEN three documents this month and one last month WHEN the ledger for this month is written
    THEN its counts and straight-through rate are those of this month's rows, in Japanese."""
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.save(_doc("a" * 64, ["accepted", "accepted", "needs_review"]))
    store.save(_doc("b" * 64, ["accepted", "accepted", "accepted"]))
    store.save(DocumentResult(source="bad.pdf", sha256="c" * 64, status=DocumentStatus.rejected))
    old = store.save(_doc("d" * 64, ["needs_review"]))
    from sqlmodel import Session

    with Session(store.engine) as s:
        row = s.get(Document, old)
        row.created_at = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
        s.add(row)
        s.commit()
    now = datetime.now(UTC).strftime("%Y-%m")
    out = write_ledger(store, now, tmp_path / "ledger.xlsx", {"child_allowance": "児童手当 認定請求書"})
    wb = load_workbook(out)
    assert wb.sheetnames == ["概要", "様式別", "項目別", "削減時間の試算"]
    summary = {r[0]: r[1] for r in wb["概要"].iter_rows(min_row=2, values_only=True)}
    assert summary["受付書類数"] == 3
    assert summary["\u3000うち読取不可（隔離）"] == 1
    assert (summary["読取項目数"], summary["自動確定項目数"]) == (6, 5)
    assert abs(summary["自動確定率"] - 5 / 6) < 1e-9
    by_form = list(wb["様式別"].iter_rows(min_row=2, values_only=True))
    assert by_form[0][:4] == ("児童手当 認定請求書", 2, 6, 5)
    reasons = [r[7] for r in wb["項目別"].iter_rows(min_row=2, values_only=True)]
    assert "2つの読取結果が一致しません(1)" in reasons
    assert wb["削減時間の試算"]["B11"].value == "=B9-B10"
