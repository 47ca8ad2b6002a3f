"""Exception types shared by every stage. Messages say what was expected and where."""


class CollectiveSFTError(Exception):
    """Base class: a run-level problem the user must fix (bad input, bad config)."""


class InputLayoutError(CollectiveSFTError):
    """The input itself is unusable: missing files, wrong source, unreadable archive."""


class ConfigError(CollectiveSFTError):
    """A recipe or config is invalid; the message names the key and the file."""


class RecordError(CollectiveSFTError):
    """A unified record breaks the record contract."""


class EmptyResultError(CollectiveSFTError):
    """A stage read its input but produced nothing (all rows rejected or filtered)."""


class TokenizerMismatchError(InputLayoutError):
    """A model's tokenizer does not encode as its sentencepiece model does and could not be rebuilt to."""
