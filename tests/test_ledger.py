"""The city's monthly ledger: an Excel workbook whose numbers match the database."""

from datetime import UTC, datetime

from openpyxl import load_workbook

from flows.reports.ledger import write_ledger
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
    entered = store.save(_doc("b" * 64, ["accepted", "accepted", "accepted"]))
    store.save(DocumentResult(source="bad.pdf", sha256="c" * 64, status=DocumentStatus.rejected))
    old = store.save(_doc("d" * 64, ["needs_review"]))
    from sqlmodel import Session

    with Session(store.engine) as s:
        s.get(Document, entered).status = "entered"  # the bot entered it: still read without a person
        row = s.get(Document, old)
        row.created_at = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
        s.add(row)
        s.commit()
    now = datetime.now(UTC).strftime("%Y-%m")
    out = write_ledger(store, now, tmp_path / "ledger.xlsx", {"child_allowance": "児童手当 認定請求書"})
    wb = load_workbook(out)
    assert wb.sheetnames == ["概要", "様式別", "項目別", "確認での修正", "削減時間の試算"]
    summary = {r[0]: r[1] for r in wb["概要"].iter_rows(min_row=2, values_only=True)}
    assert summary["受付書類数"] == 3
    assert summary["\u3000うち読取不可（隔離）"] == 1
    assert (summary["\u3000うち全項目自動確定"], summary["\u3000うち要確認項目あり"]) == (1, 1)
    assert (summary["基幹システムに入力済みの書類"], summary["確認済みの書類"]) == (1, 0)
    assert (summary["読取項目数"], summary["自動確定項目数"]) == (6, 5)
    assert abs(summary["自動確定率"] - 5 / 6) < 1e-9
    by_form = list(wb["様式別"].iter_rows(min_row=2, values_only=True))
    assert by_form[0][:4] == ("児童手当 認定請求書", 2, 6, 5)
    reasons = [r[7] for r in wb["項目別"].iter_rows(min_row=2, values_only=True)]
    assert "読取結果が一致しません(1)" in reasons
    assert wb["削減時間の試算"]["B11"].value == "=B9-B10"


def test_ledger_counts_reviewers_corrections_and_errors_found_after_acceptance(tmp_path):
    """GIVEN a reviewed document (one field changed, one confirmed) and an accepted field the core
    system later corrected WHEN the ledger is written THEN 概要 and 確認での修正 count them apart."""
    from schemas.db import Correction

    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    doc_id = store.save(_doc("a" * 64, ["accepted", "needs_review", "needs_review"]))
    with store.session() as s, s.begin():
        s.add(Correction(document_id=doc_id, field="f1", kind="text", status_before="needs_review", confidence=0.7,
                         before='"x"', after='"y"', changed=True, reviewer="窓口", seconds=30))
        s.add(Correction(document_id=doc_id, field="f2", kind="text", status_before="needs_review", confidence=0.8,
                         before='"x"', after='"x"', changed=False, reviewer="窓口", seconds=30))
        s.add(Correction(document_id=doc_id, field="f0", kind="text", status_before="accepted", confidence=0.99,
                         before='"x"', after='"z"', changed=True, source="core_system"))
    now = datetime.now(UTC).strftime("%Y-%m")
    wb = load_workbook(write_ledger(store, now, tmp_path / "l.xlsx", {"child_allowance": "児童手当 認定請求書"}))
    summary = {r[0]: r[1] for r in wb["概要"].iter_rows(min_row=2, values_only=True)}
    assert summary["確認での修正件数"] == 1 and summary["確定後に見つかった誤り"] == 1
    assert summary["確認した項目数"] == 2 and summary["\u3000うち読取どおり確定"] == 1
    rows = list(wb["確認での修正"].iter_rows(min_row=2, values_only=True))
    assert ("児童手当 認定請求書", "f0", "text", "確定後", 1, 1) in [r[:6] for r in rows]
    assert [r[4:7] for r in rows if r[1] == "f1"] == [(1, 1, 1.0)]
