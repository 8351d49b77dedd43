"""`madoguchi bench-fuzz`: mutated real samples through the loaders, the way a hostile or broken
scan reaches a worker. Each input must load or be refused with a MadoguchiError (quarantined with
a reason); anything else is a crash, and so is a loader process that dies (a decoder's segfault) or
does not answer in time (a stall). The loaders run in a child process so that one such input is
counted and the run goes on in a fresh child.

The seeds are the bundled scans and bad samples (samples/scans, samples/bad) and small copies of
the scans in every format we read (PNG in several modes, JPEG plain, progressive and CMYK, TIFF
with odd frames, a two-page PDF), so most inputs take milliseconds. Each input is a seed with one
to three mutations: bit flips, interesting bytes, truncation, a chunk duplicated or deleted,
another file's header, a splice of two files, or a huge (or zero) declared size in the format's
own header (PNG IHDR with its CRC, JPEG SOF, TIFF tags, PDF MediaBox). Fixed seed: the same
inputs every run.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import random
import re
import resource
import struct
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from ocr.errors import MadoguchiError
from ocr.pages import Limits, load_pages

FUZZ_SEED = 20261201
INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF)
HUGE = (0, 1, 2, 255, 9_000, 12_000, 20_000, 65_535, 65_536, 100_000, 2**31 - 1, 2**32 - 1)  # 12,000^2: ours, not Pillow's


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes


def real_seeds(samples: Path) -> list[Seed]:
    """The bundled scans and bad samples, as they are."""
    files = sorted((samples / "scans").glob("*")) + sorted((samples / "bad").glob("*"))
    return [Seed(f"{p.parent.name}/{p.name}", p.read_bytes()) for p in files if p.suffix != ".json"]


def small_seeds(samples: Path) -> list[Seed]:
    """Small copies (1/6 size) of two scans in every format and mode the loaders meet."""
    with Image.open(samples / "scans" / "child_allowance-300dpi.jpg") as img:
        page = img.convert("RGB").reduce(6)
    with Image.open(samples / "scans" / "long_term_care-tiff-200dpi.tif") as img:
        other = img.convert("L").reduce(4)
    other.info.clear()  # the TIFF's compression would follow its copies into every other format

    def save(img: Image.Image, fmt: str, **kw) -> bytes:
        buf = io.BytesIO()
        img.copy().save(buf, fmt, **kw)  # a save leaves its encoder's settings on the image it saved
        return buf.getvalue()

    g16 = Image.fromarray((np.asarray(page.convert("L"), np.uint16) * 257))
    frames = [page.convert("1"), g16, page, other.convert("P"), page.convert("CMYK")]
    return [
        Seed("small/rgb.png", save(page, "PNG", dpi=(50, 50))),
        Seed("small/palette-transparent.png", save(page.convert("P"), "PNG", transparency=0)),
        Seed("small/gray16.png", save(g16, "PNG")),
        Seed("small/la.png", save(page.convert("LA"), "PNG")),
        Seed("small/plain.jpg", save(page, "JPEG", quality=80, dpi=(50, 50))),
        Seed("small/progressive.jpg", save(page, "JPEG", progressive=True, quality=60)),
        Seed("small/cmyk.jpg", save(page.convert("CMYK"), "JPEG")),
        Seed("small/exif-rotated.jpg", save(page, "JPEG", exif=_exif_orientation(6))),
        Seed("small/deflate.tif", save(other, "TIFF", compression="tiff_deflate", dpi=(50, 50))),
        Seed("small/group4.tif", save(other.convert("1"), "TIFF", compression="group4")),
        Seed("small/odd-frames.tif", save(frames[0], "TIFF", save_all=True, append_images=frames[1:])),
        Seed("small/lzw-big-endian.tif", save(page, "TIFF", compression="tiff_lzw", tiffinfo={})),
        Seed("small/two-pages.pdf", save(page, "PDF", resolution=50.0, save_all=True, append_images=[other])),
    ]


def _exif_orientation(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif


# --- mutations ---------------------------------------------------------------------------------


def _bit_flip(data: bytes, rng: random.Random, corpus: list[Seed]) -> bytes:
    out = bytearray(data)
    head = min(len(out), 2048)  # half the flips in the headers, where a flip changes most
    for _ in range(rng.randint(1, 16)):
        i = rng.randrange(head) if rng.random() < 0.5 else rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def _byte_set(data: bytes, rng: random.Random, corpus: list[Seed]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(min(len(out), 4096) if rng.random() < 0.5 else len(out))] = rng.choice(INTERESTING)
    return bytes(out)


def _truncate(data: bytes, rng: random.Random, corpus: list[Seed]) -> bytes:
    return data[: rng.choice((0, 1, 8, rng.randrange(len(data)), rng.randrange(min(len(data), 4096))))]


def _duplicate_chunk(data: bytes, rng: random.Random, corpus: list[Seed]) -> bytes:
    start = rng.randrange(len(data))
    chunk = data[start : start + rng.randint(1, 4096)]
    at = rng.randrange(len(data))
    return data[:at] + chunk * rng.choice((1, 2, 16)) + data[at:]


def _delete_chunk(data: bytes, rng: random.Random, corpus: list[Seed]) -> bytes:
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 4096) :]


def _swap_header(data: bytes, rng: random.Random, corpus: list[Seed]) -> bytes:
    other = rng.choice([s.data for s in corpus if s.data])
    n = rng.choice((2, 4, 8, 16, 64, 512))
    return other[:n] + data[n:]


def _splice(data: bytes, rng: random.Random, corpus: list[Seed]) -> bytes:
    other = rng.choice([s.data for s in corpus if s.data])
    return data[: rng.randrange(len(data))] + other[rng.randrange(len(other)) :]


def _huge_size(data: bytes, rng: random.Random, corpus: list[Seed]) -> bytes:
    """A declared size in the format's own header set to something huge, zero or odd."""
    w, h = rng.choice(HUGE), rng.choice(HUGE)
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        body = struct.pack(">II", w, h) + data[24:29]
        return data[:16] + body + struct.pack(">I", zlib.crc32(b"IHDR" + body)) + data[33:]
    if data.startswith(b"\xff\xd8"):
        sof = re.search(rb"\xff[\xc0-\xc2]", data)
        if sof:
            i = sof.start() + 5
            return data[:i] + struct.pack(">HH", h & 0xFFFF, w & 0xFFFF) + data[i + 4 :]
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_size(data, w, h)
    if b"/MediaBox" in data:
        box = f"/MediaBox [0 0 {w * rng.choice((1, 0.01, -1))} {h}]".encode()
        return re.sub(rb"/MediaBox\s*\[[^\]]*\]", box, data, count=rng.choice((0, 1)))
    return _bit_flip(data, rng, corpus)


