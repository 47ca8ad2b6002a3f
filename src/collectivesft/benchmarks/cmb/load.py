"""Load CMB's published files: exam questions (test/val/train), the test answer key, CMB-Clin cases,
and the evaluation items training data is decontaminated against.

Accepted inputs: a folder (the unzipped `data/` of the GitHub release, any depth), the
release zip, a single JSON file, or a Hugging Face hub id (FreedomIntelligence/CMB).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Iterator

from collectivesft.benchmarks.cmb.format import (MULTI, SINGLE, canonical_answer, id_key, id_problem, is_valid_answer,
                                                 option_mapping, parse_option)
from collectivesft.benchmarks.cmb.layout import (CLIN_FILE, EVAL_SPLITS, HUB_CLIN_CONFIG, HUB_CLIN_SPLIT,
                                                 HUB_EXAM_CONFIG, KEY_FILE, QUESTION_FILES)
from collectivesft.errors import InputLayoutError
from collectivesft.io import open_zip_member, read_json_table
from collectivesft.jsonlimits import DEFAULT_LIMITS, RowError, parse_row, parse_text, replay


@dataclass(frozen=True)
class Question:
    """One CMB-Exam question; `answer` is the sorted letter string or None when unknown."""

    id: Any
    exam_type: str
    exam_class: str
    exam_subject: str
    question: str
    question_type: str
    options: dict[str, str]
    answer: str | None = None
    explanation: str | None = None
    # The row as published (option parsed to a dict, texts and order untouched): the official
    # protocol renders these raw fields, as the official scripts do.
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def multi(self) -> bool:
        return self.question_type == MULTI


@dataclass(frozen=True)
class KeyRow:
    """One row of the official answer key (answer kept as published; see `valid`)."""

    id: Any
    exam_type: str
    exam_class: str
    exam_subject: str
    question_type: str
    answer: str

    @property
    def valid(self) -> bool:
        return is_valid_answer(self.answer)


@dataclass
class ClinCase:
    """One CMB-Clin case: a description and its ordered (question, reference answer) pairs."""

    id: Any
    title: str
    description: str
    qa: list[tuple[str, str]] = field(default_factory=list)


def question_options(value: Any, where: str) -> dict[str, str]:
    """A question's options (empty texts dropped, so prompts never show "E. "); at least two."""
    try:
        options = parse_option(value)
    except ValueError as exc:
        raise InputLayoutError(f"{where}: 'option': {exc}") from None
    if len(options) < 2:
        raise InputLayoutError(f"{where}: a question needs at least two non-empty options, got {sorted(options)}")
    return options


def question_from_row(row: dict[str, Any], index: int, where: str) -> Question:
    """A Question from an official row; a row without `id` (val, train) gets its 1-based position."""
    if not isinstance(row, dict):
        raise InputLayoutError(f"{where}: row {index + 1} is not an object")
    missing = [k for k in ("question", "option") if k not in row]
    if missing:
        raise InputLayoutError(f"{where}: row {index + 1} lacks {missing}")
    answer = row.get("answer")
    answer = canonical_answer(str(answer).strip()) if answer not in (None, "") else None
    return Question(
        id=row.get("id", index + 1),
        exam_type=str(row.get("exam_type", "")).strip(),
        exam_class=str(row.get("exam_class", "")).strip(),
        exam_subject=str(row.get("exam_subject", "")).strip(),
        question=str(row["question"]).strip(),
        question_type=str(row.get("question_type") or SINGLE).strip(),
        options=question_options(row["option"], f"{where}: row {index + 1}"),
        answer=answer,
        explanation=(str(row["explanation"]).strip() or None) if row.get("explanation") else None,
        raw={**row, "option": option_mapping(row["option"])},
    )


def _read_json_list(source: str | Path | IO[bytes], where: str) -> list[Any]:
    """The rows of an official file: a JSON list, JSON Lines, or {"data": [...]} (some exports),
    read with the project's one JSON reader (io.read_json_table: bounded, NaN refused)."""
    if not hasattr(source, "read"):
        with open(source, "rb") as fh:
            return _read_json_list(fh, where)
    head = source.read(1 << 16)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        # An object: the {"data": [...]} wrapper is one JSON document (bounded depth, no row-size limit).
        raw = head + source.read()
        try:
            whole = replace(DEFAULT_LIMITS, max_row_bytes=max(len(raw), DEFAULT_LIMITS.max_row_bytes))
            document = parse_row(raw, whole, "utf-8-sig")
        except RowError as exc:
            if not exc.reason.startswith("invalid JSON"):
                raise InputLayoutError(f"{where}: {exc.reason}") from None
            document = None  # not one document: JSON Lines of objects, read below
        if isinstance(document, dict) and isinstance(document.get("data"), list):
            return document["data"]
        return read_json_table(io.BytesIO(raw), where).rows
    return read_json_table(replay(head, source), where).rows


