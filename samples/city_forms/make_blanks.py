"""Make two blank forms the way a city makes them, not with Madoguchi's renderer.

- 罹災証明書交付申請書 (`disaster_certificate`): an Excel sheet laid out on a grid of narrow
  columns (Excel 方眼紙), written with openpyxl and exported to one A4 page by LibreOffice.
- 児童手当 認定請求書 (`child_allowance_claim`): an HTML table in the style of a municipal web form,
  printed to two A4 pages by headless Chromium.

Run once by a person, from the repository root (the committed PDFs are the references; `make` does
not run this):

    apt-get install -y --no-install-recommends libreoffice-calc-nogui   # soffice
    # chromium-headless-shell (or chromium) and fonts-ipaexfont come with `make setup`
    .venv/bin/python samples/city_forms/make_blanks.py [--out samples/city_forms]

then `.venv/bin/python samples/city_forms/measure_boxes.py` to measure the PDFs into boxes.md.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins

MINCHO = "IPAexMincho"  # a city would type ＭＳ 明朝; IPAex is what Debian has
COLS = 40  # the sheet's grid: 40 columns ...
COL_MM = 4.5  # ... of 4.5 mm each, 180 mm across
MM_PER_WIDTH_UNIT = 2.46944  # LibreOffice reads an xlsx column width of 1 as 0.09722 in
PT_PER_MM = 72 / 25.4
MARGIN_IN = 15 / 25.4  # page margins, 15 mm

# (height in mm, label) of every row of the sheet, top to bottom; the label only names the row here
ROWS = [
    (14, "title"), (4, ""), (6, "受付印 header"), (10, "宛先"), (8, ""), (8, "前文"), (5, ""),
    (12, "申請日"),
    (2, ""), (9, "郵便番号"), (2, ""), (15, "住所"),
    (9, "フリガナ"), (15, "氏名"),
    (2, ""), (9, "電話番号"), (2, ""),
    (12, "被災日"), (15, "被災場所"), (12, "被害の種類"),
    (2, ""), (9, "必要枚数"), (2, ""),
    (6, ""), (7, "注意"), (7, "注意1"), (7, "注意2"), (7, "注意3"), (7, "注意4"),
]
ROW = {label: i + 1 for i, (_, label) in enumerate(ROWS) if label}

THIN, MEDIUM = "thin", "medium"
_WEIGHT = {None: 0, THIN: 1, MEDIUM: 2}


class Sheet:
    """A worksheet drawn the way a clerk does it: merged ranges, text, and borders around ranges."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.sides: dict[tuple[int, int], dict[str, str]] = {}

    def text(self, r1: int, c1: int, r2: int, c2: int, value: str, *, size: float = 11,
             h: str = "center", v: str = "center", vertical: bool = False) -> None:
        """Merge r1:c1..r2:c2 and write value in it."""
        if (r1, c1) != (r2, c2):
            self.ws.merge_cells(start_row=r1, start_column=c1, end_row=r2, end_column=c2)
        cell = self.ws.cell(r1, c1)
        cell.value = value
        cell.font = Font(name=MINCHO, size=size)
        cell.alignment = Alignment(horizontal=h, vertical=v, wrap_text=False,
                                   text_rotation=255 if vertical else 0)

    def frame(self, r1: int, c1: int, r2: int, c2: int, style: str = THIN) -> None:
        """A border around the range (a heavier line already there is kept)."""
        for r in range(r1, r2 + 1):
            self._side(r, c1, "left", style)
            self._side(r, c2, "right", style)
        for c in range(c1, c2 + 1):
            self._side(r1, c, "top", style)
            self._side(r2, c, "bottom", style)

    def _side(self, r: int, c: int, side: str, style: str) -> None:
        # the neighbour across the line gets the same side, so LibreOffice draws one line either way
        other = {"left": (r, c - 1, "right"), "right": (r, c + 1, "left"),
                 "top": (r - 1, c, "bottom"), "bottom": (r + 1, c, "top")}[side]
        for rr, cc, s in ((r, c, side), other):
            if rr < 1 or cc < 1:
                continue
            got = self.sides.setdefault((rr, cc), {})
            if _WEIGHT[style] > _WEIGHT[got.get(s)]:
                got[s] = style

    def apply_borders(self) -> None:
        for (r, c), s in self.sides.items():
            self.ws.cell(r, c).border = Border(**{k: Side(style=v) for k, v in s.items()})


