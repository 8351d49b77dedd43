"""The service on the office PC: `server` starts and stops the Prefect server, the worker, the
inbox watcher and the stand-in core system (pid files and logs under the data root); `watcher`
is the watcher process itself (it asks for a `reconcile` run when scans arrive); `drop` puts scans
into the inbox the way a scanner should and waits for them to be filed; `backup` copies the
database while the service runs. May import the flows'
modules (flows.intake, flows.entry, flows.pipeline), schemas and Prefect; never flows.cli, and the
flows never import it."""
