"""Hostile files through the loaders: mutated real samples each load or are refused with a
MadoguchiError (quarantined with a reason), and the fuzz itself would see a crash or a stall.
`make fuzz` runs 10,000; the test suite runs 300 of the small seeds."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from flows.bench.fuzz import FUZZ_SEED, inputs, real_seeds, run, small_seeds
from ocr.errors import CorruptFileError
from ocr.pages import Limits
from tests.conftest import SAMPLES


def test_300_mutated_samples_each_load_or_are_quarantined_with_a_reason(tmp_path: Path) -> None:
    """GIVEN small copies of the bundled scans in every format (PNG modes, JPEG plain, progressive and
    CMYK, TIFF with odd frames, a two-page PDF) and the small bad samples, each mutated 300 times
    (bit flips, truncation, chunks duplicated and deleted, swapped headers, splices, huge declared sizes)
    WHEN each is loaded in the fuzz's loader process
    THEN none crashes or stalls: every one loads or is refused with a reason code, and both happen."""
    bad = [s for s in real_seeds(SAMPLES) if s.name.startswith("bad/") and len(s.data) < 100_000]
    t0 = time.perf_counter()
    report = run(small_seeds(SAMPLES) + bad, 300, tmp_path / "fuzz", seed=FUZZ_SEED)
    assert report["failures"] == [] and report["crashes"] == 0 and report["stalls"] == 0
    assert report["loaded"] + report["quarantined"] == 300
    assert report["loaded"] >= 20
    codes = set(report["quarantined_by_reason"])
    assert {"corrupt_file", "page_too_large", "unsupported_file", "empty_file"} <= codes
    assert time.perf_counter() - t0 < 45


def test_the_same_seed_gives_the_same_inputs() -> None:
    """GIVEN the fuzz seed WHEN inputs are made twice THEN byte for byte the same (a failure can be rerun)."""
    corpus = small_seeds(SAMPLES)
    digest = lambda: [hashlib.sha256(d).hexdigest() for _, _, _, d in inputs(corpus, 50)]  # noqa: E731
    assert digest() == digest()


def faulty_loader(path: str, **limits) -> list:
    """A loader with faults injected, chosen by the input's hash: it hangs, dies, raises what no loader
    may raise, refuses, or loads."""
    kind = int(hashlib.sha256(Path(path).read_bytes()).hexdigest(), 16) % 10
    if kind == 0:
        time.sleep(60)
    if kind == 1:
        os._exit(3)  # a decoder's segfault, as far as the parent can tell
    if kind == 2:
        raise RuntimeError("injected")
    if kind == 3:
        raise CorruptFileError("injected", source=path)
    return []


def test_the_fuzz_counts_crashes_and_stalls_and_goes_on(tmp_path: Path) -> None:
    """GIVEN a loader that sometimes hangs, dies or raises a RuntimeError (injected faults)
    WHEN 16 inputs are fuzzed with a 2 s stall limit
    THEN each hang is a stall, each death and RuntimeError a crash, every input is counted, the run
    goes on in a fresh loader process, and each failing input is kept to reproduce it."""
    report = run(small_seeds(SAMPLES), 16, tmp_path / "fuzz", loader=faulty_loader, stall_s=2.0,
                 limits=Limits(timeout_s=1.0))
    assert report["stalls"] >= 1 and report["crashes"] >= 2
    assert report["loaded"] + report["quarantined"] + report["crashes"] + report["stalls"] == 16
    kinds = {f["error"] for f in report["failures"]}
    assert "RuntimeError" in kinds and any(k.startswith("process died (exit 3)") for k in kinds)
    assert all(Path(f["input"]).is_file() for f in report["failures"])
    assert report["loader_processes"] >= 1 + report["stalls"]
