"""JSON rows read with limits: raw data, model outputs, answer keys and submissions parse here.

A row's nesting depth, its longest string and its size are checked without recursion, on the
raw bytes, before `json.loads` sees it, so a hostile row (200,000 levels deep, a 1 GiB line)
costs linear time and bounded memory and becomes one unreadable row with its reason.
Python's json recurses once per level: it is never handed a row deeper than the limit,
except in `_whole_items`, where its own recursion limit (about 1,000 levels) is reached
in linear time and the row then goes through the bracket tracker.

The rules, the same for JSON Lines and for JSON lists (docs/sources.md, "Limits"):

- a row nested deeper than `max_depth`, holding a string longer than `max_field_bytes`, or
  longer than `max_row_bytes` is unreadable, with a reason naming the limit;
- NaN, Infinity, -Infinity and numbers beyond a float (1e999) make a row unreadable: JSON has
  no such numbers, and a NaN copied into a prompt as "nan" would be silently wrong;
- a lone UTF-16 surrogate escape ("\\ud800" without its pair) makes a row unreadable: it is
  no character and cannot be written back as UTF-8;
- JSON Lines are read a bounded piece at a time: an over-long line is never held whole;
- a JSON list is split into items by tracking brackets and strings (never by a streaming
  parser that stops at the first error), so a broken item is one unreadable row and the items
  after it are still read.
"""

from __future__ import annotations

import codecs
import io
import json
import math
import re
import sys
from dataclasses import dataclass
from typing import IO, Any, Iterator

from collectivesft.errors import ConfigError

MiB = 1 << 20
SNIPPET_BYTES = 200  # raw bytes kept of an unreadable row, for the quarantine snippet
_CHUNK = MiB  # bytes read at a time
# Regular expressions run over at most this many bytes at a time: Python's re keeps a backtracking
# record per repetition of a group, so one match over a whole 64 MiB line could take gigabytes.
# Must stay below the smallest field limit (1 MiB): strings inside one window are not measured.
_WINDOW = 32 * 1024
_SNIFF_BYTES = 1 << 16
_SNIFF_LINE = MiB  # a longer first line starting with "[" is a JSON list

# A run of bytes outside strings up to the next bracket (and, at the top of a list, comma),
# complete strings included; it stops before a string that does not end inside the window.
_STRING = rb'"[^"\\]*(?:\\.[^"\\]*)*"'
_SKIP_TOP = re.compile(rb'(?:[^"\[\]{},]+|' + _STRING + rb")*")
_SKIP_IN = re.compile(rb'(?:[^"\[\]{}]+|' + _STRING + rb")*")
_BODY = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*')  # the inside of a string, up to its closing quote
# Whole items are first taken by json's own C scanner from a decoded window of this many bytes
# (see _whole_items); whatever it cannot take plainly goes through the bracket tracker.
_FAST_WINDOW = 64 * 1024
_BLANK_TEXT = re.compile(r"[ \t\r\n]*")
_SURROGATE_TEXT = re.compile(r"\\u[dD][89a-fA-F]")
_BLANK = re.compile(rb"[ \t\r\n]*")
QUOTE, COMMA = ord('"'), ord(",")
LBRACK, RBRACK, LBRACE, RBRACE = ord("["), ord("]"), ord("{"), ord("}")


@dataclass(frozen=True)
class JsonLimits:
    """Bounds on one row. `hint` says how a user raises a limit ("{option}" is its name)."""

    max_depth: int = 64
    max_field_bytes: int = 16 * MiB
    max_row_bytes: int = 64 * MiB
    hint: str = ""

    def __post_init__(self):
        # Strings and items inside one scanning window are not measured one by one.
        if self.max_depth < 1 or min(self.max_field_bytes, self.max_row_bytes) < max(_WINDOW, _FAST_WINDOW):
            raise ValueError(f"JSON limits too small: {self}")

    def _how(self, option: str) -> str:
        return f"limit {option}" + (f"; {self.hint.format(option=option)}" if self.hint else "")

    def depth_reason(self) -> str:
        return f"nested deeper than {self.max_depth} levels ({self._how('max_depth')})"

    def field_reason(self) -> str:
        return f"a string longer than {_mib(self.max_field_bytes)} MiB ({self._how('max_field_mb')})"

    def row_reason(self, size: int | None = None) -> str:
        seen = f"{_mib(size)} MiB; " if size else ""
        return f"row longer than {_mib(self.max_row_bytes)} MiB ({seen}{self._how('max_row_mb')})"


DEFAULT_LIMITS = JsonLimits()

