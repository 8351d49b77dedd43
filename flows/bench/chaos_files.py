"""The files of the chaos run: good scans of the built-in forms (generated, with their truth), exact
copies of earlier ones, scans copied in slowly, and bad files — truncated scans, encrypted PDFs,
empty files, files of other types and huge images — each with a name that says what it is."""

from __future__ import annotations

import io
import json
import random
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from flows.bench.chaos_check import Dropped
from flows.pipeline import sha256_of

# Share of each kind. Good scans cost ~5 CPU-s each to read (three engines), a review run and, when
# answered, an entry run; bad files cost a Prefect run and milliseconds. 12% readable scans keep a
# run of 1,000 files well under an hour on 2 cores.
MIX = {"good": 0.08, "slow": 0.04, "duplicate": 0.10, "truncated": 0.15, "encrypted": 0.10, "empty": 0.08,
       "wrong_type": 0.40, "huge": 0.05}
FORMS = ("child_allowance", "long_term_care", "pregnancy_notification")  # the ones the entry bots know


@dataclass(frozen=True)
class Planned:
    dropped: Dropped
    source: Path  # the file to copy into the inbox
    truth: dict | None  # a good scan's true values, for the bench's reviewer


def counts(n: int) -> dict[str, int]:
    """How many files of each kind: at least one of each when there are enough, the rest by share."""
    base = dict.fromkeys(MIX, 1 if n >= len(MIX) else 0)
    rest = n - sum(base.values())
    exact = {k: rest * s for k, s in MIX.items()}
    out = {k: base[k] + int(v) for k, v in exact.items()}
    for k in sorted(MIX, key=lambda k: exact[k] - int(exact[k]), reverse=True)[: n - sum(out.values())]:
        out[k] += 1
    if not out["good"] and n:
        out["good"], out[max(out, key=out.get)] = 1, out[max(out, key=out.get)] - 1
    return out


def _scans(count: int, seed: int, folder: Path) -> list[tuple[Path, dict]]:
    """`count` generated scans of the three forms in turn (JPEG, a third of them PDF), with their truth."""
    from samples.generator.draw import generate
    from schemas.templates import load_templates

    templates = load_templates()
    per_form = -(-count // len(FORMS))
    paths = []
    for i, form in enumerate(FORMS):
        pdfs = per_form // 3
        paths += generate(templates[form], per_form - pdfs, seed + i, folder / "jpg", ("jpg",))
        paths += generate(templates[form], pdfs, seed + 10 + i, folder / "pdf", ("pdf",))
    random.Random(seed).shuffle(paths)
    out = []
    for p in paths[:count]:
        truth = json.loads(p.with_name(p.stem + ".truth.json").read_text(encoding="utf-8"))["fields"]
        out.append((p, truth))
    return out


def _png_header_bomb(width: int, height: int, note: bytes) -> bytes:
    """A PNG of a few hundred bytes that declares width x height pixels (a decompression bomb)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"tEXt", b"Comment\x00" + note)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 4096, 9)) + chunk(b"IEND", b""))


def _white_page(megapixels: int) -> bytes:
    """A real PNG of a white page larger than the pixel limit (compresses to ~150 KB)."""
    import cv2
    import numpy as np

    side = int((megapixels * 1e6) ** 0.5)
    ok, png = cv2.imencode(".png", np.full((side, side), 255, np.uint8))
    assert ok
    return png.tobytes()


def _wrong_type(i: int, samples: Path) -> tuple[str, bytes]:
    """A file that is not a scan: meeting notes, a CSV, a zip, a Word or Excel file, a web page."""
    note = f"chaos {i}".encode()
    which = i % 6
    if which == 0:
        return ".txt", "会議メモ: 窓口の混雑について\n".encode() + note
    if which == 1:
        return ".csv", "氏名,住所\n窓口 太郎,下松市\n".encode() + note
    if which == 2:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("readme.txt", note)
        return ".zip", buf.getvalue()
    if which == 3:
        return ".docx", (samples / "bad" / "wrong-type-meeting-notes.docx").read_bytes() + note
    if which == 4:
        return ".xlsx", (samples / "city_forms" / "disaster_certificate.xlsx").read_bytes() + note
    return ".html", b"<!doctype html><title>" + note + b"</title>"


def make(folder: Path, n: int, seed: int, samples: Path) -> list[Planned]:
    """The files, in the order they arrive (the first is a good scan; a copy always follows its original)."""
    rng = random.Random(seed)
    c = counts(n)
    others = [k for k, m in c.items() for _ in range(m - (k == "good"))]
    rng.shuffle(others)
    kinds = ["good", *others]
    scans = _scans(c["good"] + c["slow"], seed, folder / "generated")
    big = _white_page(120) if c["huge"] else b""  # over the 100-megapixel limit
    files = folder / "files"
    files.mkdir(parents=True, exist_ok=True)
    out: list[Planned] = []
    readable: list[Planned] = []  # earlier good scans, originals of the copies
    next_scan = 0
    for i, kind in enumerate(kinds):
        truth = None
        if kind in ("good", "slow"):
            src, truth = scans[next_scan]
            next_scan += 1
            name, data = f"{i:04d}-{kind}-{src.name}", src.read_bytes()
        elif kind == "duplicate":
            orig = rng.choice(readable)
            name, data, truth = f"{i:04d}-duplicate-of-{orig.dropped.name}", orig.source.read_bytes(), orig.truth
        elif kind == "truncated":
            src = scans[i % len(scans)][0]
            whole = src.read_bytes()
            name, data = f"{i:04d}-truncated-{src.name}", whole[: int(len(whole) * rng.uniform(0.2, 0.9))]
        elif kind == "encrypted":
            data = (samples / "bad" / "encrypted-password.pdf").read_bytes() + f"\n% chaos {i}\n".encode()
            name = f"{i:04d}-encrypted.pdf"
        elif kind == "empty":
            name, data = f"{i:04d}-empty{rng.choice(('.pdf', '.jpg', '.png', '.tif'))}", b""
        elif kind == "wrong_type":
            suffix, data = _wrong_type(i, samples)
            name = f"{i:04d}-wrong-type{suffix}"
        else:  # huge: a bomb declaring 100,000 x 100,000 pixels, or a real white page of 120 megapixels
            if i % 2:
                name, data = f"{i:04d}-huge-bomb.png", _png_header_bomb(100_000, 100_000, f"chaos {i}".encode())
            else:
                name, data = f"{i:04d}-huge-page.png", big + f"chaos {i}".encode()  # bytes after IEND: ignored
        path = files / name
        path.write_bytes(data)
        planned = Planned(Dropped(name, kind, sha256_of(path)), path, truth)
        out.append(planned)
        if kind in ("good", "slow"):
            readable.append(planned)
    return out
