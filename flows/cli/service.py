"""`madoguchi server up|down|status`, `reader`, `watch`, `drop` and `batch`: the service on the office PC,
scans into its inbox, and a batch run started on its server."""

from __future__ import annotations

import json
from pathlib import Path

from flows.cli.common import EXIT_FAILED, EXIT_OK, UsageError, collect


def add_server(sub) -> None:
    sv = sub.add_parser("server", help="start, stop or show the Prefect server, deployments and worker")
    sv.add_argument("action", choices=["up", "down", "status"])
    sv.add_argument("--listen", metavar="ADDRESS",
                    help="with up: also serve the UI on this IP address of the office network, through Caddy with "
                         "TLS and a login (port MADOGUCHI_SERVER__LISTEN_PORT, default 8443); the server stays on 127.0.0.1")
    sv.set_defaults(func=cmd_server)


def add_drop(sub) -> None:
    d = sub.add_parser("drop", help="put scans into the inbox (safely renamed) and optionally wait for them")
    d.add_argument("paths", nargs="+", help="files or folders")
    d.add_argument("--wait", type=float, metavar="SECONDS", help="wait this long for every file to be filed")
    d.set_defaults(func=cmd_drop)


def add_batch(sub) -> None:
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


def add_watch(sub) -> None:
    w = sub.add_parser("watch", help="watch the inbox and start a reconcile run when scans arrive")
    w.set_defaults(func=cmd_watch)


def add_reader(sub) -> None:
    r = sub.add_parser("reader", help="a warm reader: load the models once and run the reading runs (intake, "
                       "batches) the server hands out; start one on another PC to read more")
    r.add_argument("--runs", type=int, default=None, help="runs at once (default 3; documents are still read "
                   "one at a time)")
    r.set_defaults(func=cmd_reader)


def cmd_server(args, settings) -> int:
    from flows.service import office, server

    repo = Path.cwd()
    if args.listen and args.action != "up":
        raise UsageError("--listen goes with `server up`")
    if args.action == "up":
        if not (repo / "prefect.yaml").exists():
            raise UsageError("run `madoguchi server up` from the repository root (prefect.yaml)")
        if listen := args.listen or settings.server.listen:  # the option, or MADOGUCHI_SERVER__LISTEN
            try:
                listen = office.parse_address(listen)
            except ValueError as e:
                raise UsageError(str(e)) from None
            settings = settings.model_copy(update={"server": settings.server.model_copy(update={"listen": listen})})
        had_login = server.login_file(settings).exists()
        pids = server.up(settings, repo)
        print(f"起動しました (started): {pids}")
        if not had_login and server.login_file(settings).exists():  # shown this once; kept in the file
            login = office.read_login(server.login_file(settings).parent)
            print(f"画面のログインを作りました (login made): {login}\n"
                  f"  保管場所 (kept owner-only in): {server.login_file(settings)}")
    elif args.action == "down":
        print(f"停止しました (stopped): {server.down(settings) or 'なし (nothing was running)'}")
    st = server.status(settings)
    print(json.dumps(st, ensure_ascii=False, indent=2))
    if args.action == "up":
        print(f"Prefect UI: {st['ui']}  (実行の一覧 / flow runs: {st['ui']}/v2/runs)")
        if st["office_ui"]:
            print(f"事務室のネットワークから / on the office network: {st['office_ui']}/v2/runs  "
                  f"(ログイン / login: {st['login_file']})")
    return EXIT_OK


def cmd_drop(args, settings) -> int:
    from flows.cli.summary import fit_width
    from flows.intake import Folders
    from flows.service.drop import describe, drop, wait_filed
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
    from prefect.settings import temporary_settings

    from flows.service import server

    if not server.healthy(settings):
        raise UsageError("the Prefect server is not running: start it with `madoguchi server up`")
    params = {"folder": args.folder, "forms": args.forms.split(",") if args.forms else None,
              "since": args.since, "until": args.until, "last_days": args.last_days,
              "concurrency": args.concurrency,
              "report": str(Path(args.report).resolve()) if args.report else None}
    with temporary_settings(server.client_settings(settings)):
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


def cmd_reader(args, settings) -> int:
    from flows.service import reader

    reader.main(settings, runs=args.runs or reader.RUNS)
    return EXIT_OK


def cmd_watch(args, settings) -> int:
    from flows.service.watcher import main as watch_main

    watch_main(settings)
    return EXIT_OK
