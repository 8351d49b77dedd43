"""`madoguchi entry [run|list|mark-manual]`: start the entry flow on the server, list what was
entered, or record documents clerks entered by hand."""

from __future__ import annotations

import json
from pathlib import Path

from flows.cli.common import EXIT_FAILED, EXIT_OK, UsageError

STATES_JA = {"pending": "入力中", "entered": "入力済み", "manual": "手入力済み", "refused": "差し戻し (確認待ち)",
             "failed": "失敗 (次回再試行)"}
MANUAL_JA = {"marked": "手入力済みとして記録しました。ボットは入力しません",
             "already": "既に手入力済みとして記録されています",
             "entered": "ボットが入力済みです（受付番号は `madoguchi entry list`）。変更していません",
             "pending": "ボットが入力中です。入力実行が終わってからもう一度実行してください",
             "missing": "この番号の書類はありません"}


def add_entry(sub) -> None:
    e = sub.add_parser("entry", help="enter validated documents into the core system (bots), or list entries")
    e.add_argument("action", nargs="?", choices=["run", "list", "mark-manual"], default="run")
    e.add_argument("ids", type=int, nargs="*", metavar="DOC", help="mark-manual: documents clerks entered by hand")
    e.add_argument("--who", default="", help="mark-manual: who entered them (kept with the record)")
    e.add_argument("--documents", type=int, nargs="+", metavar="ID", help="run: only these documents")
    e.add_argument("--limit", type=int, help="run: at most this many documents")
    e.add_argument("--wait", action="store_true", help="run: wait for the run to finish")
    e.add_argument("--json", action="store_true", help="list: JSON for scripts")
    e.set_defaults(func=cmd_entry)


def cmd_entry(args, settings) -> int:
    if args.action == "list":
        return _list(settings, args.json)
    if args.action == "mark-manual":
        return _mark_manual(settings, args.ids, args.who)
    if args.ids:
        raise UsageError("document ids go with `entry mark-manual`; to enter some now use `entry --documents ID...`")
    from prefect.deployments import run_deployment
    from prefect.settings import temporary_settings

    from flows.entry import DEPLOYMENT
    from flows.service import server

    if not server.healthy(settings):
        raise UsageError("the Prefect server is not running: start it with `madoguchi server up`")
    params = {k: v for k, v in {"document_ids": args.documents, "limit": args.limit}.items() if v is not None}
    with temporary_settings(server.client_settings(settings)):
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


def _mark_manual(settings, ids: list[int], who: str) -> int:
    from flows.entry import mark_manual
    from schemas.db import Store

    if not ids:
        raise UsageError("name the documents clerks entered by hand: `madoguchi entry mark-manual DOC...`")
    outcomes = mark_manual(Store(settings.db_url), settings, ids, who)
    for doc_id, outcome in outcomes.items():
        print(f"{doc_id:>5}  {MANUAL_JA[outcome]}")
    return EXIT_FAILED if any(o in ("pending", "missing") for o in outcomes.values()) else EXIT_OK