def _date(sheet: Sheet, r: int) -> None:
    """「令和　　年　　月　　日」 in one box: the blank before 年, 月 and 日 is 13.5 mm of empty cells."""
    sheet.text(r, 9, r, 11, "令和", size=12)
    for c, ch in ((15, "年"), (19, "月"), (23, "日")):
        sheet.text(r, c, r, c, ch, size=12)


def _boxes(sheet: Sheet, r: int, first_col: int, count: int, span: int = 2) -> None:
    """count character boxes side by side, each span columns wide, in row r."""
    for i in range(count):
        c = first_col + span * i
        sheet.frame(r, c, r, c + span - 1)


def build_disaster_xlsx(path: Path) -> None:
    """Write 罹災証明書交付申請書 as a one-page A4 sheet."""
    wb = Workbook()
    ws = wb.active
    ws.title = "罹災証明書交付申請書"
    for c in range(1, COLS + 1):
        ws.column_dimensions[get_column_letter(c)].width = COL_MM / MM_PER_WIDTH_UNIT
    for i, (mm, _) in enumerate(ROWS, start=1):
        ws.row_dimensions[i].height = round(mm * PT_PER_MM, 2)
    s = Sheet(ws)

    s.text(ROW["title"], 1, ROW["title"], COLS, "罹災証明書交付申請書", size=20)
    s.text(ROW["受付印 header"], 33, ROW["受付印 header"], 40, "受付印", size=9)
    s.frame(ROW["受付印 header"], 33, ROW["受付印 header"], 40)
    s.frame(ROW["宛先"], 33, ROW["前文"], 40)  # the stamp goes here
    s.text(ROW["宛先"], 1, ROW["宛先"], 14, "下松市長　様", size=14, h="left")
    s.text(ROW["前文"], 1, ROW["前文"], 31, "次のとおり罹災証明書の交付を申請します。", h="left")

    top, bottom = ROW["申請日"], ROW["必要枚数"] + 1
    s.text(top, 1, top, 8, "申　請　日")
    _date(s, top)
    s.frame(top, 1, top, 8)
    s.frame(top, 9, top, COLS)

    # 申請者: 住所 (〒 3 + 4 boxes around a printed hyphen, then the address), フリガナ, 氏名, 電話番号
    a1, a2 = ROW["郵便番号"] - 1, ROW["電話番号"] + 1
    s.text(a1, 1, a2, 2, "申請者", vertical=True)
    s.frame(a1, 1, a2, 2)
    s.text(a1, 3, ROW["住所"], 8, "住　　所")
    s.frame(a1, 3, ROW["住所"], 8)
    r = ROW["郵便番号"]
    s.text(r, 9, r, 10, "〒", size=12)
    _boxes(s, r, 11, 3)
    s.text(r, 17, r, 18, "－", size=12)
    _boxes(s, r, 19, 4)
    s.frame(a1, 9, r + 1, COLS)
    s.frame(ROW["住所"], 9, ROW["住所"], COLS)
    s.text(ROW["フリガナ"], 3, ROW["フリガナ"], 8, "フリガナ", size=9)
    s.frame(ROW["フリガナ"], 3, ROW["フリガナ"], 8)
    s.frame(ROW["フリガナ"], 9, ROW["フリガナ"], COLS)
    s.text(ROW["氏名"], 3, ROW["氏名"], 8, "氏　　名")
    s.frame(ROW["氏名"], 3, ROW["氏名"], 8)
    s.text(ROW["氏名"], 38, ROW["氏名"], 39, "印", size=12)
    s.frame(ROW["氏名"], 9, ROW["氏名"], COLS)
    s.text(a2 - 2, 3, a2, 8, "電話番号")
    s.frame(a2 - 2, 3, a2, 8)
    r = ROW["電話番号"]
    for c in (10, 18, 26):  # three areas of 27 mm, a printed hyphen between them
        s.frame(r, c, r, c + 5)
    s.text(r, 16, r, 17, "－", size=12)
    s.text(r, 24, r, 25, "－", size=12)
    s.text(r, 33, r, COLS, "（日中の連絡先）", size=9, h="left")
    s.frame(a2 - 2, 9, a2, COLS)

    # 被災の状況: 被災日, 被災場所, 被害の種類
    d1, d2 = ROW["被災日"], ROW["被害の種類"]
    s.text(d1, 1, d2, 2, "被災の状況", vertical=True)
    s.frame(d1, 1, d2, 2)
    for label, r in (("被　災　日", d1), ("被災場所", ROW["被災場所"]), ("被害の種類", d2)):
        s.text(r, 3, r, 8, label)
        s.frame(r, 3, r, 8)
        s.frame(r, 9, r, COLS)
    _date(s, d1)
    for c, label, width in ((10, "火災", 3), (16, "風水害", 4), (23, "地震", 3), (29, "その他（　　　　　）", 10)):
        s.text(d2, c, d2, c + 1, "□", size=16, h="right")  # the tick square, a printed glyph
        s.text(d2, c + 2, d2, c + 1 + width, label, size=12, h="left")

    r = ROW["必要枚数"]
    s.text(r - 1, 1, r + 1, 8, "必要枚数")
    s.frame(r - 1, 1, r + 1, 8)
    _boxes(s, r, 10, 2)
    s.text(r, 14, r, 15, "通", size=12)
    s.frame(r - 1, 9, r + 1, COLS)
    s.frame(top, 1, bottom, COLS, MEDIUM)

    notes = ["（注意）", "１　罹災証明書は、被災した建物１棟ごとに交付します。",
             "２　被災した建物や家財の写真があれば、添付してください。",
             "３　代理人が申請する場合は、委任状が必要です。",
             "４　太枠の中を記入してください。受付印の欄には記入しないでください。"]
    for i, line in enumerate(notes):
        s.text(ROW["注意"] + i, 1, ROW["注意"] + i, COLS, line, size=10, h="left")
    s.apply_borders()

    ws.sheet_view.showGridLines = False
    ws.print_area = f"A1:{get_column_letter(COLS)}{len(ROWS)}"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "portrait"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1
    ws.page_margins = PageMargins(left=MARGIN_IN, right=MARGIN_IN, top=MARGIN_IN, bottom=MARGIN_IN,
                                  header=0, footer=0)
    ws.print_options.horizontalCentered = True
    wb.save(path)


