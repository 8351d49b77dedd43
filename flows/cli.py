"""The `madoguchi` command line. Library code raises; this module turns errors into exit codes."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from datetime import date
from pathlib import Path

from flows import cli_entry
from flows.bench.evaluate import EVAL_SEED, TUNING_SEED

EXIT_OK = 0
EXIT_FAILED = 1  # the batch ran, but some file hit an unexpected error (see the log); it was left in place
EXIT_USAGE = 2  # bad arguments
EXIT_INSTALL = 3  # broken installation: poppler, fonts or models missing

SKIP_SUFFIXES = {".json", ".txt", ".md"}  # our own outputs, truth files, reason files, notes


log = logging.getLogger("madoguchi")


class UsageError(Exception):
    """Bad arguments: the message says what to change."""


def collect(paths: list[Path]) -> list[Path]:
    """Files to read: given files as they are, folders searched recursively for documents.

    Hidden and temporary files (.part, .tmp, ~$...) are left alone.
    """
    out: list[Path] = []
    for p in paths:
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            for f in sorted(p.rglob("*")):
                if not f.is_file() or f.suffix.lower() in SKIP_SUFFIXES:
                    continue
                if f.name.startswith((".", "~$")) or f.suffix.lower() in {".part", ".tmp"}:
                    continue
                out.append(f)
        else:
            raise UsageError(f"no such file or folder: {p}")
    return out


def cmd_forms_list(args, settings) -> int:
    for t in _all_forms(settings).values():
        print(f"{t.id}\t{t.title}\t{len(t.fields)}項目")
    return EXIT_OK


def _all_forms(settings):
    from schemas.templates import load_templates

    return load_templates(settings.ocr.forms_dir)


def _template(settings, form_id: str):
    templates = _all_forms(settings)
    if form_id not in templates:
        raise UsageError(f"unknown form {form_id!r}; known: {', '.join(templates)}")
    return templates[form_id]


def cmd_forms_render(args, settings) -> int:
    from ocr.render import render_pdf

    out = render_pdf(_template(settings, args.form_id), Path(args.out))
    print(out)
    return EXIT_OK


def cmd_samples_generate(args, settings) -> int:
    from samples.generator.draw import generate

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    forms = [args.form] if args.form else list(_all_forms(settings))
    for form_id in forms:
        for p in generate(_template(settings, form_id), args.count, args.seed, out, formats=tuple(args.format)):
            print(p)
    return EXIT_OK


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

    from flows.pipeline import Reader
    from flows.report import internal_error, print_table, summarise

    try:
        today = date.fromisoformat(args.today) if args.today else None
    except ValueError:
        raise UsageError(f"--today must be YYYY-MM-DD, not {args.today!r}") from None
    files = collect([Path(p) for p in args.paths])
    if args.form and args.form not in _all_forms(settings):
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


def cmd_digits(args, settings) -> int:
    from flows.bench.digits import measure
    from ocr.engines import load_engines

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

    docs, mnist_fields = (args.docs or 4, 60) if args.quick else (args.docs or 30, 300)
    forms = args.forms.split(",") if args.forms else None
    if forms and (unknown := set(forms) - set(_all_forms(settings))):
        raise UsageError(f"unknown forms: {', '.join(sorted(unknown))}")
    if args.engines:
        settings = settings.model_copy(update={"ocr": settings.ocr.model_copy(update={"engines": args.engines.split(",")})})
    out = Path(args.out)
    shutil.rmtree(out / "home", ignore_errors=True)  # the bench's own scratch database: a rerun starts clean
    reader = Reader(settings.model_copy(update={"home": out / "home"}))
    bar = lambda xs: tqdm(xs, desc="benchmark", unit="page", file=sys.stderr)  # noqa: E731
    run_bench(reader, out, docs=docs, forms=forms, seed=args.seed, mnist=Path(args.mnist),
              mnist_fields=mnist_fields, progress=bar)
    print((out / "results.md").read_text(encoding="utf-8"))
    print(f"results: {out.resolve()}/results.json, results.md, curves.png")
    return EXIT_OK


def cmd_bench_prefect(args, settings) -> int:
    from flows.bench.orchestration import run

    if not (Path.cwd() / "prefect.yaml").exists():
        raise UsageError("run `madoguchi bench-prefect` from the repository root (prefect.yaml)")
    result = run(Path(args.out), Path.cwd(), intake_files=args.files, interval=args.interval, batch_docs=args.docs)
    print((Path(args.out) / "prefect.md").read_text(encoding="utf-8"))
    ok = result["intake"]["recorded"] == args.files and all(b["state"] == "Completed" for b in result["batches"])
    return EXIT_OK if ok else EXIT_FAILED


def cmd_report(args, settings) -> int:
    from flows.reports.ledger import month_bounds, write_ledger
    from schemas.db import Store

    try:
        month_bounds(args.period)
    except ValueError:
        raise UsageError(f"--period must be YYYY-MM, not {args.period!r}") from None
    out = Path(args.out or settings.home / "reports" / f"madoguchi-{args.period}.xlsx")
    titles = {k: t.title for k, t in _all_forms(settings).items()}
    print(write_ledger(Store(settings.db_url), args.period, out, titles))
    return EXIT_OK


def cmd_server(args, settings) -> int:
    from flows.service import server

    repo = Path.cwd()
    if args.action == "up":
        if not (repo / "prefect.yaml").exists():
            raise UsageError("run `madoguchi server up` from the repository root (prefect.yaml)")
        pids = server.up(settings, repo)
        print(f"起動しました (started): {pids}")
    elif args.action == "down":
        print(f"停止しました (stopped): {server.down(settings) or 'なし (nothing was running)'}")
    st = server.status(settings)
    print(json.dumps(st, ensure_ascii=False, indent=2))
    if args.action == "up":
        print(f"Prefect UI: {st['ui']}  (実行の一覧 / flow runs: {st['ui']}/v2/runs)")
    return EXIT_OK


def cmd_drop(args, settings) -> int:
    from flows.service.drop import describe, drop, wait_filed
    from flows.intake import Folders
    from flows.report import fit_width
    from schemas.db import Store

    files = collect([Path(p) for p in args.paths])
    if not files:
        raise UsageError("no files to drop")
    folders = Folders.from_settings(settings).ensure()
    dropped = drop(files, folders.inbox)
    print(f"受付箱に {len(dropped)} 件置きました (dropped into {folders.inbox})")
    if args.wait is None:
        return EXIT_OK

    def progress(done: int, total: int) -> None:
        print(f"  処理済み {done}/{total}", flush=True)

    places = wait_filed(dropped, folders, args.wait, progress)
    store = Store(settings.db_url)
    for d in dropped:
        print(f"  {fit_width(d.name, 44)} {describe(d, places[d.name], folders, store)}")
    if any(p is None for p in places.values()):
        print(f"{args.wait:.0f} 秒待っても処理されないファイルがあります。`madoguchi server status` とログを確認してください。")
        return EXIT_FAILED
    return EXIT_OK


def cmd_batch(args, settings) -> int:
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.service import server

    if not server.healthy(settings):
        raise UsageError("the Prefect server is not running: start it with `madoguchi server up`")
    params = {"folder": args.folder, "forms": args.forms.split(",") if args.forms else None,
              "since": args.since, "until": args.until, "last_days": args.last_days,
              "concurrency": args.concurrency,
              "report": str(Path(args.report).resolve()) if args.report else None}
    with temporary_settings({PREFECT_API_URL: server.api_url(settings)}):
        run = run_deployment("batch/batch", parameters={k: v for k, v in params.items() if v is not None},
                             timeout=None if args.wait else 0, tags=["cli"])
    ui = server.status(settings)["ui"]
    print(f"一括読取を開始しました: {ui}/v2/runs/flow-run/{run.id}")
    if not args.wait:
        return EXIT_OK
    print(f"状態 (state): {run.state.name}")
    if params["report"]:
        print(f"レポート (report): {params['report']}")
    return EXIT_OK if run.state.is_completed() else EXIT_FAILED


def cmd_review(args, settings) -> int:
    from flows.reports import learn
    from schemas.db import Store

    store = Store(settings.db_url)
    if args.action == "export":
        if not args.out:
            raise UsageError("review export needs --out DIR")
        n = learn.export_training(store, settings.home / "views", Path(args.out))
        print(f"{n} 件の確認済み画像と文字を書き出しました (PaddleOCR recognition format): {Path(args.out) / 'rec_gt.txt'}")
        return EXIT_OK
    titles = {k: t.title for k, t in _all_forms(settings).items()}
    from flows.service.server import status

    items = learn.queue(store, titles, status(settings)["ui"])
    if args.json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return EXIT_OK
    from flows.report import fit_width

    print(f"確認待ち {len(items)} 件 (review queue)")
    for it in items:
        age = f"{it['age_hours']:.1f}時間"
        print(f"  {fit_width(age, 10)} {fit_width(it['form_title'] or '-', 26)} {it['fields']:>3} 項目  "
              f"{fit_width(Path(it['source']).name, 36)} {it['url'] or '(確認の実行はまだ作られていません)'}")
    return EXIT_OK


def cmd_correct(args, settings) -> int:
    from flows.verify import record_later_correction
    from schemas.db import Store

    store = Store(settings.db_url)
    doc = store.document(args.document_id)
    if doc is None or not doc.form:
        raise UsageError(f"no read document with id {args.document_id}")
    template = _template(settings, doc.form)
    try:
        c = record_later_correction(store, doc, template, args.field, args.value, args.who)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    status = "確定後に見つかった誤り" if c.status_before == "accepted" and c.changed else "修正"
    print(f"記録しました ({status}): {args.field} {c.before} -> {c.after}")
    return EXIT_OK


def cmd_calibrate(args, settings) -> int:
    from flows.reports.learn import calibrate
    from schemas.db import Store

    rows = calibrate(Store(settings.db_url).corrections(), args.max_error)
    current = settings.decision.thresholds
    print(f"確認結果からのしきい値の再計算 (target: error among accepted <= {args.max_error:.2%}, 95% upper bound)")
    print(f"{'kind':<14}{'reviewed':>9}{'changed':>9}{'current':>9}{'suggested':>11}{'accepted':>10}{'upper':>8}")
    suggested = {}
    for r in rows:
        cur = current.get(r.kind)
        sug = "-" if r.threshold is None else f"{r.threshold:.4f}"
        up = "-" if r.upper is None else f"{r.upper:.2%}"
        print(f"{r.kind:<14}{r.reviewed:>9}{r.changed:>9}{cur if cur is not None else '-':>9}{sug:>11}"
              f"{r.accepted_at_threshold:>10}{up:>8}")
        if r.threshold is not None and cur is not None and r.threshold < cur:
            suggested[r.kind] = r.threshold
    if not rows:
        print("確認の記録がまだありません (no reviewed fields yet).")
    if suggested:
        print("\n下げられるしきい値 (set to apply):")
        print(f"MADOGUCHI_DECISION__THRESHOLDS='{json.dumps({**current, **suggested})}'")
    else:
        print("\nしきい値を下げる根拠はまだありません: 確認済みの項目が少ないうちは今の値を保ちます。")
    return EXIT_OK


def cmd_watch(args, settings) -> int:
    from flows.service.watcher import main as watch_main

    watch_main(settings)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="madoguchi", description="Read handwritten municipal application forms.")
    sub = p.add_subparsers(dest="command", required=True)

    forms = sub.add_parser("forms", help="the form templates").add_subparsers(dest="forms_cmd", required=True)
    forms.add_parser("list", help="one form per line: id, title").set_defaults(func=cmd_forms_list)
    r = forms.add_parser("render", help="print a blank form as PDF")
    r.add_argument("form_id")
    r.add_argument("--out", required=True)
    r.set_defaults(func=cmd_forms_render)

    samples = sub.add_parser("samples", help="generated sample scans").add_subparsers(dest="samples_cmd", required=True)
    g = samples.add_parser("generate", help="draw filled, scanned forms with their truth")
    g.add_argument("--form", help="form id (default: every form)")
    g.add_argument("--count", type=int, default=3)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--out", required=True)
    g.add_argument("--format", action="append", choices=["png", "jpg", "pdf", "tif"],
                   help="file format (repeat for several; default png)")
    g.set_defaults(func=cmd_samples_generate)

    pr = sub.add_parser("process", help="read scans: one DIR/<stem>.json per document and DIR/summary.json")
    pr.add_argument("paths", nargs="+", help="files or folders")
    pr.add_argument("--out", required=True, help="folder for the results")
    pr.add_argument("--form", help="skip identification: every file is this form")
    pr.add_argument("--today", help="date the plausibility checks use (YYYY-MM-DD; default today)")
    pr.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    pr.set_defaults(func=cmd_process)

    ev = sub.add_parser("evaluate", help="compare results with generated samples' truth files")
    ev.add_argument("results", help="folder written by `madoguchi process`")
    ev.add_argument("truth", help="folder with <stem>.truth.json files")
    ev.add_argument("--out", help="also write the report to this JSON file")
    ev.set_defaults(func=cmd_evaluate)

    dg = sub.add_parser("digits", help="read real handwritten digits (MNIST) in per-character boxes")
    dg.add_argument("--mnist", default="../shared/data/mnist", help="folder of the MNIST test set")
    dg.add_argument("--fields", type=int, default=300)
    dg.add_argument("--seed", type=int, default=EVAL_SEED, help=f"{TUNING_SEED} is the tuning seed; report others")
    dg.set_defaults(func=cmd_digits)

    b = sub.add_parser("bench", help="accuracy, straight-through rate and speed on generated forms and real digits")
    b.add_argument("--out", default="bench", help="folder for results.json, results.md, curves.png")
    b.add_argument("--docs", type=int, help="documents per form (default 30; 4 with --quick)")
    b.add_argument("--forms", help="comma-separated form ids (default: all)")
    b.add_argument("--engines", help="comma-separated engines (default: the settings' engines)")
    b.add_argument("--seed", type=int, default=EVAL_SEED, help=f"{EVAL_SEED} evaluation (default), {TUNING_SEED} tuning")
    b.add_argument("--mnist", default="../shared/data/mnist", help="folder of the MNIST test set")
    b.add_argument("--quick", action="store_true", help="a small run for development")
    b.set_defaults(func=cmd_bench)

    bp = sub.add_parser("bench-prefect", help="drop-to-database latency and batch throughput on the real server")
    bp.add_argument("--out", default="bench/prefect", help="folder for prefect.json and prefect.md (emptied first)")
    bp.add_argument("--files", type=int, default=20, help="scans dropped one by one into the inbox")
    bp.add_argument("--interval", type=float, default=10.0, help="seconds between two drops")
    bp.add_argument("--docs", type=int, default=50, help="documents in the batch")
    bp.set_defaults(func=cmd_bench_prefect)

    rp = sub.add_parser("report", help="the month's accuracy ledger for the city (Excel, Japanese)")
    rp.add_argument("--period", required=True, help="month, YYYY-MM")
    rp.add_argument("--out", help="xlsx path (default: reports/madoguchi-PERIOD.xlsx under MADOGUCHI_HOME)")
    rp.set_defaults(func=cmd_report)

    sv = sub.add_parser("server", help="start, stop or show the Prefect server, deployments and worker")
    sv.add_argument("action", choices=["up", "down", "status"])
    sv.set_defaults(func=cmd_server)

    d = sub.add_parser("drop", help="put scans into the inbox (safely renamed) and optionally wait for them")
    d.add_argument("paths", nargs="+", help="files or folders")
    d.add_argument("--wait", type=float, metavar="SECONDS", help="wait this long for every file to be filed")
    d.set_defaults(func=cmd_drop)

    ba = sub.add_parser("batch", help="start the batch flow on the server: read a folder, write an Excel report")
    ba.add_argument("--folder", help="folder to read (default: the inbox backlog; relative: under MADOGUCHI_HOME)")
    ba.add_argument("--forms", help="comma-separated form ids (default: all)")
    ba.add_argument("--since", help="first scan date, YYYY-MM-DD (Japan time)")
    ba.add_argument("--until", help="last scan date, YYYY-MM-DD")
    ba.add_argument("--last-days", type=int, help="the last N days up to today instead of --since/--until")
    ba.add_argument("--concurrency", type=int, help="documents read at once (default 1)")
    ba.add_argument("--report", help="xlsx path (default: reports/batch-<time>.xlsx under MADOGUCHI_HOME)")
    ba.add_argument("--wait", action="store_true", help="wait for the run to finish")
    ba.set_defaults(func=cmd_batch)

    rv = sub.add_parser("review", help="the review queue: list it, or export reviewed fields for training")
    rv.add_argument("action", choices=["list", "export"])
    rv.add_argument("--json", action="store_true", help="list: JSON for scripts")
    rv.add_argument("--out", help="export: folder for images/ and rec_gt.txt")
    rv.set_defaults(func=cmd_review)

    co = sub.add_parser("correct", help="record a value found wrong after it was recorded (counts in the ledger)")
    co.add_argument("document_id", type=int)
    co.add_argument("field", help="field name, e.g. birth_date")
    co.add_argument("value", help="the right value as written on the paper (dates: 令和8年11月27日)")
    co.add_argument("--who", required=True, help="who found it (recorded)")
    co.set_defaults(func=cmd_correct)

    cb = sub.add_parser("calibrate", help="per-kind thresholds recalculated from reviewers' corrections")
    cb.add_argument("--max-error", type=float, default=0.001, help="target error among accepted fields (0.001 = 0.1%%)")
    cb.set_defaults(func=cmd_calibrate)

    w = sub.add_parser("watch", help="watch the inbox and start a reconcile run when scans arrive")
    w.set_defaults(func=cmd_watch)
    cli_entry.add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from schemas.settings import Settings

    args = build_parser().parse_args(argv)
    if getattr(args, "format", "unset") is None:
        args.format = ["png"]
    try:
        return args.func(args, Settings())
    except UsageError as exc:
        print(f"madoguchi: 指定に誤りがあります (bad arguments): {exc}", file=sys.stderr)
        return EXIT_USAGE
    except _installation_errors() as exc:
        print(f"madoguchi: インストールが不完全です。`make setup` を実行してください。\n"
              f"  broken installation: {exc}", file=sys.stderr)
        return EXIT_INSTALL


def _installation_errors() -> tuple[type[BaseException], ...]:
    from ocr.errors import PopplerMissingError
    from ocr.render import FontMissingError

    return (PopplerMissingError, FontMissingError, ImportError)


if __name__ == "__main__":
    sys.exit(main())
