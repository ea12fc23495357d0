"""Entry point of the pose2img plugin: pose keypoints + a person image -> that person in the pose.

Imports no torch: everything is named by import strings and loaded only when used.
"""

from __future__ import annotations

from i2i import InputSpec, Modality, hookimpl

PACKAGE = "i2i_pose2img"

MODALITY = Modality(
    name="pose2img",
    summary="pose keypoints + a person image -> that person in the new pose (warp + refine)",
    inputs=[
        InputSpec("source", kind="image", help="photo of the person (or garment on a person) to re-pose"),
        InputSpec(
            "pose",
            kind="keypoints",
            video=True,
            help="target pose: OpenPose (BODY_25/COCO-18) or COCO keypoint JSON, or a photo or video "
            "to extract it from (the mediapipe extra); a video gives a video",
        ),
        InputSpec(
            "source_pose",
            kind="keypoints",
            required=False,
            help="the source person's own keypoints (JSON); extracted from --source if left out",
        ),
    ],
    config=f"{PACKAGE}:configs/default.yaml",
    conditioner=f"{PACKAGE}.conditioner:PoseConditioner",
    reader=f"{PACKAGE}.reader:PoseReader",
    tileable=False,  # the source photo is not aligned with the output pose: never cut into tiles
    dataset=f"{PACKAGE}.data:PoseDataset",
    demo_data=f"{PACKAGE}.demo:write_people",
    evaluator=f"{PACKAGE}.evaluate:evaluate",
    default_checkpoint=f"{PACKAGE}:weights/default.safetensors",
)


@hookimpl
def register_modalities(register):
    register(MODALITY)


@hookimpl
def register_networks(register):
    register("pose_patchgan", f"{PACKAGE}.nets:pose_discriminators", kind="discriminator")
