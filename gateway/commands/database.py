"""``gateway db``: schema migrations."""

from __future__ import annotations

import typer

from gateway.commands.common import ConfigOption, settings_from, stdout
from gateway.db import make_engine
from gateway.migrate import current_revision, upgrade

app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Create or migrate the database to the newest schema."""
    settings = settings_from(config)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url())
    upgrade(engine)
    stdout.print(f"database at revision {current_revision(engine)}")
    engine.dispose()
