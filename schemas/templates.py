"""Form templates: one YAML file per form, validated by these models.

All coordinates are millimetres from the top-left corner of the page. Code converts them to
pixels at the scan's dpi. See README.md, "Adding a form", for the YAML format.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FORMS_DIR = Path(__file__).with_name("forms")


class FieldKind(StrEnum):
    """What a field holds; decides its character set, grammar, normaliser and validators."""

    text = "text"
    name_kanji = "name_kanji"
    kana = "kana"
    digits = "digits"
    postal_code = "postal_code"
    phone = "phone"
    wareki_date = "wareki_date"
    amount = "amount"
    checkbox = "checkbox"
    choice = "choice"


class Box(BaseModel):
    """A rectangle in mm from the page's top-left."""

    model_config = ConfigDict(frozen=True)

    x: float
    y: float
    w: float = Field(gt=0)
    h: float = Field(gt=0)

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, data: object) -> object:
        if isinstance(data, (list, tuple)):
            if len(data) != 4:
                raise ValueError("a box is [x, y, width, height] in mm")
            return dict(zip("xywh", data))
        return data

    def inset(self, mm: float) -> Box:
        """The box shrunk by `mm` on every side (grown when negative)."""
        return Box(x=self.x + mm, y=self.y + mm, w=max(self.w - 2 * mm, 0.1), h=max(self.h - 2 * mm, 0.1))

    def split(self, n: int) -> list[Box]:
        """Split horizontally into n equal cells (one box per character)."""
        cw = self.w / n
        return [Box(x=self.x + i * cw, y=self.y, w=cw, h=self.h) for i in range(n)]


class Option(BaseModel):
    """One tickable choice; its box is laid out by the template unless given."""

    model_config = ConfigDict(frozen=True)

    name: str
    label: str
    box: Box | None = None


ERAS = {"meiji": "明治", "taisho": "大正", "showa": "昭和", "heisei": "平成", "reiwa": "令和"}

ERA_START = {
    "meiji": date(1868, 1, 25),
    "taisho": date(1912, 7, 30),
    "showa": date(1926, 12, 25),
    "heisei": date(1989, 1, 8),
    "reiwa": date(2019, 5, 1),
}
# Last day of each era. Meiji and Taisho ended on the day the next era began (an emperor died),
# so that day belongs to both; Showa and Heisei ended the day before the next began.
ERA_END = {
    "meiji": date(1912, 7, 30),
    "taisho": date(1926, 12, 25),
    "showa": date(1989, 1, 7),
    "heisei": date(2019, 4, 30),
}


def wareki_parts(d: date) -> tuple[str, int]:
    """The era (romanised key) and year of a Gregorian date, as written on forms: (reiwa, 8)."""
    era = max((e for e, start in ERA_START.items() if start <= d), key=lambda e: ERA_START[e])
    return era, d.year - ERA_START[era].year + 1


def wareki_text(d: date) -> str:
    """A date as people write and screens show it: 令和8年11月27日 (the first year is 元年)."""
    era, year = wareki_parts(d)
    return f"{ERAS[era]}{'元' if year == 1 else year}年{d.month}月{d.day}日"


