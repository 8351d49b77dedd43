"""What `madoguchi forms draft` hands the person: the proposed template as commented YAML, and a
picture of the blank with every proposed box outlined and numbered over a millimetre grid."""

from __future__ import annotations

import json

import cv2
import numpy as np
import yaml
from PIL import Image, ImageDraw

from ocr.draft import Draft
from ocr.draft_fields import Proposal
from ocr.render import PRINT_FONT, load_font, mm_to_px
from schemas.templates import Box, FormTemplate

PICTURE_DPI = 150.0
MARGIN_MM = 10.0  # white margin around the page in the picture, for the grid's numbers
FINE_GRID = (200, 222, 250)  # every 5 mm
STRONG_GRID = (120, 160, 225)  # every 10 mm, numbered on the margins
BOX_COLOUR = (220, 0, 0)
MARK_COLOUR = (240, 140, 0)  # the character boxes and tick squares inside a field


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON's syntax is YAML's)."""
    return json.dumps(text, ensure_ascii=False)


def _nums(b: Box) -> str:
    return f"[{b.x:.1f}, {b.y:.1f}, {b.w:.1f}, {b.h:.1f}]"


def picture_names(picture: str, pages: int) -> list[str]:
    """The picture of each page: ID-draft.png, then ID-draft-p2.png, ID-draft-p3.png..."""
    stem, dot, ext = picture.rpartition(".")
    if not dot:
        stem, ext = picture, "png"
    return [picture] + [f"{stem}-p{n}.{ext}" for n in range(2, pages + 1)]


def _header(draft: Draft, form_id: str, title: str, reference: str, picture: str) -> list[str]:
    pages = len(draft.pages)
    shown = " and ".join(picture_names(picture, pages)) if pages <= 2 else f"{picture} (and -p2... for each page)"
    out = [
        f"# {title}: a draft template proposed by `madoguchi forms draft` from {reference}",
        f"# ({len(draft.proposals)} fields). Check it against {shown}, where each proposed box is outlined",
        "# and numbered as [n] below, over a millimetre grid (numbers every 10 mm on the margins):",
        "#   - name: a guess from the label's words (field_N where none matched): give each its own;",
        "#   - kind: from the label's words and the print inside the box; read every 'check:' line;",
        "#   - add required: true where the form requires a field, and validators (README, \"Adding a form\");",
        "#   - delete what is not for the applicant (the office's own columns).",
    ]
    if draft.left_out:
        out.append("# Left out as the office's own (受付印 and the like), [x, y, w, h] mm:")
        out += [f"#   {what}" for what in draft.left_out]
    out += [
        f"# Boxes are mm from the page's top-left. Save this as {form_id}.yaml beside {reference} in the forms",
        f"# folder, then try it: madoguchi samples generate --form {form_id} --count 1 --out DIR, and",
        "# madoguchi process DIR --out RESULTS.",
        f"id: {form_id}",
        f"title: {_q(title)}",
        f"page_size: [{draft.page_size[0]:g}, {draft.page_size[1]:g}]",
        f"reference: {_q(reference)}",
    ]
    return out + ([f"pages: {pages}"] if pages > 1 else []) + ["fields:"]


def _field_lines(p: Proposal, pages: int) -> list[str]:
    s = p.spec
    said = f"label read: 「{p.label_read}」" if p.label_read else "no label read"
    where = f"in 「{p.section}」; " if p.section else ""
    out = [f"  # [{p.number}] {where}{said}" + (f"; printed inside: 「{p.printed}」" if p.printed else "")]
    out += [f"  #     check: {note}" for note in p.notes]
    out += [f"  - name: {s.name}", f"    label: {_q(s.label)}", f"    kind: {s.kind.value}", f"    box: {_nums(s.box)}"]
    if pages > 1:
        out.append(f"    page: {s.page}")
    if s.parts:
        out.append("    parts: [" + ", ".join(_nums(c) for c in s.parts) + "]")
    if s.cells:
        out.append("    cells: [" + ", ".join(_nums(c) for c in s.cells) + "]")
    elif s.char_boxes:
        out.append(f"    char_boxes: {s.char_boxes}")
    if not s.exact_length:
        out.append("    exact_length: false")
    if s.suffix:
        out.append(f"    suffix: {_q(s.suffix)}")
    if s.eras:
        out.append(f"    eras: [{', '.join(s.eras)}]")
    if s.validators:
        out.append(f"    validators: [{', '.join(s.validators)}]")
    if s.reading_of:
        out.append(f"    reading_of: {s.reading_of}")
    if s.options:
        out.append("    options:")
        out += [f"      - {{name: {_q(o.name)}, label: {_q(o.label)}, box: {_nums(o.box)}}}" for o in s.options if o.box]
    return out


def draft_yaml(draft: Draft, form_id: str, title: str, reference: str, picture: str) -> str:
    """The proposed template as YAML that `load_template` accepts once saved beside the blank.

    Args:
        draft: what `draft_form` found.
        form_id, title: the form's id and Japanese title.
        reference: the blank's file name, as the YAML names it.
        picture: the numbered picture's file name, for the header's instructions.

    Raises:
        pydantic.ValidationError: the proposal is not a valid template (a bug: each field was
            checked on its own already).
    """
    lines = _header(draft, form_id, title, reference, picture)
    for p in draft.proposals:
        lines += _field_lines(p, len(draft.pages))
    text = "\n".join(lines) + "\n"
    data = yaml.safe_load(text)
    FormTemplate.model_validate({**data, "reference": None})
    return text


def _grid(canvas: ImageDraw.ImageDraw, draft: Draft, dpi: float) -> None:
    w_mm, h_mm = draft.page_size
    m = mm_to_px(MARGIN_MM, dpi)
    font = load_font(str(PRINT_FONT), max(8, round(mm_to_px(2.6, dpi))))
    right, bottom = m + mm_to_px(w_mm, dpi), m + mm_to_px(h_mm, dpi)
    for strong in (False, True):  # fine lines first, so the strong ones lie on top
        for mm in range(0, int(w_mm) + 1, 5):
            if (mm % 10 == 0) == strong:
                x = m + mm_to_px(mm, dpi)
                canvas.line([x, m, x, bottom], fill=STRONG_GRID if strong else FINE_GRID, width=1)
        for mm in range(0, int(h_mm) + 1, 5):
            if (mm % 10 == 0) == strong:
                y = m + mm_to_px(mm, dpi)
                canvas.line([m, y, right, y], fill=STRONG_GRID if strong else FINE_GRID, width=1)
    for mm in range(0, int(w_mm) + 1, 10):
        x = m + mm_to_px(mm, dpi)
        canvas.text((x, m - 2), str(mm), fill=STRONG_GRID, font=font, anchor="mb")
        canvas.text((x, bottom + 2), str(mm), fill=STRONG_GRID, font=font, anchor="mt")
    for mm in range(0, int(h_mm) + 1, 10):
        y = m + mm_to_px(mm, dpi)
        canvas.text((m - 3, y), str(mm), fill=STRONG_GRID, font=font, anchor="rm")
        canvas.text((right + 3, y), str(mm), fill=STRONG_GRID, font=font, anchor="lm")


def draft_picture(draft: Draft, dpi: float = PICTURE_DPI, page_number: int = 1) -> Image.Image:
    """Page `page_number` of the blank with every proposed box on it outlined in red and numbered,
    its character boxes, parts and tick squares in orange, over a millimetre grid (fine every 5 mm,
    strong every 10 mm, numbered)."""
    m = mm_to_px(MARGIN_MM, dpi)
    scale = dpi / draft.dpi
    page = cv2.resize(draft.pages[page_number - 1], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    size = (round(page.shape[1] + 2 * m), round(page.shape[0] + 2 * m))
    grid = Image.new("RGB", size, "white")
    _grid(ImageDraw.Draw(grid), draft, dpi)
    print_ = np.full((size[1], size[0]), 255, np.uint8)
    print_[round(m):round(m) + page.shape[0], round(m):round(m) + page.shape[1]] = page
    # the print darkens the grid, as ink over graph paper
    img = Image.fromarray(np.minimum(np.asarray(grid), print_[..., None]).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    font = load_font(str(PRINT_FONT), max(10, round(mm_to_px(3.2, dpi))))

    def rect(b: Box) -> list[float]:
        return [m + mm_to_px(b.x, dpi), m + mm_to_px(b.y, dpi), m + mm_to_px(b.x + b.w, dpi), m + mm_to_px(b.y + b.h, dpi)]

    for p in (p for p in draft.proposals if p.spec.page == page_number):
        for mark in p.marks:
            draw.rectangle(rect(mark), outline=MARK_COLOUR, width=1)
        x0, y0, _, _ = r = rect(p.spec.box)
        draw.rectangle(r, outline=BOX_COLOUR, width=2)
        tag = draw.textbbox((x0 + 2, y0 + 2), str(p.number), font=font)
        draw.rectangle([tag[0] - 2, tag[1] - 2, tag[2] + 2, tag[3] + 2], fill=BOX_COLOUR)
        draw.text((x0 + 2, y0 + 2), str(p.number), fill="white", font=font)
    return img
