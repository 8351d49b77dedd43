"""Labels, names and kinds for the writing areas found on a blank form (see `ocr.draft`).

A writing area's label is the text of the cell just left of it (a ruled table's label column),
else the nearest printed line left of it on its row. The label's words give the field's kind and a
romanised name; the person checks both. All positions are mm from the page's top-left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pydantic import ValidationError

from ocr.draft_fields import (
    Candidate, PagePrint, Proposal, TextLine, candidates, in_reading_order, inside, printed_eras, union, v_overlap,
)
from ocr.draft_parts import date_parts, glyphs_inside, phone_parts
from ocr.draft_words import (
    USUALLY_REQUIRED, VALIDATORS, kind_of, name_of, office_boxes, option_names, sections,
)
from ocr.layout import layout_field
from schemas.templates import ERAS as ERA_LABELS, Box, FieldKind, FieldSpec, Option

LABEL_GAP_MM = 2.5  # a label's cell ends this close to its field's writing area
FREE_LABEL_MM = 35.0  # a label printed without a cell of its own ends within this left of its box
SUFFIX_MM = 12.0  # a narrow cell of a few printed characters right after a field is its suffix (円, 人)
SUFFIX_CHARS = 3
ROW_MM = 3.0  # fields whose tops are this close are one row, numbered left to right
SAME_CELLS_MM = 0.5  # boxes this close to the template's even split need no `cells:`
DEFAULT_ERAS = ("showa", "heisei", "reiwa")
SUFFIX_TEXT_MM = 3.0  # a word printed this close after a row of character boxes is its suffix (通, 人)


def _label_cells(cands: list[Candidate]) -> None:
    """Give each area the text of the cell just left of it, left to right along each row, so that a
    cell already labelled (a field) is never taken for the next field's label. A field whose boxes
    say what it is (郵便番号) keeps its label; the cell beside is still a label (住所, of the row under)."""
    cells = [c for c in cands if c.hole is not None and c.lines and c.kind is None]
    for c in sorted(cands, key=lambda c: c.anchor.x):
        left = [lab for lab in cells if lab is not c and not lab.label
                and -0.5 <= c.anchor.x - (lab.hole.box.x + lab.hole.box.w) <= LABEL_GAP_MM
                and v_overlap(lab.hole.box, c.anchor) >= 0.5]
        if left:
            lab = max(left, key=lambda lab: lab.hole.box.x)
            lab.is_label = True
            if not c.fixed_label:
                c.label = _main_line(lab.lines)
            elif _main_line(lab.lines) != c.label:
                c.notes.append(f"the cell beside says 「{_main_line(lab.lines)}」")


def _main_line(lines: Sequence[TextLine]) -> str:
    """A label cell's label: its tallest line (the rest is small print, such as a hint)."""
    return max(lines, key=lambda t: t.box.h).text if lines else ""


def _free_labels(cands: list[Candidate], texts: Sequence[TextLine]) -> None:
    """An area with no label cell takes the nearest printed line left of it on its row."""
    taken = [c.box for c in cands if not c.is_label]
    for c in cands:
        if c.label or c.is_label:
            continue
        cy0, cy1 = c.anchor.y, c.anchor.y + c.anchor.h
        left = [t for t in texts
                if c.anchor.x - FREE_LABEL_MM <= t.box.x + t.box.w <= c.anchor.x + 0.5
                and cy0 <= t.box.y + t.box.h / 2 <= cy1
                and not any(inside(t.box, b) for b in taken)]
        if left:
            c.label = max(left, key=lambda t: t.box.x + t.box.w).text
            c.notes.append("label: the nearest printed text left of the box")


def _suffixes(cands: list[Candidate]) -> list[Candidate]:
    """A narrow cell with a word or two in it right after a field (円, 人) becomes its suffix."""
    out = list(cands)
    for s in cands:
        if s.hole is None or s.is_label or s.label or not s.lines or s.hole.box.w > SUFFIX_MM:
            continue
        text = s.printed.replace(" ", "")
        if len(text) > SUFFIX_CHARS:
            continue
        for c in out:
            gap = s.box.x - (c.box.x + c.box.w)
            if c is not s and c.kind not in (FieldKind.choice, FieldKind.checkbox, FieldKind.wareki_date) \
                    and -1.0 <= gap <= 1.0 and abs(c.box.y - s.box.y) <= 0.8 and abs(c.box.h - s.box.h) <= 0.8:
                c.box, c.suffix = union([c.box, s.box]), text
                out.remove(s)
                break
    return out


