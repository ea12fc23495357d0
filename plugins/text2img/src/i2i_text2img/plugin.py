"""Entry point of the text2img plugin: text -> image through a pretrained text encoder.

Imports no torch: everything is named by import strings and loaded only when used.
"""

from __future__ import annotations

from i2i import InputSpec, Modality, hookimpl

PACKAGE = "i2i_text2img"

MODALITY = Modality(
    name="text2img",
    summary="text -> image through a pretrained text encoder",
    inputs=[
        InputSpec(
            "prompt",
            kind="text",
            multiple=True,
            required=False,
            help="a sentence describing the image, e.g. 'a small red bird with a short beak' (repeatable)",
        ),
        InputSpec(
            "prompts",
            kind="file",
            required=False,
            help="a text file with one prompt per line (blank lines skipped)",
        ),
    ],
    config=f"{PACKAGE}:configs/default.yaml",
    conditioner=f"{PACKAGE}.conditioner:TextConditioner",
    dataset=f"{PACKAGE}.data:CaptionDataset",
    demo_data=f"{PACKAGE}.demo:write_birds",
    default_checkpoint=f"{PACKAGE}:weights/default.safetensors",
    evaluator=f"{PACKAGE}.evaluate:evaluate",
    exports=f"{PACKAGE}.export:parts",
    importers=[f"{PACKAGE}.dfgan:import_dfgan"],  # DF-GAN's netG + DAMSM encoder + vocabulary folder
    presets={"dfgan": f"{PACKAGE}:configs/dfgan.yaml"},  # DF-GAN's CUB 256x256 model and recipe
)


@hookimpl
def register_modalities(register):
    register(MODALITY)


@hookimpl
def register_networks(register):
    register("dfgan", f"{PACKAGE}.nets:DFGenerator", kind="generator")
    register("dfgan_disc", f"{PACKAGE}.nets:DFDiscriminator", kind="discriminator")
    register("dfgan_original_disc", f"{PACKAGE}.dfgan:DFGANDiscriminator", kind="discriminator")


@hookimpl
def register_loss_terms(register):
    # legacy: the engine keys these terms had before loss terms were components
    register("mismatch", f"{PACKAGE}.losses:Mismatch", side="discriminator", legacy={"mismatch": "weight"})
    register(
        "ma_gp",
        f"{PACKAGE}.losses:MatchingAwareGP",
        side="discriminator",
        legacy={"ma_gp": "weight", "ma_gp_power": "power", "ma_gp_every": "every"},
    )
