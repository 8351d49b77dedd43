"""`madoguchi entry`: start the entry flow on the server, or list what was entered."""

from __future__ import annotations

import json
from pathlib import Path

EXIT_OK, EXIT_FAILED = 0, 1
STATES_JA = {"pending": "入力中", "entered": "入力済み", "refused": "差し戻し (確認待ち)", "failed": "失敗 (次回再試行)"}


def add(sub) -> None:
    e = sub.add_parser("entry", help="enter validated documents into the core system (bots), or list entries")
    e.add_argument("action", nargs="?", choices=["run", "list"], default="run")
    e.add_argument("--documents", type=int, nargs="+", metavar="ID", help="run: only these documents")
    e.add_argument("--limit", type=int, help="run: at most this many documents")
    e.add_argument("--wait", action="store_true", help="run: wait for the run to finish")
    e.add_argument("--json", action="store_true", help="list: JSON for scripts")
    e.set_defaults(func=cmd_entry)
    b = sub.add_parser("bench-entry", help="records per minute and CPU seconds per record of one bot")
    b.add_argument("--out", default="bench/entry", help="folder for entry.json and entry.md")
    b.add_argument("--records", type=int, default=30)
    b.add_argument("--delay", type=float, nargs="+", default=[0.0, 0.15],
                   help="the stand-in's mean seconds per response, one run each (default: 0 and 0.15)")
    b.set_defaults(func=cmd_bench_entry)


def cmd_bench_entry(args, settings) -> int:
    from flows.bench import entry as bench_entry

    repo = Path(__file__).resolve().parent.parent
    bench_entry.main(Path(args.out), args.records, args.delay, repo / "samples")
    return EXIT_OK


def cmd_entry(args, settings) -> int:
    from flows.cli import UsageError

    if args.action == "list":
        return _list(settings, args.json)
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.service import server
    from flows.entry import DEPLOYMENT

    if not server.healthy(settings):
        raise UsageError("the Prefect server is not running: start it with `madoguchi server up`")
    params = {k: v for k, v in {"document_ids": args.documents, "limit": args.limit}.items() if v is not None}
    with temporary_settings({PREFECT_API_URL: server.api_url(settings)}):
        run = run_deployment(DEPLOYMENT, parameters=params, timeout=None if args.wait else 0, tags=["cli"])
    print(f"基幹システム入力を開始しました: {server.status(settings)['ui']}/v2/runs/flow-run/{run.id}")
    if not args.wait:
        return EXIT_OK
    print(f"状態 (state): {run.state.name}")
    _list(settings, False, flow_run_id=str(run.id))
    return EXIT_OK if run.state.is_completed() else EXIT_FAILED


def _list(settings, as_json: bool, flow_run_id: str | None = None) -> int:
    from schemas.db import Store

    store = Store(settings.db_url)
    rows = []
    for e in store.entries():
        if flow_run_id and e.flow_run_id != flow_run_id:
            continue
        doc = store.document(e.document_id)
        rows.append({"document_id": e.document_id, "file": Path(doc.source).name, "state": e.state,
                     "receipt": e.receipt, "key": e.key, "attempts": e.attempts, "message": e.message,
                     "evidence": json.loads(e.evidence or "[]")})
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return EXIT_OK
    for r in rows:
        print(f"{r['document_id']:>5}  {STATES_JA.get(r['state'], r['state'])}  {r['receipt'] or '-':<16} "
              f"{r['file']}  {r['message']}")
    print(f"{len(rows)} 件")
    return EXIT_OK
