"""The city's 罹災証明書交付申請書 as tests draw it: its blank in the city's own style (not drawn by
ocr.render), the fields as measured on the printed copy, and a filled, scanned copy of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ocr.render import PRINT_FONT, load_font, mm_to_px
from samples.generator.draw import ScanParams, apply_scan, draw_filled

DPI = 200
# 罹災証明書交付申請書 as a city lays it out: a ruled table with its own labels, a 受付印 box, a
# notice at the foot, no corner marks; the boxes measured in mm on the printed copy
FIELDS = [
    {"name": "name", "label": "氏名", "kind": "name_kanji", "box": [55, 62, 120, 14], "required": True},
    # 〒 3 boxes, a printed hyphen, 4 boxes: not evenly spaced across the box
    {"name": "postal_code", "label": "郵便番号", "kind": "postal_code", "box": [55, 84, 76, 12],
     "cells": [[55 + 9 * i, 84, 9, 12] for i in range(3)] + [[95 + 9 * i, 84, 9, 12] for i in range(4)],
     "required": True, "validators": ["postal_code_exists"]},
    {"name": "phone", "label": "電話番号", "kind": "phone", "box": [55, 104, 90, 12], "required": True},
]


def city_blank(path: Path) -> Path:
    """The blank as the city prints it, drawn here in its own style (not by ocr.render)."""
    w, h = round(mm_to_px(210, DPI)), round(mm_to_px(297, DPI))
    img = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(img)
    px = lambda mm: round(mm_to_px(mm, DPI))  # noqa: E731
    d.text((px(52), px(22)), "罹災証明書交付申請書", font=load_font(str(PRINT_FONT), px(8)), fill=0)
    d.text((px(20), px(38)), "下松市長　様", font=load_font(str(PRINT_FONT), px(4.5)), fill=0)
    d.rectangle([px(160), px(30), px(190), px(55)], outline=0, width=px(0.3))
    d.text((px(167), px(32)), "受付印", font=load_font(str(PRINT_FONT), px(3.5)), fill=0)
    d.rectangle([px(18), px(58), px(192), px(122)], outline=0, width=px(0.6))  # the table
    for y in (80, 100):
        d.line([px(18), px(y), px(192), px(y)], fill=0, width=px(0.3))
    d.line([px(50), px(58), px(50), px(122)], fill=0, width=px(0.3))  # label column
    for f in FIELDS:
        x, y, bw, bh = f["box"]
        d.text((px(22), px(y + bh / 2 - 2.5)), f["label"], font=load_font(str(PRINT_FONT), px(4.5)), fill=0)
        if "cells" in f:  # boxes of their own, a printed hyphen between the groups
            for cx, cy, cw, ch in f["cells"]:
                d.rectangle([px(cx), px(cy), px(cx + cw), px(cy + ch)], outline=0, width=px(0.25))
            d.line([px(85), px(y + bh / 2), px(92), px(y + bh / 2)], fill=0, width=px(0.5))
            continue
        d.rectangle([px(x), px(y), px(x + bw), px(y + bh)], outline=0, width=px(0.25))
    for i, line in enumerate(["※ 被災した建物の写真を添付してください。", "※ 代理人が申請する場合は委任状が必要です。"]):
        d.text((px(20), px(250 + 7 * i)), line, font=load_font(str(PRINT_FONT), px(3.8)), fill=0)
    img.save(path, dpi=(DPI, DPI))
    return path


def scan(template, folder: Path, seed: int) -> tuple[Path, dict]:
    """A copy filled by hand (drawn where `template` puts the fields) and scanned tilted and shifted;
    the file and the values written."""
    values = {"name": "浜田 謙", "postal_code": "744-0025", "phone": "0833-41-1234"}
    page = draw_filled(template, values, np.random.default_rng(seed))
    params = ScanParams(dpi_out=300, angle=1.2, shift_mm=(2.5, -1.5), corners=((0.0, 0.0),) * 4, blur=0.8, paper=226,
                        black=22, shading=0.02, noise=3.0, jpeg_quality=80, upside_down=False, seed=seed)
    path = folder / f"disaster-{seed}.jpg"
    Image.fromarray(apply_scan(page, params)).save(path, quality=80, dpi=(300, 300))
    return path, values
