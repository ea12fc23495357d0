"""Rebuild the real-photo corpus of the shipped img2img models (colorize, sr-x4).

Sources are photographs that ship in packages, never downloads:
- pip: scikit-image and scikit-learn sample photos (the fixed split of `i2i_img2img.photos`),
  matplotlib's `grace_hopper.jpg`;
- apt (Debian 12): `lomiri-wallpapers-16.04`, `lomiri-wallpapers-20.04`, `mate-backgrounds`,
  `plasma-workspace-wallpapers` (the list is `photo_corpus_apt.txt` beside this script). Only the
  files below, checked by eye to be photographs (not renders or drawings), are used.
OpenCV's sample images and videos are deliberately NOT used: they are the independent check of
the shipped models.

The held-out split is by source file (`HELD_OUT`), so no crop of a held-out photo is trained on.
Every photo is resized (Lanczos, never enlarged) so its long side is at most `--max-side`; a
training photo is then cut into non-overlapping `--tile` squares (fast to decode at training time),
a held-out photo is kept whole. `manifest.json` records, per written file, the source path and
package, author, licence (from `/usr/share/doc/<pkg>/copyright` or the wallpaper's
`metadata.json`), whether the photo is gray, and its split.

Usage: python plugins/img2img/scripts/make_photo_corpus.py OUT [--color-only] [--no-apt]
  --color-only  skip gray photos (the colorization corpus)
  --no-apt      only the pip photos (what the test suite may rely on)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

BG = "/usr/share/backgrounds"
LOMIRI_COPYRIGHT = "/usr/share/doc/lomiri-wallpapers-16.04/copyright"
MATE_COPYRIGHT = "/usr/share/doc/mate-backgrounds/copyright"


@dataclass(frozen=True)
class Source:
    """One photograph: where it ships and under which terms."""

    name: str
    package: str
    path: str
    author: str
    licence: str
    licence_file: str


def _lomiri(file: str, author: str, licence: str, release: str = "16.04") -> Source:
    return Source(
        file.rsplit(".", 1)[0], f"lomiri-wallpapers-{release}", f"{BG}/{file}", author, licence,
        f"/usr/share/doc/lomiri-wallpapers-{release}/copyright",
    )  # fmt: skip


def _mate(file: str, author: str) -> Source:
    return Source(
        file.rsplit(".", 1)[0], "mate-backgrounds", f"{BG}/mate/nature/{file}", author, "GPL-2+",
        MATE_COPYRIGHT,
    )  # fmt: skip


def _plasma(theme: str) -> Source:
    """A KDE wallpaper: author and licence from its metadata.json (the copyright file says GPL-2+
    for `*`; the per-wallpaper metadata is more specific)."""
    root = Path("/usr/share/wallpapers") / theme
    author, licence = "KDE Visual Design Group", "GPL-2+"
    meta = root / "metadata.json"
    if meta.is_file():
        plugin = json.loads(meta.read_text(encoding="utf-8")).get("KPlugin", {})
        authors = plugin.get("Authors") or [{}]
        author = authors[0].get("Name", author)
        licence = plugin.get("License", licence)
    images = root / "contents" / "images"
    largest = max(images.glob("*.jpg"), key=lambda p: _area(p.stem), default=images / "missing.jpg")
    return Source(theme, "plasma-workspace-wallpapers", str(largest), author, licence, str(meta))


def _area(stem: str) -> int:
    try:
        w, h = stem.split("x")
        return int(w) * int(h)
    except ValueError:
        return 0


PLASMA_PHOTOS = (
    "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey",
    "Kite", "OneStandsOut", "Path", "summer_1am",
)  # fmt: skip


def apt_sources() -> list[Source]:
    """The wallpaper photographs (renders, drawings and abstract art of these packages left out)."""
    return [
        _lomiri("Bridge_by_Sander_Klootwijk.jpg", "Sander Klootwijk", "CC-BY-SA-4.0"),
        _lomiri("Dragonfly_by_Bolly.jpg", "Bolly", "CC-BY-SA-4.0"),
        _lomiri("Picture_0B_by_freespace.jpg", "Trevor 'Freespace'", "CC-BY-4.0"),
        _lomiri("Picture_1A_by_freespace.jpg", "Trevor 'Freespace'", "CC-BY-4.0"),
        _lomiri("Wine_by_Jakkub_Mede.jpg", "Jakub Mede", "CC-BY-4.0"),
        _lomiri("aitzgorri_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
        _lomiri("free_by_Peter_Nerlich.jpg", "Peter Nerlich", "CC-BY-SA-4.0"),
        _lomiri("friends_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
        _lomiri("greentock_by_Peter_Nerlich.jpg", "Peter Nerlich", "CC-BY-SA-4.0"),
        _lomiri("life_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
        _lomiri("picosdeeuropa_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
        _lomiri("seeding_by_Clements_Engelhardt.jpg", "Clemens Engelhardt", "CC0-1.0"),
        _lomiri("sunset_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
        _lomiri("Kleiber_by_Lukas_Baubkus.jpg", "Lukas Baubkus", "CC-BY-SA-3.0", "20.04"),
        _mate("Aqua.jpg", "Charles Barbin"),
        _mate("Blinds.jpg", "Lennart Poettering, Andrea Cimitan"),
        _mate("Dune.jpg", "Marco Cogoni, Hylke Bons"),
        _mate("FreshFlower.jpg", "Jens Ansorg"),
        _mate("Garden.jpg", "Charles Barbin"),
        _mate("GreenMeadow.jpg", "Timothy Schellhase, Lapo Calamandrei"),
        _mate("LadyBird.jpg", "Charles Barbin"),
        _mate("RainDrops.jpg", "blackcombwhistler07"),
        _mate("Storm.jpg", "Sergey Nazarov"),
        _mate("TwoWings.jpg", "Charles Barbin, Hylke Bons"),
        _mate("Wood.jpg", "Jean-Francois Fortin Tam"),
        _mate("YellowFlower.jpg", "Charles Barbin"),
        *(_plasma(theme) for theme in PLASMA_PHOTOS),
    ]


# Held out by source file: never cut into training tiles. The pip three are `photos.TEST` (the
# held-out photos of every shipped img2img model card); the wallpapers add other scenes.
HELD_OUT = frozenset(
    {"coffee", "chelsea", "flower", "Kleiber_by_Lukas_Baubkus", "EveningGlow", "LadyBird",
     "picosdeeuropa_by_Aitzol_Berasategi", "Path"}
)  # fmt: skip

# Licences as each photo's docstring in skimage.data states it (sklearn: its images/README.txt).
PIP_LICENCES = {
    "astronaut": "public domain (NASA)",
    "rocket": "public domain (SpaceX)",
    "hubble_deep_field": "public domain (NASA)",
    "immunohistochemistry": "no known copyright restrictions",
    "retina": "CC0-1.0",
    "camera": "CC0-1.0 (Lav Varshney)",
    "coins": "no known copyright restrictions",
    "moon": "scikit-image sample data (no statement in its docstring; package BSD-3-Clause)",
    "page": "scikit-image sample data (no statement in its docstring; package BSD-3-Clause)",
    "text": "public domain",
    "clock": "public domain (Stefan van der Walt)",
    "cell": "CC0-1.0",
    "grass": "CC0-1.0 (CC0Textures)",
    "gravel": "CC0-1.0 (CC0Textures)",
    "brick": "CC0-1.0 (CC0Textures)",
    "coffee": "CC0-1.0 (Rachel Michetti)",
    "chelsea": "CC0-1.0 (Stefan van der Walt)",
    "china": "CC-BY-2.0 (danielbuechele, Flickr)",
    "flower": "CC-BY-2.0 (vultilion, Flickr)",
}


def pip_photos() -> list[tuple[Source, np.ndarray]]:
    """The scikit-image / scikit-learn photos of `i2i_img2img.photos` and matplotlib's Grace Hopper
    (a US Navy photograph, public domain)."""
    from i2i_img2img.photos import TEST, TRAIN, load_photo

    out = []
    for name in (*TRAIN, *TEST):
        pkg = "scikit-learn" if name in ("china", "flower") else "scikit-image"
        readme = (
            "sklearn/datasets/images/README.txt" if pkg == "scikit-learn" else f"skimage.data.{name}.__doc__"
        )
        source = Source(name, pkg, f"{pkg}:{name}", "", PIP_LICENCES[name], readme)
        out.append((source, load_photo(name)))
    try:
        import matplotlib.cbook

        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
            hopper = np.asarray(Image.open(f).convert("RGB"))
        src = Source(
            "grace_hopper", "matplotlib", "matplotlib:mpl-data/sample_data/grace_hopper.jpg",
            "US Navy", "public domain (US federal government work)", "",
        )  # fmt: skip
        out.append((src, hopper))
    except ImportError:
        print("matplotlib not installed: grace_hopper left out", file=sys.stderr)
    return out


def is_gray(image: np.ndarray) -> bool:
    """Gray when no pixel's channels differ by more than a few levels (JPEG leaves a little chroma)."""
    rgb = image.astype(np.int16)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    return float(np.percentile(spread, 99)) <= 6.0


