"""Model code written for transformers 4.x, run on transformers 5.

Models that ship their own Python code (InternLM2/2.5, Baichuan2, ChatGLM, Qwen(1), ...) were
written against transformers 4.3x-4.4x. transformers 5 removed or changed several things that
code relies on; loading it ends in an ImportError, or worse, in a model that runs but cannot be
saved or scored. This module supplies what such code still imports or calls, and adapts what it
returns, keyed on what the code does, never on the model's name:

- `transformers.modeling_attn_mask_utils` (AttentionMaskConverter and the `_prepare_4d_*`
  helpers) is gone: a module with the same names and semantics is provided;
- `DynamicCache.from_legacy_cache` / `to_legacy_cache` / `get_usable_length` / `seen_tokens`
  are gone: supplied on the class, built on the cache's public layers;
- a model class whose `_tied_weights_keys` is a list (4.x) gets the dict transformers 5 expects
  ({tied parameter: its source}), or none when the config does not tie embeddings;
- a forward that returns the key/value cache as nested tuples (code that converts them from a
  DynamicCache itself, so they are in its layout) gets it back as a DynamicCache (what generate,
  beam search and `batch_repeat_interleave` need), and a forward without
  `logits_to_keep` accepts it and keeps only the last positions' logits;
- a class with its own `prepare_inputs_for_generation` but no GenerationMixin gets the mixin
  (transformers adds it to a copy on the first load only, so a second load had no generate);
- buffers the code computes in `__init__` and does not save (`persistent=False`: rotary
  `inv_freq`, cos/sin caches) are left as uninitialised memory by transformers 5, which builds
  the model on the meta device and only fills what the checkpoint holds or its own
  `_init_weights` knows. Measured on InternLM2.5's code: garbage `inv_freq` (1e34, 0, ...),
  a different generation in every process, and NaN losses in training. Each module of the code
  that owns such buffers records its constructor arguments, and after loading a fresh copy of
  that (small) module on the CPU supplies the values.

Everything here only adds what is missing, so transformers' own models are untouched; it is
applied only when the user passed trust_remote_code (models/loading.py). Tested on transformers
5.24 (see pyproject.toml and docs/train.md).
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
from typing import Any

_ADAPTED = "_collectivesft_adapted"


# -- transformers.modeling_attn_mask_utils ---------------------------------------------------

def _mask_module() -> types.ModuleType:
    """The 4.x attention-mask helpers: additive float masks (0 where attended, the dtype's
    minimum where not), shaped (batch, 1, query, key)."""
    import torch

    def causal(batch: int, query: int, past: int, dtype, device, sliding_window: int | None = None):
        total = past + query
        rows = torch.arange(query, device=device).view(-1, 1) + past
        cols = torch.arange(total, device=device).view(1, -1)
        blocked = cols > rows
        if sliding_window is not None:
            blocked |= cols <= rows - sliding_window
        mask = torch.zeros(query, total, dtype=dtype, device=device).masked_fill(blocked, torch.finfo(dtype).min)
        return mask[None, None].expand(batch, 1, query, total)

    def expand(mask, dtype, tgt_len: int | None = None):
        batch, src_len = mask.shape
        tgt_len = tgt_len or src_len
        keep = mask[:, None, None, :].expand(batch, 1, tgt_len, src_len).to(dtype)
        return (1.0 - keep).masked_fill((1.0 - keep).bool(), torch.finfo(dtype).min)

    class AttentionMaskConverter:
        """The 4.x converter: 2D padding masks to 4D additive masks, causal or not."""

        def __init__(self, is_causal: bool, sliding_window: int | None = None):
            self.is_causal = is_causal
            self.sliding_window = sliding_window

        def to_causal_4d(self, batch_size, query_length, key_value_length, dtype, device="cpu"):
            if not self.is_causal:
                raise ValueError("to_causal_4d needs a causal converter")
            past = key_value_length - query_length
            return causal(batch_size, query_length, past, dtype, device, self.sliding_window) if query_length > 1 \
                or self.sliding_window else None

        def to_4d(self, attention_mask_2d, query_length, dtype, key_value_length=None):
            batch, total = attention_mask_2d.shape
            expanded = expand(attention_mask_2d, dtype, tgt_len=query_length).to(attention_mask_2d.device)
            if self.is_causal and (query_length > 1 or self.sliding_window):
                expanded = expanded + causal(batch, query_length, total - query_length, dtype,
                                             attention_mask_2d.device, self.sliding_window)
                expanded = expanded.clamp(min=torch.finfo(dtype).min)
            return expanded

        @staticmethod
        def _make_causal_mask(input_ids_shape, dtype, device, past_key_values_length=0, sliding_window=None):
            return causal(input_ids_shape[0], input_ids_shape[-1], past_key_values_length, dtype, device,
                          sliding_window)

        @staticmethod
        def _expand_mask(mask, dtype, tgt_len=None):
            return expand(mask, dtype, tgt_len)

        @staticmethod
        def _unmask_unattended(expanded_mask, min_dtype):
            # Rows that attend to nothing (left padding) attend to everything instead: SDPA's
            # memory-efficient kernel returns NaN for a fully masked row.
            dead = (expanded_mask == min_dtype).all(dim=-1, keepdim=True)
            return expanded_mask.mul(~dead)

        @staticmethod
        def _ignore_causal_mask_sdpa(attention_mask, inputs_embeds, past_key_values_length, sliding_window=None,
                                     is_training=False):
            # Always build the explicit mask: never wrong, at most a little slower than is_causal.
            return False

    def prepare_causal(attention_mask, input_shape, inputs_embeds, past_key_values_length, sliding_window=None):
        converter = AttentionMaskConverter(is_causal=True, sliding_window=sliding_window)
        query = input_shape[-1]
        if attention_mask is not None and attention_mask.dim() == 2:
            return converter.to_4d(attention_mask, query, inputs_embeds.dtype, query + past_key_values_length)
        if attention_mask is not None and attention_mask.dim() == 4:
            return attention_mask
        return causal(input_shape[0], query, past_key_values_length, inputs_embeds.dtype, inputs_embeds.device,
                      sliding_window)

    def prepare_plain(mask, dtype, tgt_len=None):
        return expand(mask, dtype, tgt_len)

    module = types.ModuleType("transformers.modeling_attn_mask_utils",
                              "Supplied by collectivesft.models.compat for model code written for transformers 4.x.")
    module.AttentionMaskConverter = AttentionMaskConverter
    module._prepare_4d_causal_attention_mask = prepare_causal
    module._prepare_4d_causal_attention_mask_for_sdpa = prepare_causal
    module._prepare_4d_attention_mask = prepare_plain
    module._prepare_4d_attention_mask_for_sdpa = prepare_plain
    module._create_4d_causal_attention_mask = (
        lambda input_shape, dtype, device, past_key_values_length=0, sliding_window=None:
        causal(input_shape[0], input_shape[-1], past_key_values_length, dtype, device, sliding_window))
    return module


# -- the legacy cache API ---------------------------------------------------------------------

def _legacy_cache_api(cache_class: type) -> list[str]:
    supplied = []

    def from_legacy_cache(cls, past_key_values=None):
        """A DynamicCache from 4.x nested tuples ((key, value) per layer); empty for None."""
        return cls() if not past_key_values else cls(ddp_cache_data=[tuple(layer[:2]) for layer in past_key_values])

    def to_legacy_cache(self):
        return tuple((layer.keys, layer.values) for layer in self.layers)

    def get_usable_length(self, new_seq_length: int, layer_idx: int = 0) -> int:
        return self.get_seq_length(layer_idx)

    for name, value in (("from_legacy_cache", classmethod(from_legacy_cache)), ("to_legacy_cache", to_legacy_cache),
                        ("get_usable_length", get_usable_length),
                        ("seen_tokens", property(lambda self: self.get_seq_length()))):
        if not hasattr(cache_class, name):
            setattr(cache_class, name, value)
            supplied.append(f"{cache_class.__name__}.{name}")
    return supplied


def install() -> list[str]:
    """Supply what 4.x model code imports or calls and transformers 5 lacks; idempotent.
    Returns what was supplied by this call (empty when nothing was missing)."""
    import importlib

    supplied: list[str] = []
    try:
        importlib.import_module("transformers.modeling_attn_mask_utils")
    except ModuleNotFoundError:
        sys.modules["transformers.modeling_attn_mask_utils"] = _mask_module()
        import transformers

        transformers.modeling_attn_mask_utils = sys.modules["transformers.modeling_attn_mask_utils"]
        supplied.append("transformers.modeling_attn_mask_utils")
    from transformers.cache_utils import DynamicCache

    supplied += _legacy_cache_api(DynamicCache)
    return supplied


# -- a 4.x model class, adapted in place ------------------------------------------------------

def _as_cache(value: Any) -> Any:
    """Nested (key, value) tuples per layer as a DynamicCache; anything else unchanged."""
    if isinstance(value, (tuple, list)) and value and all(isinstance(layer, (tuple, list)) and len(layer) >= 2
                                                          for layer in value):
        from transformers.cache_utils import DynamicCache

        return DynamicCache.from_legacy_cache(value)
    return value


def _adapt_forward(forward, convert_cache: bool):
    parameters = inspect.signature(forward).parameters
    takes_logits_to_keep = "logits_to_keep" in parameters or "num_logits_to_keep" in parameters

    @functools.wraps(forward)
    def adapted(self, *args, **kwargs):
        keep = 0
        if not takes_logits_to_keep:
            keep = kwargs.pop("logits_to_keep", 0) or 0
        if "cache" in kwargs and "cache" not in parameters:
            # transformers 5 names the KV-cache argument `cache`; 4.x code takes past_key_values.
            cache = kwargs.pop("cache")
            if cache is not None:
                kwargs["past_key_values"] = cache
        output = forward(self, *args, **kwargs)
        if isinstance(output, tuple) or output is None:
            return output
        if keep and getattr(output, "logits", None) is not None:
            output.logits = output.logits[:, -keep:] if isinstance(keep, int) else output.logits[:, keep]
        if convert_cache and getattr(output, "past_key_values", None) is not None:
            output.past_key_values = _as_cache(output.past_key_values)
        return output

    if not takes_logits_to_keep:
        # Advertised, so that generate() asks for the last position's logits only.
        extra = inspect.Parameter("logits_to_keep", inspect.Parameter.KEYWORD_ONLY, default=0)
        params = [p for p in parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        params += [extra] + [p for p in parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
        adapted.__signature__ = inspect.signature(forward).replace(parameters=params)
    return adapted


_INIT_ARGS = "_collectivesft_init_args"


def _record_init_args(module: types.ModuleType) -> int:
    """Wrap the __init__ of every torch module class defined in `module` to keep its arguments."""
    import torch

    count = 0
    for value in list(vars(module).values()):
        if not (isinstance(value, type) and issubclass(value, torch.nn.Module)
                and value.__module__ == module.__name__ and "__init__" in value.__dict__
                and not getattr(value.__init__, _INIT_ARGS, False)):
            continue
        original = value.__init__

        @functools.wraps(original)
        def recording(self, *args, __original=original, **kwargs):
            __original(self, *args, **kwargs)
            object.__setattr__(self, _INIT_ARGS, (args, kwargs))

        setattr(recording, _INIT_ARGS, True)
        value.__init__ = recording
        count += 1
    return count


def restore_computed_buffers(model: Any) -> list[str]:
    """Recompute the non-persistent buffers of the model's own modules (see the module docstring);
    returns the names of the buffers restored."""
    import torch

    restored: list[str] = []
    for name, module in model.named_modules():
        own = [b for b in getattr(module, "_non_persistent_buffers_set", ()) if module._buffers.get(b) is not None]
        recorded = module.__dict__.get(_INIT_ARGS)
        if not own or recorded is None:
            continue
        args, kwargs = recorded
        with torch.device("cpu"):
            fresh = type(module)(*args, **kwargs)
        for buffer in own:
            current = module._buffers[buffer]
            value = fresh._buffers.get(buffer)
            if value is None or value.shape != current.shape:
                continue
            # The dtype the code computed it in (4.x kept an fp32 inv_freq in a bf16 model too).
            module._buffers[buffer] = value.to(device=current.device)
            restored.append(f"{name}.{buffer}" if name else buffer)
    return restored


def adapt_model_class(model_class: type, config: Any) -> list[str]:
    """Adapt a remote-code model class (in place, once) to transformers 5; returns what changed."""
    if model_class.__dict__.get(_ADAPTED):
        return []
    changed: list[str] = []
    from transformers import GenerationMixin

    if not issubclass(model_class, GenerationMixin) and hasattr(model_class, "prepare_inputs_for_generation"):
        # transformers adds the mixin to a copy of the class on the first load only; a second load
        # in the same process takes the registered original, which has no generate().
        model_class.__bases__ = model_class.__bases__ + (GenerationMixin,)
        changed.append("GenerationMixin added")
    code = sys.modules.get(model_class.__module__)
    if code is not None and _record_init_args(code):
        changed.append("computed buffers restored after loading")
    # Only code that itself converts between DynamicCache and tuples returns tuples in the
    # DynamicCache layout (batch, heads, positions, head_dim); other code (ChatGLM's
    # positions-first tuples) keeps its own format.
    convert_cache = code is not None and hasattr(code, "DynamicCache")
    tied = getattr(model_class, "_tied_weights_keys", None)
    if isinstance(tied, (list, tuple)):
        # 4.x listed the output weights tied to the input embeddings; 5 maps each to its source.
        model_class._tied_weights_keys = _tied_mapping(model_class, list(tied), config)
        changed.append("_tied_weights_keys list -> dict")
    for klass in model_class.__mro__:
        forward = klass.__dict__.get("forward")
        if forward is not None:
            if "transformers" not in (klass.__module__ or "").split(".")[:1]:
                model_class.forward = _adapt_forward(forward, convert_cache)
                changed.append("forward: logits_to_keep" + (", tuple caches -> DynamicCache" if convert_cache else ""))
            break
    setattr(model_class, _ADAPTED, True)
    return changed


def _tied_mapping(model_class: type, keys: list[str], config: Any) -> dict[str, str]:
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    if not getattr(text, "tie_word_embeddings", False):
        return {}
    # The input embedding's parameter name is only known on an instance; 4.x code names it in
    # its base model, so resolve lazily from a meta-device instance.
    import torch

    listed = model_class.__dict__.get("_tied_weights_keys")
    model_class._tied_weights_keys = {}  # the list form fails in transformers 5's post_init
    try:
        with torch.device("meta"):
            probe = model_class._from_config(config) if hasattr(model_class, "_from_config") else model_class(config)
    finally:
        if listed is not None:
            model_class._tied_weights_keys = listed
        else:
            del model_class._tied_weights_keys
    embeddings = probe.get_input_embeddings()
    source = next(name for name, module in probe.named_modules() if module is embeddings) + ".weight"
    return {key: source for key in keys}
