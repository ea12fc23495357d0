"""ONNX Runtime sessions as i2i opens them: one place for the session options every ONNX path uses
(`i2i export`'s checks against PyTorch, and a plugin's own ONNX inference path).

Imports no torch and no onnxruntime at import time: a plugin's fast inference path (which avoids
heavy imports on purpose) can use it, and a missing onnxruntime is reported when it is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from i2i.errors import ConfigError

EXTRA_HINT = "ONNX export needs the export extra: pip install 'i2i-core[export]'"


def require_onnx() -> tuple[Any, Any]:
    """(onnx, onnxruntime), or a one-line ConfigError naming the extra that installs them."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ConfigError(EXTRA_HINT) from None
    return onnx, onnxruntime


def session_options(onnxruntime: Any, external_data_dir: str | Path | None = None) -> Any:
    """SessionOptions for a CPU session that coexists with PyTorch in one process.

    Warnings are silenced (initializers kept as constants are reported otherwise, on every load);
    idle ONNX Runtime threads do not spin, because spinning threads starve the PyTorch work that
    runs beside them (a generator after a text encoder, or the reference an export is checked
    against). `external_data_dir` is where a graph loaded from bytes finds its external
    initializers (a weightless graph pointing into another package's weights file)."""
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if external_data_dir is not None:
        options.add_session_config_entry(
            "session.model_external_initializers_file_folder_path", str(external_data_dir)
        )
    return options


def session(model: str | Path | bytes, *, external_data_dir: str | Path | None = None) -> Any:
    """An onnxruntime.InferenceSession on the CPU for a model file (or its bytes), with
    `session_options`. Raises ImportError when onnxruntime is not installed (callers decide
    whether that is an error, `require_onnx`, or a reason to take another path)."""
    import onnxruntime

    options = session_options(onnxruntime, external_data_dir)
    source = model if isinstance(model, bytes) else str(model)
    return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run(sess: Any, feed: Mapping[str, Any]) -> list[Any]:
    """Run a session on the numpy arrays (or tensors) in `feed` that the graph takes as inputs;
    inputs the exporter dropped because the graph never reads them are left out."""
    wanted = {i.name for i in sess.get_inputs()}
    return sess.run(None, {k: _numpy(v) for k, v in feed.items() if k in wanted})


def _numpy(value: Any) -> Any:
    return value.numpy() if hasattr(value, "numpy") else value
