"""The review server: a web page and a JSON API over one project (SPEC 12).

:func:`~recoil.server.app.create_app` builds the FastAPI app; ``recoil review``
serves it on uvicorn. The server holds no business logic: every read is
:func:`recoil.production.catalog.load_catalog`, every decision a function of
:mod:`recoil.production.review`, a run :func:`recoil.production.run.run_production`,
a generation :func:`recoil.dispatch.dispatch_async`, the cut
:func:`recoil.production.export.export_current`.

Modules: :mod:`.app` (the factory, the Host check, errors as JSON),
:mod:`.token` (the write token), :mod:`.runs` (the run started from the page
and its live progress), :mod:`.exports` (re-cutting after a change),
:mod:`.routes` (one router per resource), ``static/`` (the page).
"""
