"""What every command group shares: exit codes, the error for bad arguments, the files a command
was given and the form templates."""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1  # the run went on, but some file failed: in `process` an unexpected error (see the log; the
#                 file was left in place), in `forms check` a scan that could not be read
EXIT_USAGE = 2  # bad arguments
EXIT_INSTALL = 3  # broken installation: poppler, fonts or models missing

SKIP_SUFFIXES = {".json", ".txt", ".md"}  # our own outputs, truth files, reason files, notes


class UsageError(Exception):
    """Bad arguments: the message says what to change."""


def collect(paths: list[Path]) -> list[Path]:
    """Files to read: given files as they are, folders searched recursively for documents.

    Hidden and temporary files (.part, .tmp, ~$...) are left alone.
    """
    out: list[Path] = []
    for p in paths:
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            for f in sorted(p.rglob("*")):
                if not f.is_file() or f.suffix.lower() in SKIP_SUFFIXES:
                    continue
                if f.name.startswith((".", "~$")) or f.suffix.lower() in {".part", ".tmp"}:
                    continue
                out.append(f)
        else:
            raise UsageError(f"no such file or folder: {p}")
    return out


def all_forms(settings):
    """Every form template, by id."""
    from schemas.templates import load_templates

    return load_templates(settings.ocr.forms_dir)


def form_template(settings, form_id: str):
    """One form's template; an unknown id is a usage error naming the known ones."""
    templates = all_forms(settings)
    if form_id not in templates:
        raise UsageError(f"unknown form {form_id!r}; known: {', '.join(templates)}")
    return templates[form_id]


def form_titles(settings) -> dict[str, str]:
    """Form ids to their Japanese titles."""
    return {k: t.title for k, t in all_forms(settings).items()}
