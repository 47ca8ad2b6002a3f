"""`collectivesft mixture search`: find the SFT mixture's shares from proxy runs, and check them."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

mixture_app = typer.Typer(help="Search for the mixture's shares: proxy runs, a regression, a checked answer.",
                          no_args_is_help=True)


@mixture_app.command("search")
def search_command(
    recipe: Path = typer.Argument(..., help="Run recipe YAML with a search: section (docs/mix.md)."),
    out: Path = typer.Option(..., "--out", help="Search folder: shared keyed stages, search.json/.md/.html, "
                             "recommended.yaml; rerun to continue a killed search."),
    proxies: Optional[int] = typer.Option(None, "--proxies", help="Dirichlet proxy mixtures (search.proxies.count)."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Training seeds of the validation runs, "
                                        "comma-separated (search.seeds), e.g. --seeds 1,2,3."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Override a recipe key, e.g. "
                                             "--set search.total=500 (value parsed as YAML; repeatable)."),
) -> None:
    """Train proxy mixtures, fit shares -> score, recommend the best shares, validate them on the test split."""
    from collectivesft.errors import ConfigError
    from collectivesft.pipeline.search import run_search

    from collectivesft.cli.display import parse_seeds

    seed_list = parse_seeds(seeds, "1,2,3")
    if proxies is not None and proxies < 0:
        raise ConfigError(f"--proxies {proxies}: expected 0 or more")
    result = run_search(recipe, out, overrides=set_, proxies=proxies, seeds=seed_list)
    from collectivesft.cli.display import print_table

    space = result["space"]
    print_table(["source", "recipe share", "recommended share"],
                [[s, f"{result['prior'][s]:.3f}", f"{result['recommended'][s]:.3f}"] for s in space])
    typer.echo("")
    for sentence in result.get("findings") or []:
        typer.echo(sentence)
    typer.echo(f"recommended recipe: {result['recommended_recipe']}")
    typer.echo(f"report: {result['report']['markdown']}\n        {result['report']['html']}")


def register(app: typer.Typer) -> None:
    app.add_typer(mixture_app, name="mixture")
