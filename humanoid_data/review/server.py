"""The review workbench's HTTP server: the page, its assets and the JSON API of docs/review.md.

``create_app`` puts a ``review.workbench.Workbench`` on Starlette routes. Every ``/api/``
request needs ``Authorization: Bearer <token>`` when a token is set, or the same-site,
script-proof cookie that ``GET /`` sets (the page itself also takes ``?token=``; the
cookie lets a ``<video>`` stream with range requests); the assets under ``/static/`` are
served without it. Every error is JSON ``{"error": "..."}`` with the status codes of
docs/review.md.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from humanoid_data.core.phases import load_taxonomy
from humanoid_data.errors import HumanoidDataError
from humanoid_data.labels.model import Role
from humanoid_data.resources import default_taxonomy
from humanoid_data.review import rules
from humanoid_data.review.workbench import ApiError, Workbench

#: The page's files, beside this module.
STATIC = Path(__file__).resolve().parent / 'static'
#: The cookie ``GET /`` sets when a token is given; it authorizes the page's requests.
TOKEN_COOKIE = 'humanoid_data_token'


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({'error': message}, status_code=status)


Handler = Callable[[Request], Awaitable[Response]]


def _authorized(workbench: Workbench, request: Request, query: bool) -> bool:
    if workbench.token is None:
        return True
    expected = workbench.token.encode()
    header = request.headers.get('authorization', '')
    scheme, _, given = header.partition(' ')
    if scheme.lower() == 'bearer' and secrets.compare_digest(given.strip().encode(),
                                                             expected):
        return True
    cookie = request.cookies.get(TOKEN_COOKIE)
    if cookie is not None and secrets.compare_digest(cookie.encode(), expected):
        return True
    if query:
        token = request.query_params.get('token', '')
        return secrets.compare_digest(token.encode(), expected)
    return False


def _api(workbench: Workbench, work: Callable[[Request], Awaitable[Any]]) -> Handler:
    """A route answering ``work``'s value as JSON, with the token check and JSON errors."""
    async def endpoint(request: Request) -> Response:
        if not _authorized(workbench, request, query=False):
            return _error(401, 'missing or wrong token: send "Authorization: Bearer <token>"')
        try:
            result = await work(request)
        except ApiError as err:
            return _error(err.status, workbench.public(err.message))
        except HumanoidDataError as err:
            return _error(500, workbench.public(str(err)))
        if isinstance(result, Response):
            return result
        return JSONResponse(result)
    return endpoint


class _Static:
    """The page's assets; a JSON 404 while the folder does not exist."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = StaticFiles(directory=directory, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.directory.is_dir():
            await _error(404, 'the page\'s files are not installed')(scope, receive, send)
            return
        await self.files(scope, receive, send)


def _routes(workbench: Workbench) -> list[Any]:
    def params(request: Request, *names: str) -> list[str]:
        return [str(request.path_params[n]) for n in names]

    async def config(request: Request) -> Any:
        return await run_in_threadpool(workbench.config)

    async def episodes(request: Request) -> Any:
        return await run_in_threadpool(workbench.episode_list)

    async def episode(request: Request) -> Any:
        session, episode = params(request, 'session', 'episode')
        return await run_in_threadpool(workbench.episode_view, session, episode)

    async def video(request: Request) -> Any:
        session, episode, camera = params(request, 'session', 'episode', 'camera')
        proxy = await run_in_threadpool(workbench.video, session, episode, camera)
        return FileResponse(proxy.path, media_type=proxy.mime)

    async def labels(request: Request) -> Any:
        session, episode = params(request, 'session', 'episode')
        if request.method == 'PUT':
            body = await request.body()
            return await run_in_threadpool(workbench.save, session, episode, body)
        return await run_in_threadpool(workbench.labels, session, episode,
                                       request.query_params.get('revision'))

    async def history(request: Request) -> Any:
        session, episode = params(request, 'session', 'episode')
        return await run_in_threadpool(workbench.history, session, episode)

    async def page(request: Request) -> Response:
        if not _authorized(workbench, request, query=True):
            return _error(401, 'missing or wrong token: open the URL with ?token=<token>')
        index = STATIC / 'index.html'
        if not index.is_file():
            return _error(404, 'the page is not installed (review/static/index.html)')
        response = FileResponse(index, media_type='text/html')
        if workbench.token is not None:
            # A <video> cannot send a header: the cookie carries the token to the video
            # route (same site only, never readable by scripts).
            response.set_cookie(TOKEN_COOKIE, workbench.token, httponly=True,
                                samesite='strict')
        return response

    episode_path = '/api/episodes/{session}/{episode}'
    return [
        Route('/', page, methods=['GET']),
        Route('/api/config', _api(workbench, config), methods=['GET']),
        Route('/api/episodes', _api(workbench, episodes), methods=['GET']),
        Route(episode_path, _api(workbench, episode), methods=['GET']),
        Route(f'{episode_path}/video/{{camera}}', _api(workbench, video), methods=['GET']),
        Route(f'{episode_path}/labels', _api(workbench, labels), methods=['GET', 'PUT']),
        Route(f'{episode_path}/labels/history', _api(workbench, history), methods=['GET']),
        Mount('/static', app=_Static(STATIC)),
    ]


async def _server_error(request: Request, exc: Exception) -> Response:
    return _error(500, f'internal error: {type(exc).__name__}: {exc}')


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else 'internal error'
    if status == 404:
        detail = f'not found: {request.url.path}'
    return _error(status, str(detail))


def create_app(sessions: Sequence[Path], annotator: str, role: Role | str, *,
               token: str | None = None, cache_dir: Path | None = None,
               taxonomy: Path | None = None) -> Starlette:
    """The workbench app serving ``sessions`` to ``annotator`` in ``role``.

    Args:
        sessions: Session folders (each holding episode folders and/or ``labels/``).
        annotator: The user's name (a safe file name).
        role: annotator, reviewer or adjudicator.
        token: When set, every ``/api/`` request needs it as a Bearer token.
        cache_dir: Where proxy videos are kept (``<dir>/<session>/``); default
            ``<session>/.review/``.
        taxonomy: The phase taxonomy in force (default: the shipped one).

    Raises:
        ConfigError: A session folder missing or two of one name, or a bad taxonomy.
        LabelError: An unsafe annotator name, a reserved one, or an unknown role.

    """
    user = rules.User(annotator, role if isinstance(role, Role) else rules.parse_role(role))
    workbench = Workbench(sessions, user, token=token, cache_dir=cache_dir,
                          taxonomy=load_taxonomy(taxonomy or default_taxonomy()))
    app = Starlette(routes=_routes(workbench),
                    exception_handlers={HTTPException: _http_error, 500: _server_error})
    app.state.workbench = workbench
    return app


__all__ = ['STATIC', 'TOKEN_COOKIE', 'create_app']
