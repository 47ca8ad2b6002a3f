"""Every registered source: complete metadata, sane options, deterministic fixtures."""

import pkgutil
import re
import subprocess
import sys

import pytest

import collectivesft.fixtures.sources
from collectivesft.errors import ConfigError
from collectivesft.fixtures.writer import write_fixtures
from collectivesft.records import TASKS
from collectivesft.sources.registry import source_class, source_names

PAPER_SOURCES = {"cmb", "cmeddialogue", "cmedqa2", "cmid", "discmed", "headqa", "medicaldialogue", "medmcqa",
                 "medqa", "mlecqa", "nlpec", "webmedqa"}


def test_the_twelve_sources_of_the_paper_are_registered():
    assert set(source_names()) == PAPER_SOURCES


@pytest.mark.parametrize("name", source_names())
def test_source_info_is_complete(name):
    cls = source_class(name)
    info = cls.info
    assert info.name == name
    assert info.task in TASKS
    assert info.langs and all(re.fullmatch(r"[a-z]{2}(-[A-Za-z]+)?", lang) for lang in info.langs)
    for field in ("title", "size", "license", "layout"):
        assert getattr(info, field).strip(), f"{name}: empty {field}"
    assert re.search(r"\d", info.size), f"{name}: size should say how big the release is"
    assert info.homepage.startswith(("https://", "http://"))
    assert info.hub_id is None or re.fullmatch(r"[\w.-]+/[\w.-]+", info.hub_id)
    for key, option in cls.options.items():
        assert option.choices is None or option.default in option.choices, f"{name}: option {key}"


def _snapshot(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def fixtures_by_seed(tmp_path_factory):
    """Fixtures of every source written twice with seed 3 and once with seed 4 (10 rows each)."""
    roots = {}
    for label, seed in (("a", 3), ("b", 3), ("c", 4)):
        root = tmp_path_factory.mktemp(f"seed{label}")
        write_fixtures(root, rows=10, seed=seed)
        roots[label] = root
    return roots


@pytest.mark.parametrize("name", source_names())
def test_fixtures_are_deterministic_per_seed(fixtures_by_seed, name):
    first = _snapshot(fixtures_by_seed["a"] / name)
    assert first, f"{name} wrote no fixture files"
    assert _snapshot(fixtures_by_seed["b"] / name) == first
    assert _snapshot(fixtures_by_seed["c"] / name) != first


def test_every_fixture_writer_belongs_to_a_registered_source():
    writers = {m.name for m in pkgutil.iter_modules(collectivesft.fixtures.sources.__path__)}
    assert writers == set(source_names())


def test_a_source_without_a_fixture_writer_names_the_missing_module(monkeypatch, tmp_path):
    from collectivesft.sources.registry import SOURCES

    monkeypatch.setitem(SOURCES._classes, "nofixture", source_class("cmb"))
    with pytest.raises(ConfigError, match=r"collectivesft\.fixtures\.sources\.nofixture"):
        write_fixtures(tmp_path, rows=2, sources=["nofixture"])


def test_converters_do_not_import_the_fixture_world():
    code = ("import sys; from collectivesft.sources.registry import source_names; source_names(); "
            "print([m for m in sys.modules if m.startswith('collectivesft.fixtures')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_fixtures_do_not_depend_on_the_clock(tmp_path, monkeypatch):
    import time

    write_fixtures(tmp_path / "now", rows=5, seed=1)
    monkeypatch.setattr(time, "time", lambda: 1_000_000_000.0)  # as if written in 2001
    write_fixtures(tmp_path / "then", rows=5, seed=1)
    assert _snapshot(tmp_path / "then") == _snapshot(tmp_path / "now")
