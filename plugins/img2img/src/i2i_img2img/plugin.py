"""Entry point of the img2img plugin: paired image translation (pix2pix).

Imports no torch: everything is named by import strings and loaded only when used.
"""

from __future__ import annotations

from i2i import InputSpec, Modality, hookimpl

PACKAGE = "i2i_img2img"

MODALITY = Modality(
    name="img2img",
    summary="paired image translation (pix2pix): labels/edges/gray/low-res -> photo",
    inputs=[
        InputSpec(
            "input",
            kind="image",
            video=True,
            help="input image, a directory of images (batch), or a video (video out)",
        )
    ],
    config=f"{PACKAGE}:configs/default.yaml",
    conditioner=f"{PACKAGE}.conditioner:Img2ImgConditioner",
    dataset=f"{PACKAGE}.data:Img2ImgDataset",
    demo_data=f"{PACKAGE}.demo:write_demo",
    models={  # i2i-run --plugin img2img [--model NAME]; the first is the default
        "sr-x4": f"{PACKAGE}:weights/sr_x4.safetensors",  # x4 super-resolution (the default)
        "colorize": f"{PACKAGE}:weights/colorize.safetensors",  # gray -> colour, real photos
    },
    default_model="sr-x4",
    presets={
        "pix2pix": f"{PACKAGE}:configs/default.yaml",
        "colorize": f"{PACKAGE}:configs/colorize.yaml",
        "colorize_lab": f"{PACKAGE}:configs/colorize_lab.yaml",
        "edges": f"{PACKAGE}:configs/edges.yaml",
        "sr": f"{PACKAGE}:configs/sr.yaml",
        "sr_x4": f"{PACKAGE}:configs/sr_x4.yaml",  # the shipped sr-x4 model's recipe
        "colorize_photos": f"{PACKAGE}:configs/colorize_photos.yaml",  # the shipped colorize's
        "realesrgan": f"{PACKAGE}:configs/realesrgan.yaml",
    },
    importers=[f"{PACKAGE}.pix2pix_import:import_pix2pix", f"{PACKAGE}.esrgan_import:import_esrgan"],
    evaluator=f"{PACKAGE}.evaluate:evaluate",
)


@hookimpl
def register_modalities(register):
    register(MODALITY)


@hookimpl
def register_networks(register):
    register("sr_resnet", f"{PACKAGE}.nets:sr_resnet", kind="generator")
    register("sr_edsr", f"{PACKAGE}.edsr:sr_edsr", kind="generator")
    register("lab_colorizer", f"{PACKAGE}.lab:lab_colorizer", kind="generator")
    register("rrdb", f"{PACKAGE}.rrdb:rrdb", kind="generator")
    register("unet_sn", f"{PACKAGE}.rrdb:unet_sn", kind="discriminator")


@hookimpl
def register_loss_terms(register):
    register("esrgan_l1", f"{PACKAGE}.esrgan_loss:ESRGANL1", side="generator")
    register("esrgan_perceptual", f"{PACKAGE}.esrgan_loss:ESRGANPerceptual", side="generator")
