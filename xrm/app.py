"""The ASGI application: the one place that wires the layers together.

``create_app`` composes routes as a plain list and opens the process's
resources (database, registry, record service) in the lifespan, keeping them on
``app.state``; nothing registers itself at import time. ``app_from_env`` is the
factory each uvicorn worker process calls when ``xrm serve --workers N`` runs
several, so every process builds its own engine from the environment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from xrm.admin_ui import headers as admin_headers
from xrm.admin_ui import plugins as plugin_pages
from xrm.admin_ui.auth import Door
from xrm.admin_ui.routes import routes as admin_routes
from xrm.api import graphiql
from xrm.api.context import Services
from xrm.api.view import GraphQLView
from xrm.background import Background
from xrm.entities.events import Listeners
from xrm.entities.records import RecordService
from xrm.platform import heap
from xrm.platform.db import Database
from xrm.platform.keys import secret_key
from xrm.platform.settings import Settings
from xrm.plugins.manager import load as load_plugins
from xrm.request_body import RequestBodyLimit
from xrm.workflows.engine import WorkflowEngine
from xrm.workflows.pool import SandboxPool


async def healthz(request: Request) -> JSONResponse:
    """``200 {"status": "ok"}`` when the database answers, ``503`` otherwise."""
    db: Database = request.app.state.db
    if await run_in_threadpool(db.ping):
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "unavailable"}, status_code=503)


class _GraphQLEndpoint:
    """Routes to the GraphQL view the lifespan created (it needs the open database)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope["app"].state.graphql(scope, receive, send)


def create_app(settings: Settings, *, serving: bool = False) -> Starlette:
    """The whole application for ``settings``; resources open and close with its lifespan.

    ``serving`` is for the process ``xrm serve`` runs: its startup also builds
    the schema and tunes the garbage collector (``xrm.platform.heap``), which
    is the process's business, not that of a test or an embedding program.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(settings)
        await run_in_threadpool(plugins.prepare, db)
        registry = plugins.registry(db)
        records = RecordService(db, registry, settings)
        pool = SandboxPool(settings.sandbox)
        engine = WorkflowEngine(records, pool, plugins.actions, plugins.switched_off())
        plugins.attach(engine)  # from now on a plugin's emit starts workflows
        # Plugins hear about writes after the workflow engine, in the write's transaction.
        records.listener = Listeners(records.listener, *plugins.listeners(db))
        app.state.plugins = plugins
        app.state.settings = settings
        app.state.db = db
        app.state.registry = registry
        app.state.records = records
        app.state.workflows = engine
        door = Door(db, await run_in_threadpool(secret_key, db, settings))
        app.state.admin_door = door
        # A signed-in admin session may use /graphql too (GraphiQL, with its CSRF header).
        app.state.graphql = GraphQLView(
            db, Services(registry, records, engine), sessions=door.session
        )
        background = None
        if serving:
            # Build the schema before the first request, then settle the heap around it.
            await run_in_threadpool(app.state.graphql.schemas.warm)
            heap.settle()
            if settings.jobs_in_server:
                background = Background(engine, settings, plugins.job_handlers(db))
                background.start()
        try:
            yield
        finally:
            if background is not None:
                await run_in_threadpool(background.stop)
            await run_in_threadpool(pool.stop)
            await run_in_threadpool(db.dispose)

    # Found once, before the routes: plugins may add admin pages.
    plugins = load_plugins(settings)
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/graphql", _GraphQLEndpoint(), methods=["GET", "POST"]),
        Route(graphiql.ASSET_PATH + "/{name}", graphiql.asset, methods=["GET"]),
        admin_headers.static_files(),
        *admin_routes(),
        *plugin_pages.page_routes(plugins),
    ]
    middleware = [
        # Outermost: no route reads a body before its size and pace are checked.
        Middleware(
            RequestBodyLimit,
            max_bytes=settings.max_body_bytes,
            timeout=settings.http_body_timeout,
        ),
        Middleware(admin_headers.AdminHeaders),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def app_from_env() -> Starlette:
    """The application configured from ``XRM_*`` environment variables (uvicorn factory)."""
    return create_app(Settings.from_env(), serving=True)
