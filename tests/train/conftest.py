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
    """A small mixture folder (train.jsonl / val.jsonl) of every source's converted fixture
    records, split 90/10 with a fixed seed (stands in for the mix stage's output)."""
    import random

    from collectivesft.records import read_records
    from collectivesft.io import write_jsonl
    from collectivesft.sources.convert import convert_source
    from collectivesft.sources.registry import source_names

    work = tmp_path_factory.mktemp("mixture")
    records = []
    for name in source_names():
        convert_source(name, work / "converted" / name, input=raw_fixtures / name)
        records += read_records(work / "converted" / name / "records.jsonl")
    random.Random(0).shuffle(records)
    n_val = len(records) // 10
    write_jsonl(work / "mix" / "val.jsonl", records[:n_val])
    write_jsonl(work / "mix" / "train.jsonl", records[n_val:])
    return work / "mix"
