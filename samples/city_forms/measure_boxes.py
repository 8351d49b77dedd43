"""Measure the writing areas of the city's blank forms into boxes.md (run after make_blanks.py).

    .venv/bin/python samples/city_forms/measure_boxes.py [--folder samples/city_forms]

Each page is rendered at 300 dpi by pdftoppm; every region enclosed by printed lines (a table cell,
a character box, a tick square, the inside of a printed □) is found with OpenCV as a hole in the
ink. A row is found by its printed label (the PDF's text, read with pypdfium2): the label's cell
gives the row's height, and the boxes right of it are that row's. A date part is the blank between
the printed characters before 年, 月 and 日 (their glyph boxes from the PDF's text).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pypdfium2

DPI = 300
PX_PER_MM = DPI / 25.4
MM_PER_PT = 25.4 / 72


@dataclass(frozen=True)
class Rect:
    """mm from the top-left of the page."""

    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def contains(self, x: float, y: float) -> bool:
        return self.x <= x <= self.right and self.y <= y <= self.bottom

    def __str__(self) -> str:
        return f"[{self.x:.1f}, {self.y:.1f}, {self.w:.1f}, {self.h:.1f}]"


# What to measure, per PDF and page: (field, label printed in its row, kind, details).
# kinds: area (the n-th cell right of the label, top to bottom then left to right; cut: the printed
# character that ends the writing area), cells / phone / ticks (that many boxes, left to right,
# named), date (the era words printed, then the blanks before 年 月 日), below (the cell under the label's)
SPECS: dict[str, dict[int, list[tuple]]] = {
    "disaster_certificate.pdf": {1: [
        ("receipt_stamp", "受付印", "below", {}),
        ("application_date", "申請日", "date", {"eras": ["令和"]}),
        ("postal_code", "住所", "cells", {"names": [f"digit {i}" for i in range(1, 8)]}),
        ("address", "住所", "area", {"pick": -1}),
        ("furigana", "フリガナ", "area", {}),
        ("name", "氏名", "area", {"cut": "印"}),
        ("phone", "電話番号", "phone", {"names": ["area code", "local", "number"]}),
        ("disaster_date", "被災日", "date", {"eras": ["令和"]}),
        ("disaster_place", "被災場所", "area", {}),
        ("damage_kind", "被害の種類", "ticks", {"names": ["火災", "風水害", "地震", "その他"]}),
        ("copies", "必要枚数", "cells", {"names": ["digit 1", "digit 2"]}),
    ]},
    "child_allowance_claim.pdf": {
        1: [
            ("claim_date", "請求日", "date", {"eras": ["令和"]}),
            ("furigana", "フリガナ", "area", {}),
            ("name", "氏名", "area", {}),
            ("birth_date", "生年月日", "date", {"eras": ["昭和", "平成"]}),
            ("postal_code", "住所", "cells", {"names": [f"digit {i}" for i in range(1, 8)]}),
            ("address", "住所", "area", {"pick": -1}),
            ("phone", "電話番号", "phone", {"names": ["area code", "local", "number"]}),
            ("occupation", "職業", "ticks", {"names": ["会社員", "公務員", "自営業", "その他"]}),
        ],
        2: [
            ("child_name", "児童氏名", "area", {}),
            ("child_birth_date", "生年月日", "date", {"eras": ["平成", "令和"]}),
            ("relationship", "続柄", "area", {}),
            ("bank_code", "金融機関コード", "cells", {"names": [f"digit {i}" for i in range(1, 5)]}),
            ("branch_code", "支店コード", "cells", {"names": [f"digit {i}" for i in range(1, 4)]}),
            ("account_number", "口座番号", "cells", {"names": [f"digit {i}" for i in range(1, 8)]}),
            ("account_type", "預金種別", "ticks", {"names": ["普通", "当座"]}),
            ("account_holder_kana", "口座名義（カナ）", "area", {}),
            ("receipt_stamp", "受付印", "below", {}),
        ],
    },
}
SIZES = {"cells": (6, 12), "phone": (6, 40), "ticks": (2.5, 6)}  # mm, shortest and longest side of such a box


class Page:
    """A rendered page: its enclosed regions and its printed characters, in mm."""

    def __init__(self, pdf: Path, index: int, png: Path) -> None:
        gray = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
        self.size = (gray.shape[1] / PX_PER_MM, gray.shape[0] / PX_PER_MM)
        ink = (gray < 128).astype(np.uint8)
        contours, hierarchy = cv2.findContours(ink, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
        self.holes: list[Rect] = []
        for contour, (_, _, _, parent) in zip(contours, hierarchy[0]):
            x, y, w, h = cv2.boundingRect(contour)
            # a hole's contour runs over the ink around it: its inside starts one px further in
            if parent < 0 or w < 8 or h < 8 or cv2.contourArea(contour) < 0.9 * w * h:
                continue
            self.holes.append(Rect((x + 1) / PX_PER_MM, (y + 1) / PX_PER_MM, (w - 2) / PX_PER_MM, (h - 2) / PX_PER_MM))
        page = pypdfium2.PdfDocument(str(pdf))[index]
        text = page.get_textpage()
        height_pt = page.get_height()
        self.chars: list[tuple[str, Rect]] = []
        for i in range(text.count_chars()):
            ch = text.get_text_range(i, 1)
            if not ch.strip():
                continue
            left, bottom, right, top = text.get_charbox(i)
            self.chars.append((ch, Rect(left * MM_PER_PT, (height_pt - top) * MM_PER_PT,
                                        (right - left) * MM_PER_PT, (top - bottom) * MM_PER_PT)))

    def find_text(self, words: str, within: Rect | None = None) -> Rect:
        """The printed words' glyph box (the first occurrence, inside within if given)."""
        chars = [(c, r) for c, r in self.chars if within is None or within.contains(r.x + r.w / 2, r.y + r.h / 2)]
        text = "".join(c for c, _ in chars)
        at = text.find(words)
        if at < 0:
            raise ValueError(f"「{words}」 is not printed here")
        boxes = [r for _, r in chars[at : at + len(words)]]
        x, y = min(b.x for b in boxes), min(b.y for b in boxes)
        return Rect(x, y, max(b.right for b in boxes) - x, max(b.bottom for b in boxes) - y)

    def cell_of(self, r: Rect) -> Rect:
        """The smallest enclosed region around r's centre."""
        around = [h for h in self.holes if h.contains(r.x + r.w / 2, r.y + r.h / 2)]
        return min(around, key=lambda h: h.w * h.h)

    def right_of(self, cell: Rect, lo: float = 0, hi: float = 1e9) -> list[Rect]:
        """Regions right of cell within its rows, whose sides are between lo and hi mm; top to bottom, left to right."""
        found = [h for h in self.holes if h.x > cell.right - 1 and h.y >= cell.y - 1 and h.bottom <= cell.bottom + 1
                 and lo <= min(h.w, h.h) and max(h.w, h.h) <= hi]
        return sorted(found, key=lambda h: (round(h.y), h.x))


