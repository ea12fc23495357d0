"""The plugin manager: guarded entry-point loading, duplicates, enable/disable, in-process plugins."""

from __future__ import annotations

import subprocess
import sys

import pytest

from i2i import InputSpec, Modality, hookimpl
from i2i.plugins import PluginError, UnknownName

from plugin_env import GOOD, make_dist


def _installed(monkeypatch, tmp_path, *dists):
    for dist, entry, module, source in dists:
        make_dist(tmp_path, dist, entry, module, source)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_img2img_is_discovered_through_its_entry_point(fresh_plugins):
    manager = fresh_plugins.get_manager()
    info = {p.name: p for p in manager.plugins()}["img2img"]
    assert info.distribution == "i2i-img2img" and info.status == "ok"
    assert manager.get_modality("img2img").input("input").kind == "image"


def test_broken_plugin_is_reported_and_others_keep_working(fresh_plugins, monkeypatch, tmp_path):
    _installed(
        monkeypatch,
        tmp_path,
        ("i2i-broken", "broken", "i2i_broken_mod", "raise ImportError('no numpy here')"),
    )
    manager = fresh_plugins.get_manager()
    info = {p.name: p for p in manager.plugins()}["broken"]
    assert info.status == "failed"
    assert "no numpy here" in info.reason and "\n" not in info.reason
    assert "img2img" in manager.modalities()


def test_hook_that_raises_fails_only_its_plugin(fresh_plugins, monkeypatch, tmp_path):
    source = "from i2i import hookimpl\n@hookimpl\ndef register_modalities(register):\n    raise RuntimeError('bad hook')\n"
    _installed(monkeypatch, tmp_path, ("i2i-badhook", "badhook", "i2i_badhook_mod", source))
    manager = fresh_plugins.get_manager()
    info = {p.name: p for p in manager.plugins()}["badhook"]
    assert info.status == "failed" and "register_modalities failed" in info.reason
    assert "img2img" in manager.modalities()


def test_duplicate_modality_is_refused_and_named(fresh_plugins, monkeypatch, tmp_path):
    _installed(monkeypatch, tmp_path, ("i2i-dupe", "dupe", "i2i_dupe_mod", GOOD.format(name="img2img")))
    manager = fresh_plugins.get_manager()
    info = {p.name: p for p in manager.plugins()}["dupe"]
    assert info.status == "failed" and "already registered by i2i-img2img" in info.reason
    assert manager.distribution_of("img2img") == "i2i-img2img"


def test_strict_mode_raises(fresh_plugins, monkeypatch, tmp_path):
    _installed(
        monkeypatch, tmp_path, ("i2i-broken2", "broken2", "i2i_broken2_mod", "raise ValueError('boom')")
    )
    monkeypatch.setenv("I2I_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="i2i-broken2"):
        fresh_plugins.get_manager()


def test_disable_and_load_only(fresh_plugins, monkeypatch, tmp_path):
    _installed(monkeypatch, tmp_path, ("i2i-extra", "extra", "i2i_extra_mod", GOOD.format(name="extra")))
    monkeypatch.setenv("I2I_DISABLE_PLUGINS", "extra")
    manager = fresh_plugins.get_manager()
    assert {p.name: p.status for p in manager.plugins()}["extra"] == "disabled"
    assert "extra" not in manager.modalities()
    fresh_plugins.reset()
    monkeypatch.delenv("I2I_DISABLE_PLUGINS")
    monkeypatch.setenv("I2I_LOAD_PLUGINS", "extra")
    manager = fresh_plugins.get_manager()
    assert set(manager.modalities()) == {"extra"}
    assert {p.name: p.status for p in manager.plugins()}["img2img"] == "disabled"


def test_in_process_registration_and_unknown_names(fresh_plugins):
    class Plugin:
        @hookimpl
        def register_modalities(self, register):
            register(Modality("inproc", "in-process", [InputSpec("input")], "x:y", "a:b", "c:d"))

        @hookimpl
        def register_networks(self, register):
            register("tiny", "i2i.nets.wrappers:unet_generator", kind="generator")

    fresh_plugins.register(Plugin(), name="inproc-plugin")
    manager = fresh_plugins.get_manager()
    assert manager.get_modality("inproc").summary == "in-process"
    assert manager.get_network("generator", "tiny").plugin == "(in-process)"
    with pytest.raises(UnknownName, match="unknown plugin 'nope'"):
        manager.get_modality("nope")
    with pytest.raises(UnknownName, match="unknown discriminator network"):
        manager.get_network("discriminator", "tiny")


def test_check_pending_catches_misspelled_hooks(fresh_plugins):
    class Typo:
        @hookimpl
        def register_modalites(self, register):  # misspelled on purpose
            pass

    manager = fresh_plugins.get_manager()
    manager.register(Typo(), name="typo")
    with pytest.raises(Exception, match="register_modalites"):
        manager.check_pending()


def test_listing_plugins_imports_no_torch():
    code = (
        "import sys; from i2i.plugins import get_manager; import i2i_img2img.plugin; "
        "m=get_manager(); m.plugins(); m.modalities(); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False", "listing plugins imported torch"


def test_loss_terms_and_recipes_register_by_hook_and_duplicates_are_refused(fresh_plugins):
    """Terms and recipes are registries like networks: one name per side (terms) or per recipe;
    a plugin claiming a taken name is failed with the owner named, the owner keeps it;
    an unknown term or recipe in a config is a one-line config error naming the key."""
    from i2i.config import migrate
    from i2i.engine.recipe import recipe_class
    from i2i.errors import ConfigError
    from i2i.terms import build_terms

    class First:
        @hookimpl
        def register_loss_terms(self, register):
            register("sharpness", "i2i.terms:L1", side="generator", legacy={"sharp": "weight"})
            register("sharpness", "i2i.terms:R1", side="discriminator")  # same name, other side: fine

        @hookimpl
        def register_recipes(self, register):
            register("solo", "i2i.engine.recipes.paired:PairedRecipe")

    class Second:
        @hookimpl
        def register_loss_terms(self, register):
            register("sharpness", "i2i.terms:L1", side="generator")

        @hookimpl
        def register_recipes(self, register):
            register("solo", "i2i.engine.recipes.paired:PairedRecipe")

    fresh_plugins.register(Second(), name="second")  # hooks run last-registered first, as pluggy calls them
    fresh_plugins.register(First(), name="first")
    manager = fresh_plugins.get_manager()
    infos = {i.name: i for i in manager.plugins()}
    assert infos["first"].status == "ok" and infos["second"].status == "failed", [
        (i.name, i.reason) for i in infos.values()
    ]
    assert "already registered by (in-process)" in infos["second"].reason
    assert manager.get_loss_term("generator", "sharpness").plugin == "(in-process)"
    assert {e.side for e in manager.loss_terms() if e.name == "sharpness"} == {"generator", "discriminator"}
    assert [t.name for t in build_terms("generator", {"sharpness": 2.0, "adversarial": 0})] == ["sharpness"]
    assert migrate({"loss": {"sharp": 3.0}}, "x")["loss"] == {"generator": {"sharpness": 3.0}}
    with pytest.raises(ConfigError, match=r"loss.generator.blur: unknown generator loss term 'blur'"):
        build_terms("generator", {"blur": 1.0})
    with pytest.raises(ConfigError, match=r"loss.generator.sharpness: .*'radius'"):
        build_terms("generator", {"sharpness": {"weight": 1.0, "radius": 2}})
    assert recipe_class("solo").__name__ == "PairedRecipe"
    with pytest.raises(ConfigError, match="recipe: unknown recipe 'trio'"):
        recipe_class("trio")