def _tiff_size(data: bytes, w: int, h: int) -> bytes:
    """ImageWidth and ImageLength of the first IFD set to w and h (LONG when they do not fit a SHORT)."""
    e = "<" if data[:2] == b"II" else ">"
    out = bytearray(data)
    try:
        ifd = struct.unpack_from(e + "I", data, 4)[0]
        (count,) = struct.unpack_from(e + "H", data, ifd)
        for k in range(count):
            at = ifd + 2 + 12 * k
            tag, _typ, _n = struct.unpack_from(e + "HHI", data, at)
            if tag in (256, 257):
                struct.pack_into(e + "HHII", out, at, tag, 4, 1, w if tag == 256 else h)
    except struct.error:
        pass
    return bytes(out)


MUTATIONS: dict[str, Callable[[bytes, random.Random, list[Seed]], bytes]] = {
    "bit_flip": _bit_flip, "byte_set": _byte_set, "truncate": _truncate, "duplicate_chunk": _duplicate_chunk,
    "delete_chunk": _delete_chunk, "swap_header": _swap_header, "splice": _splice, "huge_size": _huge_size,
}


def mutate(data: bytes, rng: random.Random, corpus: list[Seed]) -> tuple[list[str], bytes]:
    """One to three mutations of `data`: their names and the result."""
    names = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        if not data:
            break
        name = rng.choice(list(MUTATIONS))
        data = MUTATIONS[name](data, rng, corpus)
        names.append(name)
    return names, data


def inputs(corpus: list[Seed], count: int, seed: int = FUZZ_SEED) -> Iterable[tuple[int, str, list[str], bytes]]:
    """(index, seed file, mutations, bytes), the same for the same seed."""
    rng = random.Random(seed)
    for i in range(count):
        s = rng.choice(corpus)
        names, data = mutate(s.data, rng, corpus)
        yield i, s.name, names, data


# --- running them ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _templates() -> dict:
    from schemas.templates import load_templates

    return load_templates()


def load_and_register(path: str, *, reference_dpi: int = 100, **load) -> list:
    """What a worker does with a scan before the engines read it: load, identify and register the
    first page, flatten it. Registration's refusals (blank page, unknown form) are MadoguchiErrors too."""
    from ocr.fields import FLAT_DPI, flatten
    from ocr.registration import identify_and_register

    pages = load_pages(path, **load)
    reg = identify_and_register(pages[0], _templates(), reference_dpi=reference_dpi)
    flatten(pages[0], reg, dpi=FLAT_DPI)
    return pages



def _child(conn, log: str, loader: Callable, pdf_dpi: int, limits: Limits) -> None:
    """Load every path sent until None; answer (outcome, code or exception type, detail, seconds).
    What the decoders print (libtiff's complaints, Pillow's warnings) goes to `log`."""
    os.dup2(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), 2)
    while (path := conn.recv()) is not None:
        t0 = time.perf_counter()
        try:
            pages = loader(path, pdf_dpi=pdf_dpi, max_pages=limits.max_pages, max_pixels=limits.max_pixels,
                           max_file_pixels=limits.max_file_pixels, timeout_s=limits.timeout_s)
            out = ("loaded", str(len(pages)), "")
        except MadoguchiError as exc:
            out = ("refused", exc.code, type(exc.__cause__).__name__ if exc.__cause__ else "")
        except Exception as exc:  # noqa: BLE001 - what the fuzz is looking for: report it and go on
            out = ("crash", type(exc).__name__, traceback.format_exc()[-1500:])
        conn.send((*out, time.perf_counter() - t0))


