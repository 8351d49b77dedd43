"""Serve the stand-in core system: `python -m samples.core_system --db core.db --url-file url.txt`.

The password is read from an environment variable or an owner-only file (never an argument: `ps`
shows arguments)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from samples.core_system.app import Behaviour, CoreSystem


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m samples.core_system", description=__doc__)
    ap.add_argument("--db", type=Path, required=True, help="the system's own SQLite file")
    ap.add_argument("--port", type=int, default=0, help="0: a free port (default)")
    ap.add_argument("--url-file", type=Path, help="write the base URL here once listening")
    ap.add_argument("--user", default="madoguchi-bot", help="the one account (利用者ID)")
    ap.add_argument("--password-env", default="CORE_SYSTEM_PASSWORD", help="variable holding its password")
    ap.add_argument("--password-file", type=Path, help="file holding its password (instead of the variable)")
    ap.add_argument("--delay", type=float, default=Behaviour.delay, help="mean seconds per response")
    ap.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered with a 500")
    ap.add_argument("--session-minutes", type=float, default=15.0, help="idle minutes before a session expires")
    ap.add_argument("--maintenance", default="02:00-04:00", help="daily window HH:MM-HH:MM, or 'none'")
    ap.add_argument("--control", action="store_true", help="answer /_control and /_records (tests, benchmarks)")
    args = ap.parse_args(argv)
    if args.password_file:
        password = args.password_file.read_text(encoding="utf-8").strip() if args.password_file.exists() else ""
    else:
        password = os.environ.get(args.password_env, "")
    if not password:
        print(f"set {args.password_env} (or write --password-file) to the account's password", file=sys.stderr)
        return 2
    window = None if args.maintenance == "none" else tuple(args.maintenance.split("-", 1))
    core = CoreSystem(args.db, {args.user: password}, Behaviour(delay=args.delay, error_rate=args.error_rate,
                      session_seconds=args.session_minutes * 60, maintenance=window), control=args.control)
    server = core.serve(args.port)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    if args.url_file:
        args.url_file.parent.mkdir(parents=True, exist_ok=True)
        args.url_file.write_text(url + "\n")
    print(f"core system stand-in on {url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
