"""`madoguchi bench`: generated documents of every form, the same forms written with real
handwritten digits and red seals, and real digits alone, read once, decided with each line engine
alone, both line engines (the rule before the digit reader) and all readers combined, in one run;
results.json, results.md, curves PNG.

Seeds: EVAL_SEED is only ever reported; thresholds are chosen on TUNING_SEEDS (see settings.py).
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import subprocess
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

from flows.bench.digits import curve, measure
from flows.bench.evaluate import EVAL_SEED, TUNING_SEEDS, Tally, same, variants
from flows.pipeline import Reader, Timer, sha256_of
from ocr.decide import TICK_KINDS, decide_fields
from ocr.errors import MadoguchiError
from ocr.validate import Context
from samples.generator.draw import SPACING, generate
from samples.generator.hand import DigitHand
from schemas.results import DocumentResult, DocumentStatus

TODAY = date(2026, 11, 27)  # the generator dates applications in the 60 days before this
SEAL_RATE = 0.3  # share of the real-digit documents with a red seal pressed over the name
DIGIT_KINDS = {"digits", "postal_code", "amount", "wareki_date", "phone"}  # the "digit-kind fields"


def _generate(reader: Reader, forms: list[str], docs: int, seed: int, folder: Path, **hand) -> list[Path]:
    paths: list[Path] = []
    for form_id in forms:
        paths += generate(reader.templates[form_id], docs, seed, folder, ("jpg",), **hand)
    return paths


def _decide_variants(reader: Reader, raws, engines: list[str], *, open_thresholds: bool) -> dict[str, dict]:
    """Each variant's decisions: with the configured thresholds, or with none (for the curves,
    which apply thresholds afterwards). One engine alone is allowed to accept here."""
    cfg = reader.settings.decision
    update = {"min_readers": 1}
    if open_thresholds:
        update["thresholds"] = dict.fromkeys(cfg.thresholds, 0.0)
        update["vote_thresholds"] = dict.fromkeys(cfg.vote_thresholds, 0.0)
    cfg = cfg.model_copy(update=update)
    ctx = Context(today=TODAY, values={})
    out = {}
    for variant, names in variants(engines).items():
        sub = [replace(r, texts={n: t for n, t in r.texts.items() if n in names}) for r in raws]
        out[variant] = decide_fields(sub, cfg, ctx)
    return out


REVIEW_SECONDS_PER_FIELD = 8  # the ledger's assumption: look at the image, confirm or correct one field


def review_load(counts: list[int]) -> dict:
    """What reviewers would do: fields per document sent to them, documents with any, time."""
    n = max(len(counts), 1)
    return {
        "fields_per_document": round(sum(counts) / n, 2),
        "documents_with_review": round(sum(c > 0 for c in counts) / n, 4),
        "max_fields_in_a_document": max(counts, default=0),
        "reviewer_seconds_per_document": round(REVIEW_SECONDS_PER_FIELD * sum(counts) / n, 1),
        "assumed_seconds_per_field": REVIEW_SECONDS_PER_FIELD,
    }


def _measure(reader: Reader, paths: list[Path], engines: list[str], timer: Timer, progress=None,
             keep: list | None = None) -> dict:
    """Read and decide every document with every variant; tallies, curve points and review load.
    `keep` receives each identified document's raw readings and truth (`flows.bench.replay`)."""
    tallies: dict[str, dict[str, Tally]] = {v: {} for v in variants(engines)}
    points: dict[str, dict[str, list]] = {v: {} for v in variants(engines)}
    review_counts: dict[str, list[int]] = {v: [] for v in variants(engines)}  # fields sent to review, per document
    identified: dict[str, dict] = {}
    for path in progress(paths) if progress else paths:
        truth_doc = json.loads(path.with_name(path.stem + ".truth.json").read_text(encoding="utf-8"))
        truth, form = truth_doc["fields"], truth_doc["form"]
        ident = identified.setdefault(form, {"documents": 0, "identified": 0, "other_form": 0, "refused": {}})
        ident["documents"] += 1
        try:
            pr = reader.read_raw(path, timer=timer)
        except MadoguchiError as exc:  # quarantined: a person types every field
            ident["refused"][exc.code] = ident["refused"].get(exc.code, 0) + 1
            pr = None
        if pr is not None and pr.registration.template.id != form:
            ident["other_form"] += 1  # read as another form: counted as typed by hand, and shown apart
            pr = None
        if pr is None:
            for variant in tallies:
                review_counts[variant].append(len(truth))
                for name in truth:
                    for key in ("all", f"form:{form}"):
                        tallies[variant].setdefault(key, Tally()).add("needs_review", False, f"{path.stem}:{name}")
            continue
        ident["identified"] += 1
        if keep is not None:
            keep.append({"document": path.stem, "form": form, "truth": truth, "raws": pr.raws})
        with timer.stage("decide"):
            decided = _decide_variants(reader, pr.raws, engines, open_thresholds=False)
        with timer.stage("persist"):
            reader.store.save(DocumentResult(
                source=str(path), sha256=sha256_of(path), form=pr.registration.template.id, pages=pr.pages,
                fields=decided["combined" if "combined" in decided else engines[0]], status=DocumentStatus.needs_review))
        for variant, fields in decided.items():
            review_counts[variant].append(sum(f.status.value != "accepted" for f in fields.values()))
            for name, f in fields.items():
                example = f"{path.stem}:{name}: read {f.value!r}, truth {truth[name]!r}"
                for key in (f.kind, "all", f"form:{form}", *(("digit_kinds",) if f.kind in DIGIT_KINDS else ())):
                    tallies[variant].setdefault(key, Tally()).add(f.status.value, same(f.value, truth[name]), example)
        for variant, fields in _decide_variants(reader, pr.raws, engines, open_thresholds=True).items():
            for name, f in fields.items():
                conf = 1.0 if f.kind in TICK_KINDS else f.confidence
                points[variant].setdefault(f.kind, []).append((f.status.value == "accepted", same(f.value, truth[name]), conf))
    return {
        "documents": len(paths),
        "tallies": {v: {k: t.as_dict() for k, t in sorted(ts.items())} for v, ts in tallies.items()},
        "curves": {v: {k: curve(rows, len(rows)) for k, rows in sorted(ps.items())} for v, ps in points.items()},
        "review_load": {v: review_load(counts) for v, counts in review_counts.items()},
        "identification": identified,
    }