# The converter options that set the limits (`--set max_depth=128`): option -> (field, unit).
LIMIT_OPTIONS = {
    "max_depth": ("max_depth", 1),  # deepest nesting of a row's brackets
    "max_field_mb": ("max_field_bytes", MiB),  # longest string in a row, as stored
    "max_row_mb": ("max_row_bytes", MiB),  # longest row: a JSON line or one list item
}


def limits_from_options(options: dict[str, str], hint: str = "") -> JsonLimits:
    """JsonLimits from option strings (positive whole numbers); ConfigError naming a bad one."""
    values: dict[str, int] = {}
    for option, text in options.items():
        field, unit = LIMIT_OPTIONS[option]
        try:
            number = int(str(text).strip())
        except ValueError:
            number = 0
        if number < 1:
            raise ConfigError(f"option {option}={text!r}: expected a whole number of at least 1")
        values[field] = number * unit
    return JsonLimits(**values, hint=hint)


def _mib(n: int) -> str:
    return f"{n / MiB:.4g}"


class RowError(ValueError):
    """A row that cannot be read; `reason` says why (quarantine reason or error message)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _NonFinite(ValueError):
    def __init__(self, token: str):
        super().__init__(token)
        self.token = token


def _refuse_constant(token: str) -> Any:
    raise _NonFinite(token)


def _finite_float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise _NonFinite(token)
    return value


# One decoder for every row (json.loads with hooks would build one per call).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def parse_row(raw: bytes, limits: JsonLimits = DEFAULT_LIMITS, encoding: str = "utf-8",
              checked: bool = False) -> Any:
    """The JSON value of one row's bytes, or RowError saying why not. `checked`: the caller has
    already bounded its depth and string lengths (the list splitter does)."""
    if len(raw) > limits.max_row_bytes:
        raise RowError(limits.row_reason(len(raw)))
    if not checked:
        broken = _broken_limit(raw, limits)
        if broken:
            raise RowError(broken)
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        raise RowError(f"undecodable bytes (not {encoding})") from None
    return parse_text(text, limits, checked=True)


def parse_text(text: str, limits: JsonLimits = DEFAULT_LIMITS, checked: bool = False) -> Any:
    """The JSON value of a text (a row, or JSON held in a field, like CMB's option strings), or
    RowError saying why not; `checked` as for parse_row."""
    if not checked and (text.count("[") + text.count("{") > limits.max_depth
                        or 4 * len(text) > min(limits.max_field_bytes, limits.max_row_bytes)):
        raw = text.encode("utf-8", "surrogatepass")
        if len(raw) > limits.max_row_bytes:
            raise RowError(limits.row_reason(len(raw)))
        broken = _broken_limit(raw, limits)
        if broken:
            raise RowError(broken)
    try:
        value = _DECODER.decode(text)
    except _NonFinite as exc:
        raise RowError(f"non-finite number {exc.token} (JSON has no NaN or Infinity)") from None
    except json.JSONDecodeError as exc:
        raise RowError(f"invalid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4,300 digits
        raise RowError(f"invalid JSON ({exc})") from None
    if "\\u" in text and _SURROGATE_TEXT.search(text) and _has_lone_surrogate(value):
        raise RowError("lone surrogate escape (a \\ud800-\\udfff without its pair is no character)")
    return value


def has_surrogates(text: str) -> bool:
    """Whether `text` holds a lone surrogate (a code point no UTF-8 file can spell)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _broken_limit(raw: bytes, limits: JsonLimits) -> str | None:
    """The reason a complete row breaks the depth or string limit, or None."""
    if raw.count(b"[") + raw.count(b"{") <= limits.max_depth and len(raw) <= limits.max_field_bytes:
        return None  # cannot break either: the common case costs two C-speed counts
    broken, _ = _structure(raw, limits.max_depth, limits.max_field_bytes)
    return {"depth": limits.depth_reason(), "field": limits.field_reason()}.get(broken)


def _structure(raw: bytes, max_depth: int, max_field: int) -> tuple[str | None, bool]:
    """(the limit `raw` breaks: "depth", "field" or None; whether its brackets balance and no
    string is left open). Linear time, no recursion, windows bound the regular expressions."""
    depth, pos, n = 0, 0, len(raw)
    in_string, string_len, negative = False, 0, False
    while pos < n:
        end = min(pos + _WINDOW, n)
        if in_string:
            p = _BODY.match(raw, pos, end).end()
            string_len += p - pos
            if string_len > max_field:
                return "field", False
            if p < end and raw[p] == QUOTE:
                in_string = False
                p += 1
            elif p < end and p + 1 >= n:  # a final backslash: the string never closes
                return None, False
            pos = p
            continue
        p = _SKIP_IN.match(raw, pos, end).end()
        if p >= end:
            pos = p
            continue
        c = raw[p]
        if c == QUOTE:
            in_string, string_len = True, 0
        elif c == LBRACK or c == LBRACE:
            depth += 1
            if depth > max_depth:
                return "depth", False
        else:
            depth -= 1
            negative = negative or depth < 0
        pos = p + 1
    return None, depth == 0 and not in_string and not negative


@dataclass
class Unit:
    """One row of a JSON file: its value, or the problem that made it unreadable."""

    at: int  # line number (JSON Lines, from 1) or item index (JSON list, from 0)
    value: Any = None
    problem: str | None = None
    raw: bytes = b""  # the first bytes of an unreadable row


def bounded_lines(stream: IO[bytes], cap: int) -> Iterator[tuple[int, bytes, int]]:
    """(line number, line, oversize) per line. A line longer than `cap` bytes is read on in
    bounded pieces, never held whole: it comes as its first bytes with `oversize` = its length
    (0 for every other line)."""
    if not isinstance(stream, io.BufferedReader):  # readline(limit) of a zip member is slow unbuffered
        stream = io.BufferedReader(stream, _CHUNK)
    lineno = 0
    while True:
        raw = stream.readline(cap + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) <= cap or raw.endswith(b"\n"):
            yield lineno, raw, 0
            continue
        head, size = raw[:SNIPPET_BYTES], len(raw)
        raw = b""
        while True:
            piece = stream.readline(_CHUNK)
            size += len(piece)
            if not piece or piece.endswith(b"\n"):
                break
        yield lineno, head, size


def iter_lines(stream: IO[bytes], limits: JsonLimits = DEFAULT_LIMITS, encoding: str = "utf-8") -> Iterator[Unit]:
    """One Unit per non-blank line of JSON Lines (CRLF and a BOM tolerated)."""
    for lineno, raw, oversize in bounded_lines(stream, limits.max_row_bytes):
        if oversize:
            yield Unit(lineno, problem=limits.row_reason(oversize), raw=raw)
            continue
        if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        if not raw or raw.isspace():
            continue
        try:
            value = parse_row(raw, limits, encoding)
        except RowError as exc:
            yield Unit(lineno, problem=exc.reason, raw=raw[:SNIPPET_BYTES])
            continue
        yield Unit(lineno, value=value)


def iter_items(stream: IO[bytes], limits: JsonLimits = DEFAULT_LIMITS) -> Iterator[Unit]:
    """One Unit per item of a top-level JSON list (`at` from 0).

    Items are split by tracking brackets and strings, so an item that does not parse is one
    Unit with its problem and the items after it are still read; a file that ends inside the
    list says after which item. Memory: one read chunk plus the current item, never more than
    the row limit of it; an item found too deep or too long is scanned on without being kept.
    """
    before, inside, after = 0, 1, 2
    state, index = before, 0
    opened = bytearray()  # the current item's open brackets, up to the depth limit
    depth = 0  # the current item's nesting (levels past the limit are only counted)
    in_string, string_len = False, 0
    parts: list[bytes] | None = []  # the current item's bytes; None once it broke a limit
    size, problem, head, content, commas = 0, None, b"", False, 0
    offset, carry, first = 0, b"", True
    slow_at = -1  # where _whole_items last stopped: the item there is tracked byte by byte
    while True:
        chunk = stream.read(_CHUNK)
        if first:
            first = False
            while 0 < len(chunk) < len(codecs.BOM_UTF8):  # a short read: make sure a BOM is seen whole
                more = stream.read(_CHUNK)
                if not more:
                    break
                chunk += more
            if chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8):]
                offset = len(codecs.BOM_UTF8)
                if not chunk:
                    continue
        if not chunk:
            break
        buf = carry + chunk if carry else chunk
        carry = b""
        n, pos, start = len(buf), 0, 0  # start: where the current item's bytes begin in buf
        while pos < n:
            if state == before:
                pos = _BLANK.match(buf, pos).end()
                if pos == n:
                    break
                if buf[pos] != LBRACK:
                    yield Unit(0, problem=f"not a JSON list (it starts with {bytes(buf[pos:pos + 20])!r})")
                    return
                state, pos, start = inside, pos + 1, pos + 1
                continue
            if state == after:
                pos = _BLANK.match(buf, pos).end()
                if pos < n:
                    yield Unit(index, problem=f"invalid JSON: content after the list's closing ']', at byte "
                                              f"{offset + pos} (not read)", raw=buf[pos:pos + SNIPPET_BYTES])
                    return
                break
            if depth == 0 and not content and not parts and not in_string and pos != slow_at:
                values, used, separators, closed = _whole_items(buf, pos, limits)
                for value in values:
                    yield Unit(index, value=value)
                    index += 1
                commas += separators
                slow_at = pos = start = pos + used  # the item here, if any, goes through the tracker
                if closed:
                    state = after
                continue
            end = min(pos + _WINDOW, n)
            if in_string:
                p = _BODY.match(buf, pos, end).end()
                string_len += p - pos
                if p < end and buf[p] == QUOTE:
                    in_string = False
                    p += 1
                elif p < end and p + 1 >= n:  # the chunk ends between a backslash and what it escapes
                    carry = buf[p:]
                    break
                if string_len > limits.max_field_bytes and problem is None:
                    problem, head, parts = limits.field_reason(), _head(parts, buf, start), None
                pos = p
                continue
            p = (_SKIP_TOP if depth == 0 else _SKIP_IN).match(buf, pos, end).end()
            if not content and p > pos and not buf[pos:p].isspace():
                content = True
            if p >= end:
                pos = p
                continue
            c = buf[p]
            ended = closes = False
            if c == QUOTE:
                in_string, string_len, content = True, 0, True
            elif c == LBRACK or c == LBRACE:
                content = True
                depth += 1
                if depth <= limits.max_depth:
                    opened.append(c)
                elif problem is None:
                    problem, head, parts = limits.depth_reason(), _head(parts, buf, start), None
            elif c == COMMA:  # only seen outside the items
                ended = True
            elif depth == 0:
                content = content or c == RBRACE  # a stray '}' between items: json.loads rejects it
                ended = closes = c == RBRACK
            elif depth > len(opened):
                depth -= 1
            else:
                want = LBRACK if c == RBRACK else LBRACE
                k = opened.rfind(want)
                if k >= 0:  # a mismatched bracket closes down to its opener; json.loads rejects the item
                    del opened[k:]
                    depth = k
                elif c == RBRACK:  # no '[' open in the item: this ']' ends the list
                    opened.clear()
                    depth = 0
                    ended = closes = True
            if ended:
                if content or commas or not closes:
                    tail = buf[start:p]
                    yield _item(index, parts, tail, size + len(tail), problem, head, content, limits)
                    index += 1
                commas += not closes
                parts, size, problem, head, content = [], 0, None, b"", False
                start = p + 1
                if closes:
                    state = after
            pos = p + 1
        if state == inside:  # keep the current item's bytes of this chunk
            piece = buf[start:n - len(carry)]
            size += len(piece)
            if parts is not None:
                if size > limits.max_row_bytes:
                    problem, head, parts = limits.row_reason(), (parts[0] if parts else piece)[:SNIPPET_BYTES], None
                else:
                    parts.append(piece)
        offset += n - len(carry)
    if state != inside:
        return
    where = "before its first item" if index == 0 else f"after item {index - 1}"
    if depth == 0 and not in_string and content:  # the last item is whole; the list's ']' is missing
        yield _item(index, parts, b"", size, problem, head, content, limits)
        yield Unit(index + 1, problem=f"invalid JSON: file breaks after item {index} (the list has no closing ']'; "
                                      "truncated?)")
    elif not content:
        yield Unit(index, problem=f"invalid JSON: file breaks {where} (the list has no closing ']'; truncated?)")
    else:
        yield Unit(index, problem=f"invalid JSON: file breaks {where} (it ends inside item {index}, at byte "
                                  f"{offset}; truncated?)", raw=head or _head(parts, b"", 0))


