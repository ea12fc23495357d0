"""Entry point of the seg2img plugin: segmentation map -> several plausible photos (SPADE).

Imports no torch: everything is named by import strings and loaded only when used.
"""

from __future__ import annotations

from i2i import InputSpec, Modality, hookimpl

PACKAGE = "i2i_seg2img"

MODALITY = Modality(
    name="seg2img",
    summary="segmentation label map -> photo (SPADE), several plausible photos per map",
    inputs=[
        InputSpec(
            "labels",
            kind="labels",
            video=True,
            help="label map: index PNG (grey or palette) or colour-coded, a folder of them, or a video",
        ),
        InputSpec(
            "instances",
            kind="labels",
            required=False,
            help="optional instance-id map (same size) for the edge channel; default: label boundaries",
        ),
        InputSpec("style", kind="image", required=False, help="optional example photo whose style to copy"),
    ],
    config=f"{PACKAGE}:configs/default.yaml",
    conditioner=f"{PACKAGE}.conditioner:SegConditioner",
    dataset=f"{PACKAGE}.data:SegDataset",
    demo_data=f"{PACKAGE}.demo:write_scenes",
    default_checkpoint=f"{PACKAGE}:weights/default.safetensors",
    evaluator=f"{PACKAGE}.evaluate:evaluate",
    presets={"pix2pixhd": f"{PACKAGE}:configs/pix2pixhd.yaml", "spade": f"{PACKAGE}:configs/spade.yaml"},
    importers=[f"{PACKAGE}.pix2pixhd_import:import_pix2pixhd", f"{PACKAGE}.spade_import:import_spade"],
    validate_config=f"{PACKAGE}.validate:validate",
)


@hookimpl
def register_modalities(register):
    register(MODALITY)


@hookimpl
def register_networks(register):
    register("spade", f"{PACKAGE}.nets:spade", kind="generator")
    register("spade_nvlabs", f"{PACKAGE}.spade_nvlabs:spade_nvlabs", kind="generator")
    register("spade_patchgan", f"{PACKAGE}.nets:spade_patchgan", kind="discriminator")
    register("pix2pixhd", f"{PACKAGE}.pix2pixhd:pix2pixhd", kind="generator")
    register("pix2pixhd_multiscale", f"{PACKAGE}.pix2pixhd:pix2pixhd_multiscale", kind="discriminator")


@hookimpl
def register_loss_terms(register):
    register("kl", f"{PACKAGE}.losses:StyleKL", side="generator")
