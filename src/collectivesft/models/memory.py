"""Will a fine-tuning run fit on a GPU? A per-GPU memory estimate from a model's config.json.

Pure arithmetic, no torch: parameters from the config's shape, then model states (ZeRO paper,
Rajbhandari et al. 2020), activations (Korthikanti et al. 2022, "Reducing Activation
Recomputation in Large Transformer Models", recounted for Llama-style layers), the logits, and
an overhead, the way `collectivesft train` loads and trains a model.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from collectivesft.errors import ConfigError

GIB = 2**30
# The CUDA context with cuBLAS and NCCL workspaces (0.5-1 GiB) plus the caching allocator's
# fragmentation, a few percent of everything else.
OVERHEAD_FIXED = 1.5 * GIB
OVERHEAD_FRACTION = 0.05
# NF4 is 4 bits a weight; double quantization brings the block scales to 0.127 bits a weight
# (QLoRA, Dettmers et al. 2023, section 3).
NF4_BYTES = (4 + 0.127) / 8
FINETUNING = ("full", "lora", "qlora")
PRECISIONS = ("bf16", "fp16", "fp32")


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a Llama-style decoder (Llama, Qwen2, InternLM2) that memory depends on."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    head_dim: int
    tied: bool = False
    qkv_bias: bool = False
    model_type: str = ""


def model_shape(config: dict) -> ModelShape:
    """The shape of a Hugging Face config.json dict; ConfigError naming a missing or bad key."""
    if not isinstance(config, dict):
        raise ConfigError(f"model config: expected a config.json mapping, got {type(config).__name__}")

    def number(key: str, default: int | None = None) -> int:
        value = config.get(key, default)
        if value is None:
            raise ConfigError(f"model config has no {key!r}, needed for the memory estimate")
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"model config {key!r}: expected a positive integer, got {value!r}")
        return value

    hidden, heads = number("hidden_size"), number("num_attention_heads")
    model_type = str(config.get("model_type", ""))
    return ModelShape(
        hidden=hidden, intermediate=number("intermediate_size"), layers=number("num_hidden_layers"),
        heads=heads, kv_heads=number("num_key_value_heads", heads), vocab=number("vocab_size"),
        head_dim=number("head_dim", hidden // heads),
        tied=bool(config.get("tie_word_embeddings", False)),  # the Llama/Qwen2/InternLM2 default
        # Qwen2 always has q/k/v biases, and its config has no flag for them.
        qkv_bias=model_type == "qwen2" or bool(config.get("attention_bias", False)),
        model_type=model_type)


def _linears(shape: ModelShape) -> dict[str, tuple[int, int]]:
    """Each decoder layer's linear modules, (in, out) features, under the model's own names."""
    h, i = shape.hidden, shape.intermediate
    q, kv = shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    if shape.model_type == "internlm2":  # one fused wqkv: the weights of q, k and v, one adapter
        return {"wqkv": (h, q + 2 * kv), "wo": (q, h), "w1": (h, i), "w3": (h, i), "w2": (i, h)}
    return {"q_proj": (h, q), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (q, h),
            "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}


def _linear_parameters(shape: ModelShape) -> int:
    """Weights in the decoder layers' linear modules (what QLoRA quantizes)."""
    return shape.layers * sum(n_in * n_out for n_in, n_out in _linears(shape).values())


def parameters(shape: ModelShape) -> int:
    """All parameters: embeddings, layers (GQA attention, SwiGLU MLP, two RMSNorms), final norm, head."""
    bias = (shape.heads + 2 * shape.kv_heads) * shape.head_dim if shape.qkv_bias else 0
    embeddings = shape.vocab * shape.hidden
    return (embeddings + _linear_parameters(shape) + shape.layers * (bias + 2 * shape.hidden)
            + shape.hidden + (0 if shape.tied else embeddings))


def _adapted(shape: ModelShape, targets: str | list[str]) -> list[tuple[int, int]]:
    """(in, out) features of each linear LoRA adapts in a layer; "all-linear" is all but the head."""
    linears = _linears(shape)
    names = list(linears) if targets == "all-linear" else [targets] if isinstance(targets, str) else targets
    unknown = [name for name in names if name not in linears]
    if unknown:
        raise ConfigError(f"lora target_modules {unknown}: this {shape.model_type or 'model'}'s linear "
                          f"modules are {', '.join(linears)} (or all-linear)")
    return [linears[name] for name in names]


def adapter_parameters(shape: ModelShape, r: int, targets: str | list[str] = "all-linear") -> int:
    """LoRA parameters: r x (in + out) per adapted linear."""
    return shape.layers * sum(r * (n_in + n_out) for n_in, n_out in _adapted(shape, targets))


