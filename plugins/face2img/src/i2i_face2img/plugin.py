"""Entry point of the face2img plugin: facial landmarks + a source portrait -> talking head.

Imports no torch: everything is named by import strings and loaded only when used.
"""

from __future__ import annotations

from i2i import InputSpec, Modality, hookimpl

PACKAGE = "i2i_face2img"

MODALITY = Modality(
    name="face2img",
    summary="facial landmarks + portrait(s) -> that person with the driving face's expression and pose",
    inputs=[
        InputSpec(
            "portrait",
            kind="image",
            multiple=True,
            help="square photo of the face to animate (repeat: few-shot)",
        ),
        InputSpec(
            "driving",
            kind="landmarks",
            video=True,
            help="68-point landmark JSON, or a photo or video of a face to take them from (video gives video)",
        ),
        InputSpec(
            "portrait_landmarks",
            kind="landmarks",
            multiple=True,
            required=False,
            help="the portraits' own landmarks (JSON, one per portrait); detected if left out",
        ),
        InputSpec(
            "landmarks",
            choices=("auto", "dlib", "face-alignment"),  # detect.BACKENDS
            required=False,
            help="landmark detector (default: the model's, normally auto)",
        ),
        InputSpec(
            "finetune_steps",
            type="int",
            default=0,
            minimum=0,
            maximum=2000,
            help="fine-tune on the portraits for this many steps first (few-shot; e.g. 50)",
        ),
        InputSpec(
            "motion",
            choices=("relative", "absolute"),  # fomm_inputs.MOTIONS
            required=False,
            help="first-order-model checkpoints: driving motion relative to the video's first frame "
            "(default for videos) or absolute (default for a photo)",
        ),
    ],
    config=f"{PACKAGE}:configs/default.yaml",
    conditioner=f"{PACKAGE}.fomm_inputs:conditioner",  # FaceConditioner, or FommConditioner for fomm models
    reader=f"{PACKAGE}.fomm_inputs:reader",  # FaceReader, or FommReader for fomm models
    tileable=False,  # the portrait is warped by keypoints of the whole frame: never cut into tiles
    dataset=f"{PACKAGE}.data:FaceClips",
    demo_data=f"{PACKAGE}.demo:write_faces",
    default_checkpoint=f"{PACKAGE}:weights/default.safetensors",
    evaluator=f"{PACKAGE}.evaluate:evaluate",
    adapt=f"{PACKAGE}.fomm_inputs:adapt",  # finetune.adapt for landmark models
    importers=[f"{PACKAGE}.fomm_import:import_fomm"],
    presets={"fomm": f"{PACKAGE}:configs/fomm.yaml"},
)


@hookimpl
def register_modalities(register):
    register(MODALITY)


@hookimpl
def register_networks(register):
    register("talking_head", f"{PACKAGE}.nets:talking_head", kind="generator")
    register("projection_patchgan", f"{PACKAGE}.nets:projection_patchgan", kind="discriminator")
    register("fomm", f"{PACKAGE}.fomm_nets:FommGenerator", kind="generator")
    register("fomm_discriminator", f"{PACKAGE}.fomm_nets:fomm_discriminator", kind="discriminator")


@hookimpl
def register_loss_terms(register):
    register("fomm_perceptual", f"{PACKAGE}.fomm_train:Perceptual", side="generator")
    register("fomm_equivariance_value", f"{PACKAGE}.fomm_train:EquivarianceValue", side="generator")
    register("fomm_equivariance_jacobian", f"{PACKAGE}.fomm_train:EquivarianceJacobian", side="generator")


@hookimpl
def register_recipes(register):
    register("fomm", f"{PACKAGE}.fomm_train:FommRecipe")