class _Worker:
    """One child process loading inputs; replaced when it dies or hangs."""

    def __init__(self, log: Path, loader: Callable, pdf_dpi: int, limits: Limits):
        self.args = (str(log), loader, pdf_dpi, limits)
        self.ctx = mp.get_context("spawn")  # never fork a process that may hold threads (Prefect, engines)
        self.proc = None
        self.started = 0

    def load(self, path: Path, wait_s: float) -> tuple[str, str, str, float]:
        if self.proc is None or not self.proc.is_alive():
            self.conn, child = self.ctx.Pipe()
            self.proc = self.ctx.Process(target=_child, args=(child, *self.args), daemon=True)
            self.proc.start()
            child.close()  # the child's end lives in the child only: its death is then an EOF here
            self.started += 1
        t0 = time.perf_counter()
        self.conn.send(str(path))
        if not self.conn.poll(wait_s):
            self.proc.kill()
            self.proc.join()
            return "stall", "no answer", f"killed after {wait_s:.0f} s", time.perf_counter() - t0
        try:
            return self.conn.recv()
        except EOFError:
            self.proc.join()
            return "crash", f"process died (exit {self.proc.exitcode})", "", time.perf_counter() - t0

    def close(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.conn.send(None)
            self.proc.join(10)


def run(corpus: list[Seed], count: int, work: Path, *, seed: int = FUZZ_SEED, pdf_dpi: int = 300,
        limits: Limits = Limits(), loader: Callable = load_pages, stall_s: float | None = None,
        progress: Callable[[Iterable], Iterable] = lambda xs: xs) -> dict:
    """Load `count` mutated inputs; every crash or stall is kept in work/failures/ to reproduce.
    An input is a stall when no answer comes in `stall_s` (default: the loaders' own deadline + 60 s).

    Returns: inputs, loaded, refused (by reason code), causes (code: the exception underneath),
    crashes and stalls (each with its input), the slowest input, mutations used, seconds, the
    child's peak memory. What the decoders print goes to work/loader-stderr.log.
    """
    work.mkdir(parents=True, exist_ok=True)
    failures = work / "failures"
    worker = _Worker(work / "loader-stderr.log", loader, pdf_dpi, limits)
    wait_s = limits.timeout_s + 60 if stall_s is None else stall_s
    tally: Counter = Counter()
    refused: Counter = Counter()
    causes: Counter = Counter()
    used: Counter = Counter()
    bad: list[dict] = []
    slowest = {"seconds": 0.0}
    t0 = time.perf_counter()
    current = work / "input"
    try:
        for i, source, names, data in progress(inputs(corpus, count, seed)):
            current.write_bytes(data)
            outcome, code, detail, seconds = worker.load(current, wait_s)
            tally[outcome] += 1
            used.update(names)
            case = {"index": i, "seed": source, "mutations": names, "bytes": len(data)}
            if outcome == "refused":
                refused[code] += 1
                if detail:
                    causes[f"{code}: {detail}"] += 1
            elif outcome in ("crash", "stall"):
                failures.mkdir(exist_ok=True)
                kept = failures / f"{i:05d}-{outcome}.bin"
                kept.write_bytes(data)
                bad.append({**case, "outcome": outcome, "error": code, "detail": detail, "input": str(kept)})
            if seconds > slowest["seconds"]:
                slowest = {**case, "seconds": round(seconds, 3), "outcome": outcome, "code": code}
    finally:
        worker.close()
    return {
        "inputs": count, "seed": seed, "seeds": len(corpus), "loaded": tally["loaded"],
        "quarantined": tally["refused"], "quarantined_by_reason": dict(refused.most_common()),
        "causes": dict(causes.most_common()), "crashes": tally["crash"], "stalls": tally["stall"],
        "failures": bad, "slowest": slowest, "mutations": dict(used.most_common()),
        "seconds": round(time.perf_counter() - t0, 1), "loader_processes": worker.started,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


def markdown(report: dict) -> str:
    """The report as a short Markdown table for the terminal."""
    lines = ["| | |", "|---|---|",
             f"| inputs | {report['inputs']} (seed {report['seed']}, {report['seeds']} seed files) |",
             f"| loaded | {report['loaded']} |", f"| quarantined | {report['quarantined']} |"]
    lines += [f"| &nbsp; {code} | {n} |" for code, n in report["quarantined_by_reason"].items()]
    s = report["slowest"]
    lines += [f"| crashes (any other exception, or the process died) | {report['crashes']} |",
              f"| stalls (no answer in the loaders' timeout + 60 s) | {report['stalls']} |",
              f"| slowest input | {s['seconds']} s (#{s.get('index')}, {s.get('seed')}, "
              f"{'+'.join(s.get('mutations', []))}: {s.get('outcome')} {s.get('code')}) |",
              f"| wall time | {report['seconds']} s |", f"| loader process peak memory | {report['peak_rss_mb']} MB |"]
    return "\n".join(lines)
