"""`madoguchi bench`, `digits`, `bench-prefect`, `bench-entry`, `bench-fuzz`, `bench-chaos` and `report`: the
measurements behind the thresholds and the claims, and the month's ledger for the city."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from flows.bench.evaluate import EVAL_SEED, TUNING_SEED, TUNING_SEEDS
from flows.cli.common import EXIT_FAILED, EXIT_OK, UsageError, all_forms, form_titles


def add_digits(sub) -> None:
    dg = sub.add_parser("digits", help="read real handwritten digits (MNIST) in per-character boxes")
    dg.add_argument("--mnist", default="../shared/data/mnist", help="folder of the MNIST test set")
    dg.add_argument("--fields", type=int, default=300)
    dg.add_argument("--seed", type=int, default=EVAL_SEED, help=f"{TUNING_SEED} is the tuning seed; report others")
    dg.set_defaults(func=cmd_digits)


def add_bench(sub) -> None:
    b = sub.add_parser("bench", help="accuracy, straight-through rate and speed on generated forms and real digits")
    b.add_argument("--out", default="bench", help="folder for results.json, results.md, curves.png")
    b.add_argument("--docs", type=int, help="documents per form (default 30; 4 with --quick)")
    b.add_argument("--forms", help="comma-separated form ids (default: all)")
    b.add_argument("--engines", help="comma-separated engines (default: the settings' engines)")
    b.add_argument("--seed", type=int, default=EVAL_SEED, help=f"{EVAL_SEED} evaluation (default); tuning: "
                   + ", ".join(map(str, TUNING_SEEDS)))
    b.add_argument("--mnist", default="../shared/data/mnist", help="folder of the MNIST test set")
    b.add_argument("--quick", action="store_true", help="a small run for development")
    b.add_argument("--compare", metavar="REVISION", help="also read 30 of the documents with that git commit's code "
                   "(a worktree beside the results) and report reading speed side by side")
    b.add_argument("--save-raws", action="store_true", help="also keep every document's readings and truth "
                   "(raws-font.pkl, raws-real.pkl) for `madoguchi bench-replay`")
    b.add_argument("--spacing", nargs=2, type=float, metavar=("LO", "HI"), help="the real-digit forms' writers "
                   "leave between LO and HI of a character between characters (default: the generator's, -0.05 "
                   "0.12; -0.32 -0.18: most digits written freely run into their neighbours)")
    b.set_defaults(func=cmd_bench)


def add_bench_replay(sub) -> None:
    b = sub.add_parser("bench-replay", help="decide a bench run's saved readings again (decision rule changes in "
                       "seconds, without reading again): per field kind, accepted, wrong, why correct ones were not")
    b.add_argument("raws", help="raws-real.pkl or raws-font.pkl from `madoguchi bench --save-raws`, or its folder "
                                "(then its raws-real.pkl)")
    b.add_argument("--examples", type=int, default=0, help="print this many examples per kind and reason")
    b.add_argument("--kinds", help="comma-separated field kinds to show examples of (default: all)")
    b.add_argument("--json", action="store_true", help="the tallies as JSON")
    b.set_defaults(func=cmd_bench_replay)


def add_bench_prefect(sub) -> None:
    bp = sub.add_parser("bench-prefect", help="drop-to-database latency and batch throughput on the real server")
    bp.add_argument("--out", default="bench/prefect", help="folder for prefect.json and prefect.md (emptied first)")
    bp.add_argument("--files", type=int, default=20, help="scans dropped one by one into the inbox")
    bp.add_argument("--interval", type=float, default=10.0, help="seconds between two drops")
    bp.add_argument("--docs", type=int, default=50, help="documents in the batch")
    bp.add_argument("--idle", type=float, default=600.0, help="seconds of nothing before the after-idle drops")
    bp.add_argument("--idle-files", type=int, default=3, help="scans dropped after the idle time (0: none), each "
                    "once no reconcile run lingers")
    bp.add_argument("--scale-docs", type=int, default=200, help="scans dropped at once for 1, then 2 warm readers "
                    "with both databases on a throwaway PostgreSQL (0: not run)")
    bp.set_defaults(func=cmd_bench_prefect)


def add_report(sub) -> None:
    rp = sub.add_parser("report", help="the month's accuracy ledger for the city (Excel, Japanese)")
    rp.add_argument("--period", required=True, help="month, YYYY-MM")
    rp.add_argument("--out", help="xlsx path (default: reports/madoguchi-PERIOD.xlsx under MADOGUCHI_HOME)")
    rp.set_defaults(func=cmd_report)


def add_bench_entry(sub) -> None:
    b = sub.add_parser("bench-entry", help="records per minute and CPU seconds per record of one bot")
    b.add_argument("--out", default="bench/entry", help="folder for entry.json and entry.md")
    b.add_argument("--records", type=int, default=30)
    b.add_argument("--delay", type=float, nargs="+", default=[0.0, 0.15],
                   help="the stand-in's mean seconds per response, one run each (default: 0 and 0.15)")
    b.set_defaults(func=cmd_bench_entry)


def add_bench_fuzz(sub) -> None:
    b = sub.add_parser("bench-fuzz", help="mutated sample files through the loaders: each must load or be "
                       "quarantined with a reason, none may crash or stall")
    b.add_argument("--count", type=int, default=10_000, help="mutated inputs (default 10,000)")
    b.add_argument("--seed", type=int, help="random seed (default: the fixed fuzz seed)")
    b.add_argument("--register", action="store_true", help="also identify, register and flatten the first page "
                   "of each input that loads, as a worker does before reading")
    b.add_argument("--out", default="bench/fuzz", help="folder for fuzz.json, fuzz.md and failures/")
    b.set_defaults(func=cmd_bench_fuzz)


def add_bench_chaos(sub) -> None:
    b = sub.add_parser("bench-chaos", help="files keep arriving while the watcher, reader, worker, Prefect server and "
                       "stand-in core system are killed at random: nothing lost, read twice or entered twice")
    b.add_argument("--files", type=int, default=1000, help="files dropped into the inbox (default 1,000)")
    b.add_argument("--kills", type=int, default=24, help="SIGKILLs over the run, spread over the four programs")
    b.add_argument("--seed", type=int, help="random seed for the files, their order and the kills")
    b.add_argument("--arrive-seconds", type=float, help="the files arrive over this many seconds (default 0.9 s a file)")
    b.add_argument("--reviews", type=int, help="reviews the bench answers with the true values, so that documents "
                   "are entered during the chaos (default a third of the good scans)")
    b.add_argument("--targets", default="watcher,reader,worker,server,core_system",
                   help="comma-separated programs to kill (default all five)")
    # 1,000 files took 74 min on 2 cores shared with a benchmark (2026-12-04); the wait ends once all settles
    b.add_argument("--timeout", type=float, default=7200.0, help="longest wait for everything to settle, in seconds")
    b.add_argument("--out", default="bench/chaos", help="folder for chaos.json, chaos.md and the run's data root "
                   "(emptied first)")
    b.set_defaults(func=cmd_bench_chaos)


def cmd_bench_chaos(args, settings) -> int:
    from flows.bench import chaos

    if not (Path.cwd() / "prefect.yaml").exists():
        raise UsageError("run `madoguchi bench-chaos` from the repository root (prefect.yaml)")
    targets = tuple(t for t in args.targets.split(",") if t)
    if unknown := set(targets) - set(chaos.TARGETS):
        raise UsageError(f"unknown targets {sorted(unknown)}; known: {', '.join(chaos.TARGETS)}")
    if args.files < 1 or args.kills < 0:
        raise UsageError("--files must be at least 1 and --kills at least 0")
    report = chaos.run(Path(args.out), Path.cwd(), files=args.files, kills=args.kills,
                       seed=chaos.SEED if args.seed is None else args.seed, arrive_seconds=args.arrive_seconds,
                       reviews=args.reviews, targets=targets, timeout=args.timeout)
    print(chaos.markdown(report))
    print(f"details: {Path(args.out).resolve()}/chaos.json")
    return EXIT_OK if report["ok"] else EXIT_FAILED


def cmd_bench_fuzz(args, settings) -> int:
    from functools import partial

    from tqdm import tqdm

    from flows.bench import fuzz
    from ocr.pages import Limits

    samples = Path(__file__).resolve().parents[2] / "samples"  # the checkout's samples, like bench-entry's
    corpus = fuzz.real_seeds(samples) + fuzz.small_seeds(samples)
    cfg = settings.ocr
    limits = Limits(cfg.max_pages, round(cfg.max_megapixels * 1e6), round(cfg.max_file_megapixels * 1e6),
                    cfg.load_timeout_seconds)
    loader = partial(fuzz.load_and_register, reference_dpi=cfg.reference_dpi) if args.register else fuzz.load_pages
    out = Path(args.out)
    bar = lambda xs: tqdm(xs, total=args.count, desc="fuzz", unit="file", file=sys.stderr)  # noqa: E731
    report = fuzz.run(corpus, args.count, out, seed=args.seed if args.seed is not None else fuzz.FUZZ_SEED,
                      pdf_dpi=cfg.pdf_dpi, limits=limits, loader=loader, progress=bar)
    report["register"] = args.register
    (out / "fuzz.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "fuzz.md").write_text(fuzz.markdown(report) + "\n", encoding="utf-8")
    print(fuzz.markdown(report))
    print(f"details: {out.resolve()}/fuzz.json" + (f"; failing inputs in {out.resolve()}/failures/"
                                                    if report["failures"] else ""))
    return EXIT_FAILED if report["crashes"] or report["stalls"] else EXIT_OK


def cmd_digits(args, settings) -> int:
    from flows.bench.digits import measure
    from ocr.readers import load_engines

    mnist = Path(args.mnist)
    if not (mnist / "t10k-images-idx3-ubyte.gz").exists():
        raise UsageError(f"no MNIST test set in {mnist} (t10k-images-idx3-ubyte.gz)")
    report = measure(load_engines(settings.ocr.engines, settings.ocr.threads), mnist, fields=args.fields, seed=args.seed)
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_bench(args, settings) -> int:
    from tqdm import tqdm

    from flows.bench.reading import run_bench
    from flows.pipeline import Reader
    from samples.generator.draw import SPACING

    docs, mnist_fields, alone = (args.docs or 4, 60, 1000) if args.quick else (args.docs or 30, 300, None)
    forms = args.forms.split(",") if args.forms else None
    if forms and (unknown := set(forms) - set(all_forms(settings))):
        raise UsageError(f"unknown forms: {', '.join(sorted(unknown))}")
    if args.engines:
        settings = settings.model_copy(update={"ocr": settings.ocr.model_copy(update={"engines": args.engines.split(",")})})
    if args.compare and subprocess.run(["git", "-C", str(Path(__file__).resolve().parents[2]), "rev-parse", "--verify",
                                        "--quiet", f"{args.compare}^{{commit}}"], capture_output=True).returncode:
        raise UsageError(f"--compare {args.compare}: no such commit in this checkout's git history")
    spacing = tuple(args.spacing) if args.spacing else SPACING
    if not -0.6 <= spacing[0] <= spacing[1] <= 1.0:
        raise UsageError(f"--spacing {spacing[0]} {spacing[1]}: LO at most HI, both between -0.6 and 1")
    out = Path(args.out)
    shutil.rmtree(out / "home", ignore_errors=True)  # the bench's own scratch database: a rerun starts clean
    reader = Reader(settings.model_copy(update={"home": out / "home"}))
    bar = lambda xs: tqdm(xs, desc="benchmark", unit="page", file=sys.stderr)  # noqa: E731
    run_bench(reader, out, docs=docs, forms=forms, seed=args.seed, mnist=Path(args.mnist),
              mnist_fields=mnist_fields, mnist_alone=alone, progress=bar, save_raws=args.save_raws,
              compare=args.compare, spacing=spacing)
    print((out / "results.md").read_text(encoding="utf-8"))
    print(f"results: {out.resolve()}/results.json, results.md, curves.png")
    return EXIT_OK


def cmd_bench_replay(args, settings) -> int:
    from flows.bench.replay import format_replay, replay

    raws = Path(args.raws)
    if raws.is_dir():  # the bench's --out folder: its real-digit set
        raws = raws / "raws-real.pkl"
    if not raws.is_file():
        raise UsageError(f"{raws}: no saved readings; `madoguchi bench --save-raws --out DIR` writes DIR/raws-real.pkl")
    result = replay(raws, settings.decision)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        kinds = set(args.kinds.split(",")) if args.kinds else None
        print(format_replay(result, examples=args.examples, kinds=kinds))
    return EXIT_OK


def cmd_bench_prefect(args, settings) -> int:
    from flows.bench.orchestration import run

    if not (Path.cwd() / "prefect.yaml").exists():
        raise UsageError("run `madoguchi bench-prefect` from the repository root (prefect.yaml)")
    result = run(Path(args.out), Path.cwd(), intake_files=args.files, interval=args.interval, batch_docs=args.docs,
                 idle_seconds=args.idle, idle_files=args.idle_files, scale_docs=args.scale_docs)
    print((Path(args.out) / "prefect.md").read_text(encoding="utf-8"))
    idle = result["intake_after_idle"]
    scaled = result["scale"] if isinstance(result["scale"], list) else []
    ok = (result["intake"]["recorded"] == args.files and all(b["state"] == "Completed" for b in result["batches"])
          and (idle is None or idle["recorded"] == idle["files"])
          and all(r["documents"] == r["files"] and not r["files_read_more_than_once"] for r in scaled))
    return EXIT_OK if ok else EXIT_FAILED


def cmd_bench_entry(args, settings) -> int:
    from flows.bench import entry as bench_entry

    repo = Path(__file__).resolve().parents[2]  # flows/cli/bench.py -> the checkout, whose samples/ has the stand-in
    bench_entry.main(Path(args.out), args.records, args.delay, repo / "samples")
    return EXIT_OK


def cmd_report(args, settings) -> int:
    from flows.reports.ledger import month_bounds, write_ledger
    from schemas.db import Store

    try:
        month_bounds(args.period)
    except ValueError:
        raise UsageError(f"--period must be YYYY-MM, not {args.period!r}") from None
    out = Path(args.out or settings.home / "reports" / f"madoguchi-{args.period}.xlsx")
    print(write_ledger(Store(settings.db_url), args.period, out, form_titles(settings)))
    return EXIT_OK
