"""Tokenizers that encode as their sentencepiece model does, or a clear error.

InternLM2 (and Llama-2, Baichuan, ...) ship their tokenizer only as a sentencepiece
`tokenizer.model` plus their own tokenizer classes. On transformers 5 such a folder loads a fast
tokenizer that is a bare BPE (no byte fallback, no whitespace handling, no decoder): "你好！"
loses characters, newlines vanish, and nothing fails. `faithful_tokenizer` probes a loaded
tokenizer against the sentencepiece model (the truth) and, when they differ, rebuilds a fast
tokenizer from that model with the `tokenizers` library; `save_faithful` saves it so that a plain
`AutoTokenizer.from_pretrained` reloads it. Heavy libraries are imported inside the functions.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from collectivesft.errors import TokenizerMismatchError

# Texts every faithful tokenizer must encode as the sentencepiece model does and decode back:
# the whitespace cases sentencepiece handles specially, full-width CJK punctuation, characters
# that only byte fallback can spell (absent from any small vocabulary), digits, mixed scripts.
PROBE: tuple[str, ...] = (
    "Hello world, this is a test.",
    " leading space",
    "double  spaces  and a trailing one ",
    "line one\nline two",
    "paragraph one\n\nparagraph two\n",
    "col\tseparated\tby tabs",
    "患者男，45岁。主诉：头痛三天！需要去神经内科吗？",
    "高血压的首选药物是什么？答案是A，而不是B。",
    "罕见字𠀾和表情😀只能按字节回退",
    "Take 2 tablets 3 times a day: 1234567890",
    "Mixed 中文 and English：血压 140/90 mmHg。",
    "\n  indented\tline  \n",
)
# A two-turn chat rendered with the tokenizer's own chat template.
CHAT = (
    {"role": "user", "content": "高血压首选什么药？"},
    {"role": "assistant", "content": "答案是A。First-line: ACE inhibitors."},
    {"role": "user", "content": "Why?\n为什么？"},
    {"role": "assistant", "content": "因为 it lowers blood pressure 😀"},
)
# sentencepiece piece types (sentencepiece_model.proto)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


@dataclass(frozen=True)
class Mismatch:
    """One failed check: which check, on which text, what the sentencepiece model says vs the tokenizer."""

    check: str  # encode | decode | special | bos/eos | chat
    text: str
    expected: str
    got: str

    def __str__(self) -> str:
        return f"{self.check} {_short(self.text)!r}: expected {self.expected}, got {self.got}"


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _pieces(pieces: list[str], limit: int = 12) -> str:
    shown = " ".join(repr(p) for p in pieces[:limit])
    return f"[{shown}{' …' if len(pieces) > limit else ''}] ({len(pieces)} tokens)"


def _read_config(folder: Path) -> dict[str, Any]:
    path = Path(folder) / "tokenizer_config.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def sentencepiece_file(folder: str | Path) -> Path | None:
    """The sentencepiece model of a local tokenizer folder: tokenizer.model, or the `vocab_file`
    its tokenizer_config.json names when that is a `.model` file; None when there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    if (folder / "tokenizer.model").is_file():
        return folder / "tokenizer.model"
    named = _read_config(folder).get("vocab_file")
    if isinstance(named, str) and named.endswith(".model") and (folder / named).is_file():
        return folder / named
    return None


def _load_proto(spm_path: Path):
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(Path(spm_path).read_bytes())
    return proto


def probe(tokenizer, spm_path: str | Path) -> list[Mismatch]:
    """Where `tokenizer` differs from the sentencepiece model at `spm_path` on PROBE (ids; decoding
    the model's ids back to the text), on special and added tokens (one id each, the right one), on
    bos/eos added as tokenizer_config.json says, and on a chat rendered with its template."""
    import sentencepiece

    spm_path = Path(spm_path)
    sp = sentencepiece.SentencePieceProcessor(model_file=str(spm_path))
    config = _read_config(spm_path.parent)
    found: list[Mismatch] = []
    for text in PROBE:
        want = sp.encode(text)
        got = tokenizer(text, add_special_tokens=False)["input_ids"]
        if got != want:
            found.append(Mismatch("encode", text, _pieces([sp.id_to_piece(i) for i in want]),
                                  _pieces(tokenizer.convert_ids_to_tokens(got))))
        decoded = tokenizer.decode(want, skip_special_tokens=False)
        if decoded != text:
            found.append(Mismatch("decode", text, repr(text), repr(decoded)))
    found += _special_mismatches(tokenizer, sp, _load_proto(spm_path), config)
    found += _bos_eos_mismatches(tokenizer, sp, config)
    found += _chat_mismatches(tokenizer)
    return found


