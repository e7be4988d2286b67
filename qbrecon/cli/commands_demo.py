"""``qbrecon demo``: the whole flow on generated fixtures, narrated step by step."""

from __future__ import annotations

from pathlib import Path

import click

from . import main


@main.command()
@click.option(
    "--workspace",
    "-w",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("demo.duckdb"),
    show_default=True,
    help="Demo workspace file (a previous demo workspace is replaced).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-out"),
    show_default=True,
    help="Where fixtures, the simulated company file and the reports go.",
)
@click.option("--projects", type=click.IntRange(1, 50), default=4, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--procore-api",
    is_flag=True,
    help="Pull Procore through its REST API from a local Procore (loopback) and push the links back.",
)
def demo(workspace: Path, out: Path, projects: int, seed: int, procore_api: bool) -> None:
    """Run the end-to-end demo: fixtures, load, decide, export through the Web Connector, reconcile.

    \b
    Example:
      qbrecon demo --workspace demo.duckdb
      qbrecon demo --workspace demo.duckdb --procore-api   # Procore's REST API in, links back out
      qbrecon serve --workspace demo.duckdb      # then open the dashboard
    """
    from ..demo import run_demo

    run_demo(workspace, out, projects=projects, seed=seed, echo=click.echo, procore_api=procore_api)