def _whole_items(buf: bytes, pos: int, limits: JsonLimits) -> tuple[list[Any], int, int, bool]:
    """Items of a list taken by json's C scanner from `buf[pos:]` (at most _FAST_WINDOW bytes):
    (values, bytes used, commas used, whether the list's "]" was reached). It stops before the
    first item that is not plainly within the limits and followed by "," or "]" (incomplete,
    broken, NaN, deep, long, a surrogate escape, undecodable bytes): the bracket tracker takes
    that one, says what is wrong, and hands back. Json's recursion is safe here: it fails at
    about 1,000 levels, in time linear in the depth."""
    window = buf[pos:pos + _FAST_WINDOW]
    try:
        text = window.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut by the window's end, or bytes that are not UTF-8
        text = window[:exc.start].decode("utf-8")
    values: list[Any] = []
    at, taken, commas, closed, size = 0, 0, 0, False, len(text)
    escapes = _SURROGATE_TEXT.search(text) is not None  # one search per window, not per item
    while True:
        first = _BLANK_TEXT.match(text, at).end()
        try:
            value, end = _DECODER.raw_decode(text, first)
        except (ValueError, RecursionError):
            break
        after = _BLANK_TEXT.match(text, end).end()
        if after >= size or text[after] not in ",]":
            break
        # (Strings and rows are short enough: the window is smaller than any field or row limit.)
        if (text.count("[", first, end) + text.count("{", first, end) > limits.max_depth
                or escapes and _SURROGATE_TEXT.search(text, first, end) and _has_lone_surrogate(value)):
            break
        values.append(value)
        at = taken = after + 1
        if text[after] == "]":
            closed = True
            break
        commas += 1
    used = taken if text[:taken].isascii() else len(text[:taken].encode("utf-8"))
    return values, used, commas, closed


