"""Named chat templates for base models that ship without one.

Each template is a Jinja string in the Hugging Face `chat_template` dialect whose assistant
turns are wrapped in `{% generation %}...{% endgeneration %}`, so
`tokenizer.apply_chat_template(..., return_assistant_tokens_mask=True)` marks exactly the
tokens the model must learn to produce: the assistant's text and its end-of-turn token,
never the role header before it nor the newline after it.

chatml          <|im_start|>role\\n...<|im_end|>\\n, no default system prompt
qwen            chatml with Qwen2.5's default system prompt when the chat has none (what
                Qwen2.5's own template and LLaMA-Factory >= 0.9.3 `qwen` render)
intern2         bos + chatml with InternLM2's default system prompt (LLaMA-Factory's
                later `intern2`)
intern2-llamafactory-0.8
                LLaMA-Factory v0.8.3's `intern2`, the one the CollectiveSFT paper trained with:
                bos, no default system, answers trained to end with the tokenizer's eos
                (`efficient_eos`) instead of <|im_end|>; trains through turn pairs (pairs.py)
                and truncates with `infer_seqlen` unless told otherwise
llama3          <|start_header_id|>role<|end_header_id|>\\n\\n...<|eot_id|>
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ChatTemplate:
    """A chat template plus the special tokens it needs in the vocabulary."""

    name: str
    jinja: str
    special_tokens: tuple[str, ...]  # tokens the template emits (must exist in the vocab)
    end_of_turn: str  # the token that ends an assistant turn (generation stops there)
    needs_bos: bool = False
    aliases: tuple[str, ...] = field(default=())
    # Set for templates trained through turn pairs (pairs.py) instead of the Jinja's generation
    # markers; the Jinja then only renders prompts for inference.
    pair_encoding: str | None = None
    truncation: str = "turn"  # the default truncation rule (train config `truncation:` wins)


# Why `message.role != 'assistant'` handling is split: only the assistant body and its
# end-of-turn token go inside the generation block; the header is prompt.
_CHATML = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{ '<|im_start|>assistant\\n' }}"
    "{%- generation -%}{{ message['content'] + '<|im_end|>' }}{%- endgeneration -%}"
    "{{ '\\n' }}"
    "{%- else -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

# LLaMA-Factory's intern2: prefix bos, default system prompt when the record has none.
INTERN2_DEFAULT_SYSTEM = (
    "You are an AI assistant whose name is InternLM (书生·浦语).\n"
    "- InternLM (书生·浦语) is a conversational language model that is developed by Shanghai AI Laboratory "
    "(上海人工智能实验室). It is designed to be helpful, honest, and harmless.\n"
    "- InternLM (书生·浦语) can understand and communicate fluently in the language chosen by the user "
    "such as English and 中文."
)

# The system text has no quotes, so it can sit in a Jinja string literal; "\\n" becomes a
# Jinja escape that renders as a newline.
_INTERN2 = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] != 'system' -%}"
    "{{ '<|im_start|>system\\n" + INTERN2_DEFAULT_SYSTEM.replace("\n", "\\n") + "<|im_end|>\\n' }}"
    "{%- endif -%}" + _CHATML
)

# Qwen2.5's own template (and LLaMA-Factory's `qwen` since v0.9.3; earlier versions used
# "You are a helpful assistant."): this system turn when the chat has none.
QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
_QWEN = (
    "{%- if messages[0]['role'] != 'system' -%}"
    "{{ '<|im_start|>system\\n" + QWEN_DEFAULT_SYSTEM + "<|im_end|>\\n' }}"
    "{%- endif -%}" + _CHATML
)

# LLaMA-Factory v0.8.3's intern2 as a chat template for inference: the prompt of every user
# turn already ends with the assistant header (so add_generation_prompt adds nothing), and an
# answer is followed by <|im_end|>\n, the separator before the next user turn.
_INTERN2_LLAMAFACTORY = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{{ '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{{ '<|im_start|>user\\n' + message['content'] + '<|im_end|>\\n<|im_start|>assistant\\n' }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ message['content'] + '<|im_end|>\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

_LLAMA3 = (
    "{{ bos_token }}"
    "{%- for message in messages -%}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- generation -%}{{ message['content'] | trim + '<|eot_id|>' }}{%- endgeneration -%}"
    "{%- else -%}"
    "{{ message['content'] | trim + '<|eot_id|>' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif -%}"
)

TEMPLATES: dict[str, ChatTemplate] = {}


def _add(template: ChatTemplate) -> None:
    for key in (template.name, *template.aliases):
        TEMPLATES[key] = template


_add(ChatTemplate("chatml", _CHATML, ("<|im_start|>", "<|im_end|>"), "<|im_end|>"))
_add(ChatTemplate("qwen", _QWEN, ("<|im_start|>", "<|im_end|>"), "<|im_end|>"))
_add(ChatTemplate("intern2", _INTERN2, ("<|im_start|>", "<|im_end|>"), "<|im_end|>", needs_bos=True))
_add(ChatTemplate("intern2-llamafactory-0.8", _INTERN2_LLAMAFACTORY, ("<|im_start|>", "<|im_end|>"), "<|im_end|>",
                  needs_bos=True, pair_encoding="intern2", truncation="infer_seqlen"))
_add(ChatTemplate("llama3", _LLAMA3, ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"), "<|eot_id|>",
                  needs_bos=True))


def get_template(name: str) -> ChatTemplate:
    """The named template; ConfigError listing the known names otherwise."""
    from collectivesft.errors import ConfigError

    try:
        return TEMPLATES[name]
    except KeyError:
        raise ConfigError(f"unknown chat template {name!r}; known: {', '.join(sorted(TEMPLATES))}") from None


def template_names() -> list[str]:
    """All names (aliases included) a recipe may use for `chat_template`."""
    return sorted(TEMPLATES)


def apply_template(tokenizer, name: str | None) -> list[str]:
    """Give `tokenizer` the chat template to train with: its own (name None) or the named one.

    Returns the special tokens that had to be added to the vocabulary (the model's
    embeddings must then be resized). ConfigError when there is no template to use.
    """
    from collectivesft.errors import ConfigError

    if name is None:
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError(
                "the tokenizer has no chat template (a base model?); set chat_template: to one of "
                f"{', '.join(template_names())} in the train recipe")
        return []
    template = get_template(name)
    vocab = tokenizer.get_vocab()
    missing = [t for t in template.special_tokens if t not in vocab]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)
    tokenizer.chat_template = template.jinja
    return missing
