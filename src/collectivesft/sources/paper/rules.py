"""What a paper-rules module provides, and how one paper row becomes the conversation the model sees.

A rules module reproduces one `preprocess/<source>_to_sft.py` of the CollectiveSFT repository:
which files and splits it reads, in which order, and the alpaca rows (instruction, input,
output, history) it writes. LLaMA-Factory v0.8.3 (`aligner.convert_alpaca`) then turns a row
into turns: the history pairs, user = instruction and input joined by "\\n" (empty ones left
out), assistant = output, no system turn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterator

from collectivesft.errors import InputLayoutError
from collectivesft.registry import Registry
from collectivesft.sources.base import Skip, Source
from collectivesft.sources.rows import BadRow, RawRow


class DroppedByLlamaFactory(Skip):
    """The script writes `rows` rows for this unit that LLaMA-Factory then drops (no answer).

    No record is made, but the rows still take their place in the paper's file, which is
    what LLaMA-Factory's `max_samples` counts (meta.paper_row of later records)."""

    def __init__(self, reason: str, rows: int = 1):
        super().__init__(reason)
        self.rows = rows


class PaperRules:
    """Base class of one source's paper rules; subclasses set the class facts and `rows`."""

    name: ClassVar[str]
    task: ClassVar[str]
    lang: ClassVar[str]
    # Options of our reader that select the paper's files and splits (e.g. HEAD-QA en/train).
    reader_options: ClassVar[dict[str, str]] = {}
    # LLaMA-Factory reads a `history` column only where the paper's dataset_info.json declares one.
    history: ClassVar[bool] = False
    # Whether the paper's script loads the hub dataset (True) or the released files (False).
    from_hub: ClassVar[bool] = False

    def read_raw(self, source: Source, path: Path) -> Iterator[RawRow | BadRow]:
        """Raw units in the paper script's order (default: our reader's order)."""
        return source.read_raw(path)

    def read_hub(self, source: Source, hub_id: str) -> Iterator[RawRow | BadRow]:
        """Hub rows, for the sources whose script loads the hub; the others' scripts read files."""
        if not self.from_hub:
            raise InputLayoutError(f"the paper's {self.name}_to_sft.py reads the released files, not a hub dataset "
                                   f"({hub_id!r} not loaded); use --input with {source.info.layout}")
        return source.read_hub(hub_id)

    def rows(self, row: RawRow) -> list[dict[str, Any]]:
        """The paper's alpaca rows for one raw unit, or raise Skip / Reject (sources.base).

        A row may add "lang" and "meta" (MCQs: the answer letters and options, for the mix's checks).
        """
        raise NotImplementedError


PAPER: Registry[PaperRules] = Registry("paper-style source", "collectivesft.sources.paper")


def register_paper(cls: type[PaperRules]) -> type[PaperRules]:
    """Class decorator: the paper rules of source `cls.name`."""
    return PAPER.add(cls.name, cls)


def paper_rules(name: str) -> PaperRules:
    """The paper rules of source `name`; ConfigError listing the known ones otherwise."""
    return PAPER.get(name)()


def conversation(row: dict[str, Any], history: bool) -> list[dict[str, str]]:
    """The turns LLaMA-Factory v0.8.3 builds from one alpaca row (convert_alpaca)."""
    messages: list[dict[str, str]] = []
    if history and isinstance(row.get("history"), list):
        for old_prompt, old_response in row["history"]:
            messages += [{"role": "user", "content": old_prompt}, {"role": "assistant", "content": old_response}]
    # An empty instruction or input adds nothing, so an empty instruction does not start with "\n".
    content = [v for v in (row.get("instruction"), row.get("input")) if v]
    messages.append({"role": "user", "content": "\n".join(content)})
    messages.append({"role": "assistant", "content": row["output"]})
    return messages
