"""`i2i serve`: one local web page (Gradio) with a tab per installed plugin or per model file.

The page knows no plugin: each tab's widgets are made from its modality's `InputSpec`s, and a
request goes through the same `load_pipeline` + `run_files` as `i2i-run` (uploads are written to a
temporary folder, the model runs on those files, the outputs are read back), so every check and
every one-line error is the command line's. An `I2IError` becomes `gr.Error` with that line,
never a traceback. Gradio is imported only here, and only when the page is built, so `i2i plugins`
and the other commands never import it (`pip install "./core[ui]"` installs it).

Privacy defaults: the server listens on 127.0.0.1, makes no share link, and Gradio's analytics
are off (`GRADIO_ANALYTICS_ENABLED=False` unless the user set it, `analytics_enabled=False`).
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from i2i.errors import I2IError
from i2i.modality import InputSpec, Modality
from i2i.plugins import PluginError, get_manager

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
MAX_SAMPLES = 16  # draws per request: the page shows them all at once
VIDEO_TYPES = [".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif"]
IMAGE_TYPES = ["image"]
FILE_HEIGHT = 110  # pixels of a file upload box: a row of the form, not a screenful


@dataclass(frozen=True)
class Tab:
    """One tab of the page: a modality and what to run it with (a model file or run directory,
    or None for the plugin's shipped models, `models`, the default first)."""

    title: str
    modality: Modality
    checkpoint: str | None = None
    models: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The tab's HTML id prefix: its title in lower case, other characters as "-"."""
        return "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")

    @property
    def video(self) -> bool:
        """Whether a video may come in (and so go out)."""
        return any(s.video for s in self.modality.inputs)


def tabs_for(checkpoints: Sequence[str] = ()) -> list[Tab]:
    """A tab per installed modality, or per checkpoint given (a model file, run directory or
    `PLUGIN:MODEL`), its plugin read from the file's metadata as `i2i-run --checkpoint` does."""
    from i2i.shipped import shipped_models, split_spec

    manager = get_manager()
    modalities = manager.modalities()
    if not checkpoints:
        tabs = []
        for name in sorted(modalities):
            mod = modalities[name]
            installed = [m for m in shipped_models(mod) if m.installed]
            names = sorted((m.name for m in installed), key=lambda n: n != mod.default_model)
            tabs.append(Tab(name, mod, None, tuple(names)))
        return tabs
    tabs = []
    for source in checkpoints:
        spec = split_spec(source, modalities)
        if spec is not None:
            plugin, model = spec
            tabs.append(
                Tab(source, modalities[plugin], None, (model or modalities[plugin].default_model or "",))
            )
            continue
        tabs.append(
            Tab(
                f"{_plugin_of(source)}: {Path(source).name}", manager.get_modality(_plugin_of(source)), source
            )
        )
    return tabs


def _plugin_of(checkpoint: str) -> str:
    from i2i.engine.checkpoint import MODEL_FORMAT, read_metadata
    from i2i.errors import InputError

    path = Path(checkpoint)
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.is_file():
        raise InputError(
            checkpoint, "no such checkpoint file (give an i2i model file, a run directory or PLUGIN:MODEL)"
        )
    meta = read_metadata(path) if path.suffix == ".safetensors" else {}
    if meta.get("format") != MODEL_FORMAT or not meta.get("plugin"):
        raise InputError(
            path, "not an i2i model file (i2i serve takes model files, run directories, PLUGIN:MODEL)"
        )
    return str(meta["plugin"])


