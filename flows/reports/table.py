"""How our Excel reports lay out a sheet, for the screen and for the city hall's printer: a bold
header row on a light fill, frozen and filtered; a title row over label-value summaries; and the
print layout (A4, one page wide however long, landscape when the columns are wider than portrait
A4, the header repeated on every page, and a footer with the report's name, its period and the
page number)."""

from __future__ import annotations

from collections.abc import Sequence

from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
BOLD = Font(bold=True)
DEFAULT_WIDTH = 8.43  # Excel's width of a column nobody sized, in characters of the default font
PORTRAIT_WIDTH = 100  # characters of column width that A4 portrait prints at about 100%; wider goes landscape
PAGE_NUMBER = "ページ &P / &N"  # &P this page, &N the number of pages (Excel header/footer codes)


def column_widths(ws: Worksheet, chars: Sequence[float]) -> None:
    """Column widths from column A on, in characters."""
    for i, w in enumerate(chars, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w


def header_row(ws: Worksheet, names: list[str], chars: Sequence[float]) -> None:
    """The header row of a table (the sheet's first row), its column widths, frozen below it."""
    ws.append(names)
    for c in ws[ws.max_row]:
        c.font, c.fill = BOLD, HEADER_FILL
        c.alignment = Alignment(vertical="center", wrap_text=True)
    column_widths(ws, chars)
    ws.freeze_panes = "A2"


def write_table(ws: Worksheet, names: list[str], rows: list[list], chars: Sequence[float]) -> None:
    """A whole table: header, rows, and a filter over all of it."""
    header_row(ws, names, chars)
    for r in rows:
        ws.append(r)
    ws.auto_filter.ref = ws.dimensions


def title_row(ws: Worksheet, text: str) -> None:
    """A sheet's title in its first row, large."""
    ws.append([text])
    ws["A1"].font = Font(bold=True, size=14)


def print_layout(ws: Worksheet, report: str, period: str, *, title_rows: int = 1) -> None:
    """Print the sheet one page wide (as many pages long as it takes), A4, landscape when its columns
    are wider than portrait A4, its first `title_rows` rows on every page, and a footer naming the
    report, the period and the page. Call it once the columns are sized."""
    chars = sum(ws.column_dimensions[get_column_letter(i)].width or DEFAULT_WIDTH
                for i in range(1, ws.max_column + 1))
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE if chars > PORTRAIT_WIDTH else ws.ORIENTATION_PORTRAIT
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages long as the rows need
    if ws.sheet_properties.pageSetUpPr is None:
        ws.sheet_properties.pageSetUpPr = PageSetupProperties()
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"1:{title_rows}"
    ws.oddFooter.left.text = report.replace("&", "&&")
    ws.oddFooter.center.text = period.replace("&", "&&")
    ws.oddFooter.right.text = PAGE_NUMBER
