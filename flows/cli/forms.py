"""`madoguchi forms list|render|draft|check` and `madoguchi samples generate`: the form templates,
printed blank, proposed from a city's blank, checked against real scans, or filled in by the sample
generator."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from flows.cli.common import EXIT_FAILED, EXIT_OK, UsageError, all_forms, collect, form_template


def add_forms(sub) -> None:
    forms = sub.add_parser("forms", help="the form templates").add_subparsers(dest="forms_cmd", required=True)
    forms.add_parser("list", help="one form per line: id, title").set_defaults(func=cmd_forms_list)
    r = forms.add_parser("render", help="print a blank form as PDF")
    r.add_argument("form_id")
    r.add_argument("--out", required=True)
    r.set_defaults(func=cmd_forms_render)
    d = forms.add_parser("draft", help="propose a template from a city's blank form: YAML on stdout, "
                         "and a picture of the blank with every proposed box numbered")
    d.add_argument("blank", help="the blank form: a PDF (every page) or a scan")
    d.add_argument("--id", required=True, dest="form_id", help="the form's id: lower case, digits, _")
    d.add_argument("--title", required=True, help="the form's Japanese title")
    d.add_argument("--picture", help="where to write the numbered picture of page 1 (default: ID-draft.png "
                   "here; page 2 beside it as ID-draft-p2.png...)")
    d.add_argument("--engine", choices=["rapid", "paddle"], default="rapid", help="reads the printed labels")
    d.add_argument("--page-size", nargs=2, type=float, metavar=("W", "H"),
                   help="the paper in mm (default: from the file; A4 for a scan without a dpi)")
    d.set_defaults(func=cmd_forms_draft)
    c = forms.add_parser("check", help="draw each field's boxes and reading on scans registered to a form: "
                                       "DIR/<scan>-check.png, one line per scan")
    c.add_argument("form_id")
    c.add_argument("scans", nargs="+", help="scans of the form, files or folders")
    c.add_argument("--out", required=True, help="folder for the pictures")
    c.add_argument("--no-grid", action="store_true", help="no 10 mm grid on the pictures")
    c.set_defaults(func=cmd_forms_check)


def add_samples(sub) -> None:
    samples = sub.add_parser("samples", help="generated sample scans").add_subparsers(dest="samples_cmd", required=True)
    g = samples.add_parser("generate", help="draw filled, scanned forms with their truth")
    g.add_argument("--form", help="form id (default: every form)")
    g.add_argument("--count", type=int, default=3)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--out", required=True)
    g.add_argument("--format", action="append", choices=["png", "jpg", "pdf", "tif"],
                   help="file format (repeat for several; default png)")
    g.set_defaults(func=cmd_samples_generate)


def cmd_forms_list(args, settings) -> int:
    for t in all_forms(settings).values():
        print(f"{t.id}\t{t.title}\t{len(t.fields)}項目")
    return EXIT_OK


def cmd_forms_render(args, settings) -> int:
    from ocr.render import render_pdf

    out = render_pdf(form_template(settings, args.form_id), Path(args.out))
    print(out)
    return EXIT_OK


def cmd_forms_draft(args, settings) -> int:
    from ocr.draft import draft_form
    from ocr.draft_output import draft_picture, draft_yaml, picture_names
    from ocr.errors import MadoguchiError
    from ocr.readers import load_engines

    blank = Path(args.blank)
    if not blank.is_file():
        raise UsageError(f"no such file: {blank}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", args.form_id):
        raise UsageError(f"--id {args.form_id!r}: lower case letters, digits and _, starting with a letter")
    picture = Path(args.picture or f"{args.form_id}-draft.png")
    try:
        draft = draft_form(blank, load_engines([args.engine], settings.ocr.threads)[0],
                           page_size=tuple(args.page_size) if args.page_size else None)
    except MadoguchiError as exc:
        raise UsageError(str(exc)) from exc
    text = draft_yaml(draft, args.form_id, args.title, blank.name, picture.name)
    pictures = [picture.with_name(n) for n in picture_names(picture.name, len(draft.pages))]
    for n, path in enumerate(pictures, start=1):
        draft_picture(draft, page_number=n).save(path)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()  # the note below goes after the YAML, not into its last line, when both show in a terminal
    print(f"{len(draft.proposals)} fields proposed on {len(draft.pages)} page(s); numbered on "
          f"{', '.join(map(str, pictures))}", file=sys.stderr)
    return EXIT_OK


def cmd_forms_check(args, settings) -> int:
    """One line per scan, tab-separated: the scan, then key=value (form, score, identified, second,
    upside_down, accepted, review, picture), or error=code and the Japanese message."""
    from flows.check import check_scan
    from ocr.paging import page_key
    from flows.pipeline import Reader
    from ocr.errors import MadoguchiError, PopplerMissingError

    form_template(settings, args.form_id)  # an unknown id is a usage error before the models load
    files = collect([Path(p) for p in args.scans])
    out = Path(args.out)
    reader = Reader(settings)  # as `process` reads; check records nothing, so the database is never opened
    failed, used = 0, set()
    for path in files:
        name = _picture_name(path.stem, used)
        try:
            c = check_scan(reader, path, args.form_id, out / name, grid=not args.no_grid)
        except PopplerMissingError:
            raise  # a broken installation, not a bad scan
        except MadoguchiError as exc:
            print(f"{path}\terror={exc.code}\t{exc.message_ja}", flush=True)
            failed += 1
            continue
        ident = c.identified
        found = page_key(ident.template) if ident is not None else None
        second = ident.second_best if ident is not None else None
        statuses = [f.status.value for f in c.result.fields.values()]
        print("\t".join([
            str(path), f"form={args.form_id}", f"score={c.score:.4f}",
            f"identified={found}:{ident.score:.4f}" if ident is not None else "identified=-",
            f"second={second[0]}:{second[1]:.4f}" if second else "second=-",
            f"upside_down={'yes' if c.registration.upside_down else 'no'}",
            f"accepted={statuses.count('accepted')}", f"review={len(statuses) - statuses.count('accepted')}",
            f"picture={','.join(map(str, c.pictures))}",
        ]), flush=True)
        if ident is None:
            note = f"識別だけでは様式を決められませんでした ({c.not_identified})"
        elif found != args.form_id:
            note = f"識別では {found} と判定されます。様式が正しいか確かめてください。"
        else:
            continue
        print(f"  注意: {note}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _picture_name(stem: str, used: set[str]) -> str:
    """`<stem>-check.png`, numbered when two scans of this run share a stem."""
    name, n = f"{stem}-check.png", 2
    while name in used:
        name, n = f"{stem}-{n}-check.png", n + 1
    used.add(name)
    return name


def cmd_samples_generate(args, settings) -> int:
    from samples.generator.draw import generate

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    forms = [args.form] if args.form else list(all_forms(settings))
    for form_id in forms:
        for p in generate(form_template(settings, form_id), args.count, args.seed, out, formats=tuple(args.format)):
            print(p)
    return EXIT_OK
