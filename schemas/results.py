"""What reading a document produces: the `DIR/<stem>.json` contract of `madoguchi process`."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class FieldStatus(StrEnum):
    accepted = "accepted"  # entered without a human
    needs_review = "needs_review"  # a human must look: readers disagree, low confidence, unclear ink
    invalid = "invalid"  # read consistently, but the value fails a check (may be the applicant's mistake)


class DocumentStatus(StrEnum):
    accepted = "accepted"
    needs_review = "needs_review"
    rejected = "rejected"  # could not be read at all: quarantined with a reason


class FieldResult(BaseModel):
    value: str | int | bool | None
    status: FieldStatus
    confidence: float = Field(ge=0.0, le=1.0)
    reasons: list[str] = []
    readings: dict[str, str | None] = Field(default_factory=dict, description="each engine's reading")
    label: str = ""
    kind: str = ""


class DocumentError(BaseModel):
    code: str
    message: str
    message_ja: str


class DocumentResult(BaseModel):
    source: str
    sha256: str
    form: str | None = None
    form_title: str | None = None
    pages: int = 0
    fields: dict[str, FieldResult] = {}
    status: DocumentStatus
    errors: list[DocumentError] = []
    duplicate_of: str | None = Field(None, description="source of an earlier document with the same sha256")
    registration: dict[str, float | bool] = {}
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per stage")