def find_file(data: str | Path, relpath: str) -> tuple[str, list[Any]] | None:
    """Locate an official file by its release path inside a folder, a zip or as the file itself.

    Returns (where, rows) or None when the input does not hold that file.
    """
    path = Path(data)
    name = Path(relpath).name
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            members = sorted(m for m in zf.namelist() if m.endswith("/" + name) or m == name)
            if not members:
                return None
            member = min(members, key=len)  # prefer the shallowest copy (zips often hold __MACOSX junk)
            with open_zip_member(zf, member, f"{path}!{member}") as fh:
                return f"{path}!{member}", _read_json_list(fh, f"{path}!{member}")
    if path.is_file():
        return (str(path), _read_json_list(path, str(path))) if path.name == name else None
    if path.is_dir():
        direct = path / relpath
        hits = [direct] if direct.is_file() else sorted(path.rglob(name), key=lambda p: len(p.parts))
        hits = [h for h in hits if "__MACOSX" not in h.parts]
        if hits:
            return str(hits[0]), _read_json_list(hits[0], str(hits[0]))
        return None
    return None


def _is_local(data: str | Path) -> bool:
    return Path(data).exists()


def load_questions(data: str | Path, split: str = "test") -> list[Question]:
    """Questions of one CMB-Exam split from a local release (folder/zip/file) or the hub."""
    if split not in QUESTION_FILES:
        raise InputLayoutError(f"unknown CMB split {split!r}; expected one of {sorted(QUESTION_FILES)}")
    if _is_local(data) and not _is_hub_folder(data):
        found = find_file(data, QUESTION_FILES[split])
        if found is None and Path(data).is_file() and not zipfile.is_zipfile(data):
            found = (str(data), _read_json_list(Path(data), str(data)))  # a question file by another name
        if found is None:
            raise InputLayoutError(f"{data}: no {QUESTION_FILES[split]} (expected the official CMB layout)")
        where, rows = found
    else:
        where, rows = _hub_rows(str(data), HUB_EXAM_CONFIG, split)
    questions = [question_from_row(row, i, where) for i, row in enumerate(rows)]
    seen: set[str] = set()
    for q in questions:
        if id_key(q.id) in seen:
            raise InputLayoutError(f"{where}: question id {q.id!r} appears twice")
        seen.add(id_key(q.id))
    return questions


def _hub_rows(hub_id: str, config: str, split: str) -> tuple[str, list[dict[str, Any]]]:
    """Rows of a hub dataset split (the hub's CMB names its validation split `val`). A local folder
    in hub layout (one sub-folder per config holding <split>.jsonl/.json/.parquet) works the same."""
    local = Path(hub_id)
    try:
        from datasets import load_dataset

        if local.is_dir():
            # One split at a time: CMB's splits have different columns (test has no answers).
            folder = local / config if (local / config).is_dir() else local
            files = sorted(folder.glob(f"{split}.*"))
            if not files:
                raise FileNotFoundError(f"no {split}.* file in {folder}")
            builder = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}[files[0].suffix]
            ds = load_dataset(builder, data_files={split: str(files[0])}, split=split)
        else:
            ds = load_dataset(hub_id, config, split=split)
    except Exception as exc:  # hub/network/layout problems all mean: this input is unusable here
        raise InputLayoutError(f"{hub_id!r} is neither a CMB release nor a loadable hub dataset "
                               f"(config {config!r}, split {split!r}): {exc}") from None
    return f"hub:{hub_id}/{config}/{split}", [dict(r) for r in ds]


def _is_hub_folder(data: str | Path) -> bool:
    """A local folder that holds no release file but hub-layout config folders (exam/, clin/)."""
    path = Path(data)
    return path.is_dir() and any((path / c).is_dir() for c in (HUB_EXAM_CONFIG, HUB_CLIN_CONFIG)) and \
        find_file(path, QUESTION_FILES["test"]) is None and find_file(path, CLIN_FILE) is None


def load_key(path: str | Path) -> list[KeyRow]:
    """The official answer key: a JSON list of {id, exam_type, exam_class, exam_subject, question_type, answer}.

    `path` may also be a release folder/zip holding CMB-test-choice-answer.json. Rows with an
    invalid answer are kept (KeyRow.valid is False) so scoring can report them by id.
    """
    found = find_file(path, KEY_FILE)
    if found is None:
        if Path(path).is_file() and not zipfile.is_zipfile(path):
            found = (str(path), _read_json_list(Path(path), str(path)))
        else:
            raise InputLayoutError(f"{path}: no answer key {KEY_FILE}")
    where, rows = found
    key = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "id" not in row or "answer" not in row:
            raise InputLayoutError(f"{where}: key row {i + 1} must be an object with 'id' and 'answer'")
        problem = id_problem(row["id"])
        if problem:
            raise InputLayoutError(f"{where}: key row {i + 1}: {problem}")
        key.append(KeyRow(id=row["id"], exam_type=str(row.get("exam_type", "")).strip(),
                          exam_class=str(row.get("exam_class", "")).strip(),
                          exam_subject=str(row.get("exam_subject", "")).strip(),
                          question_type=str(row.get("question_type", "")).strip(),
                          answer=str(row["answer"] if row["answer"] is not None else "").strip()))
    return key


