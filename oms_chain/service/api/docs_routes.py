"""The API's documentation page, ``/docs``: Swagger UI over ``/openapi.json``, offline.

Swagger UI's files come from npm's ``swagger-ui-dist`` (pinned in the project's
``package.json``, installed by ``make setup`` / ``oms setup`` into the toolchain's
``node_modules``) and are served by this server under ``/docs/assets``: the page loads nothing
from elsewhere. Without the package ``/docs`` answers 404 with how to install it.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from oms_chain._locations import home
from oms_chain.model.errors import InvalidInput

__all__ = ["install_docs", "swagger_ui_dir"]

_PAGE = Path(__file__).with_name("static") / "docs.html"
_NEEDED = ("swagger-ui-bundle.js", "swagger-ui.css")


def swagger_ui_dir() -> Path:
    """Where ``swagger-ui-dist`` is looked for: the toolchain's ``node_modules``."""
    return home() / "node_modules" / "swagger-ui-dist"


def install_docs(app: web.Application, directory: Path | None = None) -> None:
    """Serve ``/docs`` (the page) and ``/docs/assets/*`` (Swagger UI's files from
    ``directory``, default :func:`swagger_ui_dir`) on ``app``."""
    folder = swagger_ui_dir() if directory is None else directory
    if not isinstance(folder, Path):
        raise InvalidInput(f"directory must be a Path, got {type(folder).__name__}")
    present = all((folder / name).is_file() for name in _NEEDED)

    async def docs(request: web.Request) -> web.StreamResponse:
        if not present:
            return web.json_response(
                {
                    "error": f"Swagger UI is not installed ({folder} has no {_NEEDED[0]}): run "
                    "`make setup` (a checkout) or `oms setup` (a wheel); /openapi.json works "
                    "without it",
                    "kind": "not_configured",
                    "status": 404,
                },
                status=404,
            )
        return web.FileResponse(_PAGE)

    app.router.add_get("/docs", docs)
    if present:
        app.router.add_static("/docs/assets", folder)
