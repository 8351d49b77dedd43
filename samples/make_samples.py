"""Rebuild the committed sample files: `python samples/make_samples.py` (from the repository root).

Good scans come from `samples.generator.draw.generate` with fixed seeds, renamed after the scenario they
exercise; bad files are built here. samples/README.md describes each.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pikepdf
from PIL import Image, ImageDraw, ImageFont

from ocr.render import PRINT_FONT
from samples.generator.draw import generate
from schemas.templates import load_templates

HERE = Path(__file__).parent
SEED = 20261127  # committed samples only; benchmarks and acceptance runs use other seeds

# (file stem, form, format, dpi, upside down)
SCANS = [
    ("child_allowance-300dpi", "child_allowance", "jpg", 300, False),
    ("child_allowance-200dpi-pdf", "child_allowance", "pdf", 200, False),
    ("pregnancy_notification-300dpi", "pregnancy_notification", "jpg", 300, False),
    ("pregnancy_notification-upside-down", "pregnancy_notification", "jpg", 250, True),
    ("long_term_care-tiff-200dpi", "long_term_care", "tif", 200, False),
    ("long_term_care-400dpi", "long_term_care", "jpg", 400, False),
]


def make_scans(out: Path) -> None:
    templates = load_templates()
    out.mkdir(parents=True, exist_ok=True)
    for i, (stem, form, fmt, dpi, flip) in enumerate(SCANS):
        with tempfile.TemporaryDirectory() as tmp:
            [path] = generate(templates[form], 1, SEED + i, Path(tmp), (fmt,), dpi=dpi,
                              upside_down_rate=1.0 if flip else 0.0)
            if fmt == "tif":  # compressed, to keep the repository small
                with Image.open(path) as im:
                    im.save(out / f"{stem}.tif", compression="tiff_deflate", dpi=im.info.get("dpi", (dpi, dpi)))
            else:
                shutil.copy(path, out / f"{stem}{path.suffix}")
            shutil.copy(path.with_name(path.stem + ".truth.json"), out / f"{stem}.truth.json")


def make_bad(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    (out / "empty-zero-bytes.pdf").write_bytes(b"")
    good = next((HERE / "scans").glob("*.pdf")).read_bytes()
    (out / "truncated-transfer.pdf").write_bytes(good[: len(good) // 3])
    with pikepdf.open(HERE / "scans" / "child_allowance-200dpi-pdf.pdf") as pdf:
        pdf.save(out / "encrypted-password.pdf", encryption=pikepdf.Encryption(owner="owner", user="secret"))
    Image.new("L", (1654, 2339), 250).save(out / "blank-page.png", dpi=(200, 200))
    font = ImageFont.truetype(str(PRINT_FONT), 60)
    other = Image.new("L", (1654, 2339), 255)
    d = ImageDraw.Draw(other)
    d.text((300, 150), "住民票の写し等交付請求書", font=font, fill=0)
    for k in range(12):
        d.rectangle([120, 350 + k * 150, 1530, 480 + k * 150], outline=0, width=3)
        d.text((150, 390 + k * 150), ["請求者", "住所", "必要な方", "使いみち"][k % 4], font=font, fill=0)
    other.save(out / "wrong-form-not-ours.png", dpi=(200, 200))
    photo = rng.normal(128, 40, (900, 1200, 3)).clip(0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:900, 0:1200]
    photo[((yy - 450) ** 2 + (xx - 600) ** 2) < 250**2] = (40, 120, 200)
    Image.fromarray(photo).save(out / "photo-not-a-form.jpg", quality=85)
    (out / "wrong-type-meeting-notes.docx").write_bytes(b"PK\x03\x04 not a scan, a word-processor file")


if __name__ == "__main__":
    make_scans(HERE / "scans")
    make_bad(HERE / "bad")
