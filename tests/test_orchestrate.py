"""The Prefect flows against a real (temporary) Prefect server: runs, names, artifacts, filing."""

from __future__ import annotations

import shutil

import pytest

from flows.intake import Folders
from tests.conftest import SAMPLES


@pytest.fixture(scope="module")
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


def test_reconcile_reads_the_inbox_one_named_run_per_file(prefect_server, reader, monkeypatch):
    """GIVEN a good scan and a corrupt PDF in the inbox WHEN the reconcile flow runs THEN each file
    gets its own process_document run named 受付-<file> with a Markdown artifact, and the files end
    in done/ and quarantine/."""
    from prefect.client.orchestration import get_client

    from flows import orchestrate

    monkeypatch.setattr(orchestrate, "_reader", lambda: reader)
    folders = Folders.from_settings(reader.settings).ensure()
    shutil.copy(SAMPLES / "scans" / "long_term_care-400dpi.jpg", folders.inbox / "kaigo.jpg")
    shutil.copy(SAMPLES / "bad" / "truncated-transfer.pdf", folders.inbox / "broken.pdf")
    out = orchestrate.reconcile(settle_seconds=0.5)
    assert sorted(r["status"] for r in out) == ["accepted", "rejected"]  # the 400 dpi sample reads cleanly
    assert not any(folders.inbox.iterdir()) and not any(folders.processing.iterdir())
    assert [p.name for p in folders.done.iterdir() if p.is_file()] == ["kaigo.jpg"]

    async def runs():
        async with get_client() as client:
            flow_runs = await client.read_flow_runs()
            artifacts = await client.read_artifacts()
            return flow_runs, artifacts

    import asyncio

    flow_runs, artifacts = asyncio.run(runs())
    names = sorted(r.name for r in flow_runs)
    assert "受付-kaigo.jpg" in names and "受付-broken.pdf" in names and "受付箱の確認" in names
    assert all(r.state.is_completed() for r in flow_runs)
    kaigo = next(r for r in flow_runs if r.name == "受付-kaigo.jpg")
    assert {"inbox", "long_term_care", "accepted"} <= set(kaigo.tags)
    broken = next(r for r in flow_runs if r.name == "受付-broken.pdf")
    assert {"inbox", "unidentified", "rejected"} <= set(broken.tags)
    text = "\n".join(a.data for a in artifacts if a.type == "markdown")
    assert "要介護・要支援認定申請書" in text and "ファイルが壊れているか" in text
