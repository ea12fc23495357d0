"""The core's built-in plugin: names of the standard networks, loss terms and recipes that configs
can select.

Targets are import strings, so registering costs nothing and torch is imported only when a model
is actually built (this module is loaded by `i2i plugins` and `--help`, which must stay fast).
The preset names follow the original pix2pix ``--netG`` choices.
"""

from __future__ import annotations

from i2i.hookspecs import RegisterLossTerm, RegisterNetwork, RegisterRecipe, hookimpl

_WRAPPERS = "i2i.nets.wrappers"

GENERATORS = {
    "unet": "unet_generator",
    "unet_128": "unet_128",
    "unet_256": "unet_256",
    "resnet": "resnet_generator",
    "resnet_6blocks": "resnet_6blocks",
    "resnet_9blocks": "resnet_9blocks",
}
DISCRIMINATORS = {"patchgan": "patchgan"}


@hookimpl
def register_networks(register: RegisterNetwork) -> None:
    for name, factory in GENERATORS.items():
        register(name, f"{_WRAPPERS}:{factory}", kind="generator")
    for name, factory in DISCRIMINATORS.items():
        register(name, f"{_WRAPPERS}:{factory}", kind="discriminator")


_TERMS = "i2i.terms"


@hookimpl
def register_loss_terms(register: RegisterLossTerm) -> None:
    register("adversarial", f"{_TERMS}:AdversarialG", side="generator", legacy={"gan_weight": "weight"})
    register("adversarial", f"{_TERMS}:AdversarialD", side="discriminator", legacy={"gan_weight": "weight"})
    register("l1", f"{_TERMS}:L1", side="generator", legacy={"l1": "weight"})
    register("feature_matching", f"{_TERMS}:FeatureMatching", legacy={"feature_matching": "weight"})
    register("vgg", f"{_TERMS}:VGG", side="generator", legacy={"vgg": "weight"})
    register("r1", f"{_TERMS}:R1", side="discriminator", legacy={"r1": "weight"})


@hookimpl
def register_recipes(register: RegisterRecipe) -> None:
    register("paired", "i2i.engine.recipes.paired:PairedRecipe")