def measure(page: Page, field: str, label: str, kind: str, details: dict) -> list[tuple[str, str, Rect]]:
    """(field, part, rect) of one row of the form."""
    cell = page.cell_of(page.find_text(label))
    if kind == "below":
        under = [h for h in page.holes if abs(h.y - cell.bottom) < 1.5 and abs(h.x - cell.x) < 1.5]
        return [(field, "stamp area", min(under, key=lambda h: h.y))]
    if kind in SIZES:
        boxes = sorted(page.right_of(cell, *SIZES[kind]), key=lambda h: h.x)
        names = details["names"]
        if len(boxes) != len(names):
            raise ValueError(f"{field}: {len(boxes)} boxes beside 「{label}」, expected {len(names)}")
        return [(field, name, b) for name, b in zip(names, boxes)]
    areas = page.right_of(cell, lo=5)
    area = areas[details.get("pick", 0)]
    if kind == "area":
        if cut := details.get("cut"):
            mark = page.find_text(cut, within=area)
            area = Rect(area.x, area.y, mark.x - 2 - area.x, area.h)
        return [(field, "writing area", area)]
    # a date: the era words, then the blank before each of 年 月 日 across the cell's height
    rows = [(field, f"era {era}", page.find_text(era, within=area)) for era in details["eras"]]
    inside = sorted(((c, r) for c, r in page.chars if area.contains(r.x + r.w / 2, r.y + r.h / 2)), key=lambda cr: cr[1].x)
    text = "".join(c for c, _ in inside)
    for unit in "年月日":
        i = text.index(unit)
        start, end = inside[i - 1][1].right + 0.5, inside[i][1].x - 0.5  # mm clear of the printed glyphs
        rows.append((field, f"before {unit}", Rect(start, area.y, end - start, area.h)))
    rows.append((field, "whole cell", area))
    return rows


def measure_pdf(pdf: Path) -> dict[int, list[tuple[str, str, Rect]]]:
    """Every page of pdf named in SPECS, measured."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["pdftoppm", "-r", str(DPI), "-png", str(pdf), f"{tmp}/p"], check=True)
        pngs = sorted(Path(tmp).glob("p-*.png"))
        for number, rows in SPECS[pdf.name].items():
            page = Page(pdf, number - 1, pngs[number - 1])
            out[number] = [m for spec in rows for m in measure(page, *spec)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path("samples/city_forms"))
    folder = parser.parse_args().folder
    lines = ["# Writing areas of the city's blank forms, measured", "",
             "Measured by `measure_boxes.py` on a 300 dpi render of each committed PDF: [x, y, w, h] in mm",
             "from the top-left corner of the A4 page, the white inside the printed lines (a printed line is",
             "0.25-0.6 mm wide and not included). A date part is the blank between the printed characters",
             "before 年, 月 or 日, the cell's full height; an era is the printed word's glyph box, to be circled.",
             "Tick squares of the spreadsheet form are the printed glyph □ (its inside).", ""]
    for name in SPECS:
        for number, rows in measure_pdf(folder / name).items():
            lines += [f"## {name}, page {number}", "", "| field | part | [x, y, w, h] mm |", "|---|---|---|"]
            lines += [f"| {field} | {part} | {rect} |" for field, part, rect in rows]
            lines.append("")
    (folder / "boxes.md").write_text("\n".join(lines), encoding="utf-8")
    print(folder / "boxes.md")


if __name__ == "__main__":
    main()
