"""`madoguchi review list|export`, `calibrate` and `correct`: the review queue, what reviewers'
corrections teach, and a value found wrong after it was recorded."""

from __future__ import annotations

import json
from pathlib import Path

from flows.cli.common import EXIT_OK, UsageError, form_template, form_titles


def add_review(sub) -> None:
    rv = sub.add_parser("review", help="the review queue: list it, or export reviewed fields for training")
    rv.add_argument("action", choices=["list", "export"])
    rv.add_argument("--json", action="store_true", help="list: JSON for scripts")
    rv.add_argument("--out", help="export: folder for images/ and rec_gt.txt")
    rv.set_defaults(func=cmd_review)


def add_correct(sub) -> None:
    co = sub.add_parser("correct", help="record a value found wrong after it was recorded (counts in the ledger)")
    co.add_argument("document_id", type=int)
    co.add_argument("field", help="field name, e.g. birth_date")
    co.add_argument("value", help="the right value as written on the paper (dates: 令和8年11月27日)")
    co.add_argument("--who", required=True, help="who found it (recorded)")
    co.set_defaults(func=cmd_correct)


def add_calibrate(sub) -> None:
    cb = sub.add_parser("calibrate", help="per-kind thresholds recalculated from reviewers' corrections")
    cb.add_argument("--max-error", type=float, default=0.001, help="target error among accepted fields (0.001 = 0.1%%)")
    cb.set_defaults(func=cmd_calibrate)


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
    titles = form_titles(settings)
    from flows.service.server import status

    st = status(settings)  # reviewers sit at their own desks when the UI is on the office network
    items = learn.queue(store, titles, st["office_ui"] or st["ui"])
    if args.json:
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return EXIT_OK
    from flows.cli.summary import fit_width

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
    template = form_template(settings, doc.form)
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
