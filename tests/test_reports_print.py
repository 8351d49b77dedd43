"""Both Excel reports print as the city hall prints them: every sheet one page wide, wide sheets
landscape, the header row on every page, and a footer with the report, the period and the page.

The settings are read back with openpyxl (what Excel and LibreOffice print from); the README's
pictures show the result through LibreOffice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from flows.reports.batch import write_batch_report
from flows.reports.ledger import write_ledger
from flows.reports.table import PORTRAIT_WIDTH
from schemas.db import Store
from schemas.results import DocumentError, DocumentResult, DocumentStatus, FieldResult, FieldStatus

TITLES = {"child_allowance": "児童手当 認定請求書", "pregnancy_notification": "妊娠届出書"}


def _doc(sha: str, form: str, statuses: list[str]) -> DocumentResult:
    fields = {f"f{i}": FieldResult(value="x", status=FieldStatus(s), confidence=0.9, label=f"項目{i}", kind="text",
                                   reasons=[] if s == "accepted" else ["engines_disagree"],
                                   readings={"paddle": "x", "rapid": "y"})
              for i, s in enumerate(statuses)}
    status = DocumentStatus.accepted if set(statuses) == {"accepted"} else DocumentStatus.needs_review
    return DocumentResult(source=f"{sha[:4]}.png", sha256=sha, form=form, pages=1, fields=fields, status=status)


@pytest.fixture
def reports(tmp_path):
    """GIVEN documents of two forms, one of them doubtful, and an unreadable file, WHEN both reports
    are written, THEN (each test) their sheets carry the print layout."""
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    docs = [_doc("a" * 64, "child_allowance", ["accepted", "needs_review"]),
            _doc("b" * 64, "pregnancy_notification", ["accepted", "accepted"]),
            DocumentResult(source="bad.pdf", sha256="c" * 64, status=DocumentStatus.rejected,
                           errors=[DocumentError(code="blank_page", message="blank", message_ja="白紙です")])]
    for d in docs:
        store.save(d)
    period = datetime.now(UTC).strftime("%Y-%m")
    ledger = write_ledger(store, period, tmp_path / "ledger.xlsx", TITLES)
    write_batch_report(store, [d.sha256 for d in docs], tmp_path / "batch.xlsx", titles=TITLES, views=tmp_path,
                       params={"読取元": "done"}, read_now={d.sha256 for d in docs}, files=3,
                       period="スキャン日 2026-11-01 〜 2026-11-30")
    return {"ledger": (load_workbook(ledger), "窓口 読取実績", f"対象期間 {period}"),
            "batch": (load_workbook(tmp_path / "batch.xlsx"), "窓口 一括読取レポート", "スキャン日 2026-11-01 〜 2026-11-30")}


def _width(ws) -> float:
    return sum(ws.column_dimensions[get_column_letter(i)].width or 8.43 for i in range(1, ws.max_column + 1))


@pytest.mark.parametrize("report", ["ledger", "batch"])
def test_every_sheet_prints_one_page_wide_with_its_header_and_a_footer(reports, report):
    wb, name, period = reports[report]
    assert len(wb.worksheets) >= 3
    for ws in wb.worksheets:
        where = f"{report}: {ws.title}"
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True, where
        assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0), where
        assert ws.page_setup.paperSize == 9, where  # A4
        wide = _width(ws) > PORTRAIT_WIDTH
        assert ws.page_setup.orientation == ("landscape" if wide else "portrait"), where
        assert ws.print_title_rows == "$1:$1", where
        footer = ws.oddFooter
        assert (footer.left.text, footer.center.text, footer.right.text) == (name, period, "ページ &P / &N"), where


def test_the_form_sheets_that_did_not_print_are_landscape(reports):
    """The batch report's form sheets (12 columns and more) were cut apart; the ledger's summary
    put its labels on one page and its numbers on the next."""
    batch, _, _ = reports["batch"]
    assert batch["児童手当 認定請求書"].page_setup.orientation == "landscape"
    ledger, _, _ = reports["ledger"]
    assert ledger["概要"].page_setup.fitToWidth == 1
