"""DF-GAN (Tao et al., CVPR 2022; github.com/tobran/DF-GAN) checkpoints as text2img models.

A user of the published CUB model has three files, found in the folder given to `--checkpoint`
(or beside the file given, and one folder level down, as the original's data layout nests them):

- the generator: `state_epoch_XXX.pth` ({'model': {'netG', 'netD', 'netC'}, 'optimizers': ...},
  the current code's `save_models`) or a bare `netG_XXX.pth` state dict of the same NetG;
- the DAMSM text encoder `text_encoder*.pth` (AttnGAN's RNN_ENCODER state dict);
- the vocabulary `captions_DAMSM.pickle` ([train, test, ixtoword, wordtoix]), read with an
  unpickler that admits only lists, dicts, str and int.

Everything is read off the weights: NetG's nz and ngf from `fc`, the image size from the number of
GBlocks (4 * 2**blocks), cond_dim from the first affine layer's input minus nz; the encoder's
vocabulary size and embedding size from the embedding, its sentence size and directions from the
LSTM. The generator becomes the registered `dfgan` network with `layout: original` (DF-GAN's own
channel widths; the block structure is the same as text2img's), the encoder the conditioner's
`damsm` encoder, which keeps weights and vocabulary in its own state, so the imported model saves
as an i2i model file, exports and fine-tunes.

`DFGANDiscriminator` (registered as `dfgan_original_disc`) is the original NetD + NetC, key for
key, for the `--config dfgan` preset.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i.errors import InputError
from i2i.interfaces import Condition, Discriminator, DOutput
from i2i.nets.foreign import load_torch_file, tensor_state

if TYPE_CHECKING:
    from i2i_text2img.encoders.damsm import DAMSMText
    from i2i_text2img.nets import DFGenerator

WHAT = "DF-GAN folder"
GENERATOR_PATTERNS = ("state_epoch_*.pth", "netG*.pth")
ENCODER_PATTERNS = ("text_encoder*.pth",)
VOCAB_PATTERNS = ("captions_DAMSM.pickle", "captions*.pickle")


class _NotRecognised(Exception):
    """One-line reason a file is not the DF-GAN part it should be."""


# ---- finding and reading the files ----------------------------------------------------------------
def _epoch(path: Path) -> int:
    found = re.findall(r"\d+", path.stem)
    return int(found[-1]) if found else -1


def _find(folder: Path, patterns: tuple[str, ...]) -> Path | None:
    """The newest (highest number in its name) file matching the first pattern that matches,
    in `folder` or one level below it."""
    for pattern in patterns:
        hits = sorted(folder.glob(pattern)) or sorted(folder.glob(f"*/{pattern}"))
        hits = [h for h in hits if h.is_file()]
        if hits:
            return max(hits, key=lambda p: (_epoch(p), p.name))
    return None


def find_files(path: str | Path) -> dict[str, Path]:
    """{"generator", "encoder", "vocabulary"} -> file; InputError naming whatever is missing."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    folder = path if path.is_dir() else path.parent
    found = {
        "generator": path
        if path.is_file() and path.suffix == ".pth" and "text_encoder" not in path.name
        else _find(folder, GENERATOR_PATTERNS),
        "encoder": _find(folder, ENCODER_PATTERNS),
        "vocabulary": _find(folder, VOCAB_PATTERNS),
    }
    names = {
        "generator": "state_epoch_*.pth or netG_*.pth (the generator)",
        "encoder": "text_encoder*.pth (the DAMSM text encoder)",
        "vocabulary": "captions_DAMSM.pickle (the vocabulary)",
    }
    missing = [names[k] for k, v in found.items() if v is None]
    if missing:
        raise InputError(folder, f"{WHAT}: missing {' and '.join(missing)}")
    return found  # type: ignore[return-value]


