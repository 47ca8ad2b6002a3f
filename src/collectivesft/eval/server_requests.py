"""What `eval serve` accepts: a body's framing, a chat-completion request's fields, and the reply
budget the model's context leaves. A refusal raises RequestError with the HTTP status and the
field to name, in OpenAI's words (400 invalid_request_error, param "messages[0].content")."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from jinja2 import TemplateError

from collectivesft.errors import RequestError

DEFAULT_MAX_TOKENS = 512  # a request naming no budget gets this, capped by what its prompt leaves
MAX_STOP = 4  # stop strings per request, as OpenAI allows (each one costs the generate loop a check)
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class ChatRequest:
    """A chat-completion request whose fields have been checked."""

    messages: list[dict[str, str]]
    max_tokens: int | None  # None: the request names no budget
    max_tokens_field: str  # max_tokens or max_completion_tokens: the name an error repeats
    temperature: float
    stop: list[str] | None
    stream: bool
    include_usage: bool  # stream_options.include_usage: a last chunk carrying usage
    model: str | None


def body_length(headers: Any, limit: int) -> int:
    """The body's Content-Length: 411 without one (chunked bodies are not read), 400 when it is not
    a whole number of bytes, 413 past `limit` (such a body is never parsed or kept)."""
    if headers.get("Transfer-Encoding"):
        raise RequestError("send the body with a Content-Length header (chunked bodies are not read)", 411)
    values = headers.get_all("Content-Length") or []
    if not values:
        raise RequestError("a Content-Length header is required", 411)
    if len(set(values)) > 1 or not re.fullmatch(r"[0-9]+", values[0].strip()):
        raise RequestError(f"Content-Length must be one whole number of bytes, got {_show(', '.join(values))}")
    length = int(values[0])
    if length > limit:
        raise RequestError(f"the body is {length} bytes; this server reads at most {limit} (eval serve "
                           "--max-body-mb)", 413)
    return length


def parse_chat_request(body: bytes) -> ChatRequest:
    """The request in a POST /v1/chat/completions body; RequestError(400) naming the first bad field."""
    from collectivesft.jsonlimits import RowError, parse_text

    try:
        # The readers' bounded parser: a body nested 100,000 deep is a 400, not a RecursionError.
        request = parse_text(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RequestError(f"the body is not UTF-8 ({exc})") from None
    except RowError as exc:
        raise RequestError(f"the body is not JSON a request can be ({exc})") from None
    if not isinstance(request, dict):
        raise RequestError(f"the body must be a JSON object, got {_kind(request)}")
    messages = _messages(request.get("messages"))
    # OpenAI's newer name wins when both are given.
    field = "max_completion_tokens" if request.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = request.get(field)
    if max_tokens is not None and not (_is_int(max_tokens) and max_tokens >= 1):
        raise RequestError(f"{field} must be a whole number of tokens, at least 1; got {_show(max_tokens)}", param=field)
    temperature = request.get("temperature")
    if temperature is None:
        temperature = 0.0  # greedy, as every back-end here defaults to (OpenAI's default is 1)
    elif not (_is_number(temperature) and 0 <= temperature <= 2):
        raise RequestError(f"temperature must be a number from 0 to 2, got {_show(temperature)}", param="temperature")
    stop = request.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and not (isinstance(stop, list) and len(stop) <= MAX_STOP
                                 and all(isinstance(s, str) for s in stop)):
        raise RequestError(f"stop must be a string or a list of up to {MAX_STOP} strings, got {_show(stop)}",
                           param="stop")
    stream = request.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestError(f"stream must be true or false, got {_show(stream)}", param="stream")
    options = request.get("stream_options")
    usage = options.get("include_usage", False) if isinstance(options, dict) else None
    if options is not None and not isinstance(usage, bool):
        raise RequestError(f"stream_options must be an object like {{\"include_usage\": true}}, got {_show(options)}",
                           param="stream_options")
    if request.get("n") not in (None, 1):
        raise RequestError(f"n must be 1 (this server gives one choice), got {_show(request['n'])}", param="n")
    model = request.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError(f"model must be a string, got {_kind(model)}", param="model")
    stop = [s for s in stop or [] if s]  # an empty stop string would stop nothing
    return ChatRequest(messages, max_tokens, field, float(temperature), stop or None, bool(stream),
                       bool(usage), model)


def _messages(messages: Any) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise RequestError("messages must be a non-empty list of {role, content} objects, got "
                           + ("an empty list" if messages == [] else _kind(messages)), param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise RequestError(f"messages[{i}] must be an object with role and content, got {_kind(message)}",
                               param=f"messages[{i}]")
        if message.get("role") not in ROLES:
            raise RequestError(f"messages[{i}].role must be one of {', '.join(ROLES)}; got {_show(message.get('role'))}",
                               param=f"messages[{i}].role")
        if not isinstance(message.get("content"), str):
            raise RequestError(f"messages[{i}].content must be a string, got {_kind(message.get('content'))}",
                               param=f"messages[{i}].content")
    # Only role and content reach the chat template: other keys (name, tool_calls) are not served.
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def token_budget(request: ChatRequest, context: int | None,
                 count_prompt: Callable[[list[dict[str, str]], int], int | None]) -> int:
    """Tokens to generate. Where the model's context is known, a budget that does not fit beside the
    prompt is refused (400 naming the field, as OpenAI does) and a request naming none gets the
    default capped by what the prompt leaves; elsewhere the budget is taken as it is."""
    if context is None:
        return request.max_tokens or DEFAULT_MAX_TOKENS
    try:
        prompt = count_prompt(request.messages, context)
    except TemplateError as exc:  # e.g. a template that wants user and assistant turns to alternate
        raise RequestError(f"the model's chat template refuses these messages: {exc}", param="messages") from None
    if prompt is None:
        return request.max_tokens or DEFAULT_MAX_TOKENS
    room = context - prompt
    if room < 1:
        raise RequestError(f"the prompt is {prompt} tokens or more, and this model's context is {context} "
                           "tokens: no room is left for a reply", param="messages", code="context_length_exceeded")
    if request.max_tokens is None:
        return min(DEFAULT_MAX_TOKENS, room)
    if request.max_tokens > room:
        raise RequestError(f"{request.max_tokens_field} is {request.max_tokens}, but this model's context is "
                           f"{context} tokens and the prompt takes {prompt}: at most {room} remain",
                           param=request.max_tokens_field, code="context_length_exceeded")
    return request.max_tokens


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(value: Any) -> str:
    """A field's value for an error message, cut short: the client sent it, it need not get megabytes back."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(value: Any) -> str:
    """A JSON value's type, in JSON's words."""
    names = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)