# ---- model cards ----------------------------------------------------------------------------------
def model_card(tab: Tab, model: str | None = None) -> str:
    """Markdown beside the tab: the model's card (a `.md` beside the model file, or the plugin's
    `docs/models/<plugin>-<model>.md` found above its package), else what the file's metadata says."""
    path = _model_path(tab, model)
    card = _find_card(tab.modality, model or (tab.models[0] if tab.models else None), path)
    if card is not None:
        return _card_images(card.read_text(encoding="utf-8", errors="replace"), card.parent)
    head = f"### {tab.modality.name}\n\n{tab.modality.summary}\n\n"
    if path is None or not path.is_file():
        return head + "No model installed for this plugin: start `i2i serve --checkpoint MODEL`."
    from i2i.engine.checkpoint import read_metadata

    meta = read_metadata(path)
    try:
        config = json.dumps(json.loads(meta.get("config", "{}")), indent=1)
    except ValueError:
        config = "(unreadable)"
    rows = "".join(f"| {k} | {str(v)[:80]} |\n" for k, v in sorted(meta.items()) if k != "config")
    return head + f"`{path.name}`\n\n| key | value |\n| --- | --- |\n{rows}\n```json\n{config[:4000]}\n```\n"


_IMAGE_LINK = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)(\))")


def _card_images(text: str, folder: Path) -> str:
    """A card's images, linked relative to the card, as the page's own file URLs (the folder is in
    `card_folders`, which the server is allowed to send); other links are left as they are."""

    def link(match: re.Match[str]) -> str:
        target = match.group(2)
        path = (folder / target).resolve()
        if "://" in target or not path.is_file():
            return match.group(0)
        return f"{match.group(1)}/gradio_api/file={path}{match.group(3)}"

    return _IMAGE_LINK.sub(link, text)


def card_folders(tabs: Sequence[Tab]) -> list[str]:
    """The folders of the tabs' model cards: the only files besides outputs that the page serves."""
    found = set()
    for tab in tabs:
        for model in tab.models or (None,):
            card = _find_card(
                tab.modality, model or (tab.models[0] if tab.models else None), _model_path(tab, model)
            )
            if card is not None:
                found.add(str(card.parent.resolve()))
    return sorted(found)


def _model_path(tab: Tab, model: str | None) -> Path | None:
    if tab.checkpoint is not None:
        path = Path(tab.checkpoint)
        return path / "model.safetensors" if path.is_dir() else path
    from i2i.shipped import shipped_models

    name = model or (tab.models[0] if tab.models else tab.modality.default_model)
    found = next((m for m in shipped_models(tab.modality) if m.name == name), None)
    return None if found is None else found.path


def _find_card(modality: Modality, model: str | None, path: Path | None) -> Path | None:
    if path is not None and path.with_suffix(".md").is_file():
        return path.with_suffix(".md")
    if path is None or model is None:
        return None
    names = [f"{modality.name}-{model}.md"]
    others = {f"{modality.name}-{m}.md" for m in modality.models if m != model}
    for parent in list(path.resolve().parents)[:6]:
        folder = parent / "docs" / "models"
        if not folder.is_dir():
            continue
        for name in names:
            if (folder / name).is_file():
                return folder / name
        if model == modality.default_model:  # `<plugin>-<subject>.md`: the card of its one model
            found = [
                p
                for p in sorted(folder.glob(f"{modality.name}-*.md"))
                if p.name not in others and not p.stem.endswith("-samples")
            ]
            if len(found) == 1:
                return found[0]
        return None
    return None


# ---- one request ----------------------------------------------------------------------------------
@dataclass
class Output:
    """What one request made: images (PIL), or the path of the video made from a video input."""

    images: list[Any] = field(default_factory=list)
    video: Path | None = None


