"""The training loss with the LM head run on the target positions only.

A causal LM computes logits for every position and the loss keeps those whose label is not
-100. In SFT the prompt tokens (and, in packed rows, each record's first token and the pads)
are never targets, so most of the LM head and the log-softmax over the vocabulary is thrown
away: on the tiny model on CPU those are about half of a step. Here the decoder runs as
usual and the head and cross-entropy run on the target positions alone. The value is the
model's own loss (transformers' ForCausalLMLoss: fp32 logits, labels shifted by one, summed
and divided by `num_items_in_batch`, else the mean over targets) and so are the gradients
(tested).

Used for the architectures whose LM head is a plain projection (no logit scaling or soft
capping, no router loss), and for a model that is not wrapped for data parallelism (DDP
synchronises gradients only through its own forward); the caller falls back otherwise.
"""

from __future__ import annotations

from collectivesft.train.masking import IGNORE

# Architectures whose causal-LM logits are lm_head(last hidden state), nothing else.
PLAIN_HEAD = {"llama", "qwen2", "qwen3", "mistral"}


def _base(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model  # a PEFT wrapper


def supports(model) -> bool:
    """Whether `model` (possibly a PEFT wrapper) can take the labelled-only loss."""
    base = _base(model)
    return (getattr(base.config, "model_type", None) in PLAIN_HEAD
            and not type(base).__module__.startswith("transformers_modules")
            and hasattr(base, "get_decoder") and base.get_output_embeddings() is not None)


def labelled_loss(model, inputs: dict, num_items_in_batch=None):
    """The causal-LM loss of `inputs` (input_ids, labels, and position_ids / attention_mask)."""
    import torch

    base = _base(model)
    labels = inputs["labels"]
    rest = {k: v for k, v in inputs.items() if k not in ("labels", "use_cache")}
    hidden = base.get_decoder()(**rest, use_cache=False).last_hidden_state
    target = labels[:, 1:]
    keep = target != IGNORE
    logits = base.get_output_embeddings()(hidden[:, :-1][keep]).float()
    total = torch.nn.functional.cross_entropy(logits, target[keep], reduction="sum")
    count = keep.sum() if num_items_in_batch is None else num_items_in_batch
    if torch.is_tensor(count):
        count = count.to(total.device)
    return total / count