class FieldSpec(BaseModel):
    """One field of a form."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str = Field(description="Japanese label printed on the form and shown to reviewers")
    kind: FieldKind
    box: Box = Field(description="writing area in mm; the label is printed to its left")
    char_boxes: int | None = Field(None, ge=1, description="one printed box per character")
    cells: tuple[Box, ...] = Field((), description="the character boxes where the paper has them, in mm, "
                                   "when they are not evenly spaced across `box` (a postal code as 3 + 4 "
                                   "boxes around a printed hyphen); `char_boxes` is then their count")
    parts: tuple[Box, ...] = Field((), description="where the value is written freely, in mm, one short "
                                   "number in each and no box per character: a wareki_date's year, month "
                                   "and day (three), a phone number's groups (two or three)")
    required: bool = False
    exact_length: bool = Field(True, description="digits: every character box must be filled (not for counts)")
    options: tuple[Option, ...] = Field((), description="a choice's options; a wareki_date with parts: where "
                                        "each era is printed to be circled (name = era key, box given)")
    eras: tuple[str, ...] = Field((), description="wareki_date: eras printed to be circled")
    suffix: str = Field("", description="printed after the writing area, e.g. 円 or 人")
    validators: tuple[str, ...] = ()
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="overrides the kind's default")
    hint: str = Field("", description="small print under the label, e.g. 数字ははっきりと")
    page: int = Field(1, ge=1, description="the page of the form the field is on (1: the first)")
    reading_of: str | None = Field(None, description="a kana field: the name_kanji field (same page) whose "
                                   "reading it gives; a reading that the name lists give for that name, once the "
                                   "name is accepted, is evidence of its own")

    @field_validator("eras")
    @classmethod
    def _known_eras(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [e for e in v if e not in ERAS]
        if bad:
            raise ValueError(f"unknown era {bad}; use {sorted(ERAS)}")
        return v

    @model_validator(mode="before")
    @classmethod
    def _count_cells(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("cells") and data.get("char_boxes") is None:
            data = {**data, "char_boxes": len(data["cells"])}
        if (isinstance(data, dict) and data.get("kind") == FieldKind.wareki_date and data.get("parts")
                and data.get("options") and not data.get("eras")):
            # a city's date circles one of the eras it prints: the options name them
            data = {**data, "eras": [o["name"] if isinstance(o, dict) else o.name for o in data["options"]]}
        return data

    @model_validator(mode="after")
    def _kind_needs(self) -> FieldSpec:
        if self.cells:
            if self.kind in (FieldKind.wareki_date, FieldKind.choice, FieldKind.checkbox):
                raise ValueError(f"{self.name}: a {self.kind.value} lays out its own boxes; cells are for characters")
            if self.char_boxes != len(self.cells):
                raise ValueError(f"{self.name}: char_boxes {self.char_boxes} but {len(self.cells)} cells given")
            for c in self.cells:
                self._inside("cell", c)
        if self.parts:
            self._check_parts()
        elif self.options and self.kind == FieldKind.wareki_date:
            raise ValueError(f"{self.name}: a wareki_date lays out its own era boxes; options are for one with parts")
        if self.kind == FieldKind.choice and len(self.options) < 2:
            raise ValueError(f"{self.name}: a choice needs at least two options")
        if self.kind == FieldKind.wareki_date and not self.eras:
            raise ValueError(f"{self.name}: a wareki_date needs eras")
        if self.reading_of is not None and self.kind != FieldKind.kana:
            raise ValueError(f"{self.name}: reading_of is for a kana field")
        if self.kind == FieldKind.postal_code and self.char_boxes not in (None, 7):
            raise ValueError(f"{self.name}: a postal code has 7 character boxes")
        return self

    def _inside(self, what: str, c: Box, tol: float = 0.5) -> None:
        b = self.box
        if c.x < b.x - tol or c.y < b.y - tol or c.x + c.w > b.x + b.w + tol or c.y + c.h > b.y + b.h + tol:
            raise ValueError(f"{self.name}: {what} {[c.x, c.y, c.w, c.h]} lies outside its box")

    def _check_parts(self) -> None:
        """Free-written parts: a date's year, month and day, or a phone number's two or three groups,
        inside the box and apart; a date's circled eras each where the paper prints it."""
        counts = {FieldKind.wareki_date: (3,), FieldKind.phone: (2, 3)}
        if self.kind not in counts:
            raise ValueError(f"{self.name}: parts are for a wareki_date (year, month, day) or a phone (2 or 3 "
                             f"groups); a {self.kind.value} is written in its box or its cells")
        if self.char_boxes or self.cells:
            raise ValueError(f"{self.name}: parts are written freely; give parts or char_boxes/cells, not both")
        if len(self.parts) not in counts[self.kind]:
            want = " or ".join(map(str, counts[self.kind]))
            raise ValueError(f"{self.name}: a {self.kind.value} has {want} parts, {len(self.parts)} given")
        for p in self.parts:
            self._inside("part", p)
        boxes = list(self.parts) + [o.box for o in self.options if o.box is not None]
        for i, a in enumerate(boxes):
            for c in boxes[i + 1 :]:
                if a.x < c.x + c.w and c.x < a.x + a.w and a.y < c.y + c.h and c.y < a.y + a.h:
                    raise ValueError(f"{self.name}: parts and era boxes overlap: {[a.x, a.y, a.w, a.h]} "
                                     f"and {[c.x, c.y, c.w, c.h]}")
        if self.kind != FieldKind.wareki_date:
            if self.options:
                raise ValueError(f"{self.name}: options are a choice's or a date's circled eras, not a phone's")
            return
        if len(self.eras) == 1:
            if self.options:
                raise ValueError(f"{self.name}: one era is printed, not circled; options are for two or more")
            return
        named = [o.name for o in self.options]
        if sorted(named) != sorted(self.eras) or any(o.box is None for o in self.options):
            raise ValueError(f"{self.name}: eras {list(self.eras)} are circled on the paper: give options with "
                             f"each era's name and box (where it is printed), got {named}")
        for o in self.options:
            self._inside(f"era {o.name}", o.box)  # type: ignore[arg-type]


