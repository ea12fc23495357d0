"""i2i pose2img plugin: pose keypoints + appearance -> person in the new pose (in progress)."""

__version__ = "0.1.0"