def _special_mismatches(tokenizer, sp, proto, config: dict[str, Any]) -> list[Mismatch]:
    found = []
    named = {"bos_token": sp.bos_id(), "eos_token": sp.eos_id(), "unk_token": sp.unk_id()}
    for attribute, want in named.items():
        token = getattr(tokenizer, attribute, None)
        if want >= 0 and token is not None and tokenizer.convert_tokens_to_ids(str(token)) != want:
            found.append(Mismatch("special", str(token), f"id {want} ({attribute})",
                                  f"id {tokenizer.convert_tokens_to_ids(str(token))}"))
    # The id of an added token: tokenizer_config.json's added_tokens_decoder (what the model was
    # trained with), else its sentencepiece piece's, else the tokenizer's own.
    configured = {str(entry["content"]): int(i) for i, entry in (config.get("added_tokens_decoder") or {}).items()}
    loaded = {str(token): i for i, token in tokenizer.added_tokens_decoder.items() if token.special}
    pieces = {p.piece: i for i, p in enumerate(proto.pieces) if p.type != NORMAL}
    for content in sorted(set(configured) | set(loaded)):
        want = configured.get(content, pieces.get(content, loaded.get(content)))
        got = tokenizer(content, add_special_tokens=False)["input_ids"]
        if got != [want]:
            found.append(Mismatch("special", content, f"one id {want}", f"ids {got}"))
        elif want < len(proto.pieces) and proto.pieces[want].piece != content and proto.pieces[want].type == NORMAL:
            # a renamed piece must be one sentencepiece never emits for text (control, user-defined, unused)
            found.append(Mismatch("special", content, "an id whose piece text never produces",
                                  f"id {want}, the text piece {proto.pieces[want].piece!r}"))
    return found


def _bos_eos_mismatches(tokenizer, sp, config: dict[str, Any]) -> list[Mismatch]:
    if "add_bos_token" not in config and "add_eos_token" not in config:
        return []  # nothing says what the model expects
    bos, eos = bool(config.get("add_bos_token")), bool(config.get("add_eos_token"))
    want = [sp.bos_id()] * bos + sp.encode(PROBE[0]) + [sp.eos_id()] * eos
    got = tokenizer(PROBE[0])["input_ids"]
    return [] if got == want else [Mismatch("bos/eos", PROBE[0], f"{want} (add_bos_token={bos}, add_eos_token={eos})",
                                            str(got))]


def _chat_mismatches(tokenizer) -> list[Mismatch]:
    if not getattr(tokenizer, "chat_template", None):
        return []
    rendered = tokenizer.apply_chat_template(list(CHAT), tokenize=False)
    ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    found = []
    for token_id, token in tokenizer.added_tokens_decoder.items():
        if str(token) in rendered and ids.count(token_id) != rendered.count(str(token)):
            found.append(Mismatch("chat", rendered, f"{str(token)!r} as id {token_id} "
                                  f"{rendered.count(str(token))} times", f"{ids.count(token_id)} times"))
    decoded = tokenizer.decode(ids, skip_special_tokens=False)
    if decoded != rendered:
        found.append(Mismatch("chat", rendered, repr(_short(rendered, 80)), repr(_short(decoded, 80))))
    return found


def probe_roundtrip(tokenizer) -> list[Mismatch]:
    """For tokenizers without a sentencepiece model (byte-level BPE): where decode(encode(text)) != text on PROBE."""
    found = []
    for text in PROBE:
        decoded = tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"], skip_special_tokens=False)
        if decoded != text:
            found.append(Mismatch("decode", text, repr(text), repr(decoded)))
    return found


def _added_tokens(proto, config: dict[str, Any], like) -> dict[int, Any]:
    """Id -> AddedToken: the sentencepiece model's control and user-defined pieces, then the
    tokenizer_config.json entries (which may rename pieces, as InternLM2's chat tokens do)."""
    from tokenizers import AddedToken

    # normalized=True: matched after the normalizer has run on the whole text, so the dummy prefix is
    # added once at the start of the text (as sentencepiece does), not after every special token
    def added(content: str, special: bool, entry: dict | None = None) -> AddedToken:
        entry = entry or {}
        return AddedToken(content, special=special, normalized=True, lstrip=bool(entry.get("lstrip")),
                          rstrip=bool(entry.get("rstrip")), single_word=bool(entry.get("single_word")))

    tokens = {i: added(p.piece, p.type != USER_DEFINED) for i, p in enumerate(proto.pieces)
              if p.type in (UNKNOWN, CONTROL, USER_DEFINED)}
    entries = config.get("added_tokens_decoder")
    if entries:
        for i, entry in entries.items():
            tokens[int(i)] = added(str(entry["content"]), bool(entry.get("special", True)), entry)
    elif like is not None:  # no config: the loaded tokenizer's list, less pieces it misplaced
        pieces = {token.content for token in tokens.values()}
        for i, token in like.added_tokens_decoder.items():
            if str(token) not in pieces:
                tokens[int(i)] = added(str(token), bool(token.special))
    return dict(sorted(tokens.items()))