@dataclass(frozen=True)
class Estimate:
    """Peak memory on one GPU, in bytes, by component."""

    weights: int
    gradients: int
    optimizer: int
    activations: int
    logits: int
    overhead: int
    parameters: int
    trainable: int
    settings: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations + self.logits + self.overhead


def _model_states(trainable: int, largest: int, precision: str, zero_stage: int, gpus: int) -> tuple:
    """(weights, gradients, optimizer) bytes per GPU for the trained parameters, with AdamW."""
    half = precision != "fp32"
    if zero_stage == 0:
        # No DeepSpeed: runner._load_model keeps fp32 weights and autocasts, 4 + 4 + 8 bytes
        # (weights, gradients, Adam's moments) plus autocast's cached 16-bit copy of each weight,
        # alive through the forward while earlier micro-batches' gradients are.
        weights = (4 + (2 if half else 0)) * trainable
        # DDP keeps its gradient buckets beside the gradients (gradient_as_bucket_view is off).
        return weights, 4 * trainable * (2 if gpus > 1 else 1), 8 * trainable
    # DeepSpeed casts the model to 16 bits and keeps the fp32 master weights and moments: 2 + 2
    # + 12 bytes (the ZeRO paper's K = 12), stage 1 partitioning the optimizer states over the
    # GPUs, stage 2 the gradients too, stage 3 the weights too. It also casts its gradient
    # partition to fp32 for the step, as its estimate_zero2_model_states_mem_needs counts (its
    # ZeRO-3 estimate leaves out the 16-bit gradient partition, 2 bytes / GPUs; we keep it).
    width = 2 if half else 4
    weights = width * trainable / (gpus if zero_stage == 3 else 1)
    gradients = width * trainable / (gpus if zero_stage >= 2 else 1) + (4 * trainable / gpus if half else 0)
    optimizer = (12 if half else 8) * trainable / gpus
    if zero_stage == 3:  # the largest module gathered whole, with its gradient (DeepSpeed's 4 bytes)
        weights, gradients = weights + 2 * largest, gradients + 2 * largest
    return round(weights), round(gradients), round(optimizer)


def _activations(shape: ModelShape, seq_len: int, micro_batch: int, precision: str, autocast: bool,
                 checkpointing: bool, flash_attention: bool, lora_inputs: int) -> int:
    """Bytes autograd keeps for the backward pass.

    Korthikanti et al.'s GPT layer keeps 34 s*b*h + 5 a*s^2*b bytes. A Llama-style layer has no
    dropout, a SwiGLU MLP, and RMSNorms that compute in fp32; counted tensor by tensor below, it
    matches what transformers' Qwen2 saves to the byte (tests/models/test_memory.py).
    """
    h, i, heads, tokens = shape.hidden, shape.intermediate, shape.heads, seq_len * micro_batch
    q, kv = heads * shape.head_dim, shape.kv_heads * shape.head_dim
    width = 4 if precision == "fp32" else 2  # what the matmuls write
    stream = 4 if autocast else width  # the residual stream: fp32 when the weights are
    # Autocast casts a norm's output once for each projection reading it (q, k, v, gate, up);
    # otherwise they share it.
    readers = len(_linears(shape)) - 2 if autocast else 2
    per_token = (2 * (4 + stream) * h  # each RMSNorm's fp32 input and its normalized output
                 + readers * width * h  # the projections' inputs
                 + 4 * width * i  # SwiGLU: gate, SiLU(gate), up and their product
                 + 8  # the RMSNorms' fp32 rsqrt
                 + 3 * lora_inputs)  # LoRA dropout: a 1-byte mask and a 16-bit copy of the input
    if flash_attention:  # flash-attention 2 or SDPA: q, k, v, the output, fp32 log-sum-exp
        per_token += width * (2 * q + 2 * kv) + 4 * heads
    else:  # eager: q, K and V repeated to every head, the output's copy, and the a*s scores
        # as the fp32 softmax and its 16-bit cast (Korthikanti's 5 a*s^2*b, with dropout)
        per_token += width * 4 * q + heads * seq_len * (4 + (2 if width == 2 else 0))
    final = tokens * (4 + stream + width) * h  # the final RMSNorm and the LM head's input
    if checkpointing:  # each layer's input is kept; one layer at a time is recomputed
        return shape.layers * tokens * stream * h + tokens * per_token + final
    return shape.layers * tokens * per_token + final