def fit(image: Image.Image, max_side: int) -> Image.Image:
    """Shrink (never enlarge) so the long side is at most max_side; Lanczos also removes most JPEG
    noise of the large wallpapers, so the super-resolution targets are clean."""
    w, h = image.size
    factor = max_side / max(w, h)
    if factor >= 1.0:
        return image
    return image.resize((round(w * factor), round(h * factor)), Image.Resampling.LANCZOS)


def tiles(image: Image.Image, size: int) -> list[tuple[str, Image.Image]]:
    """Non-overlapping size x size squares on a grid centred in the image (partial ones dropped;
    a photo smaller than one tile gives none)."""
    w, h = image.size
    nx, ny = w // size, h // size
    x0, y0 = (w - nx * size) // 2, (h - ny * size) // 2
    return [
        (f"r{j}c{i}", image.crop((x0 + i * size, y0 + j * size, x0 + (i + 1) * size, y0 + (j + 1) * size)))
        for j in range(ny)
        for i in range(nx)
    ]


def write_corpus(out: Path, max_side: int, tile: int, color_only: bool, use_apt: bool) -> dict:
    photos = pip_photos()
    if use_apt:
        missing = [s.path for s in apt_sources() if not Path(s.path).is_file()]
        if missing:
            raise SystemExit(
                f"{missing[0]}: missing ({len(missing)} files); install the packages in "
                "plugins/img2img/scripts/photo_corpus_apt.txt or pass --no-apt"
            )
        photos += [(s, np.asarray(Image.open(s.path).convert("RGB"))) for s in apt_sources()]
    for part in ("train", "test"):
        (out / part).mkdir(parents=True, exist_ok=True)
    files: dict[str, dict] = {}
    for source, array in photos:
        gray = is_gray(array)
        if color_only and gray:
            continue
        split = "test" if source.name in HELD_OUT else "train"
        image = fit(Image.fromarray(array), max_side)
        record = {**asdict(source), "gray": gray, "split": split, "size": list(image.size)}
        if split == "test":
            pieces = [("", image)]
        else:
            pieces = tiles(image, tile) or [("", image)]
        for suffix, piece in pieces:
            stem = f"{source.name}__{suffix}" if suffix else source.name
            piece.save(out / split / f"{stem}.png")
            files[f"{split}/{stem}.png"] = record
    manifest = {
        "max_side": max_side,
        "tile": tile,
        "color_only": color_only,
        "held_out": sorted(HELD_OUT),
        "photos": len({r["name"] for r in files.values()}),
        "files": files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--max-side", type=int, default=1024)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--color-only", action="store_true")
    parser.add_argument("--no-apt", action="store_true")
    args = parser.parse_args(argv)
    manifest = write_corpus(args.out, args.max_side, args.tile, args.color_only, not args.no_apt)
    counts = {p: sum(1 for k in manifest["files"] if k.startswith(p)) for p in ("train/", "test/")}
    print(
        f"{args.out}: {manifest['photos']} photos, {counts['train/']} training tiles, {counts['test/']} held-out photos"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
