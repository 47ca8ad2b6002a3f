"""A tokenizer shipped only as a sentencepiece model (InternLM2's layout) loads corrupt on
transformers 5; faithful_tokenizer finds that out by probing and rebuilds one that encodes as the
sentencepiece model does, and save_faithful saves it so that a plain AutoTokenizer reloads it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from collectivesft.errors import ConfigError, TokenizerMismatchError

# (name, add_dummy_prefix, sentencepiece model type, vocabulary size): InternLM2 is BPE; whether
# its model adds a dummy prefix decides the whitespace handling, so both are built.
LAYOUTS = [("bpe-prefix", True, "bpe", 2000), ("bpe-no-prefix", False, "bpe", 2000),
           ("unigram-prefix", True, "unigram", 1000)]
BYTE_FALLBACK_TEXT = "罕见字𠀾和表情😀只能按字节回退"


@pytest.fixture(scope="module", params=LAYOUTS, ids=[row[0] for row in LAYOUTS])
def layout(request, tmp_path_factory):
    """(folder in InternLM2's layout, the sentencepiece processor, vocabulary size)."""
    import sentencepiece

    from collectivesft.fixtures.sentencepiece_model import write_sentencepiece_folder

    name, prefix, model_type, vocab_size = request.param
    folder = write_sentencepiece_folder(tmp_path_factory.mktemp(name) / "tok", vocab_size=vocab_size,
                                        add_dummy_prefix=prefix, model_type=model_type)
    return folder, sentencepiece.SentencePieceProcessor(model_file=str(folder / "tokenizer.model")), vocab_size


@pytest.fixture(scope="module")
def loaded(layout):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(layout[0], trust_remote_code=True)


@pytest.fixture(scope="module")
def rebuilt(layout, loaded):
    from collectivesft.models.faithful_tokenizer import faithful_tokenizer

    lines: list[str] = []
    tokenizer = faithful_tokenizer(loaded, layout[0], log=lines.append)
    return tokenizer, lines


def _world_lines() -> list[str]:
    from collectivesft.fixtures.tiny_model import world_corpus

    return list(world_corpus())


def test_loading_the_folder_on_this_transformers_gives_a_corrupt_tokenizer(layout, loaded):
    """The bug, reproduced: the folder's own fast class drops byte fallback, spaces and added-token ids.
    (Should a transformers release convert such folders right, this fails to say so.)"""
    from collectivesft.models.faithful_tokenizer import probe

    folder, sp, _ = layout
    problems = probe(loaded, folder / "tokenizer.model")
    failed = {(m.check, m.text) for m in problems}
    assert ("encode", BYTE_FALLBACK_TEXT) in failed and ("decode", BYTE_FALLBACK_TEXT) in failed
    assert ("encode", "line one\nline two") in failed
    assert ("special", "<|im_start|>") in failed  # lands past the vocabulary, not on its piece's id
    text = "Hello world, 你好！"
    assert loaded.decode(loaded(text, add_special_tokens=False)["input_ids"]) != text


def test_rebuilt_tokenizer_encodes_as_the_sentencepiece_model(layout, loaded, rebuilt):
    from collectivesft.models.faithful_tokenizer import PROBE, probe

    folder, sp, _ = layout
    tokenizer, lines = rebuilt
    assert tokenizer is not loaded and probe(tokenizer, folder / "tokenizer.model") == []
    assert len(lines) == 1 and "rebuilt from tokenizer.model: the loaded one failed" in lines[0]
    assert f"of {len(PROBE)} probe texts" in lines[0]
    texts = list(PROBE) + _world_lines()
    assert len(texts) > 400
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert ids == sp.encode(text), text
        assert tokenizer.decode(ids) == text


@pytest.mark.parametrize(("text", "pieces"), [
    ("𠀾", ["<0xF0>", "<0xA0>", "<0x80>", "<0xBE>"]),  # a character no small vocabulary has
    ("😀", ["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"]),
], ids=["rare-cjk", "emoji"])
def test_byte_fallback_characters_round_trip(rebuilt, text, pieces):
    tokenizer, _ = rebuilt
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids)[-4:] == pieces
    assert tokenizer.decode(ids) == text


