"""`madoguchi purge [--dry-run]` and `backup --out FILE`: residents' data kept only as long as the
city's retention says, and a copy of the database that can be restored."""

from __future__ import annotations

from pathlib import Path

from flows.cli.common import EXIT_FAILED, EXIT_OK


def add_purge(sub) -> None:
    p = sub.add_parser("purge", help="delete scans, field images and screenshots of entered documents past "
                       "MADOGUCHI_RETENTION__DAYS (the database rows stay)")
    p.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    p.set_defaults(func=cmd_purge)


def add_backup(sub) -> None:
    b = sub.add_parser("backup", help="a consistent copy of the database (SQLite), or the command to run (PostgreSQL)")
    b.add_argument("--out", required=True, help="the copy's path (written owner-only)")
    b.set_defaults(func=cmd_backup)


def cmd_purge(args, settings) -> int:
    from flows.retention import delete, expired
    from schemas.db import Store

    days = settings.retention.days
    if days is None:
        print("保存期間 (MADOGUCHI_RETENTION__DAYS) が設定されていないため、何も削除しません。")
        return EXIT_OK
    store = Store(settings.db_url)
    items = expired(store, settings)
    files = sum(not p.is_dir() for it in items for p in it.files)
    verb = "削除するもの" if args.dry_run else "削除したもの"
    print(f"{verb}: 入力から {days} 日を過ぎた書類 {len(items)} 件、ファイル {files} 個")
    if items:
        print(f"  {'書類':>4}  {'入力日':<10}  ファイル数  ファイル名")
    for it in items:
        print(f"  {it.document_id:>6}  {it.entered_at:%Y-%m-%d}  {sum(not p.is_dir() for p in it.files):>10}  {it.name}")
        for p in it.files:
            print(f"            {p}")
    if args.dry_run:
        print("（試行のみ: 何も削除していません。データベースの記録は削除しても残ります）")
        return EXIT_OK
    delete(store, items)
    print("データベースの記録（書類・項目・修正・入力）は残しています。")
    return EXIT_OK


def cmd_backup(args, settings) -> int:
    from flows.service.backup import NotSqlite, backup

    out = Path(args.out)
    try:
        backup(settings.db_url, out)
    except NotSqlite as exc:
        if exc.command:
            print("データベースは PostgreSQL です。次のコマンドでバックアップしてください"
                  "（パスワードは ~/.pgpass か PGPASSWORD で渡します）:")
            print(f"  {exc.command}")
        else:
            print("このデータベースのバックアップには、そのデータベースの道具を使ってください。")
        return EXIT_FAILED
    except FileNotFoundError as exc:
        print(f"データベースがありません: {exc}")
        return EXIT_FAILED
    print(f"バックアップを作りました: {out}（所有者のみ読み書き可）")
    return EXIT_OK
