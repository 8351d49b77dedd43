"""The stand-in core system in a thread of the test process, on a free port, and documents ready
for entry made straight in our database (from the sample scans' truth: the values as validated)."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flows.bench.entry import TRUTHS
from samples.core_system import Behaviour, CoreSystem
from samples.core_system.screens import SCREENS
from schemas.results import DocumentResult, DocumentStatus, FieldResult, FieldStatus
from schemas.templates import FormTemplate
from tests.conftest import SAMPLES

USER, PASSWORD = "madoguchi-bot", "test-password-not-secret"


@contextmanager
def core_system(db: Path, **behaviour) -> Iterator[tuple[CoreSystem, str]]:
    core = CoreSystem(db, {USER: PASSWORD}, Behaviour(**{"delay": 0.0, "maintenance": None, **behaviour}),
                      control=True)
    server = core.serve(0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield core, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def control(url: str, **ask) -> None:
    """Inject the next faults into the stand-in (see Faults in samples/core_system/app.py)."""
    req = urllib.request.Request(f"{url}/_control", data=json.dumps(ask).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()


def truth(form: str) -> dict[str, object]:
    return json.loads((SAMPLES / "scans" / f"{TRUTHS[form]}.truth.json").read_text(encoding="utf-8"))["fields"]


def save_ready(store, template: FormTemplate, values: dict[str, object], name: str, sha: str) -> int:
    """A document whose every field was accepted with these values."""
    fields = {f.name: FieldResult(value=values.get(f.name), status=FieldStatus.accepted, confidence=0.999,
                                  label=f.label, kind=f.kind.value, readings={"paddle": "x", "rapid": "x"})
              for f in template.fields}
    return store.save(DocumentResult(source=f"/inbox/{name}", sha256=sha, form=template.id, pages=1,
                                     fields=fields, status=DocumentStatus.accepted))


def stored_as_ours(record: dict, mapping, template: FormTemplate) -> dict[str, object]:
    """The core system's stored record, read back into our field values through its screen's labels."""
    screen = next(s for s in SCREENS.values() if s.title == mapping.title)
    out = {}
    for fm in mapping.fields:
        item = next(i for i in screen.items if i.label == fm.target)
        v = record["values"].get(item.id)
        spec = template.field(fm.source)
        if item.kind == "select" and v is not None:
            label = dict(item.options)[v]
            v = next(o.name for o in spec.options if o.label == label)
        elif item.kind == "number" and v is not None and spec.kind.value != "amount":
            v = str(v)
        out[fm.source] = v
    return out