# The 児童手当 認定請求書 as a municipal web form prints it: bordered tables, sizes in mm
CHILD_CSS = """
@page { size: A4; margin: 12mm; }
html, body { margin: 0; padding: 0; }
body { font-family: "IPAexMincho", serif; font-size: 11pt; line-height: 1.3; color: #000; }
.page + .page { break-before: page; }
.form-no { margin: 0; font-size: 9pt; }
h1 { margin: 3mm 0 1mm; font: 18pt "IPAexGothic", sans-serif; letter-spacing: 0.25em; text-align: center; }
.sheet { margin: 0 0 4mm; font: 12pt "IPAexGothic", sans-serif; text-align: center; }
.to { margin: 0 0 3mm; font-size: 13pt; }
.lead { margin: 0 0 3mm; font-size: 10.5pt; }
h2 { margin: 5mm 0 1.5mm; font: 11.5pt "IPAexGothic", sans-serif; }
table.form { width: 185mm; margin-left: 0.5mm; border-collapse: collapse; table-layout: fixed; border: 0.6mm solid #000; }
table.form > tbody > tr > th, table.form > tbody > tr > td { border: 0.25mm solid #000; padding: 0 2.5mm; }
table.form > tbody > tr > th { font-weight: normal; text-align: center; }
th.small { font-size: 9pt; }
tr.h9 > * { height: 9mm; } tr.h12 > * { height: 12mm; } tr.h13 > * { height: 13mm; }
tr.h15 > * { height: 15mm; } tr.h16 > * { height: 16mm; }
.blank { display: inline-block; width: 14mm; }
.era { letter-spacing: 0.1em; }
table.cells { display: inline-table; border-collapse: collapse; vertical-align: middle; }
table.form table.cells td { width: 8mm; height: 9mm; padding: 0; border: 0.25mm solid #000; }
.hyphen { display: inline-block; width: 7mm; text-align: center; vertical-align: middle; }
.phone { display: inline-block; width: 26mm; height: 9mm; box-sizing: border-box; border: 0.25mm solid #000;
         vertical-align: middle; }
.tick { display: inline-block; width: 4.5mm; height: 4.5mm; box-sizing: border-box; border: 0.25mm solid #000;
        vertical-align: -0.8mm; margin: 0 1.2mm 0 5mm; }
.tick:first-child { margin-left: 0; }
.note { font-size: 9pt; }
ol.notes { margin: 3mm 0 0; padding-left: 6mm; font-size: 9.5pt; }
table.office { margin: 6mm 0.5mm 0 auto; border-collapse: collapse; font-size: 9pt; }
table.office th, table.office td { border: 0.25mm solid #000; text-align: center; font-weight: normal; }
table.office th { height: 5mm; width: 26mm; }
table.office td { height: 24mm; }
"""