SIDE_BY_SIDE = 30  # documents read by another checkout too, to compare reading speed
COMPARE_SCRIPT = """
import json, sys, time
from pathlib import Path
from flows.pipeline import Reader, Timer
from schemas.settings import Settings
reader = Reader(Settings().model_copy(update={"home": Path(sys.argv[1])}))
try:
    reader.read_raw(Path(sys.argv[2]))  # warm-up, untimed: a fresh process's first inference is slower
except Exception:
    pass
timer, texts = Timer(), []
for p in sys.argv[2:]:
    try:
        with timer.stage("reading"):
            pr = reader.read_raw(Path(p), timer=timer)
        texts.append([{n: t.text for n, t in r.texts.items()} for r in pr.raws])
    except Exception:
        texts.append(None)
print(json.dumps({"seconds": timer.seconds, "texts": texts}))
"""


def _read_all(reader: Reader, paths: list[Path]) -> dict:
    """The reading loop of COMPARE_SCRIPT in this checkout: one untimed warm-up read, as there."""
    if paths:
        _read_one(reader, paths[0], Timer())  # its time thrown away
    timer = Timer()
    texts = [_read_one(reader, path, timer) for path in paths]
    return {"seconds": timer.seconds, "texts": texts}


def _read_one(reader: Reader, path: Path, timer: Timer) -> list[dict[str, str]] | None:
    """What each reader read in each field of the document, None when it was refused."""
    try:
        with timer.stage("reading"):
            pr = reader.read_raw(path, timer=timer)
    except MadoguchiError:
        return None
    return [{n: t.text for n, t in r.texts.items()} for r in pr.raws]


def side_by_side(reader: Reader, paths: list[Path], revision: str, out: Path) -> dict:
    """The same documents read by the code of another commit (`revision`, checked out beside the
    bench's output with `git worktree`, run in its own process with its own models) and by this one,
    one after the other on this machine, each warmed by one untimed read first: seconds a page of the
    read stage and of the whole reading (load, register, crop, read), and how many fields some reader
    read differently."""
    repo = Path(__file__).resolve().parents[2]
    tree = (out / f"compare-{revision}").resolve()
    subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True)
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", "--force", str(tree), revision],
                   check=True, capture_output=True)
    try:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        done = subprocess.run([sys.executable, "-c", COMPARE_SCRIPT, str(out / "compare-home"), *map(str, paths)],
                              cwd=tree, env=env, check=True, capture_output=True, text=True)
        before = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True)
    now = _read_all(reader, paths)
    n = max(len(paths), 1)
    rows = {way: {"seconds_per_page": {k: round(v / n, 4) for k, v in r["seconds"].items()},
                  "pages_per_minute": round(60 * n / max(r["seconds"].get("reading", 0.0), 1e-9), 2)}
            for way, r in (("before", before), ("now", now))}
    pairs = [(a, b) for a, b in zip(before["texts"], now["texts"]) if a is not None and b is not None]
    read_before, read_now = rows["before"]["seconds_per_page"].get("read", 0.0), rows["now"]["seconds_per_page"].get("read", 0.0)
    return {"revision": revision, "documents": len(paths), **rows,
            "read_stage_speedup": round(read_before / max(read_now, 1e-9), 3),
            "reading_speedup": round(rows["now"]["pages_per_minute"] / max(rows["before"]["pages_per_minute"], 1e-9), 3),
            "fields": sum(len(b) for _, b in pairs),
            "fields_read_differently": sum(x != y for a, b in pairs for x, y in zip(a, b))}


