"""Shared fixtures: the real engines (the two line engines and the digit reader, as the product
runs them by default) are loaded once per test session (they take ~15 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"


@pytest.fixture(scope="session")
def engines():
    from ocr.readers import load_engines

    return load_engines(["paddle", "rapid", "digit"], threads=2)


@pytest.fixture
def settings(tmp_path, monkeypatch):
    from schemas.settings import Settings

    monkeypatch.setenv("MADOGUCHI_HOME", str(tmp_path / "home"))
    return Settings()


@pytest.fixture
def reader(settings, engines):
    from flows.pipeline import Reader

    return Reader(settings, engines=engines)


def copy_forms(folder: Path) -> Path:
    """The built-in templates and the blanks they name, copied into `folder` (a test adds its own form there)."""
    import shutil

    from schemas.templates import FORMS_DIR

    folder.mkdir(parents=True, exist_ok=True)
    for f in FORMS_DIR.glob("*.*"):
        shutil.copy(f, folder)
    return folder


def reader_for(settings, engines, forms: Path):
    """A Reader of the forms in `forms` (a test's own folder) with the session's engines."""
    from flows.pipeline import Reader

    return Reader(settings.model_copy(update={"ocr": settings.ocr.model_copy(update={"forms_dir": forms})}),
                  engines=engines)