def _cells(n: int) -> str:
    return '<table class="cells"><tr>' + "<td></td>" * n + "</tr></table>"


def _date_html(eras: str) -> str:
    blank = '<span class="blank"></span>'
    era = "・".join(f'<span class="era">{e}</span>' for e in eras.split("・"))
    return f"{era}{blank}年{blank}月{blank}日"


def _ticks(options: list[str]) -> str:
    return "".join(f'<span class="tick"></span>{o}' for o in options)


def _row(height: int, label: str, body: str, th_class: str = "", colspan: int = 2) -> str:
    cls = f' class="{th_class}"' if th_class else ""
    return f'<tr class="h{height}"><th{cls}>{label}</th><td colspan="{colspan}">{body}</td></tr>'


def child_allowance_html() -> str:
    """The 児童手当 認定請求書 as HTML: page 1 the claimant, page 2 the child and the bank account."""
    hy = '<span class="hyphen">－</span>'
    cols = '<colgroup><col style="width:38mm"><col style="width:60mm"><col></colgroup>'
    page1 = "\n".join([
        '<p class="form-no">様式第１号（第２条関係）</p>',
        "<h1>児童手当 認定請求書</h1>", '<p class="sheet">（１枚目）請求者</p>',
        '<p class="to">下松市長　様</p>',
        '<p class="lead">児童手当法第７条第１項の規定により、児童手当の受給資格及び児童手当の額について'
        "認定を請求します。</p>",
        f'<table class="form">{cols}',
        _row(12, "請求日", _date_html("令和")),
        _row(9, "フリガナ", "", "small"),
        _row(15, "氏　　名", ""),
        _row(12, "生年月日", _date_html("昭和・平成")),
        f'<tr class="h13"><th rowspan="2">住　　所</th><td colspan="2">〒 {_cells(3)}{hy}{_cells(4)}</td></tr>',
        '<tr class="h16"><td colspan="2"></td></tr>',
        _row(13, "電話番号", f'<span class="phone"></span>{hy}<span class="phone"></span>{hy}<span class="phone"></span>'),
        _row(12, "職　　業", _ticks(["会社員", "公務員", "自営業", "その他（　　　　　　　）"])),
        "</table>",
        '<ol class="notes"><li>太枠の中を記入してください。数字は枠に１字ずつ記入してください。</li>'
        "<li>生年月日は該当する元号を〇で囲んでください。</li>"
        "<li>職業は該当する□にレ印を付けてください。</li>"
        "<li>２枚目（児童・振込先）も記入してください。</li></ol>",
    ])
    page2 = "\n".join([
        "<h1>児童手当 認定請求書</h1>", '<p class="sheet">（２枚目）児童・振込先</p>',
        "<h2>■ 支給の対象となる児童</h2>",
        f'<table class="form">{cols}',
        _row(15, "児童氏名", ""),
        _row(12, "生年月日", _date_html("平成・令和")),
        '<tr class="h12"><th>続　　柄</th><td></td>'
        '<td class="note">請求者からみた続柄（例：長男、長女）</td></tr>',
        "</table>",
        "<h2>■ 振込先口座（請求者名義の口座に限ります）</h2>",
        f'<table class="form">{cols}',
        _row(13, "金融機関コード", _cells(4)),
        _row(13, "支店コード", _cells(3)),
        _row(13, "口座番号", f'{_cells(7)}　<span class="note">（右詰めで記入してください）</span>'),
        _row(12, "預金種別", _ticks(["普通", "当座"])),
        _row(13, "口座名義（カナ）", "", "small"),
        "</table>",
        '<ol class="notes"><li>金融機関コード・支店コードが分からない場合は、通帳の写しを添付してください。</li>'
        "<li>口座名義は通帳に記載のとおりカタカナで記入してください。</li></ol>",
        '<table class="office"><tr><th>受付印</th><th>受付番号</th><th>審査</th></tr>'
        "<tr><td></td><td></td><td></td></tr></table>",
    ])
    return ('<!DOCTYPE html>\n<html lang="ja">\n<head>\n<meta charset="utf-8">\n'
            f"<title>児童手当 認定請求書</title>\n<style>{CHILD_CSS}</style>\n</head>\n<body>\n"
            f'<div class="page">\n{page1}\n</div>\n<div class="page">\n{page2}\n</div>\n</body>\n</html>\n')


