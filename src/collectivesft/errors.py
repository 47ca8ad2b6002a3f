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


class RequestError(CollectiveSFTError):
    """A request `eval serve` refuses: the HTTP status, and OpenAI's error type, field and code."""

    def __init__(self, message: str, status: int = 400, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.param, self.code, self.kind = status, param, code, kind

    def body(self) -> dict:
        """The error as OpenAI's API words it: {"error": {message, type, param, code}}."""
        return {"error": {"message": str(self), "type": self.kind, "param": self.param, "code": self.code}}
