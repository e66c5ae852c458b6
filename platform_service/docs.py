"""The API document's viewer, served by the service itself so `/schema` works offline.

Litestar's render plugins load their scripts from a CDN by default; a service
run beside a platform's app (or on a laptop on a train) must not depend on that.
Swagger UI's files come from the pinned `swagger-ui-bundle-v2` package (the
maintained fork of spec-first's `swagger-ui-bundle`, whose Swagger UI 4 cannot
read the OpenAPI 3.1 document Litestar writes) and are served under `/static/docs/`.
"""

from __future__ import annotations

from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

ASSETS = "/static/docs"


def docs_render_plugin() -> SwaggerRenderPlugin:
    """Swagger UI at `/schema` (and `/schema/swagger`), every asset from this service."""
    return SwaggerRenderPlugin(
        path=["/", "/swagger"],
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
    )


def docs_assets_router() -> Router:
    return create_static_files_router(
        path=ASSETS,
        directories=[str(swagger_ui_path)],
        include_in_schema=False,
    )
