"""Web Connector commands: ``serve``, ``qwc``, ``service-user set``, ``simulate``.

Passwords never travel on the command line (it is visible to every user of the machine in the process list):
they come from standard input or ``$QBRECON_SERVICE_PASSWORD``.
"""

from __future__ import annotations

import click

from . import main, open_workspace
from . import read_password as _read_password

PASSWORD_ENV = "QBRECON_SERVICE_PASSWORD"


def read_password(confirm: bool = False) -> str:
    """The service password from ``$QBRECON_SERVICE_PASSWORD``, a prompt (terminal) or the first stdin line."""
    return _read_password(PASSWORD_ENV, "Service password", confirm=confirm)


def _workspace(path: str):
    return open_workspace(path)


def check_port_free(host: str, port: int) -> None:
    """Refuse, before anything is printed or opened, a port another program already listens on."""
    import errno
    import socket

    from ..errors import InputError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise InputError(f"cannot listen on {host!r}: {exc.strerror}", field="--host") from None
    with socket.socket(family, kind, proto) as probe:
        # the server sets SO_REUSEADDR too: a port in TIME_WAIT is free for it, one with a listener is not
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InputError(
                    f"port {port} on {host} is already in use (another qbrecon serve?): stop that program "
                    "or choose another --port",
                    field="--port",
                ) from None
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise InputError(
                    f"not allowed to listen on port {port} (ports under 1024 need privileges): choose "
                    "another --port",
                    field="--port",
                ) from None
            raise


SERVE_PARAMS = [
    click.Option(
        ["--workspace", "-w"],
        required=True,
        type=click.Path(dir_okay=False, exists=True),
        help="The workspace file; this process holds it while serving.",
    ),
    click.Option(
        ["--host", "--address", "host"],
        default="127.0.0.1",
        show_default=True,
        help="Address to listen on (loopback by default; put a TLS proxy in front for other machines).",
    ),
    click.Option(
        ["--port", "-p"],
        default=8080,
        show_default=True,
        type=click.IntRange(0, 65535),
        help="TCP port for both the dashboard (/) and the Web Connector (/qbwc).",
    ),
    click.Option(["--no-dashboard"], is_flag=True, help="Serve only the Web Connector endpoint (/qbwc)."),
]


def serve_cmd(workspace: str, host: str, port: int, no_dashboard: bool) -> None:
    from ..server import serve

    check_port_free(host, port)
    where = f"http://{host}:{port}"
    click.echo(
        f"Web Connector endpoint {where}/qbwc"
        + ("" if no_dashboard else f", dashboard {where}/")
        + f" (workspace {workspace}); Ctrl+C stops it"
    )
    serve(workspace, host=host, port=port, dashboard=not no_dashboard)


main.add_command(
    click.Command(
        "serve",
        callback=serve_cmd,
        params=SERVE_PARAMS,
        help="""Serve the dashboard (/) and the Web Connector endpoint (/qbwc) in one process.

    \b
    Example:
      qbrecon serve --workspace company.duckdb --port 8080
      qbrecon qwc --workspace company.duckdb --url http://localhost:8080/qbwc --out qbrecon.qwc

    'qbrecon dashboard' is the same command.""",
    )
)


@main.command("qwc")
@click.option(
    "--workspace",
    "-w",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="The workspace file.",
)
@click.option(
    "--url",
    default=None,
    help="The service URL QBWC will call (https://, or http://localhost...); default: the "
    "'Service URL' setting.",
)
@click.option("--out", "-o", type=click.Path(dir_okay=False), help="Write the .qwc here (default: stdout).")
@click.option("--app-name", help="Name shown in the Web Connector (default: qbrecon <workspace>).")
@click.option(
    "--every",
    "run_every_minutes",
    default=None,
    type=int,
    help="Minutes between automatic updates (0: only when the user clicks Update); default: from the "
    "'Sync schedule' setting (hourly: 60, daily: 1440, never: none).",
)
def qwc_cmd(
    workspace: str, url: str | None, out: str | None, app_name: str | None, run_every_minutes: int | None
) -> None:
    """Write the .qwc file to add this workspace's service to the QuickBooks Web Connector.

    \b
    Example:
      qbrecon qwc --workspace company.duckdb --url http://localhost:8080/qbwc --out qbrecon.qwc
    """
    from ..erp.settings import require_setting
    from ..qbwc.qwc import workspace_qwc

    with _workspace(workspace) as ws:
        user = require_setting(ws.store, "service_user", "the .qwc names the Web Connector's user")
        every = {} if run_every_minutes is None else {"run_every_minutes": run_every_minutes or None}
        data = workspace_qwc(ws.store, url, user, app_name=app_name, out=out, **every)
    if out:
        click.echo(
            f"wrote {out}: add it in QuickBooks Web Connector (Add an application), then type the "
            "service password there"
        )
    else:
        click.echo(data.decode("utf-8"), nl=False)


