"""The `madoguchi` command line, one module per command group: `forms` (forms and samples),
`process` (process, evaluate), `service` (server, watch, drop, batch), `review` (review,
calibrate, correct), `entry`, `data` (purge, backup) and `bench` (the benchmarks and the ledger).
`common` holds the exit codes, UsageError and the file collection they share; `summary` prints a
batch for the terminal. Library code raises; only this package turns errors into exit codes. It
may import everything else under flows/ and below; nothing imports it (the console script and
`python -m flows.cli` call `main`)."""

from __future__ import annotations

import argparse
import sys

from flows.cli import bench, data, entry, forms, process, review, service
from flows.cli.common import EXIT_FAILED, EXIT_INSTALL, EXIT_OK, EXIT_USAGE, UsageError, collect

__all__ = ["EXIT_FAILED", "EXIT_INSTALL", "EXIT_OK", "EXIT_USAGE", "UsageError", "build_parser", "collect", "main"]

# in the order `madoguchi --help` lists them
COMMANDS = (
    forms.add_forms, forms.add_samples, process.add_process, process.add_evaluate, bench.add_digits,
    bench.add_bench, bench.add_bench_replay, bench.add_bench_prefect, bench.add_report, service.add_server, service.add_drop,
    service.add_batch, review.add_review, review.add_correct, review.add_calibrate, service.add_watch, service.add_reader,
    entry.add_entry, bench.add_bench_entry, bench.add_bench_fuzz, bench.add_bench_chaos, data.add_purge, data.add_backup,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="madoguchi", description="Read handwritten municipal application forms.")
    sub = p.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from flows.home import close_home, owner_only
    from schemas.settings import Settings

    owner_only()  # residents' data: what this process and its children create is owner-only
    args = build_parser().parse_args(argv)
    if getattr(args, "format", "unset") is None:
        args.format = ["png"]
    settings = Settings()
    if settings.home.is_dir():  # made earlier with looser modes: closed before anything is read or written
        close_home(settings.home)
    try:
        return args.func(args, settings)
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