def _merges(proto, names: list[str]) -> list[tuple[str, str]]:
    # sentencepiece BPE merges the adjacent pair whose joined piece scores highest; as ranked
    # merges that is every split of a normal piece into two normal pieces, best piece first.
    normal = {names[i]: (-p.score, i) for i, p in enumerate(proto.pieces) if p.type == NORMAL}
    ranked = sorted((rank, left, piece[k:]) for piece, rank in normal.items() for k in range(1, len(piece))
                    if (left := piece[:k]) in normal and piece[k:] in normal)
    return [(left, right) for _, left, right in ranked]


def _backend(proto, added: dict[int, Any], bos: str | None, eos: str | None):
    """The `tokenizers.Tokenizer` that encodes like the sentencepiece model `proto`; `bos`/`eos` are
    the tokens its post-processor adds (None: not added)."""
    import re

    from tokenizers import Regex, Tokenizer, decoders, normalizers, processors
    from tokenizers.models import BPE, Unigram

    trainer, spec = proto.trainer_spec, proto.normalizer_spec
    names = [p.piece for p in proto.pieces]
    for i, token in added.items():
        if i < len(names):
            names[i] = token.content
    if trainer.model_type == 2:  # BPE
        model = BPE({name: i for i, name in enumerate(names)}, _merges(proto, names),
                    unk_token=names[trainer.unk_id], fuse_unk=True, byte_fallback=trainer.byte_fallback)
    else:  # unigram: tokenizers runs the same Viterbi search over the piece scores
        model = Unigram([(name, p.score) for name, p in zip(names, proto.pieces)], trainer.unk_id,
                        trainer.byte_fallback)
    backend = Tokenizer(model)
    # The normalizer does what sentencepiece's does, in its order.
    steps = [normalizers.Precompiled(spec.precompiled_charsmap)] if spec.precompiled_charsmap else []
    if spec.remove_extra_whitespaces:
        steps += [normalizers.Replace(Regex(r"\A +| +\z"), ""), normalizers.Replace(Regex(" {2,}"), " ")]
    if spec.add_dummy_prefix:
        steps.append(normalizers.Prepend("▁"))
        if added:
            # ...except before a leading special token: "<s><|im_start|>..." must not begin with a lone
            # "▁" (sentencepiece would emit one; no chat template wants a token before bos)
            tokens = "|".join(re.escape(t.content) for t in sorted(added.values(), key=lambda t: -len(t.content)))
            steps.append(normalizers.Replace(Regex(rf"\A▁(?={tokens})"), ""))
    if spec.escape_whitespaces:
        steps.append(normalizers.Replace(" ", "▁"))
    backend.normalizer = normalizers.Sequence(steps)
    backend.decoder = decoders.Sequence(
        [decoders.Replace("▁", " ")] + ([decoders.ByteFallback()] if trainer.byte_fallback else [])
        + [decoders.Fuse()] + ([decoders.Strip(" ", 1, 0)] if spec.add_dummy_prefix else []))
    # Added tokens past the sentencepiece vocabulary take the next free ids in order: no gaps allowed.
    past = sorted(i for i in added if i >= len(names))
    if past != list(range(len(names), len(names) + len(past))):
        raise TokenizerMismatchError(f"added token ids {past} do not follow the sentencepiece vocabulary "
                                     f"({len(names)} pieces) without gaps; cannot rebuild the tokenizer")
    backend.add_tokens(list(added.values()))
    ids = {token.content: i for i, token in added.items()}
    missing = [t for t in (bos, eos) if t is not None and t not in ids]
    if missing:
        raise TokenizerMismatchError(f"{missing[0]!r} is to be added to every text but is no token of the model")

    def template(seq: str, n: int) -> str:
        return " ".join(([f"{bos}:{n}"] if bos else []) + [f"${seq}:{n}"] + ([f"{eos}:{n}"] if eos else []))

    backend.post_processor = processors.TemplateProcessing(single=template("A", 0),
                                                           pair=f"{template('A', 0)} {template('B', 1)}",
                                                           special_tokens=[(t, ids[t]) for t in (bos, eos) if t])
    return backend


