"""The `exile` command: serve, migrate and manage users from the shell."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer

T = TypeVar("T")
app = typer.Typer(help="Exile: API test automation server.", no_args_is_help=True)
users_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
app.add_typer(users_app, name="users")
reports_app = typer.Typer(help="Maintain the report roll-ups.", no_args_is_help=True)
app.add_typer(reports_app, name="reports")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(7777, help="Port to listen on."),
    workers: int = typer.Option(1, help="Worker processes."),
    reload: bool = typer.Option(False, help="Restart on code changes (development)."),
) -> None:
    """Run the API server (uvicorn)."""
    import uvicorn

    from app.core.config import get_settings

    # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: give it the app's list (empty = nobody).
    forwarded = get_settings().forwarded_allow_ips
    uvicorn.run("app.main:app", host=host, port=port, workers=workers, reload=reload, forwarded_allow_ips=forwarded)


@app.command()
def worker(
    concurrency: int = typer.Option(8, help="Runs executed at once by this worker."),
    pool: str = typer.Option("threads", help="Celery pool: threads (recommended), prefork or solo."),
    loglevel: str = typer.Option("INFO", help="Log level."),
    queue: str = typer.Option("exile_scenario_tasks", "-Q", "--queue", help="Queue to consume."),
) -> None:
    """Run a Celery worker for scenario runs (needs CELERY_BROKER_URL)."""
    from app.tasks.celery_app import celery_app

    celery_app.worker_main(
        ["worker", "-Q", queue, f"--pool={pool}", f"--concurrency={concurrency}", f"--loglevel={loglevel}"]
    )


@app.command()
def migrate(revision: str = typer.Argument("head", help="Alembic revision to upgrade to.")) -> None:
    """Upgrade the database schema (the same as `alembic upgrade head`)."""
    from app.core.bootstrap import migrate as run_migrations
    from app.core.config import get_settings

    url = get_settings().resolved_database_url
    run_migrations(url, revision)
    typer.echo(f"database at {revision}")


@users_app.command("create")
def create_user(
    email: str = typer.Option(..., help="Sign-in email."),
    password: str = typer.Option(..., prompt=True, hide_input=True, help="At least 8 characters."),
    admin: bool = typer.Option(False, "--admin", help="Make the user a site admin."),
    full_name: str = typer.Option("", help="Display name."),
) -> None:
    """Create a user account."""
    from pydantic import ValidationError

    from app.core.errors import AppError
    from app.users.schemas import UserCreate

    try:
        data = UserCreate(email=email, password=password, is_admin=admin, full_name=full_name)
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"error: {error['loc'][0]}: {error['msg'].removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from None
    try:
        user_id = asyncio.run(_create_user(data))
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created user {user_id} <{data.email}>{' (admin)' if admin else ''}")


async def _create_user(data):
    from app.core.db import dispose_engine, get_session_factory
    from app.users.service import create_user as create

    try:
        async with get_session_factory()() as session:
            user = await create(session, data)
            await session.commit()
            return user.id
    finally:
        await dispose_engine()


@app.command("import")
def import_file(
    kind: str = typer.Argument(..., help="curl (more formats: see POST /api/v1/projects/{id}/imports)."),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="The file to import."),
    project: int = typer.Option(..., "--project", help="The project to import into."),
    user: str = typer.Option(..., "--as", help="Email of the user the import is made as (needs edit rights)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check everything, create nothing."),
) -> None:
    """Import a file into a project, through the same service as the API (permissions, validation, audit)."""
    from app.core.errors import AppError
    from app.interop import service
    from app.interop.service import READERS

    if kind not in READERS:
        typer.echo(f"error: kind '{kind}' is not one of {', '.join(sorted(READERS))}", err=True)
        raise typer.Exit(2)
    try:
        service.check_size(file.stat().st_size)  # before a byte of it is read
        report = asyncio.run(_import(kind, file.read_bytes(), project, user, dry_run))
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2 if exc.status_code in (413, 422) else 1) from None
    made = "would create" if dry_run else "created"
    for what in ("cases", "scenarios", "environments"):
        for item in getattr(report, what):
            typer.echo(f"{made} {what[:-1]} {item.id or '-'} '{item.name}'")
    for merged in report.merged:
        changed = [*merged.variables, *merged.secret_variables] + (["base_url"] if merged.base_url_changed else [])
        typer.echo(f"merged into {merged.kind} {merged.id} '{merged.name}': {', '.join(changed) or 'nothing new'}")
    for item in report.not_translated:
        typer.echo(f"not translated: {item.location}: {item.source} ({item.reason})")
    if report.import_id is not None:
        typer.echo(f"kept the document as import {report.import_id} (POST /api/v1/ai/generate-cases takes import_id)")


async def _import(kind: str, data: bytes, project_id: int, email: str, dry_run: bool) -> Any:
    from sqlalchemy import select

    from app.auth.principal import Principal
    from app.core.db import dispose_engine, get_session_factory
    from app.core.errors import AppError
    from app.interop import service
    from app.models import User

    try:
        content = service.read(kind, data)
        async with get_session_factory()() as session:
            account = await session.scalar(select(User).where(User.email == email.strip().lower()))
            if account is None or not account.is_active:
                raise AppError(f"no active user with the email {email!r}", status_code=404)
            principal = Principal(user=account)
            report = await service.apply(session, principal, project_id, content, dry_run)
            if not dry_run:
                report.import_id = await service.keep_document(session, principal, project_id, kind, data)
                await session.commit()
            return report
    finally:
        await dispose_engine()


@app.command("run", no_args_is_help=True)
def run_command(
    file: Path | None = typer.Argument(None, help="A Postman collection (v2.0/v2.1) or an Exile file."),
    environment: Path | None = typer.Option(None, "-e", "--environment", help="A Postman environment file."),
    data: Path | None = typer.Option(None, "-d", "--iteration-data", help="Data rows: CSV (header row) or JSON array."),
    iterations: int | None = typer.Option(None, "-n", "--iteration-count", help="Iterations (default: one per row)."),
    concurrency: int | None = typer.Option(None, "--concurrency", help="Iterations in flight (default 1)."),
    env_var: list[str] | None = typer.Option(None, "--env-var", help="NAME=VALUE, an environment variable (repeat)."),
    timeout_request: int | None = typer.Option(None, "--timeout-request", help="Each request's timeout, in ms."),
    timeout: int | None = typer.Option(None, "--timeout", help="The whole run's timeout, in ms."),
    bail: bool = typer.Option(False, "--bail", help="Stop at the first failed check or request error."),
    insecure: bool = typer.Option(False, "-k", "--insecure", help="Do not verify TLS certificates."),
    folder: str | None = typer.Option(None, "--folder", help="Run only this top-level folder of the collection."),
    processes: int | None = typer.Option(
        None, "--processes", help="Processes sharing the iterations above --concurrency 1 (default: one per core)."
    ),
    reporters: str = typer.Option("cli", "-r", "--reporters", help="Comma-separated: cli,json,junit,html."),
    json_export: Path | None = typer.Option(None, "--reporter-json-export", help="Where the JSON report goes."),
    junit_export: Path | None = typer.Option(None, "--reporter-junit-export", help="Where the JUnit XML goes."),
    html_export: Path | None = typer.Option(None, "--reporter-html-export", help="Where the HTML report goes."),
    server: str | None = typer.Option(None, "--server", help="Run a scenario on this Exile server instead."),
    token: str | None = typer.Option(None, "--token", envvar="EXILE_TOKEN", help="API token (or EXILE_TOKEN)."),
    scenario: int | None = typer.Option(None, "--scenario", help="With --server: the scenario to run."),
    env_id: int | None = typer.Option(None, "--env", help="With --server: the environment id."),
    wait: bool = typer.Option(False, "--wait", help="With --server: follow the run to its end, exit by its result."),
    poll: float = typer.Option(1.0, "--poll-interval", help="With --server --wait: seconds between polls."),
    callback_url: str | None = typer.Option(
        None, "--callback-url", help="With --server: where the server POSTs the signed summary when the run ends."
    ),
) -> None:
    """Run a collection or an Exile file here (no server, no database), or a scenario on a server (--server).

    Exit code 0 when everything passed, 1 when a check failed or a request errored, 2 for a usage or file error.
    """
    from app.interop import cli_run

    names = [name.strip() for name in reporters.split(",") if name.strip()]
    exports = {
        name: path
        for name, path in (("json", json_export), ("junit", junit_export), ("html", html_export))
        if path is not None
    }
    try:
        if server is not None:
            if file is not None:
                raise cli_run.UsageError("give either FILE or --server, not both")
            if not token or scenario is None:
                raise cli_run.UsageError("--server needs --token (or EXILE_TOKEN) and --scenario")
            from app.interop import run_server

            server_args = run_server.ServerRunArgs(
                server, token, scenario, env_id, wait, env_var or [], concurrency, names, exports, poll,
                callback_url=callback_url,
            )  # fmt: skip
            code = run_server.run_server(server_args)
        else:
            if file is None:
                raise cli_run.UsageError("give a collection or Exile FILE to run (or --server URL)")
            file_args = cli_run.FileRunArgs(
                file,
                environment,
                data,
                iterations,
                1 if concurrency is None else concurrency,
                env_var or [],
                timeout_request,
                timeout,
                bail,
                insecure,
                folder,
                names,
                exports,
                processes,
            )
            code = cli_run.run_file(file_args)
    except cli_run.UsageError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(cli_run.EXIT_USAGE) from None
    raise typer.Exit(code)


@app.command("export")
def export_command(
    scenario_id: int = typer.Argument(..., help="The scenario to export."),
    fmt: str = typer.Option("exile", "--format", help="exile (the Exile file) or postman (a collection v2.1)."),
    user: str = typer.Option(..., "--as", help="Email of the user the export is made as (needs read access)."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the file here (default: stdout)."),
    environment: int | None = typer.Option(None, "--environment", help="Include this environment (no secrets)."),
    file_format: str = typer.Option("yaml", "--file-format", help="The Exile file as yaml or json."),
    data: Path | None = typer.Option(None, "--data", help="postman: also write the data rows for newman -d here."),
) -> None:
    """Export a scenario through the same service as the API; what was left out is printed on stderr."""
    from app.core.errors import AppError

    if fmt not in ("exile", "postman"):
        typer.echo(f"error: --format '{fmt}' is not one of exile, postman", err=True)
        raise typer.Exit(2)
    if file_format not in ("yaml", "json"):
        typer.echo(f"error: --file-format '{file_format}' is not one of yaml, json", err=True)
        raise typer.Exit(2)
    try:
        text, rows, notes = asyncio.run(_export(scenario_id, fmt, file_format, user, environment))
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2 if exc.status_code in (413, 422) else 1) from None
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    if data is not None:
        data.write_text(rows, encoding="utf-8")
    for note in notes:
        typer.echo(f"not exported: {note.location}: {note.source} ({note.reason})", err=True)


async def _export(scenario_id: int, fmt: str, file_format: str, email: str, environment_id: int | None) -> Any:
    from sqlalchemy import select

    from app.auth.principal import Principal
    from app.core.db import dispose_engine, get_session_factory
    from app.core.errors import AppError
    from app.interop import postman_export
    from app.interop.export import export_file, export_scenario
    from app.models import User

    try:
        async with get_session_factory()() as session:
            account = await session.scalar(select(User).where(User.email == email.strip().lower()))
            if account is None or not account.is_active:
                raise AppError(f"no active user with the email {email!r}", status_code=404)
            content = await export_scenario(session, Principal(user=account), scenario_id, environment_id)
        name = content.scenarios[0].name
        text = export_file(content, name, fmt, file_format)[0]  # type: ignore[arg-type]  # checked above
        rows = export_file(content, name, "postman_data", "json")[0]
        notes = postman_export.to_collection(content)[1] if fmt == "postman" else content.not_translated
        return text, rows, notes
    finally:
        await dispose_engine()


@app.command("mcp")
def mcp_command() -> None:
    """Serve Exile's MCP tools to a coding agent over stdio, as the user of the API token in EXILE_TOKEN.

    EXILE_URL names a running Exile server; unset, the app runs in this process on the configured database.
    """
    import os

    from app.ai.mcp_server import serve_stdio

    token = os.environ.get("EXILE_TOKEN", "").strip()
    if not token:
        typer.echo(
            "error: EXILE_TOKEN is not set: give it an Exile API token (POST /api/v1/projects/{id}/tokens); "
            "EXILE_URL names the server (unset: the app runs here, on the configured database)",
            err=True,
        )
        raise typer.Exit(2)
    raise typer.Exit(asyncio.run(serve_stdio(token, os.environ.get("EXILE_URL", "").strip() or None)))


@app.command()
def prune(
    project: int | None = typer.Option(None, "--project", min=1, help="Only this project (default: every one)."),
    batch_size: int = typer.Option(1000, "--batch-size", min=1, help="Rows changed per transaction."),
) -> None:
    """Apply the projects' retention now: clear old request runs' snapshots, delete older runs (roll-ups stay)."""
    from app.reports.retention import prune as prune_runs

    result = asyncio.run(
        _with_database(lambda sessions: prune_runs(sessions, project_id=project, batch_size=batch_size))
    )
    if result.projects == 0:
        which = "no project has a" if project is None else f"project {project} does not exist or has no"
        typer.echo(f"{which} retention policy: nothing to prune")
        return
    typer.echo(
        f"pruned {result.projects} project(s): cleared the snapshots of {result.bodies_cleared} request run(s), "
        f"deleted {result.request_runs_deleted} request run(s) and {result.scenario_runs_deleted} scenario run(s) "
        f"in {result.batches} transaction(s)"
    )
    if result.runs_not_rolled_up:
        typer.echo(
            f"kept {result.runs_not_rolled_up} finished run(s) past the row limit that the report roll-ups have not "
            "counted yet: run `exile reports rebuild`, then prune again"
        )


@reports_app.command("rebuild")
def rebuild_reports(
    since: str | None = typer.Option(
        None, "--since", help="Only runs created from this day on: YYYY-MM-DD or an ISO datetime (UTC if no offset)."
    ),
) -> None:
    """Recount the report roll-ups from the stored runs (after an upgrade, or to check them)."""
    from app.reports.rollups import rebuild

    start: datetime | None = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            typer.echo(f"error: --since '{since}' is not YYYY-MM-DD or an ISO datetime", err=True)
            raise typer.Exit(2) from None
        start = start if start.tzinfo is not None else start.replace(tzinfo=UTC)
    counted = asyncio.run(_with_database(lambda sessions: rebuild(sessions, since=start)))
    typer.echo(f"counted {counted} run(s) into the report roll-ups")


async def _with_database(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run one piece of work with the configured database, then close its connections."""
    from app.core.db import dispose_engine, get_session_factory

    try:
        return await work(get_session_factory())
    finally:
        await dispose_engine()


def main() -> None:
    app()