def key_from_questions(questions: list[Question]) -> list[KeyRow]:
    """An answer key built from questions that carry answers (val, train); empty if none do."""
    return [KeyRow(q.id, q.exam_type, q.exam_class, q.exam_subject, q.question_type, q.answer or "")
            for q in questions if q.answer is not None]


def locate_key(data: str | Path) -> Path | None:
    """The answer key inside a local release, if it ships one (folder or zip member path)."""
    if not _is_local(data):
        return None
    return Path(data) if find_file(data, KEY_FILE) is not None else None


def load_clin(data: str | Path) -> list[ClinCase]:
    """CMB-Clin cases; the reference of a QA pair is `answer` in the release, `solution` in the docs."""
    if _is_local(data) and not _is_hub_folder(data):
        found = find_file(data, CLIN_FILE)
        if found is None and Path(data).is_file() and not zipfile.is_zipfile(data):
            found = (str(data), _read_json_list(Path(data), str(data)))
        if found is None:
            raise InputLayoutError(f"{data}: no {CLIN_FILE}")
        where, rows = found
    else:
        where, rows = _hub_rows(str(data), HUB_CLIN_CONFIG, HUB_CLIN_SPLIT)
    cases = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "description" not in row or "QA_pairs" not in row:
            raise InputLayoutError(f"{where}: case {i + 1} needs 'description' and 'QA_pairs'")
        pairs = row["QA_pairs"]
        if isinstance(pairs, str):  # the hub stores the pairs as a JSON string
            try:
                pairs = parse_text(pairs)
            except RowError as exc:
                raise InputLayoutError(f"{where}: case {i + 1} QA_pairs: {exc.reason}") from None
            if not isinstance(pairs, list) or not all(isinstance(p, dict) for p in pairs):
                raise InputLayoutError(f"{where}: case {i + 1} QA_pairs must be a list of objects")
        qa = []
        for k, pair in enumerate(pairs):
            ref = pair.get("answer", pair.get("solution"))
            if "question" not in pair or ref is None:
                raise InputLayoutError(f"{where}: case {i + 1} QA pair {k} needs 'question' and 'answer' (or 'solution')")
            qa.append((str(pair["question"]), str(ref)))
        cases.append(ClinCase(id=row.get("id", i), title=str(row.get("title", "")), description=str(row["description"]), qa=qa))
    return cases


def _has(data: str | Path, relpath: str) -> bool:
    if _is_hub_folder(data):
        config = HUB_CLIN_CONFIG if relpath == CLIN_FILE else HUB_EXAM_CONFIG
        split = HUB_CLIN_SPLIT if relpath == CLIN_FILE else next(s for s, f in QUESTION_FILES.items() if f == relpath)
        return any((Path(data) / config).glob(f"{split}.*"))
    return not _is_local(data) or find_file(data, relpath) is not None


def eval_items(data: str | Path) -> Iterator[tuple[str, str, str]]:
    """(item id, text, fallback text) of every CMB evaluation item in `data` (release folder, zip,
    one official file, or hub id): each test and val question, each CMB-Clin description and
    question. `fallback` (question plus options) is used when the text is too short to compare.
    """
    path = Path(data)
    if _is_local(data) and path.is_file() and not zipfile.is_zipfile(path):
        rows = _read_json_list(path, str(path))
        first = rows[0] if rows and isinstance(rows[0], dict) else {}
        if rows and "QA_pairs" not in first and "question" not in first:
            raise InputLayoutError(f"{path}: item 0 has neither question nor QA_pairs; expected a CMB-Exam question "
                                   "file or CMB-Clin-qa.json (an answer key has no question text)")
        if "QA_pairs" in first:
            yield from _clin_items(load_clin(path), path.name)
        else:
            yield from _question_items([question_from_row(r, i, str(path)) for i, r in enumerate(rows)], path.name)
        return
    found_any = False
    for split in EVAL_SPLITS:
        if _has(data, QUESTION_FILES[split]):
            found_any = True
            yield from _question_items(load_questions(data, split), Path(QUESTION_FILES[split]).name)
    if _has(data, CLIN_FILE):
        found_any = True
        yield from _clin_items(load_clin(data), Path(CLIN_FILE).name)
    if not found_any:
        raise InputLayoutError(f"{data}: holds no CMB evaluation file ({', '.join(QUESTION_FILES[s] for s in EVAL_SPLITS)}, "
                               f"{CLIN_FILE})")


def _question_items(questions: list[Question], name: str) -> Iterator[tuple[str, str, str]]:
    for q in questions:
        options = "\n".join(f"{k}. {v}" for k, v in q.options.items())
        yield f"{name}#{q.id}", q.question, q.question + "\n" + options


def _clin_items(cases: list[ClinCase], name: str) -> Iterator[tuple[str, str, str]]:
    for case in cases:
        yield f"{name}#{case.id}", case.description, case.description
        for k, (question, _answer) in enumerate(case.qa):
            yield f"{name}#{case.id}/q{k}", question, question