@main.group("service-user")
def service_user() -> None:
    """The account the Web Connector logs in with."""


@service_user.command("set")
@click.option(
    "--workspace",
    "-w",
    required=True,
    type=click.Path(dir_okay=False),
    help="The workspace file (created when missing).",
)
@click.option("--user", "-u", required=True, help="The Web Connector user name (the .qwc's UserName).")
@click.option("--by", help="The ERP admin making the change (login or id), for the audit log.")
def service_user_set(workspace: str, user: str, by: str | None) -> None:
    """Set the service user and password (password from stdin or $QBRECON_SERVICE_PASSWORD).

    \b
    Example:
      printf '%s\\n' "$PW" | qbrecon service-user set --workspace company.duckdb --user qbwc
    """
    password = read_password(confirm=True)
    with _workspace(workspace) as ws:
        ws.set_service_credentials(user, password, by=by)
    click.echo(f"service user {user!r} set; the password is stored as a salted scrypt hash")


@main.command("simulate")
@click.option(
    "--url", required=True, help="The service URL (as in the .qwc), e.g. http://127.0.0.1:8080/qbwc."
)
@click.option("--user", "-u", required=True, help="The Web Connector user name.")
@click.option(
    "--company-file",
    type=click.Path(dir_okay=False),
    help="The simulated QuickBooks company file (DuckDB); kept between runs. Default: in memory.",
)
@click.option(
    "--seed-from",
    type=click.Path(exists=True),
    help="Load the company first from qbXML query responses (e.g. the fixtures' quickbooks/ folder).",
)
@click.option(
    "--fault-rate-3180",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of adds/mods QuickBooks answers with 3180 'modified by another user' (retryable).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the simulated faults.")
@click.option(
    "--runs",
    default=1,
    show_default=True,
    type=int,
    help="Scheduled updates to run; with --until-idle, the most to run.",
)
@click.option(
    "--until-idle", is_flag=True, help="Keep running updates until the service has nothing to send."
)
def simulate_cmd(
    url: str,
    user: str,
    company_file: str | None,
    seed_from: str | None,
    fault_rate_3180: float,
    seed: int,
    runs: int,
    until_idle: bool,
) -> None:
    """Play the QuickBooks Web Connector and a QuickBooks company file against a running service.

    The password comes from stdin or $QBRECON_SERVICE_PASSWORD.

    \b
    Example:
      export QBRECON_SERVICE_PASSWORD=...
      qbrecon simulate --url http://127.0.0.1:8080/qbwc --user qbwc --company-file sim.duckdb --until-idle
    """
    from ..qbwc.connector import WebConnectorClient
    from ..qbwc.simulator import QuickBooksCompany

    password = read_password()
    with QuickBooksCompany(company_file, seed=seed, fault_rate_3180=fault_rate_3180) as company:
        if seed_from:
            added = company.seed_from(seed_from)
            click.echo("seeded company: " + ", ".join(f"{k} {v}" for k, v in sorted(added.items())))
        client = WebConnectorClient(url, user, password, company)
        limit = max(1, runs if not until_idle else max(runs, 1000))
        failed = False
        for number in range(1, limit + 1):
            report = client.run_once()
            line = (
                f"update {number}: {report.auth_status or 'session'}; {report.messages} message set(s), "
                f"{report.requests} request(s) in {report.elapsed:.1f} s"
            )
            if report.percents:
                line += f"; progress {report.percents[-1]}%"
            if report.close_message:
                line += f"; service: {report.close_message}"
            click.echo(line)
            if report.last_error:
                click.echo(f"  last error: {report.last_error}", err=True)
            failed = report.auth_status == "nvu"
            if failed or not until_idle or report.auth_status in ("none", "busy"):
                break
        click.echo(
            "company now holds: " + ", ".join(f"{k} {v}" for k, v in sorted(company.counts().items()) if v)
        )
    if failed:
        raise SystemExit(1)
