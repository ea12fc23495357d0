"""Entry point of the unpaired plugin: two-domain translation (CycleGAN) without paired data.

Imports no torch: everything is named by import strings and loaded only when used. Besides its
modality the plugin registers what the engine needs to train it: the `cycle` recipe (two
generators, two discriminators, image pools), the two-way generator that holds both directions
in one model file, and the `cycle` / `identity` loss terms.
"""

from __future__ import annotations

from i2i import InputSpec, Modality, hookimpl

PACKAGE = "i2i_unpaired"
DIRECTIONS = ("AtoB", "BtoA")

MODALITY = Modality(
    name="unpaired",
    summary="unpaired two-domain translation (CycleGAN): A <-> B without pairs, --direction AtoB|BtoA",
    inputs=[
        InputSpec(
            "input",
            kind="image",
            video=True,
            help="input image, a directory of images (batch), or a video (video out)",
        ),
        InputSpec(
            "direction",
            choices=DIRECTIONS,
            default="AtoB",
            required=False,
            help="which way to translate: AtoB (trainA -> trainB style) or BtoA",
        ),
    ],
    config=f"{PACKAGE}:configs/default.yaml",
    default_checkpoint=f"{PACKAGE}:weights/default.safetensors",  # day <-> night demo model
    conditioner=f"{PACKAGE}.conditioner:DirectionConditioner",
    reader=f"{PACKAGE}.conditioner:DirectionReader",
    dataset=f"{PACKAGE}.data:UnpairedDataset",
    demo_data=f"{PACKAGE}.demo:write_demo",
    presets={
        "cyclegan": f"{PACKAGE}:configs/default.yaml",
        "demo": f"{PACKAGE}:configs/demo.yaml",
    },
    importers=[f"{PACKAGE}.importer:import_cyclegan_pair"],
    evaluator=f"{PACKAGE}.evaluate:evaluate",
    validate_config=f"{PACKAGE}.data:validate_config",
)


@hookimpl
def register_modalities(register):
    register(MODALITY)


@hookimpl
def register_networks(register):
    register("two_way", f"{PACKAGE}.nets:two_way", kind="generator")


@hookimpl
def register_loss_terms(register):
    register("cycle", f"{PACKAGE}.recipe:cycle_term", side="generator")
    register("identity", f"{PACKAGE}.recipe:identity_term", side="generator")


@hookimpl
def register_recipes(register):
    register("cycle", f"{PACKAGE}.recipe:CycleRecipe")