class Runner:
    """Runs one tab's model on uploaded values through `run_files`; pipelines are loaded on first
    use and kept (one per shipped model), so a second request does not load the model again."""

    def __init__(self, tab: Tab, device: str = "auto", outputs: Path | None = None) -> None:
        self.tab = tab
        self.device = device
        self.outputs = outputs or Path(tempfile.mkdtemp(prefix="i2i-serve-out-"))
        self._pipes: dict[str | None, Any] = {}
        self._lock = threading.Lock()

    def pipeline(self, model: str | None = None) -> Any:
        from i2i.pipeline import load_pipeline

        tab = self.tab
        key = model or (tab.models[0] if tab.models else None)
        with self._lock:
            if key not in self._pipes:
                source = tab.checkpoint or tab.modality.name
                chosen = None if tab.checkpoint else key
                self._pipes[key] = load_pipeline(
                    source, plugin=tab.modality.name, device=self.device, model=chosen
                )
            return self._pipes[key]

    def __call__(
        self,
        values: Mapping[str, Any],
        *,
        model: str | None = None,
        seed: int | None = None,
        num_samples: int = 1,
        truncation: float | None = None,
        progress: Callable[..., Any] | None = None,
    ) -> Output:
        """Values by input name (paths, PIL images, arrays, text) -> the outputs; I2IError (one
        line, naming the uploaded file by its own name) for anything `i2i-run` would refuse."""
        modality = self.tab.modality
        if not 1 <= int(num_samples) <= MAX_SAMPLES:
            raise I2IError(f"number of samples must be from 1 to {MAX_SAMPLES}")
        if truncation is not None and not float(truncation) > 0:  # i2i-run's own check
            raise I2IError("truncation must be > 0 (0 in the page: none)")
        work = Path(tempfile.mkdtemp(prefix="i2i-serve-"))
        try:
            raw = {}
            for spec in modality.inputs:
                value = _input_value(spec, values.get(spec.name), work / "in" / spec.name)
                if value is not None:
                    raw[spec.name] = value
            from i2i.inputs import parse_values

            try:
                raw = parse_values(modality.inputs, raw)
            except I2IError as exc:
                raise I2IError(_strip(str(exc), work)) from None
            missing = [s.name for s in modality.inputs if s.required and s.name not in raw]
            if missing:
                raise I2IError(f"{modality.name} needs {', '.join(missing)}")
            video = _video_input(modality, raw)
            out = work / "out" / ("output.mp4" if video else "output.png")
            out.parent.mkdir(parents=True)
            if progress is not None:
                progress(0.05, desc="loading the model")
            pipe = self.pipeline(model)
            if progress is not None:
                progress(0.3, desc="generating")
            try:
                from i2i.pipeline import run_files

                run_files(
                    pipe,
                    raw,
                    out,
                    num_samples=int(num_samples),
                    seed=None if seed is None else int(seed),
                    truncation=None if truncation in (None, "") else float(truncation),
                    progress=progress is not None,
                )
            except (I2IError, PluginError) as exc:
                raise I2IError(_strip(str(exc), work)) from None
            if video:
                kept = Path(tempfile.mkdtemp(prefix="video-", dir=self.outputs)) / out.name
                shutil.move(str(out), kept)
                return Output(video=kept)
            rows = _row_count(pipe, raw)
            return Output(images=_split_grid(out, rows, int(num_samples)))
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _strip(message: str, work: Path) -> str:
    """An error names the uploaded file by its own name, not the temporary folder it sits in."""
    for spec_dir in sorted((work / "in").glob("*/*"), key=lambda p: -len(str(p))):
        message = message.replace(str(spec_dir) + os.sep, "")
    return message.replace(str(work) + os.sep, "")


def _input_value(spec: InputSpec, value: Any, folder: Path) -> Any:
    """A widget's value -> what `i2i-run` would have been given for the input (None: not given)."""
    if value is None or (isinstance(value, (str, list, tuple)) and len(value) == 0):
        return None
    if spec.kind == "text":
        if spec.type != "str":
            return value
        if spec.multiple:
            lines = value if isinstance(value, (list, tuple)) else str(value).splitlines()
            lines = [str(line).strip() for line in lines if str(line).strip()]
            return lines or None
        text = str(value).strip()
        return text or None
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    paths = [_write_upload(v, folder / str(i)) for i, v in enumerate(values)]
    return paths if spec.multiple else paths[0]