def _logits(shape: ModelShape, tokens: int, width: int, head_trained: bool, fused: bool) -> int:
    """Peak bytes of the LM head's output and its gradient."""
    if fused:
        # TRL's chunked log-prob kernel (trl 1.16 ChunkedLogProbFunction; read, not measured)
        # never builds the logits: a 4,096 x 32,768 tile, the fp32 gradient of the head's input,
        # fp32 per-token statistics, and the fp32 gradient of the head when it is trained.
        return (min(tokens, 4096) * 32768 * width + 4 * tokens * shape.hidden + 36 * tokens
                + (4 * shape.vocab * shape.hidden if head_trained else 0))
    # The model's own cross-entropy: log-softmax keeps its fp32 output, and the backward starts
    # with the loss's fp32 gradient and writes another: 12 bytes a token and vocabulary entry.
    return 12 * tokens * shape.vocab


def estimate(shape: ModelShape, *, finetuning: str = "full", precision: str = "bf16", zero_stage: int = 0,
             gpus: int = 1, seq_len: int = 1024, micro_batch: int = 1, gradient_checkpointing: bool = False,
             lora_r: int = 16, lora_targets: str | list[str] = "all-linear", flash_attention: bool = False,
             fused_lm_head: bool = False) -> Estimate:
    """Peak memory per GPU of AdamW fine-tuning with these settings.

    `seq_len`: a micro-batch's padded length (the cutoff at worst). `zero_stage` 0: no DeepSpeed
    (one GPU or DDP). `flash_attention`: a kernel that keeps no attention scores (flash-attention
    2, SDPA); off, eager attention (InternLM2's own code without flash-attn). `fused_lm_head`:
    TRL's chunked loss, which `collectivesft train` uses on GPUs; off, the logits as the model's
    own loss (and LLaMA-Factory's) builds them. With gradient checkpointing the recomputed layer
    and the logits peak at different moments; both are counted, so the total is then high by
    the smaller of the two.
    """
    settings = dict(finetuning=finetuning, precision=precision, zero_stage=zero_stage, gpus=gpus,
                    seq_len=seq_len, micro_batch=micro_batch, gradient_checkpointing=gradient_checkpointing,
                    lora_r=lora_r, lora_targets=lora_targets, flash_attention=flash_attention,
                    fused_lm_head=fused_lm_head)
    if finetuning not in FINETUNING:
        raise ConfigError(f"finetuning: expected one of {', '.join(FINETUNING)}, got {finetuning!r}")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision: expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if zero_stage not in (0, 1, 2, 3):
        raise ConfigError(f"zero_stage: expected 0, 1, 2 or 3, got {zero_stage!r}")
    for key in ("gpus", "seq_len", "micro_batch", "lora_r"):
        if isinstance(settings[key], bool) or not isinstance(settings[key], int) or settings[key] < 1:
            raise ConfigError(f"{key}: expected a positive integer, got {settings[key]!r}")

    width = 4 if precision == "fp32" else 2
    total = parameters(shape)
    # DeepSpeed's ZeRO-3 estimate gathers the largest module whole: the embedding (or head).
    largest = max(shape.vocab * shape.hidden, *(a * b for a, b in _linears(shape).values()))
    trainable, frozen, lora_inputs = total, 0.0, 0
    if finetuning != "full":
        trainable = adapter_parameters(shape, lora_r, lora_targets)
        lora_inputs = sum(n_in for n_in, _ in _adapted(shape, lora_targets))
        # Adapters train on a frozen base loaded in 16 bits (fp32 if precision is); QLoRA stores
        # the layers' linear weights in NF4 and keeps embeddings, head and norms in 16 bits.
        quantized = _linear_parameters(shape) if finetuning == "qlora" else 0
        frozen = (quantized * NF4_BYTES + (total - quantized) * width) / (gpus if zero_stage == 3 else 1)
    weights, gradients, optimizer = _model_states(trainable, largest, precision, zero_stage, gpus)
    weights += round(frozen)
    autocast = finetuning == "full" and zero_stage == 0 and precision != "fp32"  # fp32 weights
    activations = _activations(shape, seq_len, micro_batch, precision, autocast, gradient_checkpointing,
                               flash_attention, lora_inputs)
    logits = _logits(shape, seq_len * micro_batch, width, finetuning == "full", fused_lm_head)
    subtotal = weights + gradients + optimizer + activations + logits
    return Estimate(weights=weights, gradients=gradients, optimizer=optimizer, activations=activations,
                    logits=logits, overhead=round(OVERHEAD_FIXED + OVERHEAD_FRACTION * subtotal),
                    parameters=total, trainable=trainable, settings=settings)


def fits(estimate: Estimate, gpu_bytes: int) -> bool:
    """Whether the estimated peak is within the GPU's memory."""
    return estimate.total <= gpu_bytes