# Ids as tokenizer_config.json's added_tokens_decoder gives them: the chat tokens rename the
# sentencepiece pieces "[UNUSED_TOKEN_145/146]" (ids 3 and 4) and "<|interpreter|>" follows the vocabulary.
SPECIAL_IDS = [("<unk>", 0), ("<s>", 1), ("</s>", 2), ("<|im_end|>", 3), ("<|im_start|>", 4), ("<|interpreter|>", None)]


@pytest.mark.parametrize(("token", "token_id"), SPECIAL_IDS, ids=[row[0] for row in SPECIAL_IDS])
def test_special_and_added_tokens_keep_their_ids(layout, rebuilt, token, token_id):
    tokenizer, _ = rebuilt
    token_id = layout[2] if token_id is None else token_id
    assert tokenizer(token, add_special_tokens=False)["input_ids"] == [token_id]
    assert tokenizer.convert_ids_to_tokens(token_id) == token
    assert token_id in tokenizer.all_special_ids


def test_bos_eos_pad_and_settings_carried_over(layout, loaded, rebuilt):
    folder, sp, _ = layout
    tokenizer, _ = rebuilt
    assert tokenizer("高血压")["input_ids"] == [1] + sp.encode("高血压")  # add_bos_token on, add_eos_token off
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token_id) == ("<s>", "</s>", 2)
    assert tokenizer.chat_template == loaded.chat_template
    assert (tokenizer.padding_side, tokenizer.model_max_length) == ("right", 32768)


def test_chat_renders_with_each_special_token_as_one_id_and_round_trips(rebuilt):
    from collectivesft.models.faithful_tokenizer import CHAT

    tokenizer, _ = rebuilt
    rendered = tokenizer.apply_chat_template(list(CHAT), tokenize=False)
    ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    assert ids[:2] == [1, 4] and ids.count(4) == rendered.count("<|im_start|>") == 4
    assert ids.count(3) == rendered.count("<|im_end|>") == 4
    assert tokenizer.decode(ids) == rendered
    assert "<|im_start|>" not in tokenizer.decode(ids, skip_special_tokens=True)


def test_saved_tokenizer_reloads_without_remote_code(layout, rebuilt, tmp_path):
    from transformers import AutoTokenizer

    from collectivesft.models.faithful_tokenizer import probe, save_faithful
    from collectivesft.models.remote_code import remote_classes

    folder, sp, _ = layout
    out = save_faithful(rebuilt[0], tmp_path / "saved", folder)
    assert (out / "tokenizer.model").read_bytes() == (folder / "tokenizer.model").read_bytes()
    config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert "auto_map" not in config and remote_classes(out) == []
    assert config["tokenizer_class"] in ("TokenizersBackend", "PreTrainedTokenizerFast")
    reloaded = AutoTokenizer.from_pretrained(out)
    assert probe(reloaded, folder / "tokenizer.model") == []
    for text in _world_lines()[:300]:
        assert reloaded(text, add_special_tokens=False)["input_ids"] == sp.encode(text), text
    assert reloaded("高血压")["input_ids"][0] == 1


def test_a_hub_id_is_probed_with_the_model_file_the_tokenizer_recorded(layout, loaded):
    """For a hub id there is no folder to look in: the fast class's vocab_file points into the cache."""
    from collectivesft.models.faithful_tokenizer import faithful_tokenizer, probe

    assert Path(loaded.vocab_file) == layout[0] / "tokenizer.model"
    lines: list[str] = []
    tokenizer = faithful_tokenizer(loaded, "internlm/internlm2_5-7b-chat", log=lines.append)
    assert tokenizer is not loaded and probe(tokenizer, layout[0] / "tokenizer.model") == []
    assert lines[0].startswith("tokenizer of internlm/internlm2_5-7b-chat rebuilt from tokenizer.model")


def test_a_tokenizer_that_is_right_is_returned_unchanged(layout, rebuilt):
    from collectivesft.models.faithful_tokenizer import faithful_tokenizer

    lines: list[str] = []
    assert faithful_tokenizer(rebuilt[0], layout[0], log=lines.append) is rebuilt[0]
    assert lines == []


