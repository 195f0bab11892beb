"""``flask --app webapp ...`` commands: accounts, and the one-step setup that `make run` uses."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import select

from kb.models import User
from kb.private_files import write_private
from kb.store import import_directory
from kb.users import ROLES, UserError, create_user, generate_password


def init_app(app: Flask) -> None:
    @app.cli.command("create-user")
    @click.argument("username")
    @click.option("--role", type=click.Choice(ROLES), required=True)
    @click.option("--password", help="omit to generate one (printed once)")
    @click.option("--name", "display_name", default="")
    def create_user_command(username, role, password, display_name):
        """Create an account."""
        password = password or generate_password()
        try:
            with app.extensions["kb.db"].session() as s:
                create_user(s, username, role, password, display_name, actor="cli")
        except UserError as exc:
            raise click.ClickException(str(exc))
        click.echo(f"created {username} ({role}); password: {password}")

    @app.cli.command("setup")
    @click.option("--content", type=click.Path(path_type=Path), default=Path("content"))
    def setup_command(content):
        """Import content/, update the index and make demo accounts (generated passwords) if there are none."""
        settings = app.extensions["kb.settings"]
        db = app.extensions["kb.db"]
        report = import_directory(db, content)
        for error in report.errors:
            click.echo(f"error: {error}", err=True)
        click.echo(f"import: {report.summary()}", err=True)
        from indexer.build import build_index
        click.echo(build_index(settings, db, incremental=True).summary(), err=True)
        accounts = settings.data_dir / "demo-accounts.txt"
        with db.session() as s:
            has_users = s.scalar(select(User.id).limit(1)) is not None
            if not has_users:
                lines = []
                for username, role, name in (("agent1", "agent", "坐席一"), ("editor1", "editor", "编辑一"),
                                             ("trainer1", "trainer", "培训师一"), ("admin1", "admin", "管理员")):
                    password = generate_password()
                    create_user(s, username, role, password, name, actor="setup")
                    lines.append(f"{username}\t{role}\t{password}")
                write_private(accounts, "username\trole\tpassword\n" + "\n".join(lines) + "\n")
        if accounts.exists():
            click.echo(f"demo accounts (generated passwords): {accounts}", err=True)
        sys.stderr.flush()
