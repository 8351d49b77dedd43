"""How a form's fields land on a core system's data-entry screen: declared per form in a YAML file
(rpa/mappings/<system>/<form>.yaml), so pointing a bot at a new screen (the national standard
systems) is an edit of data, not of code."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from schemas.templates import FieldKind, FormTemplate

How = Literal["text", "date", "select", "checkbox"]
_HOW_BY_KIND = {FieldKind.wareki_date: "date", FieldKind.choice: "select", FieldKind.checkbox: "checkbox"}


class FieldMap(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    source: str = Field(alias="from", description="our field name in the form template")
    target: str = Field(alias="to", description="the screen's label for the input (date: the group's label)")
    how: How | None = Field(None, alias="as", description="input kind; default from the field's kind")
    options: dict[str, str] = Field({}, description="our option name -> the screen's option label; "
                                    "default: the template's Japanese labels")


class EntryMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    form: str
    screen: str = Field(description="path of the data-entry screen on the core system, e.g. /entry/jidou_teate")
    title: str = Field(description="the procedure's name on the core system, for logs and evidence")
    key_target: str = Field("備考", description="label of the searchable input the idempotency key is written to")
    key_text: str = Field("AI-OCR入力 {key}", description="what is written there; {key} is replaced")
    checked_text: str = Field("該当", description="how the confirmation screen shows a ticked checkbox")
    unchecked_text: str = Field("非該当", description="how it shows an unticked one")
    fields: list[FieldMap]

    def how(self, fm: FieldMap, template: FormTemplate) -> How:
        return fm.how or _HOW_BY_KIND.get(template.field(fm.source).kind, "text")

    def source_of(self, target: str) -> str | None:
        return next((f.source for f in self.fields if f.target == target), None)


def load_mappings(folder: Path, templates: dict[str, FormTemplate]) -> dict[str, EntryMapping]:
    """Every mapping in the folder, checked against its form: a field that does not exist is an error
    at load time, not a blank input on the screen."""
    out = {}
    for path in sorted(folder.glob("*.yaml")):
        m = EntryMapping.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        if m.form not in templates:
            raise ValueError(f"{path}: no form template {m.form!r}")
        names = {f.name for f in templates[m.form].fields}
        unknown = [f.source for f in m.fields if f.source not in names]
        if unknown:
            raise ValueError(f"{path}: {m.form} has no field(s) {unknown}")
        out[m.form] = m
    return out
