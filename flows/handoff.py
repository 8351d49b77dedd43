"""How a document passes from one flow to another: by deployment name, through the Prefect
server, never by importing the other flow. Review and entry both import this module and neither
imports the other: a validated review starts an entry run, a record the core system refuses goes
back to review, and intake opens a review for every doubtful document."""

from __future__ import annotations

from schemas.db import Document, Review, Store
from schemas.settings import Settings

REVIEW_DEPLOYMENT = "review_document/review"
REVIEW_TAG = "needs-review"
ENTRY_DEPLOYMENT = "entry/entry"


def start_entry(document_id: int, log) -> None:
    """Enter the document now rather than at the next scheduled entry run (which would take it anyway)."""
    from prefect.deployments import run_deployment

    try:
        run_deployment(ENTRY_DEPLOYMENT, parameters={"document_ids": [document_id]}, timeout=0, as_subflow=False,
                       tags=["after-review"])
    except Exception as exc:  # no entry deployment (a bare test server): the scheduled run enters it
        log.info("entry for document %s left to the scheduled run (%s)", document_id, exc)


def start_review(store: Store, doc: Document, settings: Settings, timeout_seconds: int | None = None) -> Review:
    """Create the review run from its deployment (nothing waits for it) and its open Review row."""
    from prefect.deployments import run_deployment

    params: dict[str, object] = {"document_id": doc.id}
    if timeout_seconds:
        params["timeout_seconds"] = timeout_seconds
    # not a subflow of the run that opens it (reconcile, process_document): a subflow cannot suspend
    run = run_deployment(REVIEW_DEPLOYMENT, parameters=params, timeout=0,
                         tags=[REVIEW_TAG, doc.form or "unidentified"], as_subflow=False)
    return store.review_for_run(doc.id, str(run.id), 0)


def queue_review(store: Store, doc: Document, settings: Settings, log) -> None:
    """Open the document's review run now; if that fails (no review deployment on a bare test
    server, a busy server), reconcile's next run opens it: the document is never lost."""
    try:
        start_review(store, doc, settings)
    except Exception as exc:
        log.warning("review for document %s not started yet (%s); reconcile will", doc.id, exc)