def rebuild_tokenizer(spm_path: str | Path, like=None):
    """A fast tokenizer built from the sentencepiece model at `spm_path`, with the special and added
    tokens, bos/eos and chat template of tokenizer_config.json beside it, else of `like` (the
    tokenizer loaded from that folder), and `like`'s padding side and maximum length."""
    from transformers import PreTrainedTokenizerFast

    spm_path = Path(spm_path)
    proto, config = _load_proto(spm_path), _read_config(spm_path.parent)
    trainer = proto.trainer_spec
    if trainer.model_type not in (1, 2) or trainer.treat_whitespace_as_suffix:
        raise TokenizerMismatchError(f"{spm_path}: only BPE and unigram sentencepiece models with whitespace as "
                                     f"a prefix can be rebuilt (model_type {trainer.model_type})")
    added = _added_tokens(proto, config, like)
    by_content = {token.content: token for token in added.values()}

    def setting(name: str, default=None):
        value = config.get(name, getattr(like, name, None))
        return default if value is None else value

    def special(name: str, sp_id: int):
        token = setting(name, proto.pieces[sp_id].piece if 0 <= sp_id < len(proto.pieces) else None)
        token = token.get("content") if isinstance(token, dict) else token
        return None if token is None else by_content.get(str(token), str(token))  # AddedToken keeps its flags

    named = {"bos_token": special("bos_token", trainer.bos_id), "eos_token": special("eos_token", trainer.eos_id),
             "unk_token": special("unk_token", trainer.unk_id), "pad_token": special("pad_token", trainer.pad_id)}
    add_bos, add_eos = bool(setting("add_bos_token", False)), bool(setting("add_eos_token", False))
    backend = _backend(proto, added, str(named["bos_token"]) if add_bos else None,
                       str(named["eos_token"]) if add_eos else None)
    extra = [t for t in added.values() if t.special and t.content not in {str(v) for v in named.values()}]
    # like's padding side and length win: the class may set them (InternLM2 pads left) and the config not
    settings = {"chat_template": getattr(like, "chat_template", None) or config.get("chat_template"),
                "padding_side": getattr(like, "padding_side", None) or config.get("padding_side"),
                "model_max_length": getattr(like, "model_max_length", None) or config.get("model_max_length")}
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, extra_special_tokens=extra, add_bos_token=add_bos, add_eos_token=add_eos,
        clean_up_tokenization_spaces=False,
        **{k: v for k, v in {**named, **settings}.items() if v is not None})


def _summary(problems: list[Mismatch]) -> str:
    texts = {m.text for m in problems if m.text in PROBE}
    return f"failed {len(problems)} checks, on {len(texts)} of {len(PROBE)} probe texts (first: {problems[0]})"


def faithful_tokenizer(tokenizer, folder: str | Path, *, log: Callable[[str], None] | None = None):
    """`tokenizer` (loaded from `folder`) when it encodes as the folder's sentencepiece model does;
    otherwise a fast tokenizer rebuilt from that model (one line to `log` says so and why).

    TokenizerMismatchError when the rebuilt one still differs. Without a sentencepiece model
    (byte-level BPE) the tokenizer is only checked to round-trip PROBE and returned as it is.
    """
    log = log or warnings.warn
    spm_path = sentencepiece_file(folder)
    vocab_file = str(getattr(tokenizer, "vocab_file", None) or "")
    if spm_path is None and vocab_file.endswith(".model") and Path(vocab_file).is_file():
        spm_path = Path(vocab_file)  # a hub id: the model file in the download cache, as the tokenizer recorded it
    if spm_path is None:
        problems = probe_roundtrip(tokenizer)
        if problems:
            log(f"tokenizer of {folder} does not decode back what it encodes: it {_summary(problems)}; kept as loaded")
        return tokenizer
    problems = probe(tokenizer, spm_path)
    if not problems:
        return tokenizer
    rebuilt = rebuild_tokenizer(spm_path, tokenizer)
    left = probe(rebuilt, spm_path)
    if left:
        failed = sorted({f"{m.check} {_short(m.text)!r}" for m in left})
        raise TokenizerMismatchError(
            f"tokenizer of {folder} differs from {spm_path.name}, and so does the one rebuilt from it, on "
            f"{', '.join(failed)}. First: " + "; ".join(str(m) for m in left[:3]))
    log(f"tokenizer of {folder} rebuilt from {spm_path.name}: the loaded one {_summary(problems)}")
    return rebuilt


def save_faithful(tokenizer, out_dir: str | Path, folder: str | Path) -> Path:
    """Save `tokenizer` to `out_dir` with the sentencepiece model of `folder` beside it; return `out_dir`.

    A rebuilt tokenizer is a plain fast tokenizer: its tokenizer.json holds all of it and its
    tokenizer_config.json names no remote class, so `AutoTokenizer.from_pretrained(out_dir)` reloads
    it without trust_remote_code (a remote class named there would rebuild the corrupt one).
    """
    out_dir = Path(out_dir)
    tokenizer.save_pretrained(out_dir)
    spm_path = sentencepiece_file(folder)
    if spm_path is not None and spm_path.resolve() != (out_dir / "tokenizer.model").resolve():
        shutil.copyfile(spm_path, out_dir / "tokenizer.model")
    return out_dir
