"""`madoguchi process` and `madoguchi evaluate`: read scans outside Prefect, one result file per
document and summary.json, and compare results with the generator's truth."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import date
from pathlib import Path

from flows.cli.common import EXIT_FAILED, EXIT_OK, UsageError, all_forms, collect

log = logging.getLogger("madoguchi")


def add_process(sub) -> None:
    pr = sub.add_parser("process", help="read scans: one DIR/<stem>.json per document and DIR/summary.json")
    pr.add_argument("paths", nargs="+", help="files or folders")
    pr.add_argument("--out", required=True, help="folder for the results")
    pr.add_argument("--form", help="skip identification: every file is this form")
    pr.add_argument("--today", help="date the plausibility checks use (YYYY-MM-DD; default today)")
    pr.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    pr.set_defaults(func=cmd_process)


def add_evaluate(sub) -> None:
    ev = sub.add_parser("evaluate", help="compare results with generated samples' truth files")
    ev.add_argument("results", help="folder written by `madoguchi process`")
    ev.add_argument("truth", help="folder with <stem>.truth.json files")
    ev.add_argument("--out", help="also write the report to this JSON file")
    ev.set_defaults(func=cmd_evaluate)


def _result_name(out: Path, stem: str, digest: str, used: set[str]) -> Path:
    """A result file name that overwrites neither summary.json, nor another file of this run,
    nor an earlier run's result."""
    name = stem
    if name in used or name == "summary" or (out / f"{name}.json").exists():
        name = f"{stem}-{digest[:8]}"
    n = 2
    while name in used or (out / f"{name}.json").exists():
        name, n = f"{stem}-{digest[:8]}-{n}", n + 1
    used.add(name)
    return out / f"{name}.json"


def cmd_process(args, settings) -> int:
    from tqdm import tqdm

    from flows.cli.summary import internal_error, print_table, summarise
    from flows.pipeline import Reader

    try:
        today = date.fromisoformat(args.today) if args.today else None
    except ValueError:
        raise UsageError(f"--today must be YYYY-MM-DD, not {args.today!r}") from None
    files = collect([Path(p) for p in args.paths])
    if args.form and args.form not in all_forms(settings):
        raise UsageError(f"unknown form {args.form!r}")
    if not files:
        print("読み取るファイルがありません (no files to read)", file=sys.stderr)
        return EXIT_OK
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reader = Reader(settings)
    results, used, failed = [], set(), 0
    t0 = time.perf_counter()
    for path in tqdm(files, desc="読取中", unit="件", disable=args.quiet, file=sys.stderr):
        try:
            result = reader.process(path, form_id=args.form, today=today)
        except Exception as exc:  # noqa: BLE001 - one broken file must not stop the batch; it stays where it is
            log.exception("unexpected error reading %s", path)
            result, failed = internal_error(path, exc), failed + 1
        _result_name(out, path.stem, result.sha256 or "00000000", used).write_text(
            result.model_dump_json(indent=2), encoding="utf-8")
        results.append(result)
    summary = summarise(results, wall=time.perf_counter() - t0, model_load=reader.model_load_seconds,
                        quarantine=settings.quarantine_dir)
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    if not args.quiet:
        print_table(results, summary, out)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_evaluate(args, settings) -> int:
    from flows.bench.evaluate import evaluate

    report = evaluate(Path(args.results), Path(args.truth))
    text = json.dumps(report, ensure_ascii=False, indent=2)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return EXIT_OK
