"""The DAMSM text encoder (AttnGAN's RNN_ENCODER, used by DF-GAN) and its word vocabulary.

DF-GAN conditions on the sentence vector of a bidirectional LSTM trained with AttnGAN's DAMSM loss:
words -> ids through the data set's vocabulary (`captions_DAMSM.pickle`), an embedding (300-d for
CUB), one LSTM layer per direction, and the last hidden state of each direction concatenated as the
sentence vector (256-d for CUB). Word features are the per-position LSTM outputs.

Unlike the Hugging Face encoders, these weights belong to the model: they and the vocabulary live
in this module's state dict (the vocabulary as one uint8 tensor of newline-joined words, ~40 kB for
CUB's 5,450 words), so an imported DF-GAN saves as one i2i model file. Where no state dict has been
loaded yet (a freshly imported model), the weights are read from `source`, the folder holding the
original files, on first use.

The LSTM runs over padded batches without `pack_padded_sequence`: the forward direction's state at
each caption's last word is picked out, and the backward direction runs on each caption reversed
within its own length. The numbers are the packed computation's, and the graph traces to ONNX with
a dynamic caption length (`i2i export`).

Tokenisation is the original's (AttnGAN/DF-GAN `tokenize`): lower case, `\\w+` runs (nltk's
RegexpTokenizer(r'\\w+') is `re.findall`), non-ASCII characters dropped from each token, and words
outside the vocabulary dropped.
"""

from __future__ import annotations

import json
import logging
import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from i2i.errors import ConfigError, InputError

log = logging.getLogger("i2i.text2img")

WORD = re.compile(r"\w+")
END = "<end>"  # id 0: the padding / end token of the original vocabulary


