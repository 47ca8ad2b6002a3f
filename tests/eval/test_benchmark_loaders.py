"""Every benchmark beyond CMB: registered with its facts, prompts that format, fixture round trips."""

from __future__ import annotations

import hashlib
import importlib
import random
from pathlib import Path

import pytest

from collectivesft.benchmarks.base import benchmark_names, get_benchmark
from collectivesft.fixtures import world

# name -> (fixture module, key of the expected counts that module's write() returns)
MINE = {
    "cmexam": ("collectivesft.benchmarks.cmexam.fixture", None),
    "medqa-mcmle": ("collectivesft.benchmarks.medqa_mcmle.fixture", "5"),
    "medqa-mcmle-4options": ("collectivesft.benchmarks.medqa_mcmle.fixture", "4"),
    "ceval-medical": ("collectivesft.benchmarks.ceval_medical.fixture", None),
    "mlecqa": ("collectivesft.benchmarks.mlecqa.fixture", None),
    "nlpec": ("collectivesft.benchmarks.nlpec.fixture", None),
}
ROWS = 12


def test_registered_with_their_facts():
    assert set(MINE) <= set(benchmark_names())
    for name in MINE:
        bench = get_benchmark(name)
        assert bench.name == name and bench.title and bench.homepage.startswith("https://") and bench.how_to_get
        assert bench.eval_split in bench.splits
        assert bench.validation_split in (None, *bench.splits) and bench.shots_split in (None, *bench.splits)
        assert bench.categories and bench.metric in ("accuracy", *(f"macro:{c}" for c in bench.categories))
        header = bench.prompt.header.format(subject="医师资格")
        item = bench.prompt.item.format(question="题干", options="A. 甲\nB. 乙")
        assert "{" not in header + item and item.startswith(("题干", "问题: 题干"))
    assert get_benchmark("medqa-mcmle").leaks_from == ("medqa",)
    assert get_benchmark("mlecqa").leaks_from == ("mlecqa",) and get_benchmark("nlpec").leaks_from == ("nlpec",)
    assert get_benchmark("cmexam").multi_answer and not get_benchmark("nlpec").multi_answer


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Each benchmark's fixture, written once: name -> (data, expected loadable items per split)."""
    out = {}
    for name, (module, key) in MINE.items():
        folder = tmp_path_factory.mktemp(name)
        data = get_benchmark(name).write_fixture(folder, random.Random(f"0:{name}"), ROWS)
        _, expected = importlib.import_module(module).write(tmp_path_factory.mktemp(name + "-again"),
                                                             random.Random(f"0:{name}"), ROWS)
        out[name] = (data, expected[key] if key else expected)
    return out


@pytest.mark.parametrize("name", sorted(MINE))
def test_fixture_round_trip(written, capsys, name):
    """write_fixture -> load: the expected items per split, answers among the options, the planted
    breakage reported on stderr and counted, never silently dropped."""
    data, expected = written[name]
    bench = get_benchmark(name)
    for split in bench.splits:
        items = bench.load(data, split)
        assert len(items) == expected[split], split
        assert len({i.id for i in items}) == len(items)
        for item in items:
            if split == "test" and name == "ceval-medical":
                assert item.answer is None
                continue
            assert item.answer and set(item.answer) <= set(item.options)
            assert item.multi == (len(item.answer) > 1)
            if split == bench.eval_split:  # CMExam annotates its test split only
                assert set(bench.categories) <= set(item.groups)
    err = capsys.readouterr().err
    skipped = sum(n for split in bench.splits for reason, n in bench.skipped[split].items()
                  if not reason.startswith("kept:"))
    assert skipped > 0 and f"warning: {name}:" in err


@pytest.mark.parametrize("name", sorted(MINE))
def test_fixture_items_are_learnable_from_the_world(written, name):
    """A single-answer eval item names a world fact and its right option is that fact's answer."""
    bench = get_benchmark(name)
    split = bench.eval_split
    items = [i for i in bench.load(written[name][0], split) if i.answer and not i.multi]
    assert items
    for item in items:
        facts = [f for f in world.FACTS if f.disease in item.question or f.symptom in item.question]
        right = item.options[item.answer]
        assert any(right in (f.drug, f.department, f.disease) for f in facts), (item.question, right)


@pytest.mark.parametrize("name", sorted(MINE))
def test_fixture_is_deterministic(tmp_path, name):
    def digest(folder: Path) -> str:
        data = get_benchmark(name).write_fixture(folder, random.Random(7), 5)
        files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
        assert data.exists()
        if any(p.suffix == ".zip" for p in files):  # zip entries carry timestamps: compare members
            import zipfile
            with zipfile.ZipFile(data) as zf:
                return hashlib.sha256(b"".join(zf.read(n) for n in sorted(zf.namelist()))).hexdigest()
        return hashlib.sha256(b"".join(p.relative_to(folder).as_posix().encode() + p.read_bytes()
                                       for p in files)).hexdigest()

    assert digest(tmp_path / "a") == digest(tmp_path / "b")


@pytest.mark.parametrize("name", sorted(MINE))
def test_eval_items_for_decontamination(written, name):
    """The base class's eval_items (what decontamination indexes) reads every answer-bearing split
    of the fixture, never the few-shot one."""
    bench = get_benchmark(name)
    ids = [i for i, _text, _fallback in bench.eval_items(written[name][0])]
    splits = {i.split("/", 2)[1].split("#")[0] for i in ids}
    assert bench.eval_split in splits and (bench.shots_split not in splits or bench.shots_split == bench.eval_split)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", ["medqa-mcmle", "cmexam"])
def test_eval_items_leave_the_training_split_out(written, name):
    ids = [i for i, _text, _fallback in get_benchmark(name).eval_items(written[name][0])]
    assert not [i for i in ids if i.split("/", 2)[1].startswith("train#")]


@pytest.mark.parametrize("inside", [True, False])
def test_links_are_followed_only_inside_the_folder(tmp_path, inside):
    from collectivesft.errors import InputLayoutError

    target_dir = tmp_path / ("data" if inside else "elsewhere")
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / "real.jsonl"
    target.write_text('{"questionText": "治疗高血压的首选药物是", "option": ["甲", "乙"], "answer": ["2"]}\n',
                      encoding="utf-8")
    folder = tmp_path / "data" / "NLPEC_public_data"
    folder.mkdir(parents=True)
    (folder / "test.json").symlink_to(target)
    if inside:
        assert len(get_benchmark("nlpec").load(tmp_path / "data", "test")) == 1
    else:
        with pytest.raises(InputLayoutError, match="outside"):
            get_benchmark("nlpec").load(tmp_path / "data", "test")


@pytest.mark.parametrize("name, content, message", [
    ("a damaged zip", b"PK\x03\x04 not really a zip", "unreadable zip archive"),
    ("an empty zip", b"PK\x05\x06" + b"\x00" * 18, "holds none of"),
])
def test_bad_archives_name_the_file(tmp_path, name, content, message):
    from collectivesft.errors import InputLayoutError

    archive = tmp_path / "MLEC-QA.zip"
    archive.write_bytes(content)
    with pytest.raises(InputLayoutError, match=message) as err:
        get_benchmark("mlecqa").load(archive, "test")
    assert "MLEC-QA.zip" in str(err.value)