def _write_upload(value: Any, folder: Path) -> str:
    """An uploaded file (a path, Gradio's file object, a PIL image or an array) -> a file of its
    own name in `folder`, which the core then reads like any file on the command line."""
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(value, dict):
        path, name = value.get("path"), value.get("orig_name")
    elif isinstance(value, (str, Path)):
        path, name = value, None
    else:  # Gradio's FileData / ImageData
        path, name = getattr(value, "path", None), getattr(value, "orig_name", None)
    if isinstance(path, (str, Path)):
        if not Path(path).is_file():
            raise I2IError(f"{Path(path).name}: the upload is gone (upload it again)")
        target = folder / Path(name or path).name
        shutil.copyfile(path, target)
        return str(target)
    from PIL import Image

    if hasattr(value, "__array__") and not isinstance(value, Image.Image):
        import numpy as np

        value = Image.fromarray(np.asarray(value))
    if isinstance(value, Image.Image):
        target = folder / "upload.png"
        value.save(target)
        return str(target)
    raise I2IError(f"cannot read the uploaded value ({type(value).__name__})")


def _video_input(modality: Modality, raw: Mapping[str, Any]) -> bool:
    from i2i.data.images import is_video

    return any(
        s.video and not s.multiple and s.name in raw and is_video(str(raw[s.name])) for s in modality.inputs
    )


def _row_count(pipe: Any, raw: Mapping[str, Any]) -> int:
    """How many rows `run_files` put in its grid: one per sample the reader makes of the inputs
    (several prompts, several rows); 1 when that cannot be told without the model."""
    try:
        from i2i.inputs import parse_values
        from i2i.pipeline import _read_static

        static, _ = _read_static(pipe.modality, parse_values(pipe.modality.inputs, raw), ())
        return max(1, len(pipe.samples(static)))
    except Exception:  # only the layout of the gallery depends on it
        return 1


def _split_grid(path: Path, rows: int, columns: int) -> list[Any]:
    """`run_files`'s grid (a row per sample, a column per draw) -> its images, row by row."""
    from PIL import Image

    with Image.open(path) as grid:
        grid.load()
        width, height = grid.size
        if width % columns or height % rows:
            return [grid.copy()]
        w, h = width // columns, height // rows
        return [
            grid.crop((c * w, r * h, (c + 1) * w, (r + 1) * h)) for r in range(rows) for c in range(columns)
        ]


def label_preview(path: Any) -> Any:
    """A label map -> an RGB array to look at: class ids coloured by a fixed palette (the PASCAL
    VOC bit pattern, so neighbouring ids differ), colour-coded maps as they are."""
    import numpy as np

    if path is None:
        return None
    from i2i.data.images import read_labels

    labels = read_labels(getattr(path, "path", path)).numpy()
    if labels.shape[0] == 3:
        return np.moveaxis(labels, 0, -1).clip(0, 255).astype(np.uint8)
    ids = labels[0].astype(np.int64)
    palette = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette[i] = (r, g, b)
    return palette[ids % 256]


# ---- the page -------------------------------------------------------------------------------------
def _gradio() -> Any:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio as gr
    except ImportError:
        raise I2IError('i2i serve needs Gradio: pip install "i2i-core[ui]" (or "./core[ui]")') from None
    return gr


def _raw_image(gr: Any, **kwargs: Any) -> Any:
    """An image upload that hands over the uploaded file itself, not Gradio's decoding of it: the
    core reads and checks it exactly as `i2i-run` does (a label map keeps its palette, a broken
    file gets the core's one line). Set on the instance: a subclass of a Gradio component would
    make Gradio write a .pyi stub beside this module."""
    widget = gr.Image(type="filepath", image_mode=None, format="png", **kwargs)
    original = widget.preprocess

    def preprocess(payload: Any) -> Any:
        if payload is None or getattr(payload, "path", None) is None:
            return original(payload)
        return payload

    widget.preprocess = preprocess
    return widget