def _without_byte_fallback(tokenizer):
    from tokenizers import Tokenizer

    data = json.loads(tokenizer.backend_tokenizer.to_str())  # BPE and Unigram both carry the flag
    data["model"]["byte_fallback"] = False
    tokenizer._tokenizer = Tokenizer.from_str(json.dumps(data))


def _without_byte_decoder(tokenizer):
    from tokenizers import decoders

    tokenizer.backend_tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Fuse()])


def _without_space_escape(tokenizer):
    tokenizer.backend_tokenizer.normalizer = None


# A rebuild broken in one way each, and the probe text whose failure the error must name.
SABOTAGE = [("no-byte-fallback", _without_byte_fallback, f"encode {BYTE_FALLBACK_TEXT!r}"),
            ("no-byte-decoder", _without_byte_decoder, f"decode {BYTE_FALLBACK_TEXT!r}"),
            ("no-space-handling", _without_space_escape, "encode 'Hello world, this is a test.'")]


@pytest.mark.parametrize(("break_it", "named"), [row[1:] for row in SABOTAGE], ids=[row[0] for row in SABOTAGE])
def test_a_broken_rebuild_raises_naming_the_probe_text(layout, loaded, monkeypatch, break_it, named):
    from collectivesft.models import faithful_tokenizer as module

    build = module.rebuild_tokenizer

    def broken(spm_path, like=None):
        tokenizer = build(spm_path, like)
        break_it(tokenizer)
        return tokenizer

    monkeypatch.setattr(module, "rebuild_tokenizer", broken)
    with pytest.raises(TokenizerMismatchError, match="so does the one rebuilt from it") as caught:
        module.faithful_tokenizer(loaded, layout[0], log=lambda line: None)
    assert named in str(caught.value)


def test_byte_level_tokenizer_is_only_checked(tmp_path):
    """No sentencepiece model (Qwen2, SmolLM2): returned as loaded; a round-trip failure is logged."""
    from tokenizers import normalizers

    from collectivesft.fixtures.tiny_model import train_tokenizer, world_corpus
    from collectivesft.models.faithful_tokenizer import faithful_tokenizer, probe_roundtrip

    tokenizer = train_tokenizer(world_corpus(), 600, "qwen2")
    tokenizer.save_pretrained(tmp_path)
    lines: list[str] = []
    assert probe_roundtrip(tokenizer) == []
    assert faithful_tokenizer(tokenizer, tmp_path, log=lines.append) is tokenizer and lines == []
    tokenizer.backend_tokenizer.normalizer = normalizers.NFKC()  # full-width "，" comes back as ","
    assert faithful_tokenizer(tokenizer, tmp_path, log=lines.append) is tokenizer
    assert len(lines) == 1 and "does not decode back" in lines[0] and "，" in lines[0]


@pytest.mark.parametrize(("files", "config", "found"), [
    (["tokenizer.model"], {}, "tokenizer.model"),
    (["spiece.model"], {"vocab_file": "spiece.model"}, "spiece.model"),
    (["vocab.json"], {"vocab_file": "vocab.json"}, None),
    ([], {}, None),
], ids=["tokenizer.model", "vocab_file-named", "not-sentencepiece", "none"])
def test_sentencepiece_file(tmp_path, files, config, found):
    from collectivesft.models.faithful_tokenizer import sentencepiece_file

    for name in files:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    assert sentencepiece_file(tmp_path) == (tmp_path / found if found else None)
    assert sentencepiece_file("internlm/internlm2_5-7b-chat") is None  # a hub id is no folder


def test_training_without_sentencepiece_names_the_extra(tmp_path, monkeypatch):
    from collectivesft.fixtures.sentencepiece_model import train_sentencepiece

    monkeypatch.setitem(sys.modules, "sentencepiece", None)
    with pytest.raises(ConfigError, match=r"collectivesft\[internlm\]"):
        train_sentencepiece(["text"], tmp_path / "m.model", 100)


def test_importing_the_module_loads_no_tokenizer_library():
    code = ("import sys, collectivesft.models.faithful_tokenizer; "
            "print([m for m in ('transformers', 'tokenizers', 'sentencepiece') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
