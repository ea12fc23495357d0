"""`i2i serve` without a browser: the widgets made from every installed plugin's InputSpecs, a
tab's button handler called directly, the one-line errors as `gr.Error`, a third-party plugin's
tab, model cards, the label preview, and that other commands never import Gradio.
(The page in a real browser: tests/test_serve_browser.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
if os.environ.get("CI", "").lower() == "true":  # CI installs core[ui]: a missing Gradio fails there
    import gradio as gr
else:
    gr = pytest.importorskip("gradio")

from i2i import serve

REPO = Path(__file__).resolve().parents[1]


def _tab(title: str) -> serve.Tab:
    return next(t for t in serve.tabs_for() if t.title == title)


def _photo(size: int = 24) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def _widget_map(tab: serve.Tab) -> dict[str, object]:
    with gr.Blocks(analytics_enabled=False):
        return dict(serve.input_widgets(tab))


def _expected_kind(spec) -> type:
    if spec.kind == "text":
        return {"choice": gr.Dropdown, "int": gr.Number, "float": gr.Number}.get(spec.type, gr.Textbox)
    if spec.kind in ("image", "labels"):
        return gr.File if spec.multiple else gr.Image
    return gr.File


def test_a_tab_per_installed_plugin_with_widgets_for_every_input():
    from i2i.plugins import get_manager

    tabs = serve.tabs_for()
    assert sorted(t.title for t in tabs) == sorted(get_manager().modalities())
    kinds, types = set(), set()
    for tab in tabs:
        widgets = _widget_map(tab)
        for spec in tab.modality.inputs:
            widget = widgets[spec.name]
            assert isinstance(widget, _expected_kind(spec)), (tab.title, spec.name, type(widget))
            kinds.add(spec.kind)
            types.add(spec.type)
            if spec.kind in ("image", "labels") and not spec.multiple:
                assert widget.image_mode is None and widget.type == "filepath"  # the file itself
                assert widget.preprocess(None) is None
            if spec.type == "choice":
                assert [c[0] for c in widget.choices] == list(spec.choices)
                assert widget.value == spec.default
            if spec.type == "int":
                assert widget.precision == 0 and widget.minimum == spec.minimum
            if spec.kind == "labels" and not spec.multiple:
                assert isinstance(widgets[spec.name + ":preview"], gr.Image)
            if spec.video and spec.kind == "image" and not spec.multiple:
                video = widgets[spec.name + ":video"]
                assert isinstance(video, gr.File) and ".mp4" in video.file_types
            if spec.kind in ("keypoints", "landmarks", "file"):
                assert widget.file_count == ("multiple" if spec.multiple else "single")
    # the installed plugins exercise every input kind and typed value the page knows
    assert kinds == {"image", "labels", "text", "keypoints", "landmarks", "file"}
    assert {"str", "int", "choice"} <= types


_RUNNERS: dict[str, serve.Runner] = {}
_SHIPPED = ("img2img", "text2img", "seg2img")


def _generate(tab: serve.Tab, model: str | None = None):
    """(widget names, the tab's button handler); a tab with several shipped models has a model
    dropdown, whose value (default: the default model) goes between the inputs and the seed."""
    runner = serve.Runner(tab, "cpu")
    if tab.checkpoint is None and tab.title in _SHIPPED:  # one model load per plugin per module
        runner = _RUNNERS.setdefault(tab.title, runner)
    with gr.Blocks(analytics_enabled=False):
        names = [n for n, _ in serve.input_widgets(tab) if not n.endswith(":preview")]
    with_model = len(tab.models) > 1
    generate = serve.handler(runner, names, with_model)
    if not with_model:
        return names, generate

    def call(*args):
        return generate(*args[: len(names)], model or tab.models[0], *args[len(names) :])

    return names, call


def test_img2img_handler_takes_a_pil_image_and_returns_images():
    tab = _tab("img2img")
    names, generate = _generate(tab)
    values = {"input": _photo(24), "input:video": None}
    gallery, video = generate(*[values[n] for n in names], 0, 2, None)
    images = gallery["value"]
    assert len(images) == 2 and not video["visible"]
    assert all(isinstance(im, Image.Image) and im.size == (96, 96) for im in images)  # x4
    again, _ = generate(*[values[n] for n in names], 0, 2, None)
    assert np.array_equal(np.asarray(again["value"][1]), np.asarray(images[1]))  # seeded


def test_text2img_handler_gives_a_row_of_samples_per_prompt():
    tab = _tab("text2img")
    names, generate = _generate(tab)
    values = {"prompt": "red bird with short beak\nblue bird", "prompts": None}
    gallery, _ = generate(*[values[n] for n in names], 3, 2, 0.8)
    images = gallery["value"]
    assert len(images) == 4 and len({im.size for im in images}) == 1  # 2 prompts x 2 draws
    assert not np.array_equal(np.asarray(images[0]), np.asarray(images[1]))  # two draws differ


def test_a_video_upload_gives_a_video(tmp_path):
    import torch

    from i2i.data.video import VideoWriter, probe_video

    clip = tmp_path / "clip.mp4"
    with VideoWriter(clip, fps=8) as writer:
        writer.write(torch.rand(5, 3, 32, 32) * 2 - 1)
    names, generate = _generate(_tab("img2img"))
    values = {"input": None, "input:video": str(clip)}  # the video upload of a video-capable input
    gallery, video = generate(*[values[n] for n in names], 0, 1, 0)
    assert video["visible"] and not gallery["visible"]
    info = probe_video(video["value"])
    assert (info.frames, info.width, info.height) == (5, 128, 128)


def test_seg2img_handler_takes_a_label_map(tmp_path):
    ids = np.zeros((64, 64), np.uint8)
    ids[:, 32:] = 3
    ids[40:] = 7
    Image.fromarray(ids, "L").save(tmp_path / "map.png")
    names, generate = _generate(_tab("seg2img"))
    values = {n: None for n in names} | {"labels": str(tmp_path / "map.png")}
    gallery, _ = generate(*[values[n] for n in names], 1, 3, 0)
    assert [im.size for im in gallery["value"]] == [(64, 64)] * 3


def test_bad_input_is_gr_error_with_the_one_line(tmp_path):
    from i2i.errors import InputError
    from i2i.pipeline import read_input

    bad = tmp_path / "holiday.png"
    bad.write_text("not a picture")
    with pytest.raises(InputError) as cli:  # what i2i-run says about the same file
        read_input("image", bad)
    names, generate = _generate(_tab("img2img"))
    values = {"input": str(bad), "input:video": None}
    with pytest.raises(gr.Error) as page:
        generate(*[values[n] for n in names], 0, 1, None)
    assert page.value.message == f"holiday.png: {cli.value.problem}"
    assert "\n" not in page.value.message and "Traceback" not in page.value.message
    assert _error(generate, *[None for _ in names], 0, 1, None) == "img2img needs input"
    photo = [{"input": _photo(), "input:video": None}[n] for n in names]
    assert _error(generate, *photo, 0, 1, -1) == "truncation must be > 0 (0 in the page: none)"
    assert _error(generate, *photo, 0, 99, None).startswith("number of samples must be from 1 to")


def _error(generate, *args) -> str:
    with pytest.raises(gr.Error) as caught:
        generate(*args)
    return caught.value.message


def test_third_party_plugin_gets_its_tab_with_no_extra_code(fresh_plugins, tmp_path):
    from i2i import InputSpec, Modality, hookimpl

    from tiny import tiny_model_file

    weights = tiny_model_file(tmp_path / "tiny.safetensors", plugin="sketchy")
    modality = Modality(
        name="sketchy",
        summary="a third-party test plugin",
        inputs=[
            InputSpec("input", kind="image", help="a photo"),
            InputSpec("strength", type="float", default=0.5, minimum=0, maximum=1, required=False),
            InputSpec("style", choices=("ink", "pencil"), default="ink", required=False),
        ],
        config="i2i_img2img:configs/default.yaml",
        conditioner="i2i_img2img.conditioner:Img2ImgConditioner",
        dataset="i2i_img2img.data:Img2ImgDataset",
        default_checkpoint=str(weights),
    )

    class Plugin:
        @hookimpl
        def register_modalities(self, register):
            register(modality)

    fresh_plugins.register(Plugin(), name="sketchy")
    tab = _tab("sketchy")
    widgets = _widget_map(tab)
    assert isinstance(widgets["input"], gr.Image)
    assert isinstance(widgets["strength"], gr.Number) and widgets["strength"].value == 0.5
    assert isinstance(widgets["style"], gr.Dropdown)
    names, generate = _generate(tab)
    values = {"input": _photo(32), "strength": 0.25, "style": "pencil"}
    gallery, _ = generate(*[values[n] for n in names], 1, 1, None)
    assert [im.size for im in gallery["value"]] == [(32, 32)]
    values["style"] = "crayon"  # a typed input's check is the core's, as on the command line
    assert "must be one of ink, pencil, got 'crayon'" in _error(
        generate, *[values[n] for n in names], 1, 1, None
    )
    demo = serve.build_app(device="cpu")  # the whole page, this plugin's tab among the others'
    assert "sketchy" in {t.title for t in serve.tabs_for()}
    assert any(getattr(b, "elem_id", None) == "sketchy-run" for b in demo.blocks.values())


def test_checkpoint_tabs_and_model_cards(tmp_path):
    from tiny import tiny_model_file

    models = REPO / "docs" / "models"
    assert serve.model_card(_tab("img2img")) == (models / "img2img-sr-x4.md").read_text()
    birds = serve.model_card(_tab("text2img"))  # its one model's card; its images served by the page
    assert birds == serve._card_images((models / "text2img-birds.md").read_text(), models)
    assert f"](/gradio_api/file={models / 'text2img-birds-samples.png'})" in birds
    assert str(models) in serve.card_folders(serve.tabs_for())
    weights = tiny_model_file(tmp_path / "mine.safetensors")
    (tab,) = serve.tabs_for([str(weights)])
    assert tab.title == "img2img: mine.safetensors" and tab.checkpoint == str(weights)
    card = serve.model_card(tab)  # no card for it: what its metadata says
    assert "mine.safetensors" in card and "| plugin | img2img |" in card and '"num_downs": 5' in card
    names, generate = _generate(tab)
    gallery, _ = generate(*[{"input": _photo(32), "input:video": None}[n] for n in names], 0, 1, None)
    assert [im.size for im in gallery["value"]] == [(32, 32)]
    (named,) = serve.tabs_for(["img2img:sr-x4"])
    assert named.models == ("sr-x4",) and named.checkpoint is None
    from i2i.errors import I2IError

    with pytest.raises(I2IError, match="no such checkpoint"):
        serve.tabs_for([str(tmp_path / "missing.safetensors")])


def test_label_preview_colours_class_ids(tmp_path):
    ids = np.zeros((8, 8), np.uint8)
    ids[:, 4:] = 1
    ids[4:, :] = 2
    Image.fromarray(ids, "L").save(tmp_path / "map.png")
    preview = serve.label_preview(str(tmp_path / "map.png"))
    assert preview.shape == (8, 8, 3)
    colours = {tuple(preview[0, 0]), tuple(preview[0, 7]), tuple(preview[7, 0])}
    assert len(colours) == 3 and (0, 0, 0) in colours


def test_other_commands_never_import_gradio():
    code = (
        "import sys\nfrom i2i.cli.main import i2i_command\ni2i_command(['plugins'])\n"
        "assert 'gradio' not in sys.modules and 'i2i.serve' not in sys.modules, 'gradio imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_serve_command_errors_are_one_line(tmp_path, capsys):
    from i2i.cli.main import _guard, i2i_command

    assert _guard(i2i_command, ["serve", "--port", "0"]) == 2
    assert capsys.readouterr().err.strip() == "i2i serve: --port must be from 1 to 65535"
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert _guard(i2i_command, ["serve", "--port", str(port), "--checkpoint", "text2img"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"i2i serve: cannot listen on 127.0.0.1:{port} (Address already in use)"
    )
    missing = tmp_path / "none.safetensors"
    assert _guard(i2i_command, ["serve", "--checkpoint", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {missing}: no such checkpoint") and "\n" not in err
