"""`madoguchi forms list|render` and `madoguchi samples generate`: the form templates, printed
blank or filled in by the sample generator."""

from __future__ import annotations

from pathlib import Path

from flows.cli.common import EXIT_OK, all_forms, form_template


def add_forms(sub) -> None:
    forms = sub.add_parser("forms", help="the form templates").add_subparsers(dest="forms_cmd", required=True)
    forms.add_parser("list", help="one form per line: id, title").set_defaults(func=cmd_forms_list)
    r = forms.add_parser("render", help="print a blank form as PDF")
    r.add_argument("form_id")
    r.add_argument("--out", required=True)
    r.set_defaults(func=cmd_forms_render)


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


def cmd_samples_generate(args, settings) -> int:
    from samples.generator.draw import generate

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    forms = [args.form] if args.form else list(all_forms(settings))
    for form_id in forms:
        for p in generate(form_template(settings, form_id), args.count, args.seed, out, formats=tuple(args.format)):
            print(p)
    return EXIT_OK
