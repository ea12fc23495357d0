"""Training log: progress bar, metrics.jsonl, TensorBoard when installed, and a self-contained
HTML report (sample grids over training, loss curves as inline SVG) that opens in any browser."""

from __future__ import annotations

import base64
import html
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from PIL import Image

from i2i.engine.atomic import write_atomic, write_text_atomic


def svg_curve(name: str, points: list[tuple[int, float]], width: int = 420, height: int = 160) -> str:
    """A small line chart as inline SVG (no plotting library needed to view a run)."""
    if not points:
        return ""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs), max(xs) or 1
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 1, y1 + 1
    pad = 30

    def sx(x: float) -> float:
        return pad + (x - x0) / max(1e-9, x1 - x0) * (width - 2 * pad)

    def sy(y: float) -> float:
        return height - pad - (y - y0) / (y1 - y0) * (height - 2 * pad)

    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    return (
        f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<rect width="100%" height="100%" fill="#fff" stroke="#ccc"/>'
        f'<text x="{pad}" y="16" font-size="12">{html.escape(name)}</text>'
        f'<text x="2" y="{pad}" font-size="10">{y1:.3g}</text>'
        f'<text x="2" y="{height - pad}" font-size="10">{y0:.3g}</text>'
        f'<text x="{width - pad}" y="{height - 8}" font-size="10" text-anchor="end">step {x1}</text>'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{path}"/></svg>'
    )


def _png_data_uri(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class RunLog:
    """Owns everything a run writes for humans; only the main process creates one."""

    def __init__(self, run_dir: Path, tensorboard: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.samples_dir = self.run_dir / "samples"
        self.samples_dir.mkdir(parents=True, exist_ok=True)
        self.writer: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(self.run_dir / "tensorboard"))
            except Exception:  # tensorboard is optional: without it the HTML report still works
                self.writer = None

    def scalars(self, step: int, values: dict[str, float]) -> None:
        with open(self.metrics_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": step, **values}) + "\n")
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"loss/{k}" if not k.startswith("lr") else k, v, step)

    def forget_after(self, step: int) -> None:
        """Drop metric rows past `step` (and a torn last line): a run resumed from the checkpoint
        of `step` trains those steps again, and each step should appear once in curves."""
        if not self.metrics_path.exists():
            return
        kept = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
                kept.append(line + "\n")
        write_text_atomic(self.metrics_path, "".join(kept))

    def sample(self, step: int, grid: Image.Image) -> Path:
        path = self.samples_dir / f"step-{step:08d}.png"
        # atomically: an interrupt mid-save must not leave a torn PNG for the report
        write_atomic(path, lambda fh: grid.save(fh, format="PNG"))
        if self.writer is not None:
            import numpy as np

            self.writer.add_image("samples", np.asarray(grid), step, dataformats="HWC")
        return path

    def history(self) -> dict[str, list[tuple[int, float]]]:
        curves: dict[str, list[tuple[int, float]]] = defaultdict(list)
        if self.metrics_path.exists():
            for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                for k, v in row.items():
                    if k != "step" and isinstance(v, (int, float)):
                        curves[k].append((row["step"], float(v)))
        return curves

    def write_report(self, title: str, config_yaml: str) -> Path:
        """Rebuild report.html from metrics.jsonl and the sample grids (cheap; called at sample time)."""
        curves = "".join(svg_curve(k, v) for k, v in sorted(self.history().items()))
        samples = []
        for path in sorted(self.samples_dir.glob("step-*.png"))[-12:][::-1]:
            try:
                with Image.open(path) as img:
                    uri = _png_data_uri(img.convert("RGB"))
            except (OSError, ValueError):  # torn by a kill (SIGKILL, power loss): leave it out
                continue
            step = int(path.stem.split("-")[1])
            samples.append(f'<figure><img src="{uri}" alt="step {step}"><p>step {step}</p></figure>')
        doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:20px}} figure{{display:inline-block;margin:6px}}
img{{max-width:100%;image-rendering:pixelated}} svg{{margin:4px}} pre{{background:#f6f6f6;padding:8px}}</style>
</head><body><h1>{html.escape(title)}</h1><p>Columns of each grid: condition | generated | target.</p>
<h2>Losses</h2>{curves or "<p>no metrics yet</p>"}<h2>Samples (newest first)</h2>{"".join(samples)}
<h2>Config</h2><pre>{html.escape(config_yaml)}</pre></body></html>"""
        out = self.run_dir / "report.html"
        write_text_atomic(out, doc)
        return out

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
