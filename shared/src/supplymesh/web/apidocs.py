"""API docs served by the node itself: Swagger UI at ``/docs``, ReDoc at ``/redoc``.

FastAPI's default pages load Swagger UI and ReDoc from a public CDN (and ReDoc its fonts
from Google), so on a machine or network that cannot reach them the docs are a blank
page. Here the pages load the same assets from the node, under ``/docs/assets/``: the
files shipped by the ``fastapi-offline`` package (Swagger UI 5, Apache-2.0; ReDoc 2, MIT;
the package itself MIT), served read-only by a :class:`~starlette.staticfiles.StaticFiles`
mount. Nothing on either page names another host: no fonts, no favicon, no spec
validator badge. The ReDoc bundle hard-codes one image on another host (the Redocly logo
in its sidebar footer, fetched whatever the options): the node serves the bundle with
that URL replaced by an empty inline image (:func:`redoc_bundle`).

The pages, their assets and ``/openapi.json`` are public (the auth gate guards only
``/v1/`` and ``/peer/v1/``); the document itself is post-processed by
:mod:`supplymesh.web.openapi_doc`.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from supplymesh.web.openapi_doc import install_openapi_doc

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs/assets"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
REDOC_JS_URL = "/docs/redoc.standalone.js"
REDOC_EXTERNAL_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
BLANK_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"
SWAGGER_PARAMETERS: dict[str, object] = {
    "validatorUrl": None,  # the default asks validator.swagger.io, a public host
    "docExpansion": "list",
    "tryItOutEnabled": False,
    "persistAuthorization": True,
}


def assets_dir() -> Path:
    """The directory of Swagger UI's and ReDoc's files shipped by ``fastapi-offline``."""
    return Path(str(resources.files("fastapi_offline") / "static"))


@functools.cache
def redoc_bundle() -> bytes:
    """ReDoc's bundle with its one external image (the Redocly logo) replaced by an inline one."""
    return (assets_dir() / "redoc.standalone.js").read_bytes().replace(REDOC_EXTERNAL_LOGO, BLANK_IMAGE)


def install_api_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` from the node's own assets; post-process ``/openapi.json``.

    The app must be built with ``docs_url=None, redoc_url=None`` (FastAPI's CDN pages off).
    """
    install_openapi_doc(app)
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")
    _swagger_ui(app, app.openapi_url or "/openapi.json")
    _redoc(app, app.openapi_url or "/openapi.json")


def _swagger_ui(app: FastAPI, openapi_url: str) -> None:
    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} — API docs",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def _redoc(app: FastAPI, openapi_url: str) -> None:
    @app.get(REDOC_JS_URL, include_in_schema=False)
    def redoc_js() -> Response:
        headers = {"Cache-Control": "public, max-age=3600"}
        return Response(redoc_bundle(), media_type="text/javascript", headers=headers)

    @app.get(REDOC_URL, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} — API reference",
            redoc_js_url=root + REDOC_JS_URL,
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
