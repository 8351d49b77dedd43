"""Prefect flows and the tasks they run, the only room that knows Prefect: `orchestrate` (the
watched folder's `reconcile` and `process_document`, and `batch`) over `intake` and `batch`,
`review`, `entry` and `retention` (the daily purge), with `pipeline` (the reading stages wired
together), `verify` (what review and entry record), `handoff` (one flow starting another by
deployment name) and `home` (owner-only files under the data root). Sub-packages: `cli` (the
command line), `service` (server, watcher, drop, backup), `reports` (Excel), `bench`. May
import ocr, rpa, schemas; the flows import neither cli, service nor bench."""
