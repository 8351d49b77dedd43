"""Match a file's pages to a form's pages: the first page says which form it is, each later page
must be that form's next page. A form of one page reads the first page and leaves the rest to the
caller (a second page may be a second application: a person looks).

Every page of every form is a candidate for the first page, so a file that starts with page 2
is told apart from one that is no form at all, and a page out of place or missing is a clear
error, never a silent misreading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ocr.errors import MissingPageError, PageOrderError, UnknownFormError, WrongPageError
from ocr.pages import PageImage
from ocr.registration import Registration, identify_and_register
from schemas.templates import FormTemplate


def page_key(page_form: FormTemplate) -> str:
    """The name a page of a form goes by in identification (and in logs): the form id for its
    first page, `id#n` for page n."""
    return page_form.id if page_form.sheet <= 1 else f"{page_form.id}#{page_form.sheet}"


def candidates(templates: Mapping[str, FormTemplate], form_id: str | None = None) -> dict[str, FormTemplate]:
    """Every page of every form (or of `form_id` only) by `page_key`."""
    if form_id is not None and form_id not in templates:
        raise KeyError(f"unknown form id {form_id!r}")
    chosen = [templates[form_id]] if form_id is not None else list(templates.values())
    return {page_key(p): p for t in chosen for p in t.page_forms()}


def register_pages(
    pages: Sequence[PageImage],
    templates: Mapping[str, FormTemplate],
    *,
    form_id: str | None = None,
    reference_dpi: float = 100,
    pool: Mapping[str, FormTemplate] | None = None,
) -> list[Registration]:
    """Identify the form from the first page and register each of its pages, in order.

    Args:
        pages: the file's pages; those after the form's last are not registered.
        templates: the known forms by id.
        form_id: when given, only this form's pages are tried.
        reference_dpi: resolution of matching.
        pool: `candidates(templates, form_id)`, when the caller keeps it (it is rebuilt otherwise).

    Returns:
        One registration per page of the form; each one's `template` is that page (`page_of`).

    Raises:
        BlankPageError, UnknownFormError: the first page is no known form.
        PageOrderError: a page of the form stands where another should.
        MissingPageError: the file has fewer pages than the form.
        WrongPageError: a later page is not the form's page it should be.
    """
    pool = pool if pool is not None else candidates(templates, form_id)
    first = identify_and_register(pages[0], pool, reference_dpi=reference_dpi)
    form = templates[first.template.id]
    src = pages[0].source
    if first.template.sheet > 1:
        raise PageOrderError(form.title, 1, first.template.sheet, source=src, page=0)
    if len(pages) < form.pages:
        raise MissingPageError(form.title, form.pages, len(pages), source=src)
    own = {k: p for k, p in pool.items() if p.id == form.id}
    regs = [first]
    for i in range(1, form.pages):
        try:
            reg = identify_and_register(pages[i], own, reference_dpi=reference_dpi)
        except UnknownFormError as exc:
            raise WrongPageError(form.title, i + 1, len(pages), source=src, page=i) from exc
        if reg.template.sheet != i + 1:
            raise PageOrderError(form.title, i + 1, reg.template.sheet, source=src, page=i)
        regs.append(reg)
    return regs