def chromium() -> str:
    """The Chromium binary: Debian's headless shell or full browser."""
    for name in ("chromium-headless-shell", "chromium", "chromium-browser", "/usr/lib/chromium/chromium-headless-shell"):
        if found := shutil.which(name):
            return found
    raise SystemExit("No Chromium found: apt-get install chromium-headless-shell (make setup does)")


def print_html(html: Path, pdf: Path) -> None:
    """Print html to pdf with headless Chromium, without its date/URL header and footer."""
    subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", html.resolve().as_uri()], check=True, capture_output=True)


def export_xlsx(xlsx: Path, pdf: Path) -> None:
    """Export xlsx to pdf with headless LibreOffice (a throwaway profile, so a running soffice is no matter)."""
    if not shutil.which("soffice"):
        raise SystemExit("No soffice: apt-get install -y --no-install-recommends libreoffice-calc-nogui")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["soffice", f"-env:UserInstallation={Path(tmp, 'profile').as_uri()}", "--headless",
                        "--convert-to", "pdf", "--outdir", tmp, str(xlsx)], check=True, capture_output=True)
        shutil.move(Path(tmp, xlsx.stem + ".pdf"), pdf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("samples/city_forms"), help="folder for sources and PDFs")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    build_disaster_xlsx(out / "disaster_certificate.xlsx")
    export_xlsx(out / "disaster_certificate.xlsx", out / "disaster_certificate.pdf")
    (out / "child_allowance_claim.html").write_text(child_allowance_html(), encoding="utf-8")
    print_html(out / "child_allowance_claim.html", out / "child_allowance_claim.pdf")
    for name in ("disaster_certificate.pdf", "child_allowance_claim.pdf"):
        print(out / name)


if __name__ == "__main__":
    main()
