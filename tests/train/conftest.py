"""Train-stage fixtures: one torch thread per worker and a small mixture, once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tests run two xdist workers on two cores: one thread each avoids OpenMP spinning."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def fixture_mixture(raw_fixtures, tmp_path_factory) -> Path:
    """A small mixture folder (train.jsonl / val.jsonl) of every source's fixture records, built by
    the mix stage itself (`data mix` on a bare recipe: convert, then 10 % held out per source)."""
    import yaml

    from collectivesft.pipeline.run import mix_recipe_file
    from collectivesft.sources.registry import source_names

    work = tmp_path_factory.mktemp("mixture")
    recipe = {"seed": 0, "val_fraction": 0.1, "report": False,
              "dedup": {"exact": False, "near": False},
              "exports": {"llamafactory": False, "sharegpt": False, "parquet": False, "accounting": False},
              "sources": [{"name": name, "input": str(raw_fixtures / name)} for name in source_names()]}
    path = work / "mix.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    _manifest, folder = mix_recipe_file(path, work / "mix")
    return folder
