"""The mixture's bytes are pinned: every output file of three builds has a recorded sha256.

The digests were recorded from the code before the scan and writer were made faster (issue 23),
so any change to the bytes a mix writes (JSON spacing, escaping, float spelling, key order,
record order, which copy of a duplicate is kept) fails here. The data is generated, not stored:
fixture-world sources converted as `data convert` does, replicated into exact duplicates (changed
punctuation, spacing, full-width letters), near duplicates and new records, a source of
hand-made awkward JSON (floats, escapes, surrogate pairs, control characters, deep meta), an eval
file that some records copy, and records that the filters reject.

If a digest changes on purpose (a new field, a changed export format), record the new ones with
`COLLECTIVESFT_PRINT_DIGESTS=1` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from typing import Any

import pytest
import yaml

_CJK = [chr(c) for c in range(0x4E00, 0x4E00 + 2500)]
_FIXTURE_SOURCES = ["cmb", "medmcqa", "webmedqa", "cmeddialogue"]
_EVAL_COPIES = 12


def _perturb_exact(text: str) -> str:
    table = str.maketrans({"，": ",", "。": ".", "？": "?", "：": ":", "A": "Ａ", "B": "Ｂ", "C": "Ｃ", "1": "１"})
    return text.translate(table).replace("\n", " \n ")


def _perturb_near(text: str, rng: random.Random) -> str:
    chars = list(text)
    for pos in rng.sample(range(len(chars)), min(2, len(chars))):
        chars[pos] = rng.choice(_CJK)
    return "".join(chars)


def _replica(rec: dict[str, Any], k: int, rng: random.Random) -> dict[str, Any]:
    msgs = [dict(m) for m in rec["messages"]]
    user = next(i for i, m in enumerate(msgs) if m["role"] == "user")
    kind = rng.random()
    if kind < 0.25:
        msgs[user]["content"] = _perturb_exact(msgs[user]["content"])
    elif kind < 0.45:
        msgs[user]["content"] = _perturb_near(msgs[user]["content"], rng)
    elif kind < 0.5:
        msgs[-1]["content"] = ""  # rejected by drop_empty_turns
    else:
        detail = "".join(rng.choice(_CJK) for _ in range(rng.randint(25, 60)))
        msgs[user]["content"] = f"病例{k}：{detail}。\n" + msgs[user]["content"]
    return dict(rec, id=f"{rec['id']}~{k}", messages=msgs)


def _awkward(i: int, rng: random.Random) -> dict[str, Any]:
    """Records whose JSON spelling is easy to get wrong: floats, escapes, astral characters."""
    floats = [0.1, 1e-7, 1e16, 123456789.125, -0.0, 2.5e-300, 1.7976931348623157e308, 3.0, 1/3]
    weird = ["\u2028\u2029", "tab\there", "quote\"back\\slash", "\x00\x01\x1f\x7f", "😀𠀀",
             "</script>", "é\u0301", "ＡＢＣ１２３", "\ufeffbom", "<&'>"]
    user = "".join(rng.choice(_CJK) for _ in range(rng.randint(15, 70))) + weird[i % len(weird)]
    if i % 7 == 3:
        user = "?!。，" * 3  # nothing comparable after normalisation: never a duplicate
    meta = {"score": floats[i % len(floats)], "n": 2**53 + i, "neg": -i, "flag": i % 2 == 0, "none": None,
            "nested": {"z": [1, 2.0, "x"], "a": {"deep": [[{"k": weird[(i + 3) % len(weird)]}]]}},
            "zkey": "last", "akey": "first", "grade": ["A", "B", "C"][i % 3]}
    answer = f"答{i}：" + weird[(i + 1) % len(weird)]
    msgs = [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    if i % 5 == 0:
        msgs.insert(0, {"role": "system", "content": "你是医生。\n"})
    if i % 6 == 0:
        at = len(msgs) - 2  # before the last exchange
        msgs[at:at] = [{"role": "user", "content": "前一问" + str(i)}, {"role": "assistant", "content": "前一答"}]
    rec = {"id": f"awkward/{i:04d}", "source": "awkward", "task": "qa" if i % 4 else "dialogue",
           "lang": "zh" if i % 9 else "fr", "messages": msgs, "meta": meta, "extra_field": {"b": 1, "a": 0.5}}
    return rec


@pytest.fixture(scope="module")
def digest_world(tmp_path_factory) -> dict[str, Any]:
    """Records folders, an eval file and the recipe settings every build shares."""
    from collectivesft.fixtures.writer import write_fixtures
    from collectivesft.io import dumps, read_jsonl
    from collectivesft.sources.convert import convert_source

    work = tmp_path_factory.mktemp("digest-world")
    write_fixtures(work / "raw", rows=30, seed=3, sources=_FIXTURE_SOURCES)
    rng = random.Random(7)
    folders = {}
    copied = []
    for name in _FIXTURE_SOURCES:
        convert_source(name, work / "converted" / name, input=work / "raw" / name)
        base = list(read_jsonl(work / "converted" / name / "records.jsonl"))
        if name in ("cmb", "webmedqa"):  # (fixture MCQs share their option text: copy questions only)
            copied += [next(m["content"] for m in r["messages"] if m["role"] == "user") for r in base[:6]]
        folder = work / "scaled" / name
        folder.mkdir(parents=True)
        with open(folder / "records.jsonl", "w", encoding="utf-8") as fh:
            for n in range(4 * len(base)):
                rec = base[n % len(base)]
                fh.write(dumps(rec if n < len(base) else _replica(rec, n // len(base), rng)) + "\n")
                if n % 17 == 5:
                    fh.write("\n")  # blank lines are skipped, not records
        folders[name] = folder
    folder = work / "scaled" / "awkward"
    folder.mkdir(parents=True)
    with open(folder / "records.jsonl", "w", encoding="utf-8") as fh:
        for i in range(90):
            rec = _awkward(i, rng)
            # Some lines spelled with \u escapes or spaces: the writer re-encodes every record.
            fh.write(json.dumps(rec, ensure_ascii=i % 10 != 0, separators=(", ", ": ") if i % 3 else (",", ":")) + "\n")
    folders["awkward"] = folder
    eval_rows = [{"id": f"ev{k}", "source": "ev", "task": "qa", "lang": "zh", "meta": {},
                  "messages": [{"role": "user", "content": _perturb_exact(text)},
                               {"role": "assistant", "content": "A"}]}
                 for k, text in enumerate(copied[:_EVAL_COPIES])]
    eval_file = work / "eval.jsonl"
    eval_file.write_text("".join(dumps(r) + "\n" for r in eval_rows), encoding="utf-8")
    return {"work": work, "folders": folders, "eval_file": eval_file}


def _build(world: dict[str, Any], name: str, settings: dict[str, Any]) -> dict[str, str]:
    from collectivesft.pipeline.run import mix_recipe_file

    # Paths relative to the world folder (the build runs there): the manifest names them.
    sources = [{"name": n, "records": str(f.relative_to(world["work"]))} for n, f in world["folders"].items()]
    if settings.get("selection") != "first":  # first-N takes file order, never strata
        sources[0]["stratify_by"] = ["exam_class"]  # cmb
        sources[-1]["stratify_by"] = ["grade"]  # awkward
    recipe = {"seed": 5, "strategy": "cap", "cap": 70, "val_fraction": 0.15, "sources": sources,
              "filters": {"min_chars": 12}, **settings}
    path = world["work"] / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    out = world["work"] / name
    cwd = os.getcwd()
    os.chdir(world["work"])
    try:
        mix_recipe_file(path.name, name, log=lambda _: None)
    finally:
        os.chdir(cwd)
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


BUILDS = {
    # Two worker processes, per-source split, every export, report files, filters, decontamination drops.
    "workers": {"report": True, "filters": {"min_chars": 30, "max_chars": 2000, "langs": ["zh", "en"]},
                "dedup": {"exact": True, "near": True, "threshold": 0.7, "workers": 2},
                "decontamination": {"eval_files": ["{eval}"], "action": "drop", "min_overlap": 0.5}},
    # One process, LLaMA-Factory's global split (records held and written in its order),
    # all turns compared, contamination only reported, first-N selection.
    "llamafactory": {"report": False, "split": "llamafactory", "selection": "first",
                     "dedup": {"exact": True, "near": True, "text": "all", "workers": 1},
                     "decontamination": {"eval_files": ["{eval}"], "action": "report"}},
    # No near dedup or decontamination, no optional exports but accounting; proportional total.
    "plain": {"report": False, "strategy": "proportional", "total": 150, "cap": None,
              "dedup": {"exact": True, "near": False, "workers": 1},
              "exports": {"llamafactory": False, "sharegpt": False, "parquet": False, "accounting": True}},
}

EXPECTED: dict[str, dict[str, str]] = {
    'llamafactory': {
        'accounting.jsonl': 'a4205a629196c68ec84d4c29cee3d1ba88cfdaf91e18d3615beac117feafdc67',
        'contamination.jsonl': '94e2ae822ab9e90775fc3e82b735c7af7471e77697d8224c38aa33d139cfb2ac',
        'llamafactory/dataset_info.json': 'd73748e1108437579e330bf6baf7ff0b571acf919060059c299ea2e500361567',
        'llamafactory/train.json': '33ef56e0a967bc3f834818b874864d7cc9eb0c4a260e7c7ec73bd03cd8a6307e',
        'llamafactory/val.json': 'f355c5ecb4858c3ea38b4b76a256c57b47b07f3c5f23f3aecb3f1027c9fff97c',
        'manifest.json': '38b2308750be01e09d0437929adfa366ab7ac6b3b8cdb4e6a6f6202a0e550d15',
        'parquet/train.parquet': 'bf66a23684f21c4ed97ba1e1c25fe6c6a91beb365575dd85b3de09e6cd8241a4',
        'parquet/val.parquet': 'a686d6640fbc1597a16e775d960a85b9df209974472712c06a36fe62d9b8b769',
        'sharegpt.jsonl': '99634be86d39ae70cf83512b6b93e1f6b0d725d9eb028079f9fbc274ecac3342',
        'sharegpt_val.jsonl': '6fa0600e8b1b2f5b4dc34bea25844f5ad2139597547ff5217540ce0ff2c4dd93',
        'train.jsonl': 'a915f2bcf43948c102c6e47f21bde64f5f66b71558f64589fc1edb2a9bb0330d',
        'val.jsonl': 'e911fad25e46fe1deadebe487d1ce84869a37e0663b1b5aecbfe729fca1ba78f',
    },
    'plain': {
        'accounting.jsonl': 'ecd13218279eeaac78f7340a2a80e98d0557f0b238380c0339fdc2375f31fbcb',
        'contamination.jsonl': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        'manifest.json': '73171845b5b8e4651b757b59651b34c8d4e10f0bcf5747738142078912d193c1',
        'train.jsonl': '56ece41d44f88d0bd7196f1c73ee4bfbc11ae7340eeca07e8e09fea121cec175',
        'val.jsonl': '32c19ca7ba46d9aa2d9abfcc4cc844ef809fa8748e4db1c83ec40a2657eef04b',
    },
    'workers': {
        'accounting.jsonl': '77c2dd4cf00c179dd615423bdb14b78e654e7da8a65d7123c9c1ac7f00f2bdaf',
        'contamination.jsonl': '209f19c5697b5434560bc446f8feb4199e80b4b63d0f8679f88629acd9a928f9',
        'llamafactory/dataset_info.json': '68571daafe45780077b9a05e8ecad0901ca6f9f83b1581d92fafb864f6701f69',
        'llamafactory/train.json': '59246908e3568a24860bbb13623c318752549b7e7a91661ec2df306ecbedd35b',
        'llamafactory/val.json': '241d58e9f99d67d95c32a26abbc3031db6520b4929f1bda82970498d2d936643',
        'manifest.json': '85e208a07f220a35b9351824c92034cab7ac162ee78c72a798db8f2a03bef99a',
        'parquet/train.parquet': 'e425170ab5e847824e0521380db48ee4dc857a36decb82e8d09ec346341afa33',
        'parquet/val.parquet': 'a23a783c3316f655d17d088279e719e4a16a31ca3b956792f0812874a5ae3a17',
        'report/composition_sources.png': 'e4f7c5d1aa395aca486e0f277d85116163f306d172800ea312df566b1d416084',
        'report/composition_sources.svg': '00381e65e49d2e2f18ef7478d6c0e373d54fd6863efaddaf779c1ad145685969',
        'report/composition_tasks.png': 'f399fa17d9d0cd88e88cc4049becb0e10f1bd60ac9cb01de942a653a6f601a5c',
        'report/composition_tasks.svg': '1a9755ece176855407a958b9d161c7c2a6af01580f592f4c730c2a184cbde368',
        'report/drops.png': 'fdf0674af70b68e81a38e13f326d164d6466ce65000b9cc12396b95b65c7765c',
        'report/drops.svg': '3f05374ee1f3b2aca5741878a621ea6ee4e0dc7486423c23c29a6cce0f1faa43',
        'report/lengths.png': '3b5407cfad738d38036df2db199a020fd6f0ec0bc886a8b98dadcdd7778247cd',
        'report/lengths.svg': '1324dc7ea7e61df9db23835d4b5258a12fd3f155ab754a6a9b84dcb56dd0cf27',
        'report.md': '2c4e9fefcb7f61e9a91cdb269254f20a2d5b40c40186b314b121133d9977b114',
        'sharegpt.jsonl': '2137afd3b976dbc63173b72cee0b1b42dc3dc898f0c0383f466f0f1992107ee1',
        'sharegpt_val.jsonl': 'cc23d94767d68ba71cf3e1bfcdae8ee7b2398778691c7828b8d30f381fca13eb',
        'train.jsonl': 'befada4a6f605ea6b18bf81e6112b9dcf73e375488e8559ae9e601970b27e8bd',
        'val.jsonl': '86090d456f8f5c7343e61d4b494fadb2249c2fae45a2aa6f2e3978fa8056671d',
    },
}


def _settings(world: dict[str, Any], name: str) -> dict[str, Any]:
    return json.loads(json.dumps(BUILDS[name]).replace("{eval}", world["eval_file"].name))


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_every_output_file_keeps_its_bytes(digest_world, name):
    digests = _build(digest_world, name, _settings(digest_world, name))
    if os.environ.get("COLLECTIVESFT_PRINT_DIGESTS"):
        print(f"\n    {name!r}: " + json.dumps(digests, indent=8))
    assert digests == EXPECTED[name]
