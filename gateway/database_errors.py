"""The database being away, said in one line: for the CLI, the logs and ``/readyz``.

A driver's own message for a failed connection is a paragraph (psycopg adds
"Is the server running on that host…?", SQLAlchemy a link); an operator needs
what is wrong and what to do. Only connection-level messages are quoted: the
message of a failed statement can quote SQL parameters, i.e. record contents,
so for those only the class name is given.
"""

from __future__ import annotations

import re
import sys

from gateway.errors import GatewayError

_URL_HINT = "correct GATEWAY_DATABASE_URL (or database_url in the config file)"
_SERVER = re.compile(r'connection to server (?:at "([^"]+)"(?: \([^)]*\))?, port (\d+)|on socket "([^"]+)")')
_MISSING_DATABASE = re.compile(r'database "([^"]+)" does not exist')
_LOGIN = re.compile(r'(?:password authentication|authentication) failed for user "([^"]+)"')


class DatabaseUnavailableError(GatewayError):
    """The node's database cannot be reached, does not exist, or refused the login."""

    slug = "database-unavailable"
    title = "Database unavailable"
    status = 503


def is_database_unavailable(exc: BaseException) -> bool:
    """Return True when ``exc`` is SQLAlchemy's report of a connection that failed or was lost.

    Looks SQLAlchemy up in ``sys.modules`` so that a command which never opened
    a database does not import it just to rule this out.
    """
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is None:
        return False
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    # psycopg: 'connection failed: connection to server at … failed: Connection refused\n\tIs the server…'
    text = text.split("\n")[0].removeprefix("connection failed: ").strip()
    return text or type(orig).__name__


def describe_database_error(exc: BaseException) -> DatabaseUnavailableError:
    """Return the one-line error (what is wrong, what to do) for a failed database connection."""
    line = _first_line(exc)
    server = _SERVER.search(line)
    where = ""
    if server is not None:
        where = f" at {server.group(1)}:{server.group(2)}" if server.group(1) else f" on socket {server.group(3)}"
    missing = _MISSING_DATABASE.search(line)
    if missing is not None:
        name = missing.group(1)
        return DatabaseUnavailableError(
            f"the database {name!r} does not exist on the server{where}",
            hint=f"create it (e.g. `createdb {name}`) and run `gateway db upgrade`, or {_URL_HINT}",
        )
    login = _LOGIN.search(line)
    if login is not None:
        return DatabaseUnavailableError(
            f"the database server{where} refused the login of user {login.group(1)!r}",
            hint=f"check the user and password, or {_URL_HINT}",
        )
    if line.startswith("no such table"):
        return DatabaseUnavailableError(
            "the node's database has no schema", hint="run `gateway db upgrade` (or check database_url)"
        )
    if "unable to open database file" in line:
        return DatabaseUnavailableError(
            "cannot open the SQLite database file",
            hint="check that data_dir exists and is writable by this user, or set GATEWAY_DATABASE_URL",
        )
    if server is not None:
        reason = line.rsplit("failed:", 1)[-1].strip().rstrip(".") or "no answer"
        return DatabaseUnavailableError(
            f"cannot reach the database server{where} ({reason})",
            hint=f"start the database server or {_URL_HINT}",
        )
    if is_database_unavailable(exc) and getattr(exc, "connection_invalidated", False):
        return DatabaseUnavailableError(
            "the connection to the database was lost", hint="check that the database server is running"
        )
    orig = getattr(exc, "orig", None)
    kind = type(orig).__name__ if orig is not None else type(exc).__name__
    return DatabaseUnavailableError(
        f"the database did not answer ({kind})", hint=f"check that the database server is running, or {_URL_HINT}"
    )
