"""A Jupyter server extension that serves the built book at ``/ppedu-book/`` (``make course``).

Why not JupyterLab's own ``/files/`` URL: it serves HTML in a CSP sandbox without same-origin,
where the book's stylesheets, scripts and MathJax are refused (the page shows unstyled text and
raw LaTeX). This handler serves ``<root_dir>/book/`` (``make book`` writes it there) as plain
static files, read-only, so every notebook's Reading link (``ppedu.instructor.book.build.reading_link``)
opens the chapter, styled, formulas rendered by the MathJax shipped with the book, offline.

Enabled per server by ``make course``:
``jupyter lab --ServerApp.jpserver_extensions="{'ppedu.instructor.book.server': True}"``.
"""

from __future__ import annotations

from pathlib import Path

PREFIX = "ppedu-book"   # the URL path under the server's base_url


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "ppedu.instructor.book.server"}]


def _load_jupyter_server_extension(serverapp) -> None:
    from jupyter_server.utils import url_path_join
    from tornado import web

    class BookHandler(web.StaticFileHandler):
        def set_extra_headers(self, path: str) -> None:
            self.set_header("Cache-Control", "no-cache")   # a rebuilt book shows at once

    book = Path(serverapp.root_dir) / "book"
    pattern = url_path_join(serverapp.web_app.settings["base_url"], PREFIX, "(.*)")
    serverapp.web_app.add_handlers(".*$", [
        (pattern, BookHandler, {"path": str(book), "default_filename": "index.html"})])
    serverapp.log.info("ppedu: serving the book in %s at /%s/", book, PREFIX)