def read_generator_state(path: Path) -> dict[str, Tensor]:
    """NetG's state dict from a `state_epoch_*.pth` (current code) or a bare `netG_*.pth`."""
    obj = load_torch_file(path, "DF-GAN generator")
    model = obj.get("model") if isinstance(obj, Mapping) else None
    state = tensor_state(model.get("netG")) if isinstance(model, Mapping) else tensor_state(obj)
    if state is None:
        raise InputError(
            path, "not a DF-GAN generator (neither {'model': {'netG': ...}} nor a netG state dict)"
        )
    if "block0.affine0.fc_gamma.linear1.weight" in state:
        raise InputError(path, "a DF-GAN v1 (2020 code, NetG with block0..block6) generator: not supported")
    if "fc.weight" not in state or "GBlocks.0.c1.weight" not in state:
        raise InputError(path, "not a DF-GAN NetG state dict (no 'fc.weight' / 'GBlocks.0.c1.weight')")
    return state


# ---- the generator ---------------------------------------------------------------------------------
_AFFINE = {"fc_gamma.linear1": "gamma.0", "fc_gamma.linear2": "gamma.2",
           "fc_beta.linear1": "beta.0", "fc_beta.linear2": "beta.2"}  # fmt: skip
_BLOCK = {"c1": "conv1", "c2": "conv2", "c_sc": "shortcut"}


def generator_key(key: str) -> str:
    """An original NetG key -> the `dfgan` generator's key (GBlocks.0.fuse1.affine0.fc_gamma.linear1
    .weight -> blocks.0.fuse1.a1.gamma.0.weight)."""
    m = re.fullmatch(
        r"GBlocks\.(\d+)\.(fuse[12])\.affine([01])\.(fc_gamma|fc_beta)\.(linear[12])\.(\w+)", key
    )
    if m:
        block, fuse, affine, side, layer, name = m.groups()
        return f"blocks.{block}.{fuse}.a{int(affine) + 1}.{_AFFINE[f'{side}.{layer}']}.{name}"
    m = re.fullmatch(r"GBlocks\.(\d+)\.(c1|c2|c_sc)\.(\w+)", key)
    if m:
        return f"blocks.{m.group(1)}.{_BLOCK[m.group(2)]}.{m.group(3)}"
    return key  # fc.*, to_rgb.1.*