def _beside(cands: list[Candidate]) -> list[Candidate]:
    """A cell with nothing but print in it, right after a field's on its row and labelling nothing
    (「請求者からみた続柄（例：長男、長女）」), is a note on that field; a word or two printed right after
    a row of character boxes (通, 人) is its suffix."""
    out = list(cands)
    for s in cands:
        if s.hole is None or s.is_label or s.label or not s.lines:
            continue
        for c in out:
            gap = s.anchor.x - (c.box.x + c.box.w)
            if c is not s and not c.is_label and v_overlap(c.box, s.box) >= 0.5 and -1.0 <= gap <= LABEL_GAP_MM:
                c.notes.append(f"printed beside it: 「{s.printed}」")
                out.remove(s)
                break
    for c in out:
        if c.cells and not c.suffix:
            after = [t for t in c.context if 0 <= t.box.x - (c.box.x + c.box.w) <= SUFFIX_TEXT_MM
                     and v_overlap(t.box, c.box) >= 0.5 and len(t.text.replace(" ", "")) <= SUFFIX_CHARS]
            if after:
                c.suffix = min(after, key=lambda t: t.box.x).text.replace(" ", "")
    return out


def _same_boxes(found: Sequence[Box], laid_out: Sequence[Box]) -> bool:
    return len(found) == len(laid_out) and all(
        abs(a.x - b.x) <= SAME_CELLS_MM and abs(a.y - b.y) <= SAME_CELLS_MM
        and abs(a.w - b.w) <= SAME_CELLS_MM and abs(a.h - b.h) <= SAME_CELLS_MM
        for a, b in zip(sorted(found, key=lambda b: b.x), sorted(laid_out, key=lambda b: b.x)))


def _tenth(b: Box) -> Box:
    """A box to 0.1 mm, as the YAML gives it."""
    return Box(x=round(b.x, 1), y=round(b.y, 1), w=round(b.w, 1), h=round(b.h, 1))


def _date(c: Candidate, d: dict, dashes: Sequence[Box]) -> list[str]:
    """A date's eras, and where the paper has no boxes for it its parts and circled eras."""
    found = None if c.cells else date_parts(c.box, glyphs_inside(c.box, [g for t in c.lines for g in t.glyphs], dashes))
    if found is not None:
        parts, eras, circled = found
        d["parts"] = tuple(_tenth(b) for b in parts)
        d["eras"] = eras or ("reiwa",)
        if circled:
            d["options"] = [Option(name=key, label=ERA_LABELS[key], box=_tenth(b)) for key, b in circled]
        notes = ["written freely: the parts are the gaps before the printed 年, 月 and 日"]
        return notes + ([] if eras else ["eras: none printed, so reiwa is a guess; list the eras the form allows"])
    d["eras"] = printed_eras(c.printed) or DEFAULT_ERAS
    notes = [] if printed_eras(c.printed) else [
        "eras: none printed, so a guess; list those the form lets the applicant circle"]
    laid = [b for part in layout_field(FieldSpec(**d), 1.0).date_parts.values() for b in part]
    if not _same_boxes(c.cells, laid):
        notes.append("the paper's date is neither Madoguchi's (era, then 2 boxes each for 年 月 日) nor 年 月 日 "
                     "printed with room before each: measure the parts (README, \"The city's existing form\")")
    return notes


def _spec_fields(c: Candidate, name: str, kind: FieldKind, dashes: Sequence[Box]) -> tuple[dict, list[str]]:
    """What the field's YAML holds, and what the person should check about it."""
    d: dict = {"name": name, "label": c.label, "kind": kind, "box": _tenth(c.box), "page": c.page}
    notes: list[str] = []
    if c.suffix:  # before the boxes are compared with the template's split: it narrows the writing area
        d["suffix"] = c.suffix
        if kind == FieldKind.digits:
            d["exact_length"] = False  # a count (人, 週): fewer digits than boxes is fine
            d["char_boxes"] = 1
    if kind == FieldKind.wareki_date:
        notes += _date(c, d, dashes)
    elif kind == FieldKind.phone:
        parts = c.parts or (None if c.cells else phone_parts(c.box, glyphs_inside(
            c.box, [g for t in c.lines + c.context for g in t.glyphs], dashes)))
        if parts:
            d["parts"] = tuple(_tenth(b) for b in parts)
    elif kind == FieldKind.choice:
        names = option_names([text for text, _ in c.options])
        d["options"] = [Option(name=n, label=text or n, box=_tenth(b)) for n, (text, b) in zip(names, c.options)]
    elif c.cells and kind != FieldKind.checkbox:
        if kind == FieldKind.postal_code and len(c.cells) != 7:
            kind = d["kind"] = FieldKind.digits
            notes.append(f"{len(c.cells)} boxes: not a postal code's 7, so digits")
        d["char_boxes"] = len(c.cells)
        if not _same_boxes(c.cells, layout_field(FieldSpec(**d), 1.0).cells):
            d["cells"] = tuple(_tenth(b) for b in c.cells)
            notes.append("its character boxes are not evenly spaced: each is given (cells)")
    d["validators"] = VALIDATORS.get(name) or (("postal_code_exists",) if kind == FieldKind.postal_code else ())
    if name in USUALLY_REQUIRED:
        notes.append("usually required: add required: true if the form asks for it")
    return d, notes