def input_widgets(tab: Tab) -> list[tuple[str, Any]]:
    """The tab's input widgets, made from its InputSpecs, in their order, as (input name, widget);
    a video-capable image input gets a second widget for the video (name + ":video"), a label map
    a palette preview (name + ":preview", not an input). Call inside a `gr.Blocks` context."""
    gr = _gradio()
    out: list[tuple[str, Any]] = []
    for spec in tab.modality.inputs:
        eid = f"{tab.key}-{spec.name}"
        label = spec.name.replace("_", " ") + ("" if spec.required else " (optional)")
        info = spec.help or None
        if spec.kind == "text" and spec.type == "choice":
            widget = gr.Dropdown(
                choices=list(spec.choices), value=spec.default, label=label, info=info, elem_id=eid
            )
        elif spec.kind == "text" and spec.type in ("int", "float"):
            widget = gr.Number(
                value=spec.default,
                label=label,
                info=info,
                precision=0 if spec.type == "int" else None,
                minimum=spec.minimum,
                maximum=spec.maximum,
                elem_id=eid,
            )
        elif spec.kind == "text":
            extra = " (one per line)" if spec.multiple else ""
            widget = gr.Textbox(label=label + extra, info=info, lines=3 if spec.multiple else 1, elem_id=eid)
        elif spec.kind in ("image", "labels") and spec.multiple:
            widget = gr.File(
                file_count="multiple", file_types=IMAGE_TYPES, label=label, elem_id=eid, height=FILE_HEIGHT
            )
        elif spec.kind in ("image", "labels"):
            widget = _raw_image(gr, sources=["upload", "clipboard"], label=label, elem_id=eid)
        else:  # keypoints, landmarks, file: JSON, text or (video) photo files as the reader takes them
            widget = gr.File(
                file_count="multiple" if spec.multiple else "single",
                label=label,
                elem_id=eid,
                height=FILE_HEIGHT,
            )
        out.append((spec.name, widget))
        if spec.kind == "labels" and not spec.multiple:
            preview = gr.Image(label=f"{label}: palette preview", interactive=False, elem_id=f"{eid}-preview")
            widget.change(_preview_or_error, widget, preview)
            out.append((spec.name + ":preview", preview))
        if spec.video and spec.kind in ("image", "labels") and not spec.multiple:
            video = gr.File(
                file_types=VIDEO_TYPES,
                label=f"{label}: or a video (video out)",
                elem_id=f"{eid}-video",
                height=FILE_HEIGHT,
            )
            out.append((spec.name + ":video", video))
    return out


def _preview_or_error(path: Any) -> Any:
    try:
        return label_preview(path)
    except I2IError as exc:
        raise _gradio().Error(str(exc), print_exception=False) from None


def handler(runner: Runner, names: Sequence[str], with_model: bool) -> Callable[..., Any]:
    """The function a tab's button calls: widget values in `names` order (then model, seed,
    number of samples, truncation) -> (gallery images, video). Errors: `gr.Error` with the line."""
    gr = _gradio()

    def generate(*args: Any, progress: Any = gr.Progress(track_tqdm=True)) -> tuple[Any, Any]:  # noqa: B008
        values: dict[str, Any] = {}
        for name, value in zip(names, args):
            base, _, part = name.partition(":")
            if part == "video" and value:
                values[base] = value  # a video given wins over the still image
            elif not part and value is not None and base not in values:
                values[base] = value
        rest = list(args[len(names) :])
        model = rest.pop(0) if with_model else None
        seed, num_samples, truncation = rest
        try:
            out = runner(
                values,
                model=model,
                seed=None if seed in (None, "") or int(seed) < 0 else int(seed),  # -1: a random seed
                num_samples=int(num_samples or 1),
                truncation=None if truncation in (None, "", 0) else float(truncation),  # 0: none
                progress=progress,
            )
        except (I2IError, PluginError) as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception as exc:  # the command line's one line for an internal error, never a traceback
            from i2i.cli.main import _failure_line

            raise gr.Error(_failure_line(exc)[1], print_exception=False) from None
        if out.video is not None:
            return gr.update(value=None, visible=False), gr.update(value=str(out.video), visible=True)
        return gr.update(value=out.images, visible=True), gr.update(value=None, visible=False)

    return generate


