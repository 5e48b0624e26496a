"""``humanoid-data review SESSION...``: the browser review workbench (docs/review.md).

Serves the sessions' episodes and label sets to one person in one role on a local web
server and prints the URL to open. Only a loopback address is served without a token;
``--port 0`` takes a free port (the URL printed has the real one).
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

from humanoid_data.errors import ConfigError, LabelError
from humanoid_data.labels.model import Role
from humanoid_data.review import rules

DEFAULT_HOST = '127.0.0.1'
DEFAULT_PORT = 8787
ROLES = (Role.ANNOTATOR.value, Role.REVIEWER.value, Role.ADJUDICATOR.value)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost`` counts)."""
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        return False


def check_host(host: str, token: str | None) -> None:
    """Refuse to serve a non-loopback address without a token.

    Raises:
        ConfigError: ``host`` is not a loopback address and there is no token.

    """
    if not is_loopback(host) and not token:
        raise ConfigError(f'--host {host}: serving on an address other than loopback '
                          'lets anyone on the network read and write the labels; give '
                          '--token TOKEN (or use --host 127.0.0.1)')


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return 'annotator'


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (port 0: a free one).

    Raises:
        ConfigError: The address cannot be bound (in use, not this machine's).

    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip('[]'), port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as err:
        raise ConfigError(f'--host {host}: {err.strerror or err}') from err
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as err:
        sock.close()
        raise ConfigError(f'--host {host} --port {port}: cannot listen: '
                          f'{err.strerror or err}') from err
    return sock


def url_of(sock: socket.socket, host: str, token: str | None) -> str:
    """The page's URL on the bound socket, with ``?token=`` when a token is set."""
    port = sock.getsockname()[1]
    shown = f'[{host.strip("[]")}]' if ':' in host.strip('[]') else host
    return f'http://{shown}:{port}/' + (f'?token={quote(token, safe="")}' if token else '')


def roster_warnings(sessions: Sequence[Path], user: rules.User) -> list[str]:
    """A line per session whose assignments do not name the user (their saves are refused).

    Raises:
        LabelError: A session's assignments file is damaged.

    """
    out = []
    for session in sessions:
        settings = rules.session_rules(session)
        try:
            rules.check_roster(user, settings, Path(session).name)
        except rules.RuleError as err:
            out.append(f'warning: {err}: every save will be refused')
    return out


def _run(args: argparse.Namespace) -> int:
    from humanoid_data.review.server import create_app
    import uvicorn
    check_host(args.host, args.token)
    sessions = [Path(s) for s in args.sessions]
    try:
        user = rules.User(args.annotator or _login_name(), rules.parse_role(args.role))
    except LabelError as err:
        raise ConfigError(f'--annotator/--role: {err}') from err
    app = create_app(sessions, user.name, user.role, token=args.token,
                     cache_dir=Path(args.cache) if args.cache else None)
    for line in roster_warnings(sessions, user):
        print(line, file=sys.stderr)
    sock = bind(args.host, args.port)
    print(f'review workbench for {user.name} ({user.role.value}): '
          f'{url_of(sock, args.host, args.token)}', flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level='warning'))
    stop = threading.Event()
    if args.prebuild:   # the videos of the episodes to come, made while the first is open
        threading.Thread(target=_prebuild, args=(app.state.workbench, stop),
                         name='proxy-prebuild', daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        stop.set()
        sock.close()
    return 0


def _prebuild(workbench: Any, stop: threading.Event) -> None:
    for problem in workbench.prebuild(stop):
        print(f'warning: proxy video: {problem}', file=sys.stderr)


def add_parsers(verbs: Any) -> None:
    """Register ``review``."""
    parser = verbs.add_parser('review', help='label and review episodes in the browser')
    parser.add_argument('sessions', nargs='+', metavar='SESSION')
    parser.add_argument('--annotator', default='', help='your name (default: login name)')
    parser.add_argument('--role', choices=ROLES, default=Role.ANNOTATOR.value)
    parser.add_argument('--host', default=DEFAULT_HOST,
                        help='address to serve on (not loopback: --token required)')
    parser.add_argument('--port', type=int, default=DEFAULT_PORT, help='0: a free port')
    parser.add_argument('--no-prebuild', dest='prebuild', action='store_false',
                        help='make proxy videos only when an episode is opened (default: '
                             'all of them in the background, in review order)')
    parser.add_argument('--token', default=None,
                        help='every API request must carry it (Bearer); put in the URL')
    parser.add_argument('--cache', default=None,
                        help='folder for the proxy videos (default: <session>/.review/)')
    parser.set_defaults(run=_run)
