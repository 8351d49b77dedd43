"""Database tables (SQLModel) and the small store that writes a document in one transaction.

SQLite under the data root by default; any SQLAlchemy URL (PostgreSQL) by setting.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, Session, SQLModel, create_engine, select

from schemas.results import DocumentError, DocumentResult


def _now() -> datetime:
    return datetime.now(UTC)


class Document(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(index=True, unique=True, max_length=64)
    source: str
    form: str | None = Field(default=None, index=True)
    status: str = Field(index=True)
    pages: int = 0
    errors: str = Field(default="[]", sa_column=Column(Text))  # JSON list of {code, message, message_ja}
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


class Page(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    index: int
    registration_score: float | None = None
    upside_down: bool = False


class FieldValue(SQLModel, table=True):
    __tablename__ = "field"
    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    name: str
    label: str
    kind: str
    value: str | None = Field(default=None, sa_column=Column(Text))  # JSON-encoded value
    status: str = Field(index=True)
    confidence: float
    reasons: str = ""  # comma-separated machine-readable reasons


class EngineReading(SQLModel, table=True):
    __tablename__ = "reading"
    id: int | None = Field(default=None, primary_key=True)
    field_id: int = Field(foreign_key="field.id", index=True)
    engine: str
    text: str | None = None


class Store:
    """Writes and finds documents. One instance per process; thread-safe through sessions."""

    def __init__(self, url: str):
        args = {"check_same_thread": False, "timeout": 30} if url.startswith("sqlite") else {}
        self.engine = create_engine(url, connect_args=args)
        SQLModel.metadata.create_all(self.engine)

    def find(self, sha256: str) -> Document | None:
        with Session(self.engine) as s:
            return s.exec(select(Document).where(Document.sha256 == sha256)).first()

    def save(self, result: DocumentResult) -> int:
        """Record a document with its pages, fields and readings, all or nothing. An earlier
        rejected record of the same file (a retry) is replaced in the same transaction."""
        with Session(self.engine) as s, s.begin():
            earlier = s.exec(select(Document).where(Document.sha256 == result.sha256)).first()
            if earlier is not None and earlier.status == "rejected":  # a retry replaces only a rejection
                self._delete(s, earlier)
            doc = Document(
                sha256=result.sha256,
                source=result.source,
                form=result.form,
                status=result.status.value,
                pages=result.pages,
                errors=json.dumps([e.model_dump() for e in result.errors], ensure_ascii=False),
            )
            s.add(doc)
            s.flush()
            if result.pages and result.registration:
                s.add(Page(document_id=doc.id, index=0,
                           registration_score=float(result.registration.get("score", 0.0)),
                           upside_down=bool(result.registration.get("upside_down", False))))
            for name, f in result.fields.items():
                row = FieldValue(document_id=doc.id, name=name, label=f.label, kind=f.kind,
                                 value=None if f.value is None else json.dumps(f.value, ensure_ascii=False), status=f.status.value,
                                 confidence=f.confidence, reasons=",".join(f.reasons))
                s.add(row)
                s.flush()
                s.add_all(EngineReading(field_id=row.id, engine=e, text=t) for e, t in f.readings.items())
            return doc.id

    @staticmethod
    def errors_of(doc: Document) -> list[DocumentError]:
        return [DocumentError.model_validate(e) for e in json.loads(doc.errors or "[]")]

    @staticmethod
    def _delete(s: Session, doc: Document) -> None:
        for f in s.exec(select(FieldValue).where(FieldValue.document_id == doc.id)):
            for r in s.exec(select(EngineReading).where(EngineReading.field_id == f.id)):
                s.delete(r)
            s.delete(f)
        for p in s.exec(select(Page).where(Page.document_id == doc.id)):
            s.delete(p)
        s.delete(doc)
        s.flush()

    def fields_of(self, document_id: int) -> list[FieldValue]:
        with Session(self.engine) as s:
            return list(s.exec(select(FieldValue).where(FieldValue.document_id == document_id)))