def _head(parts: list[bytes] | None, buf: bytes, start: int) -> bytes:
    """The first bytes of the current item (for the snippet of an item that broke a limit)."""
    first = parts[0] if parts else buf[start:start + SNIPPET_BYTES]
    return bytes(first[:SNIPPET_BYTES]).lstrip()


def _item(index: int, parts: list[bytes] | None, tail: bytes, size: int, problem: str | None, head: bytes,
          content: bool, limits: JsonLimits) -> Unit:
    if problem is None and size > limits.max_row_bytes:
        problem, head = limits.row_reason(size), _head(parts, tail, 0)
    if problem is not None:
        return Unit(index, problem=problem, raw=head)
    raw = b"".join([*parts, tail]) if parts else tail
    if not content:
        return Unit(index, problem="invalid JSON: empty item (a stray ',')")
    try:
        return Unit(index, value=parse_row(raw, limits, checked=True))
    except RowError as exc:
        return Unit(index, problem=exc.reason, raw=raw.lstrip()[:SNIPPET_BYTES])


def sniff(stream: IO[bytes]) -> tuple[str, IO[bytes]]:
    """("list" or "lines", a stream that gives the sniffed bytes again, then the rest).

    The content decides, not the file name: a file whose first value starts with "[" is a JSON
    list, unless its first line is one whole value of less than 1 MiB and more lines follow
    (JSON Lines whose rows are lists, as MedDialog's can be). Reads at most 1 MiB and 64 KiB
    after the first line: a one-line list of any size is not held.
    """
    head = stream.read(_SNIFF_BYTES)
    body = head[len(codecs.BOM_UTF8):] if head.startswith(codecs.BOM_UTF8) else head
    lead = _BLANK.match(body).end()
    if lead == len(body) or body[lead] != LBRACK:
        return "lines", replay(head, stream)
    newline = body.find(b"\n", lead)
    if newline < 0:
        body += stream.readline(_SNIFF_LINE)  # the rest of the first line, bounded
        head = (codecs.BOM_UTF8 if head.startswith(codecs.BOM_UTF8) else b"") + body
        newline = body.find(b"\n", lead)
        if newline < 0:
            return "list", replay(head, stream)
    if not body[newline:].strip():
        more = stream.read(_SNIFF_BYTES)
        head += more
        if not more.strip():
            return "list", replay(head, stream)
    _, balanced = _structure(body[lead:newline], sys.maxsize, sys.maxsize)
    return ("lines" if balanced else "list"), replay(head, stream)


def replay(head: bytes, stream: IO[bytes]) -> IO[bytes]:
    """A buffered stream giving `head` (bytes already read to sniff the file) and then the rest of `stream`."""
    return io.BufferedReader(_Replay(head, stream), buffer_size=_CHUNK)


class _Replay(io.RawIOBase):
    def __init__(self, head: bytes, stream: IO[bytes]):
        self._head, self._at, self._stream = memoryview(head), 0, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if self._at < len(self._head):
            n = min(len(buf), len(self._head) - self._at)
            buf[:n] = self._head[self._at:self._at + n]
            self._at += n
            return n
        data = self._stream.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def iter_units(stream: IO[bytes], limits: JsonLimits = DEFAULT_LIMITS,
               encoding: str = "utf-8") -> tuple[str, Iterator[Unit]]:
    """(form, units) of a file that is a JSON list or JSON Lines (see `sniff`)."""
    form, stream = sniff(stream)
    return form, (iter_items(stream, limits) if form == "list" else iter_lines(stream, limits, encoding))
