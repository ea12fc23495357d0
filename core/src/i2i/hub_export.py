"""`i2i export --format hub`: a model as a folder the Hugging Face Hub understands.

    OUT/model.safetensors   the i2i model file, as `i2i-run --checkpoint` reads it (config inside)
    OUT/config.json         that config, with the i2i and plugin versions that wrote it
    OUT/README.md           the model card: YAML front matter (library_name, pipeline_tag, tags,
                            license, datasets), how to run it, sample images, evaluation numbers
    OUT/samples.png         a sample grid from the plugin's demo data (or --data), seed 0

The card's numbers are those of `i2i eval --json` on `data` when it is given (the same evaluator,
the same header with its provenance); without data the card says the model was not evaluated here,
and `card` (e.g. a shipped model's docs/models/*.md) adds a card body written by hand. Nothing is
written at OUT unless every file was made: they are staged beside it and moved in at the end.

The task (`pipeline_tag`) is the modality's own (`Modality.pipeline_tag`), else derived from its
inputs; the core names no plugin.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from i2i import __version__
from i2i.engine import checkpoint as ckpt
from i2i.errors import I2IError, InputError
from i2i.hub import MODEL_FILE
from i2i.keys import DOMAIN_A, INPUT, TARGET
from i2i.modality import Modality, resolve_object
from i2i.pipeline import Pipeline, load_pipeline

NOTEBOOKS = "docs/notebooks.md"  # the i2i repository's guide to `pipe(...)`
SAMPLES = 4


@dataclass
class HubExport:
    """What `export_hub` wrote."""

    folder: Path
    files: list[Path]
    pipeline_tag: str
    evaluated: bool
    metrics: dict[str, Any] = field(default_factory=dict)


def pipeline_tag(modality: Modality) -> str:
    """The Hub task: the modality's `pipeline_tag`, else text-to-image when its inputs are only
    text (typed values, text files), image-to-image otherwise."""
    if modality.pipeline_tag:
        return modality.pipeline_tag
    visual = [s for s in modality.inputs if s.kind not in ("text", "file")]
    return "image-to-image" if visual else "text-to-image"


def plugin_versions(modality: Modality) -> dict[str, str]:
    """The distribution and version of the plugin that registered `modality`."""
    from i2i.plugins import get_manager

    manager = get_manager()
    try:
        dist = manager.distribution_of(modality.name)
    except KeyError:
        return {"plugin_distribution": "(in-process)", "plugin_version": "(unknown)"}
    version = next((i.version for i in manager.plugins() if i.distribution == dist), "(unknown)")
    return {"plugin_distribution": dist, "plugin_version": version}


def _model_file(pipe: Pipeline, dest: Path) -> dict[str, str]:
    """Copy the pipeline's i2i model file to `dest` (or write one for an imported checkpoint);
    returns its metadata."""
    src = Path(pipe.source)
    if src.suffix == ".safetensors" and src.is_file():
        meta = ckpt.read_metadata(src)
        if meta.get("format") == ckpt.MODEL_FORMAT:
            shutil.copyfile(src, dest)
            return meta
    modules = {"generator": pipe.generator, "conditioner": pipe.conditioner}
    ckpt.save_model(dest, pipe.config.to_json(), modules, extra={"plugin": pipe.modality.name})
    return ckpt.read_metadata(dest)


def evaluate(
    pipe: Pipeline, data: str | Path, split: str = "test", limit: int | None = None
) -> dict[str, Any]:
    """What `i2i eval --json` prints for this pipeline on `data`."""
    from i2i.metrics.result import conform

    if not pipe.modality.evaluator:
        raise I2IError(f"plugin {pipe.modality.name} has no evaluator: leave out --data")
    root = Path(data)
    if not root.is_dir():
        raise InputError(root, "no such data directory")
    raw = resolve_object(pipe.modality.evaluator)(pipe, root, split=split, limit=limit)
    return conform(pipe, root, split, raw)


def _samples(pipe: Pipeline, root: Path, n: int) -> list[dict[str, Any]]:
    make = resolve_object(pipe.modality.dataset)
    for split in ("test", "val", "train"):
        try:
            dataset = make(root, pipe.config.data, split, False)
        except (I2IError, FileNotFoundError, ValueError):
            continue
        if len(dataset):
            return [_one_way(dataset[i]) for i in range(min(n, len(dataset)))]
    return []


def _one_way(sample: dict[str, Any]) -> dict[str, Any]:
    """A two-domain sample (the cycle recipe's {a, b}, unrelated images) as the model's input: its
    domain-A image, translated the default way."""
    if INPUT not in sample and TARGET not in sample and DOMAIN_A in sample:
        return {INPUT: sample[DOMAIN_A]}
    return sample


def sample_grid(pipe: Pipeline, dest: Path, data: str | Path | None = None, n: int = SAMPLES) -> str:
    """Write a grid of `n` samples (input | output | real image, where the data has them) made
    with seed 0 from `data` or the plugin's demo data; returns a line that says what it shows."""
    from i2i.data.images import make_grid_image

    with tempfile.TemporaryDirectory(prefix="i2i-card-") as tmp:
        if data is None:
            if not pipe.modality.demo_data:
                raise I2IError(f"plugin {pipe.modality.name} has no demo data: give --data for the samples")
            from i2i.data.demo import write_demo

            try:
                write_demo(pipe.modality, tmp, n=2 * n, seed=0)
            except I2IError:  # a writer that needs more samples than that: its own count
                shutil.rmtree(tmp, ignore_errors=True)
                Path(tmp).mkdir()
                write_demo(pipe.modality, tmp, seed=0)
            root, where = (
                Path(tmp),
                f"the {pipe.modality.name} demo data (`i2i data demo {pipe.modality.name} --seed 0`)",
            )
        else:
            root, where = Path(data), f"`{data}`"
        samples = _samples(pipe, root, n)
    if not samples:
        raise I2IError(f"plugin {pipe.modality.name}: no samples in {where} for the model card")
    batch = torch.utils.data.default_collate(samples)
    with torch.no_grad():
        out = pipe.generate(batch, 1, seed=0)
    columns, names = [], []
    for key, label in ((INPUT, "input"), (None, "output"), (TARGET, "real image")):
        t = out if key is None else batch.get(key)
        if isinstance(t, torch.Tensor) and t.dim() == 4 and t.shape[1] in (1, 3) and t.is_floating_point():
            columns.append(t)
            names.append(label)
    make_grid_image(columns).save(dest)
    return f"{len(samples)} samples from {where}, seed 0; columns: {' | '.join(names)}"


def _usage(modality: Modality, repo: str) -> str:
    first = modality.inputs[0]
    options = " ".join(
        f"{s.option} {'TEXT' if s.kind == 'text' else 'FILE'}"
        for s in modality.inputs
        if s.required or s is first
    )
    arg = '"a red bird with a short beak"' if first.kind == "text" else f'"{first.name}.png"'
    return (
        "```bash\n"
        f"pip install i2i-core {plugin_versions(modality)['plugin_distribution']} huggingface_hub\n"
        f"i2i-run --checkpoint hf://{repo} {options} --out out.png\n"
        "```\n\n"
        "```python\n"
        "import i2i\n\n"
        f'pipe = i2i.load_pipeline("hf://{repo}")\n'
        f"images = pipe({arg}, seed=0)  # a list of PIL images\n"
        "```\n\n"
        f"More in the notebook guide, `{NOTEBOOKS}` of the i2i repository.\n"
    )


def _metrics_table(result: Mapping[str, Any]) -> str:
    from i2i.metrics.result import flat

    rows = [f"| `{k}` | {v} |" for k, v in flat(result.get("metrics", {})).items()]
    prov = result.get("provenance", {})
    where = ", ".join(f"{k} {v}" for k, v in prov.items())
    return (
        f"`i2i eval --checkpoint MODEL --data {result.get('data')} --split {result.get('split')} --json` "
        f"on {result.get('n')} samples.\n\n| metric | value |\n| --- | --- |\n"
        + "\n".join(rows)
        + (f"\n\n{result['notes']}" if result.get("notes") else "")
        + f"\n\nProvenance: {where}.\n"
    )


def model_card(
    pipe: Pipeline,
    meta: Mapping[str, str],
    *,
    repo: str,
    license: str,
    datasets: Sequence[str],
    tags: Sequence[str],
    result: Mapping[str, Any] | None,
    samples: str | None,
    body: str = "",
) -> str:
    """The README.md of the Hub folder: front matter, then how to use it, samples, numbers."""
    modality = pipe.modality
    front: dict[str, Any] = {
        "library_name": "i2i",
        "pipeline_tag": pipeline_tag(modality),
        "tags": list(dict.fromkeys(["i2i", f"i2i-{modality.name}", "gan", *tags])),
        "license": license,
    }
    if datasets:
        front["datasets"] = list(datasets)
    if result is not None:
        front["model-index"] = [
            {
                "name": repo.split("/")[-1],
                "results": [
                    {
                        "task": {"type": front["pipeline_tag"]},
                        "dataset": {
                            "name": Path(str(result.get("data"))).name,
                            "type": datasets[0] if datasets else Path(str(result.get("data"))).name,
                            "split": str(result.get("split")),
                        },
                        "metrics": [
                            {"type": k, "value": v} for k, v in _numbers(result.get("metrics", {})).items()
                        ],
                    }
                ],
            }
        ]
    versions = plugin_versions(modality)
    parts = [
        "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n",
        f"# {repo.split('/')[-1]}: an i2i {modality.name} model\n",
        f"{modality.summary}. Trained with i2i "
        f"(i2i {meta.get('i2i_version', __version__)}, {versions['plugin_distribution']} "
        f"{versions['plugin_version']}, {meta.get('step', '?')} steps); the config is in `config.json` "
        "and inside `model.safetensors`.\n",
        "## Use\n",
        _usage(modality, repo),
        "## Samples\n",
        f"![samples](samples.png)\n\n{samples}.\n" if samples else "No sample images.\n",
        "## Evaluation\n",
        _metrics_table(result)
        if result is not None
        else "Not evaluated at export time: `i2i eval --checkpoint hf://"
        f"{repo} --data DIR --json` scores it on your data.\n",
    ]
    if body.strip():
        parts += ["## Model card\n", body.strip() + "\n"]
    return "\n".join(parts)


def _numbers(metrics: Mapping[str, Any]) -> dict[str, float]:
    from i2i.metrics.result import flat

    return {
        k: float(v)
        for k, v in flat(metrics).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def export_hub(
    source: str | Path,
    out: str | Path,
    *,
    plugin: str | None = None,
    data: str | Path | None = None,
    repo: str | None = None,
    license: str = "mit",
    datasets: Sequence[str] = (),
    tags: Sequence[str] = (),
    card: str | Path | None = None,
    samples: bool = True,
) -> HubExport:
    """Write the Hub folder of a model (what `load_pipeline` takes) to `out`; see the module
    docstring. `data` scores the model (`i2i eval`) and gives the samples; `repo` (org/name) is
    the id the card's examples use; `card` is a Markdown file whose text ends the card."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "--out for --format hub is a folder, and this is a file")
    if out.suffix.lower() in (".onnx", ".safetensors", ".md", ".json"):
        raise InputError(out, "--out for --format hub is a folder (not a file name)")
    body = ""
    if card is not None:
        try:
            body = Path(card).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(card, f"cannot read the card ({type(exc).__name__})") from None
    pipe = load_pipeline(source, plugin=plugin, device="cpu")
    assert isinstance(pipe, Pipeline)
    name = repo or f"your-name/i2i-{pipe.modality.name}"
    result = evaluate(pipe, data) if data is not None else None
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        meta = _model_file(pipe, staging / MODEL_FILE)
        about = sample_grid(pipe, staging / "samples.png", data) if samples else None
        config = {
            "library_name": "i2i",
            "i2i_version": meta.get("i2i_version", __version__),
            "plugin": pipe.modality.name,
            **plugin_versions(pipe.modality),
            "format": meta.get("format"),
            "step": int(meta["step"]) if str(meta.get("step", "")).isdigit() else None,
            "config": json.loads(pipe.config.to_json()),
        }
        (staging / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        text = model_card(
            pipe,
            meta,
            repo=name,
            license=license,
            datasets=datasets,
            tags=tags,
            result=result,
            samples=about,
            body=body,
        )
        (staging / "README.md").write_text(text, encoding="utf-8")
        out.mkdir(parents=True, exist_ok=True)
        files = []
        for item in sorted(staging.iterdir()):
            item.replace(out / item.name)
            files.append(out / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    metrics = _numbers(result.get("metrics", {})) if result else {}
    return HubExport(out, files, pipeline_tag(pipe.modality), result is not None, metrics)
