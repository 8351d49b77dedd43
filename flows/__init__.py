"""Prefect flows and the tasks they run, the only room that knows Prefect: `orchestrate` (the
watched folder's `reconcile` and `process_document`, and `batch`) over `intake` and `batch`,
`review` and `entry`, with `pipeline` (the reading stages wired together), `verify` (what review
and entry record) and `handoff` (one flow starting another by deployment name). Sub-packages:
`cli` (the command line), `service` (server, watcher, drop), `reports` (Excel), `bench`. May
import ocr, rpa, schemas; the flows import neither cli, service nor bench."""