def run_bench(reader: Reader, out: Path, *, docs: int, forms: list[str] | None, seed: int = EVAL_SEED,
              mnist: Path | None, mnist_fields: int, mnist_alone: int | None = None, progress=None,
              save_raws: bool = False, compare: str | None = None, spacing: tuple[float, float] = SPACING) -> dict:
    """Generate, read, decide and measure; writes results.json, results.md and curves.png in `out`.

    Two sets of documents: font-drawn, and the same forms with every digit a real handwritten one
    and a red seal over the name on SEAL_RATE of them (when `mnist` has them): digits from the MNIST
    test split, or with a tuning seed from the training digits the digit reader never trained on
    (the test split is never tuned on). The reader's database receives one row set per document (the
    persist stage is timed). `save_raws` also writes every document's readings and truth
    (raws-font.pkl, raws-real.pkl) for `madoguchi bench-replay`. `compare`, a git revision: reading
    speed side by side with that commit's code on the same documents (`side_by_side`). `spacing`: the
    range the real-digit forms' writers' extra advance between characters is drawn from (closer than
    the default, digits written freely run together)."""
    out.mkdir(parents=True, exist_ok=True)
    settings = reader.settings
    engines = [e.name for e in reader.engines]
    forms = forms or list(reader.templates)
    have_mnist = mnist is not None and (mnist / "t10k-images-idx3-ubyte.gz").exists()
    tuning = seed in TUNING_SEEDS
    t0 = time.perf_counter()
    paths = _generate(reader, forms, docs, seed, out / "scans")
    hand = (DigitHand.held_out(mnist) if tuning else DigitHand.mnist(mnist)) if have_mnist else None
    real = _generate(reader, forms, docs, seed, out / "scans-real-digits", digits=hand,
                     seal_rate=SEAL_RATE, spacing=spacing) if have_mnist else []
    generate_seconds = time.perf_counter() - t0
    timer = Timer()
    kept: dict[str, list] = {"font": [], "real": []}
    font = _measure(reader, paths, engines, timer, progress, keep=kept["font"] if save_raws else None)
    n = len(paths)
    speed = {
        "pages_per_minute": round(60 * n / max(sum(timer.seconds.values()), 1e-9), 2),
        "seconds_per_page": {k: round(v / max(n, 1), 4) for k, v in timer.seconds.items()},
    }
    real_rows = _measure(reader, real, engines, Timer(), progress, keep=kept["real"] if save_raws else None) if real else None
    if compare:  # an even share of every form's documents, read by both checkouts
        compared = [p for k in range(docs) for p in paths[k::docs]][:SIDE_BY_SIDE]
        speed["side_by_side"] = side_by_side(reader, compared, compare, out)
    if save_raws:
        for name, docs_kept in kept.items():
            (out / f"raws-{name}.pkl").write_bytes(pickle.dumps({"seed": seed, "documents": docs_kept}))
    report = {
        "machine": "2 CPU cores, 24 GB, no GPU",
        "seed": seed,
        "seed_role": "tuning" if tuning else "evaluation",
        "documents": n,
        "forms": forms,
        "engines": engines,
        "thresholds": settings.decision.thresholds,
        "vote_thresholds": settings.decision.vote_thresholds,
        "generated_documents": font["tallies"],
        "identification": font["identification"],
        "curves": font["curves"],
        "review_load": font["review_load"],
        "real_digit_documents": (
            {"documents": len(real), "seal_rate": SEAL_RATE, "digits": "MNIST test split (reporting only)",
             "spacing": list(spacing),
             "tallies": real_rows["tallies"], "curves": real_rows["curves"], "review_load": real_rows["review_load"],
             "identification": real_rows["identification"]}
            if real_rows else {"skipped": f"MNIST test set not found in {mnist}"}),
        "speed": {
            **speed,
            "model_load_seconds": round(reader.model_load_seconds, 2),
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "sample_generation_seconds": round(generate_seconds, 1),
        },
    }
    if tuning:
        report["handwritten_digits"] = {"skipped": "the tuning seed never reads the MNIST test split"}
    elif have_mnist:
        report["handwritten_digits"] = measure(reader.engines, mnist, fields=mnist_fields, seed=seed, alone=mnist_alone)
        report["handwritten_digits"]["threshold"] = settings.decision.thresholds.get("digits")
        report["handwritten_digits"]["vote_threshold"] = settings.decision.vote_thresholds.get("digits")
    else:
        report["handwritten_digits"] = {"skipped": f"MNIST test set not found in {mnist}"}
    (out / "results.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    from flows.bench.outputs import plot_curves, write_markdown

    plot_curves(report, out / "curves.png")
    write_markdown(report, out / "results.md")
    return report