def infer_generator(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """The `dfgan` generator section that rebuilds this NetG."""
    rows, nz = state["fc.weight"].shape
    if rows % 128:
        raise _NotRecognised(f"fc.weight has {rows} rows, not ngf * 8 * 4 * 4")
    blocks = len({k.split(".")[1] for k in state if k.startswith("GBlocks.")})
    first = state.get("GBlocks.0.fuse1.affine0.fc_gamma.linear1.weight")
    if first is None:
        raise _NotRecognised("no GBlocks.0.fuse1.affine0 (not DF-GAN's DFBLK)")
    channels = state.get("to_rgb.1.weight")
    if channels is None or channels.shape[0] != 3:
        raise _NotRecognised("to_rgb.1 must give 3 channels (RGB)")
    return {
        "name": "dfgan",
        "layout": "original",
        "cond_dim": int(first.shape[1] - nz),
        "noise_dim": int(nz),
        "ngf": int(rows // 128),
        "image_size": int(4 * 2**blocks),
        "word_attention": False,
    }


def build_generator(
    config: Mapping[str, Any], state: Mapping[str, Tensor], where: str | Path = "DF-GAN NetG"
) -> DFGenerator:
    from i2i.nets.foreign import build_for_weights
    from i2i_text2img.nets import DFGenerator

    kwargs = {k: v for k, v in config.items() if k != "name"}
    net = build_for_weights(lambda: DFGenerator(**kwargs), state, where)
    target = net.state_dict()
    converted = {}
    for key, value in state.items():
        new = generator_key(key)
        if new not in target:
            raise _NotRecognised(f"unexpected key {key!r}")
        if tuple(value.shape) != tuple(target[new].shape):
            raise _NotRecognised(
                f"{key!r} has shape {tuple(value.shape)}, expected {tuple(target[new].shape)}"
            )
        converted[new] = value.float()
    missing = sorted(set(target) - set(converted))
    if missing:
        raise _NotRecognised(f"missing weights for {missing[0]!r}")
    net.load_state_dict(converted)
    return net.eval()


# ---- the text encoder -------------------------------------------------------------------------------
def read_encoder_state(path: Path) -> dict[str, Tensor]:
    state = tensor_state(load_torch_file(path, "DAMSM text encoder"))
    if state is None or "encoder.weight" not in state or "rnn.weight_ih_l0" not in state:
        raise InputError(
            path, "not a DAMSM RNN_ENCODER state dict (no 'encoder.weight' / 'rnn.weight_ih_l0')"
        )
    if "rnn.weight_ih_l1" in state:
        raise InputError(
            path, "a DAMSM encoder with 2+ LSTM layers: the original's sentence vector is only defined for 1"
        )
    if "rnn.weight_hr_l0" in state:
        raise InputError(path, "a DAMSM encoder with LSTM projections: not the original RNN_ENCODER")
    return state


def infer_encoder(state: Mapping[str, Tensor]) -> dict[str, Any]:
    """The conditioner's `damsm` section for this RNN_ENCODER."""
    vocab, embedding = state["encoder.weight"].shape
    per_direction = int(state["rnn.weight_hh_l0"].shape[1])
    bidirectional = "rnn.weight_ih_l0_reverse" in state
    if tuple(state["rnn.weight_ih_l0"].shape) != (4 * per_direction, embedding):
        raise _NotRecognised(
            f"rnn.weight_ih_l0 has shape {tuple(state['rnn.weight_ih_l0'].shape)}, but the embedding is "
            f"{embedding} wide and the LSTM {per_direction}"
        )
    return {
        "vocab_size": int(vocab),
        "embedding_dim": int(embedding),
        "hidden": per_direction * (2 if bidirectional else 1),
        "bidirectional": bidirectional,
    }


def encoder_key(key: str) -> str:
    """RNN_ENCODER keys -> DAMSMTextEncoder keys (rnn.weight_ih_l0_reverse -> backward_rnn.weight_ih_l0)."""
    if key == "encoder.weight":
        return "embedding.weight"
    if key.startswith("rnn."):
        name = key[len("rnn.") :]
        if name.endswith("_reverse"):
            return "backward_rnn." + name[: -len("_reverse")]
        return "forward_rnn." + name
    return key


def load_damsm_into(text: DAMSMText, folder: Path) -> None:
    """Fill a DAMSMText from the original files in `folder` (its `source`)."""
    from i2i_text2img.encoders.damsm import read_vocabulary

    files = find_files(folder)
    state = read_encoder_state(files["encoder"])
    words = read_vocabulary(files["vocabulary"])
    target = text.encoder.state_dict()
    converted = {encoder_key(k): v.float() for k, v in state.items()}
    if set(converted) != set(target):
        odd = sorted(set(converted) ^ set(target))[0]
        raise InputError(files["encoder"], f"DAMSM encoder does not match the model's config (key {odd!r})")
    for key, value in converted.items():
        if value.shape != target[key].shape:
            raise InputError(
                files["encoder"],
                f"{key!r} has shape {tuple(value.shape)}, the config wants {tuple(target[key].shape)}",
            )
    if len(words) != converted["embedding.weight"].shape[0]:
        raise InputError(
            files["vocabulary"],
            f"{len(words)} words, but the text encoder {files['encoder'].name} has "
            f"{converted['embedding.weight'].shape[0]} embeddings (not its vocabulary?)",
        )
    text.encoder.load_state_dict(converted)
    text.set_vocabulary(words)


# ---- the importer (Modality.importers) ----------------------------------------------------------------
def import_dfgan(path: str | Path) -> tuple[dict[str, Any], DFGenerator]:
    """A DF-GAN folder (or a file in it) -> (config override, `dfgan` generator with its weights).

    The DAMSM encoder and vocabulary are read when the conditioner is first used (`damsm.source`),
    after being checked here so that a bad folder fails in one line before anything runs."""
    files = find_files(path)
    state = read_generator_state(files["generator"])
    try:
        generator_config = infer_generator(state)
        generator = build_generator(generator_config, state, files["generator"])
    except _NotRecognised as exc:
        raise InputError(files["generator"], f"not a recognised DF-GAN NetG: {exc}") from None
    encoder_state = read_encoder_state(files["encoder"])
    try:
        damsm = infer_encoder(encoder_state)
    except _NotRecognised as exc:
        raise InputError(files["encoder"], f"not a recognised DAMSM RNN_ENCODER: {exc}") from None
    if damsm["hidden"] != generator_config["cond_dim"]:
        raise InputError(
            files["encoder"],
            f"sentence size {damsm['hidden']} does not match the generator's cond_dim "
            f"{generator_config['cond_dim']} ({files['generator'].name})",
        )
    folder = files["encoder"].parent if files["encoder"].parent == files["vocabulary"].parent else None
    source = folder or (Path(path) if Path(path).is_dir() else Path(path).parent)
    damsm["source"] = str(source.resolve())
    size = generator_config["image_size"]
    override = {
        "model": {
            "generator": generator_config,
            "conditioner": {"encoder": "damsm", "damsm": damsm},
            "discriminator": {
                "name": "dfgan_original_disc",
                "ndf": generator_config["ngf"],
                "cond_dim": generator_config["cond_dim"],
                "image_size": size,
            },
        },
        "data": {"image_size": size},
    }
    return override, generator


# ---- the original discriminator (NetD + NetC) ---------------------------------------------------------
def _d_widths(ndf: int, image_size: int) -> list[int]:
    """NetD's widths from the image down: nf * min(2**k, 8), k = 0 .. log2(size) - 2."""
    levels = int(image_size).bit_length() - 1  # log2
    if image_size < 8 or 2**levels != image_size:
        raise ValueError(f"image_size must be a power of two >= 8, not {image_size}")
    return [ndf * min(2**k, 8) for k in range(levels - 1)]


class _DBlock(nn.Module):
    """DF-GAN's D_Block: stride-2 residual (bias-free convs) through a gain that starts at 0, plus
    an average-pooled shortcut. `conv_s` exists even when unused (fin == fout), as in the original,
    so the original's netD state dict loads as is."""

    def __init__(self, fin: int, fout: int) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        self.conv_r = nn.Sequential(
            nn.Conv2d(fin, fout, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
            nn.Conv2d(fout, fout, 3, 1, 1, bias=False), nn.LeakyReLU(0.2),
        )  # fmt: skip
        self.conv_s = nn.Conv2d(fin, fout, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        res = self.conv_r(x)
        if self.learned_shortcut:
            x = self.conv_s(x)
        return F.avg_pool2d(x, 2) + self.gamma * res


class DFGANDiscriminator(Discriminator):
    """(image, Condition.vector) -> one 1x1 logit per image: DF-GAN's NetD (image -> 4x4 features,
    `conv_img`, `DBlocks`) and NetC (`joint_conv` on the features with the tiled sentence), with the
    original's key names, so a `state_epoch` file's netD and netC state dicts load into it as they are."""

    def __init__(self, cond_dim: int = 256, ndf: int = 32, image_size: int = 256) -> None:
        super().__init__()
        widths = _d_widths(ndf, image_size)
        self.cond_dim = int(cond_dim)
        self.conv_img = nn.Conv2d(3, ndf, 3, 1, 1)
        self.DBlocks = nn.ModuleList(_DBlock(a, b) for a, b in itertools.pairwise(widths))
        self.joint_conv = nn.Sequential(
            nn.Conv2d(widths[-1] + cond_dim, ndf * 2, 3, 1, 1, bias=False), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False),
        )  # fmt: skip

    def forward(self, image: Tensor, cond: Condition) -> list[DOutput]:
        if cond.vector is None:
            raise ValueError("DFGANDiscriminator needs a sentence vector (Condition.vector)")
        x = self.conv_img(image)
        features = []
        for block in self.DBlocks:
            x = block(x)
            features.append(x)
        y = cond.vector.to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return [DOutput(self.joint_conv(torch.cat([x, y], dim=1)).flatten(1), features)]


__all__ = [
    "DFGANDiscriminator",
    "build_generator",
    "find_files",
    "generator_key",
    "import_dfgan",
    "infer_encoder",
    "infer_generator",
    "load_damsm_into",
    "read_encoder_state",
    "read_generator_state",
]
