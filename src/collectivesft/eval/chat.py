"""Turning a chat into the prompt text a model continues, for every back-end and benchmark."""

from __future__ import annotations

from typing import Any


def render_chat(tokenizer: Any, chat: list[dict[str, str]]) -> str:
    """Prompt text ending where the assistant starts: the tokenizer's chat template when it has
    one, else a plain 问/答 transcript (base models without a template)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    parts = [m["content"] + "\n" for m in chat if m["role"] == "system"]
    for m in chat:
        if m["role"] == "user":
            parts.append(f"问：{m['content']}\n答：")
        elif m["role"] == "assistant":
            parts.append(f"{m['content']}\n")
    return "".join(parts)