# ---- the vocabulary file ----------------------------------------------------------------------------
class _PlainUnpickler(pickle.Unpickler):
    """Unpickles only plain containers: any class or function reference is refused, so a crafted
    file cannot run code (the original reads this file with plain pickle.load)."""

    ALLOWED = {("builtins", "list"), ("builtins", "dict"), ("builtins", "str"), ("builtins", "int")}
    ALLOWED |= {("__builtin__", "list"), ("__builtin__", "dict"), ("__builtin__", "str")}
    ALLOWED |= {("__builtin__", "int"), ("__builtin__", "long"), ("__builtin__", "unicode")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            import builtins

            return {"long": int, "unicode": str}.get(name) or getattr(builtins, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name} (only lists, dicts, str and int)")


def read_vocabulary(path: str | Path) -> list[str]:
    """`captions_DAMSM.pickle` ([train_captions, test_captions, ixtoword, wordtoix]) -> the words
    in id order (word i has embedding row i). InputError for anything else."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            obj = _PlainUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as exc:
        first = (str(exc).splitlines() or [""])[0][:120]
        raise InputError(path, f"not a DAMSM captions pickle ({type(exc).__name__}: {first})") from None
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None
    if not isinstance(obj, list) or len(obj) < 4 or not isinstance(obj[3], dict) or not obj[3]:
        raise InputError(path, "not a DAMSM captions pickle (expected [train, test, ixtoword, wordtoix])")
    wordtoix = obj[3]
    words: list[str | None] = [None] * len(wordtoix)
    for word, ix in wordtoix.items():
        if isinstance(word, bytes):
            word = word.decode("latin1")
        if not isinstance(word, str) or not isinstance(ix, int) or not 0 <= ix < len(words) or words[ix]:
            raise InputError(path, f"wordtoix is not a one-to-one map of words to ids 0..{len(words) - 1}")
        if not word or "\n" in word:
            raise InputError(path, f"wordtoix holds an unusable word {word!r}")
        words[ix] = word
    return words  # type: ignore[return-value]


def pack_words(words: Sequence[str]) -> Tensor:
    """The vocabulary as one uint8 tensor (newline-joined UTF-8), to keep in a state dict."""
    return torch.tensor(list("\n".join(words).encode("utf-8")), dtype=torch.uint8)


def unpack_words(packed: Tensor) -> list[str]:
    return bytes(packed.tolist()).decode("utf-8").split("\n") if packed.numel() else []


def tokenize(text: str, wordtoix: dict[str, int]) -> tuple[list[int], list[str]]:
    """(ids of the known words, the unknown words) of one caption, as the original tokenises."""
    ids, unknown = [], []
    for token in WORD.findall(text.replace("\ufffd\ufffd", " ").lower()):
        word = token.encode("ascii", "ignore").decode("ascii")
        if word and word in wordtoix:
            ids.append(wordtoix[word])
        else:
            unknown.append(token)
    return ids, unknown


# ---- the network ------------------------------------------------------------------------------------
def _last(x: Tensor, lengths: Tensor) -> Tensor:
    """x[b, lengths[b] - 1] for each b: (B, T, D) -> (B, D)."""
    index = (lengths - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, x.shape[2])
    return x.gather(1, index).squeeze(1)


def _reverse_within(x: Tensor, lengths: Tensor) -> Tensor:
    """Each sequence of x (B, T, D) reversed within its own length; padding stays where it is.
    Its own inverse."""
    t = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    n = lengths.unsqueeze(1)
    index = torch.where(t < n, n - 1 - t, t)
    return x.gather(1, index.unsqueeze(2).expand(-1, -1, x.shape[2]))


class DAMSMTextEncoder(nn.Module):
    """(input_ids (B, T), attention_mask (B, T)) -> (sentence (B, hidden), words (B, T, hidden), mask).

    `hidden` is the original's `nhidden`: the sentence size, split between the two directions.
    Frozen: DF-GAN never trains its text encoder.
    """

    def __init__(
        self, vocab_size: int, embedding_dim: int = 300, hidden: int = 256, bidirectional: bool = True
    ):
        super().__init__()
        directions = 2 if bidirectional else 1
        if hidden % directions:
            raise ConfigError(f"model.conditioner.damsm.hidden: {hidden} does not split over 2 directions")
        self.hidden = int(hidden)
        self.embedding = nn.Embedding(int(vocab_size), int(embedding_dim))
        self.forward_rnn = nn.LSTM(int(embedding_dim), hidden // directions, batch_first=True)
        self.backward_rnn = (
            nn.LSTM(int(embedding_dim), hidden // directions, batch_first=True) if bidirectional else None
        )
        self.requires_grad_(False)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mask = attention_mask.bool()
        lengths = mask.long().sum(1)
        emb = self.embedding(input_ids)
        out, _ = self.forward_rnn(emb)
        sentence, words = [_last(out, lengths)], [out]
        if self.backward_rnn is not None:
            back, _ = self.backward_rnn(_reverse_within(emb, lengths))
            sentence.append(_last(back, lengths))
            words.append(_reverse_within(back, lengths))
        tokens = torch.cat(words, dim=2) * mask.unsqueeze(2).to(emb.dtype)
        return torch.cat(sentence, dim=1), tokens, mask


class _Tokenizer:
    """A transformers-style callable over the DAMSM vocabulary (what `i2i export` traces with):
    texts -> {"input_ids", "attention_mask"}, padded with the end token (id 0)."""

    def __init__(self, owner: DAMSMText) -> None:
        self.owner = owner

    def __call__(self, texts: Sequence[str], **_: Any) -> dict[str, Tensor]:
        rows = [self.owner.ids(t) for t in texts]
        length = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), length, dtype=torch.long)
        mask = torch.zeros(len(rows), length, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[i, : len(r)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def write_vocabulary(self, path: Path) -> None:
        """vocab.json beside an exported encoder: the words by id and how captions become ids."""
        rule = "lower case; runs of \\w; non-ASCII characters dropped from each; unknown words dropped"
        words = unpack_words(self.owner.words)
        Path(path).write_text(json.dumps({"tokenize": rule, "pad_id": 0, "words": words}) + "\n")


class DAMSMText(nn.Module):
    """The DAMSM encoder with its vocabulary, behind the conditioner's encoder interface
    (`limit`, `hidden_size`, `token_count`, `encode`, `check_prompt`, `text_encoder`).

    `source`: a folder with the original `text_encoder*.pth` and `captions_DAMSM.pickle`, read on
    first use unless a state dict (an i2i model file) has been loaded first.
    """

    limit = 10**6  # an LSTM reads any length; the original does not truncate at sampling time

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 300,
        hidden: int = 256,
        bidirectional: bool = True,
        source: str | None = None,
    ) -> None:
        super().__init__()
        self.encoder = DAMSMTextEncoder(vocab_size, embedding_dim, hidden, bidirectional)
        self.register_buffer("words", torch.zeros(0, dtype=torch.uint8))
        self.source = source
        self.hidden_size = int(hidden)
        self.__dict__["_ready"] = False
        self.__dict__["_wordtoix"] = None
        self.__dict__["_warned_empty"] = False

    # ---- weights and vocabulary ------------------------------------------------------------------
    def set_vocabulary(self, words: Sequence[str]) -> None:
        if len(words) != self.encoder.embedding.num_embeddings:
            raise ConfigError(
                f"DAMSM vocabulary has {len(words)} words, the embedding {self.encoder.embedding.num_embeddings}"
            )
        self.words = pack_words(words).to(self.words.device)
        self.__dict__["_wordtoix"] = None
        self.__dict__["_ready"] = True

    def _ensure(self) -> None:
        if self._ready:
            return
        if not self.source:
            raise ConfigError(
                "model.conditioner.damsm: no DAMSM weights: load an i2i model file, or set damsm.source "
                "to a folder with text_encoder*.pth and captions_DAMSM.pickle"
            )
        from i2i_text2img.dfgan import load_damsm_into

        load_damsm_into(self, Path(self.source))

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        packed = state_dict.get(prefix + "words")
        if packed is not None:  # the vocabulary's byte length is not known before loading
            self.words = torch.zeros_like(packed, dtype=torch.uint8, device=self.words.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if packed is not None:
            self.__dict__["_wordtoix"] = None
            self.__dict__["_ready"] = True

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        self._ensure()  # a freshly imported model saves its weights, not an empty vocabulary
        return super().state_dict(*args, **kwargs)

    @property
    def wordtoix(self) -> dict[str, int]:
        self._ensure()
        if self._wordtoix is None:
            words = unpack_words(self.words)
            if len(words) != self.encoder.embedding.num_embeddings:
                raise ConfigError(f"DAMSM vocabulary has {len(words)} words, the embedding more or fewer")
            self.__dict__["_wordtoix"] = {w: i for i, w in enumerate(words)}
        return self._wordtoix

    # ---- the conditioner's encoder interface -------------------------------------------------------
    def ids(self, text: str) -> list[int]:
        """Word ids of a caption; a caption with no known word becomes the end token alone (the
        original cannot encode an empty caption; at inference `check_prompt` refuses it first)."""
        ids, _ = tokenize(text, self.wordtoix)
        if not ids:
            if not self._warned_empty:
                log.warning("DAMSM: a caption has no word in the vocabulary (%r); encoding it as <end>", text)
                self.__dict__["_warned_empty"] = True
            ids = [0]
        return ids

    def token_count(self, text: str) -> int:
        return len(tokenize(text, self.wordtoix)[0])

    def check_prompt(self, text: str, where: str = "--prompt") -> None:
        """Report words the vocabulary lacks (one line on stderr); refuse a prompt with none known."""
        ids, unknown = tokenize(text, self.wordtoix)
        if not ids:
            raise InputError(
                where, f"no word of {text!r} is in the DAMSM vocabulary ({len(self.wordtoix)} words)"
            )
        if unknown:
            log.warning("DAMSM vocabulary lacks %s (dropped from %r)", ", ".join(unknown), text)

    @torch.no_grad()
    def encode(self, texts: Sequence[str], device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
        batch = _Tokenizer(self)(texts)
        return self.encoder(batch["input_ids"].to(device), batch["attention_mask"].to(device))

    def text_encoder(self) -> tuple[nn.Module, Any, int]:
        """(graph, tokenizer, limit) for `i2i export`, like the transformers path."""
        self._ensure()
        return self.encoder.eval(), _Tokenizer(self), self.limit


__all__ = ["DAMSMText", "DAMSMTextEncoder", "pack_words", "read_vocabulary", "tokenize", "unpack_words"]