def _field_spec(c: Candidate, name: str, kind: FieldKind, dashes: Sequence[Box]) -> tuple[FieldSpec, list[str]]:
    d, notes = _spec_fields(c, name, kind, dashes)
    try:
        return FieldSpec(**d), notes
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        plain = {"name": name, "label": c.label, "kind": FieldKind.text, "box": _tenth(c.box), "page": c.page}
        return FieldSpec(**plain), [*notes, f"proposed as {kind.value} but refused ({reason}): made text"]


def _page_candidates(page: PagePrint, number: int) -> tuple[list[Candidate], list[str]]:
    """One page's writing areas, labelled, in reading order, and the office's boxes left out."""
    holes, texts, left_out = office_boxes(page.holes, page.texts)
    cands = candidates(holes, texts, page.dashes)
    _label_cells(cands)
    cands = _beside(_suffixes([c for c in cands if not c.is_label]))
    _free_labels(cands, texts)
    section = sections(holes, texts)
    for c in cands:
        c.page, c.section = number, section(c.anchor)
    return in_reading_order(cands, ROW_MM), [f"{what} (page {number})" for what in left_out]


def propose(pages: Sequence[PagePrint]) -> tuple[list[Proposal], list[str]]:
    """The fields of a blank form from each page's print, numbered in reading order page after
    page, and the office's own boxes left out (受付印 [x, y, w, h] (page n))."""
    cands: list[tuple[Candidate, Sequence[Box]]] = []
    left_out: list[str] = []
    for number, page in enumerate(pages, start=1):
        found, office = _page_candidates(page, number)
        cands += [(c, page.dashes) for c in found]
        left_out += office
    out: list[Proposal] = []
    used: set[str] = set()
    for number, (c, dashes) in enumerate(cands, start=1):
        label_read = "" if c.fixed_label else c.label
        if not c.label and c.lines:
            c.label = c.printed
            c.notes.append("no label beside it: its label is the text printed inside")
        elif not c.label:
            c.notes.append("no label found: write one")
        kind = c.kind or kind_of(c)
        spec, notes = _field_spec(c, name_of(c.label, c.section, kind, number, used), kind, dashes)
        marks = c.cells or spec.parts + tuple(o.box for o in spec.options if o.box)
        out.append(Proposal(number, spec, label_read, c.printed, tuple(c.notes + notes), marks, c.section))
    if "postal_code" not in used:  # no postal code to check the address against: the town must exist
        out = [_replaced(p, "address_matches_postal_code", "address_exists") for p in out]
    return [_tied(p, out) for p in out], left_out


TIE_MM = 3.0  # a フリガナ box this close above or below a name's box is that name's reading


def _tied(p: Proposal, out: Sequence[Proposal]) -> Proposal:
    """A kana field with `reading_of` the name field on the same page right below or above it."""
    if p.spec.kind != FieldKind.kana:
        return p
    k = p.spec.box
    for q in out:
        n = q.spec.box
        near = min(abs(n.y - (k.y + k.h)), abs(k.y - (n.y + n.h))) <= TIE_MM
        if q.spec.kind == FieldKind.name_kanji and q.spec.page == p.spec.page and near and \
                min(k.x + k.w, n.x + n.w) - max(k.x, n.x) > 0.5 * min(k.w, n.w):
            return replace(p, spec=p.spec.model_copy(update={"reading_of": q.spec.name}))
    return p


def _replaced(p: Proposal, validator: str, by: str) -> Proposal:
    spec = p.spec.model_copy(update={"validators": tuple(by if v == validator else v for v in p.spec.validators)})
    return replace(p, spec=spec)