class StaticText(BaseModel):
    """Printed text that is not a field (headings, notes)."""

    model_config = ConfigDict(frozen=True)

    text: str
    x: float
    y: float
    size: float = Field(3.5, description="character height in mm")
    page: int = Field(1, ge=1, description="the page it is printed on")


class FormTemplate(BaseModel):
    """A printable form and how to read it."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    page_size: tuple[float, float] = Field((210.0, 297.0), description="width, height in mm")
    label_width: float = Field(32.0, description="mm reserved left of each box for its label")
    texts: tuple[StaticText, ...] = ()
    fields: tuple[FieldSpec, ...]
    reference: Path | None = Field(
        None, description="the blank form as the city prints it, a PDF or a scan kept beside the YAML (a "
        "name relative to it); identification, registration and the print's ink then use it, not "
        "Madoguchi's own rendering of the template")
    pages: int = Field(1, ge=1, description="pages of the form (front and back are two); every field and "
                       "text says its `page`, and a reference PDF has one page per page of the form")
    sheet: int = Field(0, ge=0, description="set by `page_of`, not in YAML: which page of the form this "
                       "one-page view is (0: the whole form)")

    @model_validator(mode="after")
    def _unique_names(self) -> FormTemplate:
        names = [f.name for f in self.fields]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate field names: {sorted(dup)}")
        w, h = self.page_size
        for f in self.fields:
            b = f.box
            if b.x < 0 or b.y < 0 or b.x + b.w > w or b.y + b.h > h:
                raise ValueError(f"{f.name}: box lies outside the page")
        by_name = {f.name: f for f in self.fields}
        for f in self.fields:
            named = by_name.get(f.reading_of) if f.reading_of else None
            if f.reading_of and (named is None or named.kind != FieldKind.name_kanji or named.page != f.page):
                raise ValueError(f"{f.name}: reading_of {f.reading_of!r} is no name_kanji field on page {f.page}")
        for what, page in [*((f.name, f.page) for f in self.fields), *((t.text, t.page) for t in self.texts)]:
            if page > self.pages:
                raise ValueError(f"{what}: page {page}, but the form has {self.pages} page(s) (set `pages`)")
        return self

    def page_of(self, n: int) -> FormTemplate:
        """Page `n` (from 1) of the form as a one-page form of its own: what a scanned page is
        identified, registered and read against. A one-page form is its own page 1."""
        if not 1 <= n <= self.pages:
            raise ValueError(f"{self.id} has {self.pages} page(s), not {n}")
        if self.pages == 1 or self.sheet == n:
            return self
        if self.sheet:
            raise ValueError(f"{self.id}: this is page {self.sheet} alone, not the whole form")
        return self.model_copy(update={
            "sheet": n,
            "fields": tuple(f for f in self.fields if f.page == n),
            "texts": tuple(t for t in self.texts if t.page == n),
        })

    def page_forms(self) -> list[FormTemplate]:
        """Every page of the form, in order, each as `page_of` gives it (a page alone: itself)."""
        if self.sheet:
            return [self]
        return [self.page_of(n) for n in range(1, self.pages + 1)]

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def load_template(path: Path) -> FormTemplate:
    """Read and validate one template YAML file; a `reference` is found beside it."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if isinstance(data, dict) and data.get("reference"):
        reference = (path.parent / str(data["reference"])).resolve()
        if not reference.is_file():
            raise ValueError(f"{path.name}: reference {data['reference']!r} not found beside it ({reference})")
        data["reference"] = reference
    return FormTemplate.model_validate(data)


def load_templates(directory: Path = FORMS_DIR) -> dict[str, FormTemplate]:
    """All templates in a folder, by form id, in file-name order."""
    out: dict[str, FormTemplate] = {}
    for path in sorted(directory.glob("*.yaml")):
        t = load_template(path)
        if t.id in out:
            raise ValueError(f"form id {t.id!r} is defined twice ({path})")
        out[t.id] = t
    return out