def build_app(checkpoints: Sequence[str] = (), *, device: str = "auto") -> Any:
    """The page: a `gr.Blocks` with a tab per plugin (or per checkpoint), its queue turned on."""
    gr = _gradio()
    tabs = tabs_for(checkpoints)
    if not tabs:
        raise I2IError("i2i serve: no plugins installed (pip install ./plugins/<name>)")
    outputs = Path(tempfile.mkdtemp(prefix="i2i-serve-out-"))
    atexit.register(shutil.rmtree, outputs, True)
    with gr.Blocks(title="i2i", analytics_enabled=False, fill_width=True) as demo:
        gr.Markdown("# i2i\nConditional image generation; a tab per model. Nothing leaves this machine.")
        with gr.Tabs():
            for tab in tabs:
                with gr.Tab(tab.title, id=tab.key, elem_id=f"tab-{tab.key}"):
                    _build_tab(gr, tab, Runner(tab, device, outputs))
    demo.queue(default_concurrency_limit=1, max_size=64)
    return demo


def _build_tab(gr: Any, tab: Tab, runner: Runner) -> None:
    gr.Markdown(f"**{tab.modality.name}**: {tab.modality.summary}")
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            widgets = input_widgets(tab)
            names = [n for n, _ in widgets if not n.endswith(":preview")]
            inputs = [w for n, w in widgets if not n.endswith(":preview")]
            model = None
            if len(tab.models) > 1:
                model = gr.Dropdown(
                    choices=list(tab.models), value=tab.models[0], label="model", elem_id=f"{tab.key}-model"
                )
            with gr.Row():
                seed = gr.Number(
                    value=0, precision=0, label="seed (-1: random)", minimum=-1, elem_id=f"{tab.key}-seed"
                )
                samples = gr.Slider(
                    1, MAX_SAMPLES, value=1, step=1, label="number of samples", elem_id=f"{tab.key}-samples"
                )
                truncation = gr.Number(
                    value=0,
                    label="truncation (0: none)",
                    minimum=0,
                    step=0.1,
                    elem_id=f"{tab.key}-truncation",
                )
            button = gr.Button("Generate", variant="primary", elem_id=f"{tab.key}-run")
        with gr.Column(scale=1, min_width=320):
            gallery = gr.Gallery(label="output", format="png", columns=2, elem_id=f"{tab.key}-gallery")
            video = gr.Video(label="output video", visible=False, elem_id=f"{tab.key}-video-out")
        with gr.Column(scale=1, min_width=320):
            card = gr.Markdown(model_card(tab), elem_id=f"{tab.key}-card")
    if model is not None:
        model.change(lambda m: model_card(tab, m), model, card)
    extra = [model] if model is not None else []
    button.click(
        handler(runner, names, model is not None),
        [*inputs, *extra, seed, samples, truncation],
        [gallery, video],
        api_name=f"{tab.key.replace('-', '_')}_generate",
    )


def _check_port(host: str, port: int) -> None:
    """A port already taken (or an address not of this machine) is the user's to change: one
    line, exit status 2, before Gradio's own longer message about its environment variables."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port))
    except OSError as exc:
        raise I2IError(f"i2i serve: cannot listen on {host}:{port} ({exc.strerror or exc})") from None


def serve(
    checkpoints: Sequence[str] = (),
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    device: str = "auto",
) -> None:
    """Build the page and serve it until interrupted: local only unless `host` says otherwise,
    no share link, no analytics."""
    _check_port(host, port)
    demo = build_app(checkpoints, device=device)
    demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        show_error=True,
        ssr_mode=False,
        mcp_server=False,
        quiet=False,
        allowed_paths=card_folders(tabs_for(checkpoints)),
    )
