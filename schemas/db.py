"""Database tables (SQLModel) and the small store that writes a document in one transaction.

SQLite under the data root by default; any SQLAlchemy URL (PostgreSQL) by setting.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, Text, inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError
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


class Review(SQLModel, table=True):
    """One review of one document: a suspended Prefect run waiting for a person. A document may have
    several (an expired review is opened again); at most one is `open`."""

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    flow_run_id: str | None = Field(default=None, index=True)
    state: str = Field(default="open", index=True)  # open | validated | rejected | expired
    fields: int = 0  # fields the reviewer is asked about
    reviewer: str = ""
    reject_reason: str = ""
    attempts: int = 0  # forms submitted, invalid ones included
    opened_at: datetime = Field(default_factory=_now)
    closed_at: datetime | None = None


class Correction(SQLModel, table=True):
    """A reviewer's decision on one field: the value before and after (equal when the reading was
    confirmed as it was). The ground truth that thresholds are calibrated on and models trained on."""

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    review_id: int | None = Field(default=None, foreign_key="review.id", index=True)
    field: str
    kind: str
    status_before: str  # the field's decision: needs_review | invalid (accepted: found wrong later)
    confidence: float
    reasons: str = ""  # why the field was doubted, comma-separated, as on the field row
    before: str | None = Field(default=None, sa_column=Column(Text))  # JSON value as read
    after: str | None = Field(default=None, sa_column=Column(Text))  # JSON value as confirmed
    changed: bool = False
    reviewer: str = ""
    seconds: float = 0.0  # from the review's opening to the reviewer's submission
    source: str = "review"  # review | core_system
    created_at: datetime = Field(default_factory=_now)


class Entry(SQLModel, table=True):
    """A document's entry into one core system. The key is written into the record (備考) too, so the
    bot finds a record it created even when the answer to 登録 was lost, or our database was."""

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    system: str = Field(index=True)
    key: str = Field(index=True, unique=True, max_length=64)
    state: str = Field(default="pending", index=True)  # pending | entered | manual | refused | failed
    receipt: str | None = None  # the core system's 受付番号
    created: bool = False  # this entry made the record (False: found already there by its key)
    attempts: int = 0
    failures: int = 0  # entry runs that failed for this document's own reasons since a person last looked
    message: str = Field(default="", sa_column=Column(Text))  # Japanese, for a clerk: why refused or failed
    fields: str = "[]"  # JSON list of our field names the core system refused
    evidence: str = Field(default="[]", sa_column=Column(Text))  # JSON list of screenshot paths, oldest first
    flow_run_id: str | None = None
    updated_at: datetime = Field(default_factory=_now)
    entered_at: datetime | None = None


class ReadAttempt(SQLModel, table=True):
    """A file put back in the inbox because its reading never finished (its process was killed, or
    an error of ours), counted per sha256: a file that stops every reader goes to quarantine after
    `intake.max_attempts` tries instead of being read again at every reconcile run, forever."""

    __tablename__ = "read_attempt"
    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(index=True, unique=True, max_length=64)
    attempts: int = 0
    updated_at: datetime = Field(default_factory=_now)


class Purge(SQLModel, table=True):
    """A document's files deleted under the retention setting (scan, field images, screenshots). The
    document, its fields, corrections and entry stay: the audit trail outlives the images."""

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True, unique=True)
    files: str = Field(default="[]", sa_column=Column(Text))  # JSON list of the paths deleted
    purged_at: datetime = Field(default_factory=_now)


# Columns added to a table after databases were made with it: create_all makes missing tables, not
# missing columns. table -> column -> its SQL type and default, the same in SQLite and PostgreSQL.
ADDED_COLUMNS = {"entry": {"failures": "INTEGER NOT NULL DEFAULT 0"}}


def _add_columns(engine) -> None:
    for table, columns in ADDED_COLUMNS.items():
        for name, ddl in columns.items():
            if name in {c["name"] for c in inspect(engine).get_columns(table)}:
                continue
            try:
                with engine.begin() as conn:
                    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {ddl}"))
            except DBAPIError:  # another process added it meanwhile
                if name not in {c["name"] for c in inspect(engine).get_columns(table)}:
                    raise


class Store:
    """Writes and finds documents. One instance per process; thread-safe through sessions."""

    def __init__(self, url: str):
        args = {"check_same_thread": False, "timeout": 30} if url.startswith("sqlite") else {}
        if url.startswith("sqlite:///"):  # a fresh data root: the folder is made here, not by every caller
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, connect_args=args)
        SQLModel.metadata.create_all(self.engine)
        _add_columns(self.engine)

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

    def count_attempt(self, sha256: str) -> int:
        """One more unfinished reading of this file; returns how many there have been."""
        for _ in range(2):  # a second process counting the same file first: count again on its row
            try:
                with Session(self.engine) as s, s.begin():
                    row = s.exec(select(ReadAttempt).where(ReadAttempt.sha256 == sha256)).first()
                    row = row or ReadAttempt(sha256=sha256)
                    row.attempts, row.updated_at = row.attempts + 1, _now()
                    s.add(row)
                    return row.attempts
            except IntegrityError:
                continue
        raise RuntimeError(f"could not count a reading attempt of {sha256}")

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

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def document(self, document_id: int) -> Document | None:
        with Session(self.engine) as s:
            return s.get(Document, document_id)

    def readings_of(self, field_ids: list[int]) -> dict[int, dict[str, str | None]]:
        out: dict[int, dict[str, str | None]] = {}
        if not field_ids:
            return out
        with Session(self.engine) as s:
            for r in s.exec(select(EngineReading).where(EngineReading.field_id.in_(field_ids))):
                out.setdefault(r.field_id, {})[r.engine] = r.text
        return out

    def review_for_run(self, document_id: int, flow_run_id: str, fields: int) -> Review:
        """The review a run works on: the same row every time a suspended run restarts."""
        with self.session() as s, s.begin():
            review = s.exec(select(Review).where(Review.flow_run_id == flow_run_id)).first()
            if review is None:
                review = Review(document_id=document_id, flow_run_id=flow_run_id, fields=fields)
                s.add(review)
                s.flush()
            return review

    def reviews(self, state: str | None = None) -> list[Review]:
        with Session(self.engine) as s:
            q = select(Review) if state is None else select(Review).where(Review.state == state)
            return list(s.exec(q.order_by(Review.id)))

    def documents(self, status: str) -> list[Document]:
        with Session(self.engine) as s:
            return list(s.exec(select(Document).where(Document.status == status).order_by(Document.id)))

    def set_review_state(self, review_id: int, state: str) -> None:
        with self.session() as s, s.begin():
            r = s.get(Review, review_id)
            r.state, r.closed_at = state, _now()
            s.add(r)

    def corrections(self) -> list[Correction]:
        with Session(self.engine) as s:
            return list(s.exec(select(Correction).order_by(Correction.id)))

    def entry(self, document_id: int, system: str) -> Entry | None:
        with Session(self.engine) as s:
            return s.exec(select(Entry).where(Entry.document_id == document_id, Entry.system == system)).first()

    def entries(self, state: str | None = None) -> list[Entry]:
        with Session(self.engine) as s:
            q = select(Entry) if state is None else select(Entry).where(Entry.state == state)
            return list(s.exec(q.order_by(Entry.id)))

    def fields_of(self, document_id: int) -> list[FieldValue]:
        with Session(self.engine) as s:
            return list(s.exec(select(FieldValue).where(FieldValue.document_id == document_id)))