def _options(shape: ModelShape, settings: dict, gpu_bytes: int) -> list[tuple[int, str, dict]]:
    """Single changes to `settings` as (rank, text, changes); a lower rank is a smaller change."""
    def fit(**changes) -> bool:
        return fits(estimate(shape, **{**settings, **changes}), gpu_bytes)

    found = []
    if not settings["gradient_checkpointing"]:
        found.append((1, "gradient_checkpointing: true", {"gradient_checkpointing": True}))
    if not settings["flash_attention"]:
        found.append((1, "attn_implementation: flash_attention_2", {"flash_attention": True}))
    batch = settings["micro_batch"]
    if batch > 1:  # the largest divisor that fits, else 1; grad_accum keeps the effective batch
        size = next((size for size in range(batch - 1, 0, -1) if batch % size == 0 and fit(micro_batch=size)), 1)
        found.append((2, f"micro-batch {batch} -> {size} with grad_accum x{batch // size}", {"micro_batch": size}))
    gpus = settings["gpus"]
    for stage in (2, 3):  # the stages the package ships accelerate configs for
        if stage > settings["zero_stage"]:
            counts = sorted({n for n in (gpus, 2, 4, 8) if n >= gpus and n > 1})
            n = next((n for n in counts if fit(zero_stage=stage, gpus=n)), counts[-1])
            found.append((3 if n == gpus else 4, f"ZeRO-{stage} over {n} GPUs", {"zero_stage": stage, "gpus": n}))
    if settings["finetuning"] == "full":
        found.append((5, "finetuning: lora", {"finetuning": "lora"}))
    if settings["finetuning"] != "qlora":
        found.append((6, "finetuning: qlora", {"finetuning": "qlora"}))
    return found


def advice(shape: ModelShape, settings: dict, gpu_bytes: int) -> list[str]:
    """Changes that make `settings` (estimate()'s keywords) fit in `gpu_bytes`, each re-estimated,
    smallest change first: the single changes that fit, else pairs, else the one that helps most."""
    now = estimate(shape, **settings)
    if fits(now, gpu_bytes):
        return []
    settings = now.settings  # with the defaults filled in
    tried = []  # (rank, total, text, fits)
    for rank, text, changes in _options(shape, settings, gpu_bytes):
        result = estimate(shape, **{**settings, **changes})
        tried.append((rank, result.total, text, fits(result, gpu_bytes)))
    if not any(ok for *_, ok in tried):
        seen = set()
        for rank, text, changes in _options(shape, settings, gpu_bytes):
            for rank2, text2, changes2 in _options(shape, {**settings, **changes}, gpu_bytes):
                keys = frozenset({**changes, **changes2})
                if changes.keys() & changes2.keys() or keys in seen:
                    continue
                seen.add(keys)
                result = estimate(shape, **{**settings, **changes, **changes2})
                tried.append((rank + rank2, result.total, f"{text} and {text2}", fits(result, gpu_bytes)))
    chosen = sorted(item for item in tried if item[3])[:5]
    if not chosen and tried:
        chosen = [min(tried, key=lambda item: item[1])]
    return [f"{text} -> {total / GIB:.1f} GiB" + ("" if ok else " (still does not fit)")
            for _, total, text, ok in chosen]


def describe(estimate: Estimate) -> list[tuple[str, str]]:
    """(component, GiB with one decimal) rows for a table, total last."""
    rows = [("weights", estimate.weights), ("gradients", estimate.gradients),
            ("optimizer states", estimate.optimizer), ("activations", estimate.activations),
            ("logits", estimate.logits), ("overhead (CUDA context, fragmentation)", estimate.overhead),
            ("total", estimate.total)]
    return [(name, f"{value / GIB:.1f}") for name, value in rows]


def as_dict(estimate: Estimate) -> dict:
    """The estimate for JSON: bytes by component, the total, parameter counts and the settings."""
    return {**asdict(estimate), "total": estimate.total}


_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_MEMORY = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(?:i?b)?|(b))?\s*", re.IGNORECASE)


def parse_memory(text: str) -> int:
    """Bytes in "80GB", "80G", "80 GiB", "40960MiB", "1.5TB" or "1024" (plain bytes).

    Every unit is binary: GB, G and GiB all mean 2**30. A GPU sold as "80GB" has 81920 MiB in
    nvidia-smi (A100; 81559 MiB on an H100), so its label read as GiB is within 1 % of it.
    """
    match = _MEMORY.fullmatch(text) if isinstance(text, str) else None
    if match is None or float(match[1]) <= 0:
        raise ConfigError(f"GPU memory {text!r}: expected a positive size such as 80GB, 24GiB, 40960MiB or 1024")
    return round(float(match[1]) * _UNITS[(match[2] or match[3] or "").lower()])
