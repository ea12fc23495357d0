#!/usr/bin/env python
"""pix2pix (img2img) speed benchmark: a plain pix2pix training step vs the i2i engine's step.

    python benchmarks/bench_img2img.py [--quick] [--out FILE]

Prints ONE JSON document on stdout (progress goes to stderr) and writes it to --out (default
benchmarks/results/img2img-<hostname>.json, or img2img-<hostname>-quick.json with --quick).

Every measured configuration runs in its own subprocess (this script re-invoked with
``--one CONFIG``), so its peak RSS is its own, and the configurations run one after another so
they never compete for the cores. See benchmarks/README.md for what each number means.

Networks are pix2pix's: unet_256 generator (ngf 64, batch norm, dropout) and the 70x70 PatchGAN
(n_layers 3, ndf 64, batch norm) on 256x256 inputs, vanilla GAN loss + 100 * L1, Adam(2e-4,
betas 0.5/0.999). Everything runs on the CPU; data loading is not part of any timing (every step
reuses the same synthetic batch).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MARK = "@@BENCH_RESULT "
SIZE = 256
LAMBDA_L1 = 100.0
LR = 2e-4
BETAS = (0.5, 0.999)
COMPILE_LIMIT_S = 90  # torch.compile variant: compile + its warm-up steps must finish within this
SKIP_PROJECTED_S = 150.0  # a larger batch is skipped when 2 steps would take longer (from batch 1)
PLUGIN_MODULES = ("i2i_img2img.demo", "i2i_img2img.conditioner", "i2i_img2img.data")

TRAIN_VARIANTS = {
    "baseline": "benchmark's own pix2pix step: fp32, NCHW, eager, Adam(foreach=False, fused=False), "
    "G forward, D step on cat(A, fake.detach()) / cat(A, B) with 0.5 * (BCE fake + BCE real), "
    "G step with BCE + 100 * L1 (pix2pix optimize_parameters)",
    "engine_fp32": "i2i Trainer.train_step with the img2img default config and train.precision=fp32 "
    "(train.channels_last true, Adam from make_adam)",
    "engine_bf16": "as engine_fp32 with train.precision=bf16 (autocast bfloat16), channels_last; what "
    "train.precision auto picks on a CPU with AMX (amx_bf16)",
    "engine_compile": "as engine_fp32 with train.compile=true (torch.compile of G and D); reported only "
    f"if compile + warm-up finish within {COMPILE_LIMIT_S} s",
    "engine_compile_bf16": "train.compile=true and train.precision=bf16 together",
}
INFER_VARIANTS = {
    "baseline_fp32_nchw": "generator.eval() under torch.no_grad(), fp32, NCHW input",
    "pipeline_generate": "i2i Pipeline.generate (the path i2i-run uses): conditioner + generator, "
    "no_grad, fp32, NCHW, clamp, .cpu()",
    "eval_channels_last": "generator.eval() under torch.no_grad(), fp32, model and input channels_last",
}


# ---- small helpers ------------------------------------------------------------------------------
def q(value: Any, unit: str) -> dict[str, Any]:
    """A number with its unit."""
    if isinstance(value, float):
        value = float(f"{value:.6g}")
    return {"value": value, "unit": unit}


def n_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def maxrss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def steps_for(kind: str, batch: int, quick: bool) -> tuple[int, int]:
    """(warm-up, timed) steps."""
    if kind == "train":
        if quick:
            return (2, 3)
        return (3, 5) if batch == 1 else (1, 2)
    if quick:
        return (2, 5)
    return (3, 10) if batch == 1 else (1, 3)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                keep = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni")
                return [f for f in flags if f in keep]
    except OSError:
        pass
    return []


def mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024.0**2
    except OSError:
        pass
    return None


# ---- the baseline: pix2pix's optimize_parameters, written out ---------------------------------------
class Pix2PixBaseline:
    """pix2pix's Pix2PixModel training step, transcribed, on i2i's plain networks.

    netG is i2i's UNet (pix2pix UnetGenerator, num_downs 8) and netD its PatchGAN (pix2pix
    NLayerDiscriminator, n_layers 3), both built by the core factories with pix2pix's N(0, 0.02)
    init; the concatenation of (A, B) for D happens here, as in pix2pix.
    """

    def __init__(self, device: str = "cpu", optimizers: bool = True) -> None:
        import torch
        from torch import nn

        from i2i.nets.wrappers import patchgan, unet_256

        self.torch = torch
        self.netG = unet_256(3, 3, ngf=64, norm="batch", dropout=True).net.to(device)
        self.netD = patchgan(3, 3, ndf=64, n_layers=3, norm="batch").net.scales[0].to(device)
        self.criterionGAN = nn.BCEWithLogitsLoss()  # GANLoss("vanilla")
        self.criterionL1 = nn.L1Loss()
        self.optimizer_G = self.optimizer_D = None
        if optimizers:
            self.optimizer_G = torch.optim.Adam(
                self.netG.parameters(), lr=LR, betas=BETAS, foreach=False, fused=False
            )
            self.optimizer_D = torch.optim.Adam(
                self.netD.parameters(), lr=LR, betas=BETAS, foreach=False, fused=False
            )

    def gan_loss(self, prediction: Any, target_is_real: bool) -> Any:
        # GANLoss.get_target_tensor: the real/fake label buffer expanded to the prediction's shape
        label = self.torch.tensor(1.0 if target_is_real else 0.0, device=prediction.device)
        return self.criterionGAN(prediction, label.expand_as(prediction))

    @staticmethod
    def set_requires_grad(net: Any, requires_grad: bool) -> None:
        for param in net.parameters():
            param.requires_grad = requires_grad

    def d_logits(self, x: Any) -> Any:
        return self.netD(x)[0]  # i2i's PatchGAN also returns features; pix2pix's returns logits only

    def optimize_parameters(self, real_A: Any, real_B: Any) -> None:
        torch = self.torch
        fake_B = self.netG(real_A)  # forward()
        # update D
        self.set_requires_grad(self.netD, True)
        if self.optimizer_D is not None:
            self.optimizer_D.zero_grad()
        fake_AB = torch.cat((real_A, fake_B), 1)
        loss_D_fake = self.gan_loss(self.d_logits(fake_AB.detach()), False)
        real_AB = torch.cat((real_A, real_B), 1)
        loss_D_real = self.gan_loss(self.d_logits(real_AB), True)
        loss_D = (loss_D_fake + loss_D_real) * 0.5
        loss_D.backward()
        if self.optimizer_D is not None:
            self.optimizer_D.step()
        # update G
        self.set_requires_grad(self.netD, False)
        if self.optimizer_G is not None:
            self.optimizer_G.zero_grad()
        fake_AB = torch.cat((real_A, fake_B), 1)
        loss_G_GAN = self.gan_loss(self.d_logits(fake_AB), True)
        loss_G_L1 = self.criterionL1(fake_B, real_B) * LAMBDA_L1
        loss_G = loss_G_GAN + loss_G_L1
        loss_G.backward()
        if self.optimizer_G is not None:
            self.optimizer_G.step()


# ---- child processes: one configuration each ---------------------------------------------------------
def _synthetic(batch: int, seed: int = 0) -> tuple[Any, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    a = torch.rand(batch, 3, SIZE, SIZE, generator=g) * 2 - 1
    b = torch.rand(batch, 3, SIZE, SIZE, generator=g) * 2 - 1
    return a, b


def _call(step: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    step()
    return time.perf_counter() - t0


def _measure(
    step: Callable[[], Any],
    warmup: int,
    timed: int,
    budget: float,
    limit: int | None = None,
    cut_on_first: bool = True,
) -> dict[str, Any]:
    """Warm-up then timed steps, kept within `budget` seconds of timed work where possible.

    A configuration whose first step alone takes over half the budget is cut short: that step
    becomes its only sample (flagged). Otherwise the timed steps are reduced (to at least 1) when the last
    warm-up step predicts they would exceed the budget. `limit` bounds the warm-up (compile).
    """
    warm: list[float] = []
    note = None
    t0 = time.perf_counter()
    with _time_limit(limit):
        for i in range(warmup):
            warm.append(_call(step))
            if i == 0 and cut_on_first and budget and warm[0] > budget / 2:
                note = (
                    f"cut short: the first step took {warm[0]:.1f} s (> half the {budget:.0f} s budget); "
                    "it is the only sample, without warm-up"
                )
                return {"warmup_s": [], "step_s": warm, "note": note, "warmup_total_s": 0.0}
    warmup_total = time.perf_counter() - t0
    if warm and budget and warm[-1] * timed > budget:
        reduced = max(1, int(budget // warm[-1]))
        if reduced < timed:
            note = f"timed steps reduced from {timed} to {reduced} to stay within the {budget:.0f} s budget"
            timed = reduced
    times = [_call(step) for _ in range(timed)]
    return {"warmup_s": warm, "step_s": times, "note": note, "warmup_total_s": warmup_total}


class _Alarm(BaseException):  # not an Exception, so torch internals cannot swallow it
    pass


@contextlib.contextmanager
def _time_limit(seconds: int | None):
    if not seconds:
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise _Alarm(f"did not compile and warm up within {seconds} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _import_plugin() -> tuple[Any, Any]:
    from i2i.plugins import get_modality

    modality = get_modality("img2img")
    for name in PLUGIN_MODULES:
        importlib.import_module(name)
    from i2i.modality import resolve_object

    resolve_object(modality.conditioner)
    resolve_object(modality.dataset)
    write_demo = importlib.import_module("i2i_img2img.demo").write_demo
    return modality, write_demo


def run_train(variant: str, batch: int, quick: bool, budget: float) -> dict[str, Any]:
    import torch

    torch.set_num_threads(n_cores())
    from i2i.interfaces import Condition  # noqa: F401  (import cost belongs to the baseline RSS)
    from i2i.nets.wrappers import patchgan, unet_256  # noqa: F401

    engine = variant != "baseline"
    if engine:
        from i2i.config import load_config
        from i2i.engine.trainer import Trainer, _to_device

        modality, write_demo = _import_plugin()
    rss0 = maxrss_mib()
    torch.manual_seed(0)
    a, b = _synthetic(batch)
    info: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix="i2i-bench-"))
    try:
        if not engine:
            model = Pix2PixBaseline()
            model.netG.train()
            model.netD.train()

            def step() -> None:
                model.optimize_parameters(a, b)

            info = {
                "precision": "fp32",
                "channels_last": False,
                "optimizer": "Adam(foreach=False, fused=False)",
            }
        else:
            sets = ["device=cpu", f"train.batch_size={batch}"]
            sets.append("train.precision=" + ("bf16" if variant.endswith("bf16") else "fp32"))
            if variant.startswith("engine_compile"):
                sets.append("train.compile=true")
            config = load_config(modality, sets=sets)
            write_demo(tmp / "data", n=4, seed=0, size=SIZE)
            trainer = Trainer(config, modality, tmp / "data", tmp / "run", progress=False)
            for m in (trainer.conditioner, trainer.generator, trainer.discriminator):
                m.train()  # as Trainer.fit does
            micro = [_to_device({"input": a, "target": b}, trainer.device, config.train.channels_last)]

            def step() -> None:
                trainer.train_step(micro)

            opt = trainer.opt_g.defaults
            info = {
                "precision": trainer.precision.name,
                "channels_last": bool(config.train.channels_last),
                "compile": bool(config.train.compile),
                "optimizer": f"Adam(fused={opt.get('fused')}, foreach={opt.get('foreach')})",
                "generator": dict(config.model.generator),
                "discriminator": dict(config.model.discriminator),
                "loss": dict(config.loss),
                "optim": dict(config.optim),
            }
        warmup, timed = steps_for("train", batch, quick)
        compiled = variant.startswith("engine_compile")
        limit = COMPILE_LIMIT_S if compiled else None
        timing = _measure(step, warmup, timed, budget, limit=limit, cut_on_first=not compiled)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "info": info,
        **timing,
        "rss_baseline_mib": rss0,
        "rss_peak_mib": maxrss_mib(),
        "torch_threads": torch.get_num_threads(),
    }


def run_infer(variant: str, batch: int, quick: bool, budget: float) -> dict[str, Any]:
    import torch

    torch.set_num_threads(n_cores())
    from i2i.interfaces import Condition  # noqa: F401
    from i2i.nets.wrappers import unet_256

    if variant == "pipeline_generate":
        from i2i.config import load_config
        from i2i.engine.build import build_conditioner, build_generator
        from i2i.pipeline import Pipeline, _finish

        modality, _ = _import_plugin()
    rss0 = maxrss_mib()
    torch.manual_seed(0)
    a, _ = _synthetic(batch)
    info: dict[str, Any] = {}
    if variant == "pipeline_generate":
        config = load_config(modality, sets=["device=cpu"])
        pipe: Pipeline = _finish(
            modality,
            config,
            build_conditioner(modality, config),
            build_generator(config),
            torch.device("cpu"),
            "benchmark",
        )
        batch_in = {"input": a}

        def step() -> Any:
            return pipe.generate(batch_in)

        info = {"generator": dict(config.model.generator), "training_mode": pipe.generator.training}
    else:
        net = unet_256(3, 3, ngf=64, norm="batch", dropout=True).net.eval()
        x = a
        if variant == "eval_channels_last":
            net = net.to(memory_format=torch.channels_last)
            x = a.contiguous(memory_format=torch.channels_last)

        @torch.no_grad()
        def step() -> Any:
            return net(x)

    warmup, timed = steps_for("infer", batch, quick)
    timing = _measure(step, warmup, timed, budget)
    return {
        "info": info,
        **timing,
        "rss_baseline_mib": rss0,
        "rss_peak_mib": maxrss_mib(),
        "torch_threads": torch.get_num_threads(),
    }


QUALITY_SETS = [
    "device=cpu",
    "train.batch_size=4",
    "train.tensorboard=false",
    "train.sample_every=100000",
    "train.checkpoint_every=100000",
    "data.load_size=72",
    "data.crop_size=64",
    "model.generator.num_downs=6",
    "model.generator.ngf=32",
    "model.discriminator.ndf=32",
]
QUALITY_STEPS = 300


def run_quality(precision: str, seed: int) -> dict[str, Any]:
    """Held-out L1 of the same pix2pix training run in `precision` (64x64 demo facades, 300 steps):
    bf16 is only a speed-up if it learns as well as fp32; a second fp32 seed gives the noise."""
    import torch

    torch.set_num_threads(n_cores())
    from i2i.config import load_config
    from i2i.engine.trainer import Trainer
    from i2i.pipeline import load_pipeline
    from i2i_img2img.evaluate import evaluate

    modality, write_demo = _import_plugin()
    tmp = Path(tempfile.mkdtemp(prefix="i2i-bench-quality-"))
    try:
        write_demo(tmp / "data", n=48, seed=0, size=72)
        sets = [*QUALITY_SETS, f"train.steps={QUALITY_STEPS}", f"train.precision={precision}", f"seed={seed}"]
        config = load_config(modality, sets=sets)
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        Trainer(config, modality, tmp / "data", tmp / "run", progress=False).fit()
        wall = time.perf_counter() - t0
        scores = evaluate(load_pipeline(tmp / "run", device="cpu"), tmp / "data", split="test")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "precision": precision,
        "seed": seed,
        "held_out_l1": scores["metrics"]["model"]["l1"],
        "train_s": wall,
    }


def run_peak() -> dict[str, Any]:
    """What this CPU can do at best, to read achieved GFLOP/s against: a large matmul and a 3x3
    convolution (64 -> 64 channels, 128x128, batch 8, channels_last), in fp32 and in bf16."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(n_cores())
    out: dict[str, Any] = {}
    n = 2048
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        x = torch.randn(8, 64, 128, 128).to(dtype=dtype, memory_format=torch.channels_last)
        w = torch.randn(64, 64, 3, 3).to(dtype=dtype, memory_format=torch.channels_last)
        for label, fn, flops in (
            ("matmul_2048", lambda a=a, b=b: a @ b, 2 * n**3),
            (
                "conv3x3_64ch_128px_b8",
                lambda x=x, w=w: F.conv2d(x, w, padding=1),
                2 * 8 * 64 * 64 * 9 * 128 * 128,
            ),
        ):
            with torch.no_grad():
                for _ in range(2):
                    fn()
                times = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    fn()
                    times.append(time.perf_counter() - t0)
            out[f"{label}/{name}"] = flops / min(times) / 1e9
    return out


def run_flops(batches: list[int]) -> dict[str, Any]:
    """FLOPs of one baseline training step and one generator inference, counted once.

    Counted on the meta device (shapes only, no arithmetic), falling back to a real CPU step at
    batch 1 scaled by the batch size; FlopCounterMode counts a multiply-add as 2 FLOPs and counts
    convolutions/matmuls (norms, activations, losses and the optimiser are not included).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(n_cores())
    out: dict[str, Any] = {"train": {}, "infer": {}, "method": "meta"}

    def count(device: str, batch: int) -> tuple[int, int]:
        model = Pix2PixBaseline(device=device, optimizers=False)
        a = torch.rand(batch, 3, SIZE, SIZE, device=device) * 2 - 1
        b = torch.rand(batch, 3, SIZE, SIZE, device=device) * 2 - 1
        with FlopCounterMode(display=False) as fc:
            model.optimize_parameters(a, b)
        train = fc.get_total_flops()
        model.netG.eval()
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            model.netG(a)
        return train, fc.get_total_flops()

    try:
        for batch in batches:
            out["train"][str(batch)], out["infer"][str(batch)] = count("meta", batch)
    except Exception as exc:  # pragma: no cover - depends on the torch version
        out["method"] = f"cpu batch 1 x batch (meta failed: {type(exc).__name__}: {exc})"
        t1, i1 = count("cpu", 1)
        for batch in batches:
            out["train"][str(batch)], out["infer"][str(batch)] = t1 * batch, i1 * batch
    import torch as _t

    out["torch"] = {
        "version": _t.__version__,
        "mkldnn": bool(_t.backends.mkldnn.is_available()),
        "cpu_capability": _t.backends.cpu.get_cpu_capability(),
        "default_threads": _t.get_num_threads(),
    }
    return out


def child_main(config: str, quick: bool, budget: float) -> int:
    kind, _, rest = config.partition(":")
    try:
        if kind == "flops":
            result = run_flops([int(x) for x in rest.split(",")])
        elif kind == "peak":
            result = run_peak()
        elif kind == "quality":
            precision, _, seed = rest.partition(":")
            result = run_quality(precision, int(seed))
        else:
            variant, _, b = rest.partition(":")
            batch = int(b)
            if kind == "train":
                result = run_train(variant, batch, quick, budget)
            elif kind == "infer":
                result = run_infer(variant, batch, quick, budget)
            else:
                raise ValueError(f"unknown configuration {config!r}")
        result["status"] = "ok"
    except (Exception, _Alarm) as exc:
        text = str(exc).strip()
        first = text.splitlines()[0][:300] if text else ""
        result = {"status": f"failed: {type(exc).__name__}: {first}"}
    print(MARK + json.dumps(result), flush=True)
    return 0


# ---- parent: run the children, aggregate ---------------------------------------------------------------
def run_child(
    config: str,
    quick: bool,
    timeout: float,
    budget: float = 0.0,
    script: Path | None = None,
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run one configuration as `script --one CONFIG` (this file by default) in its own process
    group; its result is the JSON line after MARK on its stdout."""
    argv = [sys.executable, str(script or Path(__file__).resolve()), "--one", config, *extra]
    if script is None:
        argv += ["--budget", str(budget)]
    if quick:
        argv.append("--quick")
    cache = tempfile.mkdtemp(prefix="i2i-bench-inductor-")
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache, PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the child's own process group (it leads it)
        stdout, stderr = proc.communicate()
        shutil.rmtree(cache, ignore_errors=True)
        return {"status": f"failed: timed out after {timeout:.0f} s", "wall_s": time.perf_counter() - t0}
    shutil.rmtree(cache, ignore_errors=True)
    wall = time.perf_counter() - t0
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARK):
            result = json.loads(line[len(MARK) :])
            result["wall_s"] = wall
            return result
    tail = " | ".join(stderr.strip().splitlines()[-3:])[:400]
    return {"status": f"failed: exit {proc.returncode} without a result ({tail})", "wall_s": wall}


def drop_file_cache() -> bool:
    """Empty the OS page cache so the next command reads its files from disk (a truly cold start);
    False where that is not allowed (not root, or a container without /proc/sys write access)."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def time_command(argv: list[str], runs: int = 4, cold_disk: bool = False) -> dict[str, Any]:
    """Wall time of a whole command: the first run ("cold"; with `cold_disk`, after emptying the OS
    file cache where allowed) and the median of the others."""
    times, rcs = [], []
    dropped = drop_file_cache() if cold_disk else False
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(argv, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        rcs.append(r.returncode)
    # One more run under -X importtime to see whether the command imports torch.
    script = argv[1:] if argv[0] == sys.executable else argv  # a `python -c ...` command or a script
    r = subprocess.run([sys.executable, "-X", "importtime", *script], capture_output=True, text=True)
    imports_torch = bool(re.search(r"\|\s+torch\s*$", r.stderr, flags=re.M))
    return {
        "command": " ".join([Path(argv[0]).name, *argv[1:]]),
        "exit_codes": rcs,
        "cold_s": q(times[0], "s"),
        "cold_after_emptying_file_cache": dropped,
        "warm_median_s": q(statistics.median(times[1:]), "s"),
        "warm_runs_s": q([round(t, 4) for t in times[1:]], "s"),
        "imports_torch": imports_torch,
    }


def startup(bin_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {
        "note": "cold = first run in this benchmark process (the OS file cache may already be warm); "
        "warm = median of the next 3 runs"
    }
    for name, argv in (("i2i_plugins", ["i2i", "plugins"]), ("i2i_run_help", ["i2i-run", "--help"])):
        exe = bin_dir / argv[0]
        if not exe.exists():
            out[name] = {"status": f"failed: {exe} not found"}
            continue
        out[name] = {"status": "ok", **time_command([str(exe), *argv[1:]])}
    return out


def wait_for_plugin(max_wait: float) -> str | None:
    """None when the img2img plugin modules the engine needs are importable, else the reason."""
    deadline = time.monotonic() + max_wait
    while True:
        importlib.invalidate_caches()
        missing = []
        for name in PLUGIN_MODULES:
            try:
                found = importlib.util.find_spec(name) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                missing.append(name)
        if not missing:
            return None
        if time.monotonic() >= deadline:
            return f"plugin modules missing: {', '.join(missing)}"
        log(f"waiting for {', '.join(missing)} ...")
        time.sleep(min(30.0, max(1.0, deadline - time.monotonic())))


def summarize(result: dict[str, Any], batch: int) -> dict[str, Any]:
    times = result["step_s"]
    med = statistics.median(times)
    return {
        "seconds_per_step": q(med, "s/step"),
        "step_times": q([round(t, 4) for t in times], "s"),
        "warmup_times": q([round(t, 4) for t in result["warmup_s"]], "s"),
        "_median": med,
        "rss_peak": q(round(result["rss_peak_mib"], 1), "MiB"),
        "rss_increase": q(round(result["rss_peak_mib"] - result["rss_baseline_mib"], 1), "MiB"),
        "rss_process_baseline": q(round(result["rss_baseline_mib"], 1), "MiB"),
        "torch_threads": q(result["torch_threads"], "threads"),
        **({"note": result["note"]} if result.get("note") else {}),
    }


def parent_main(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    quick = args.quick
    budget = args.budget if args.budget is not None else (30.0 if quick else 60.0)
    batches = [1] if quick else [1, 8]
    host = socket.gethostname()
    out_path = (
        Path(args.out) if args.out else HERE / "results" / f"img2img-{host}{'-quick' if quick else ''}.json"
    )
    doc: dict[str, Any] = {
        "benchmark": "img2img (pix2pix) training step, inference and CLI start-up",
        "mode": "quick" if quick else "full",
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "hostname": host,
            "cpu_model": cpu_model(),
            "cpu_count": q(os.cpu_count(), "logical CPUs"),
            "usable_cores": q(n_cores(), "logical CPUs"),
            "cpu_flags": cpu_flags(),
            "memory_total": q(round(mem_total_gib() or 0.0, 2), "GiB"),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "settings": {
            "device": "cpu",
            "image_size": q(SIZE, "px"),
            "generator": "unet_256 (num_downs 8), ngf 64, batch norm, dropout 0.5",
            "discriminator": "PatchGAN 70x70 (n_layers 3), ndf 64, batch norm, input cat(A, B) 6 channels",
            "loss": f"vanilla GAN (BCE with logits) + {LAMBDA_L1:g} * L1; D loss 0.5 * (fake + real)",
            "optimizer": f"Adam lr {LR:g}, betas {BETAS}",
            "data": "synthetic uniform [-1, 1] tensors, one batch reused every step (no data loading timed)",
            "torch_threads": q(n_cores(), "threads"),
            "train_steps": {
                f"batch_{b}": dict(
                    zip(("warmup", "timed"), (q(n, "steps") for n in steps_for("train", b, quick)))
                )
                for b in batches
            },
            "infer_calls": {
                f"batch_{b}": dict(
                    zip(("warmup", "timed"), (q(n, "calls") for n in steps_for("infer", b, quick)))
                )
                for b in batches
            },
            "timing_statistic": "median of the timed steps",
            "compile_limit": q(COMPILE_LIMIT_S, "s"),
            "budget_per_configuration": q(budget, "s of timed steps"),
            "skip_larger_batch_above": q(SKIP_PROJECTED_S, "s projected for 2 steps from batch 1"),
        },
        "variants": {"train": TRAIN_VARIANTS, "infer": INFER_VARIANTS},
    }

    log("start-up timings")
    doc["startup"] = startup(Path(sys.executable).parent)

    log("counting FLOPs")
    flops = run_child("flops:" + ",".join(map(str, batches)), quick, timeout=300)
    doc["machine"]["torch"] = flops.get("torch", {})
    if flops["status"] == "ok":
        doc["flops"] = {
            "method": flops["method"]
            + " (FlopCounterMode: conv/matmul FLOPs, multiply-add = 2; optimiser not counted)",
            "train_step": {f"batch_{b}": q(flops["train"][str(b)], "FLOP") for b in batches},
            "generator_forward": {f"batch_{b}": q(flops["infer"][str(b)], "FLOP") for b in batches},
        }
    else:
        doc["flops"] = {"status": flops["status"]}

    log("measuring the CPU's peak GFLOP/s")
    peak = run_child("peak:", quick, timeout=300)
    doc["machine"]["peak_gflops"] = {
        k: q(v, "GFLOP/s (best of 5)") for k, v in peak.items() if k not in ("status", "wall_s")
    }
    best = {
        prec: max((v for k, v in peak.items() if k.endswith("/" + prec)), default=None)
        for prec in ("fp32", "bf16")
    }

    plugin_problem = wait_for_plugin(args.wait_plugin)
    train: dict[str, Any] = {}
    base_s: dict[int, float] = {}
    fp32_s: dict[int, float] = {}
    for variant in TRAIN_VARIANTS:
        for batch in batches:
            key = f"{variant}/batch_{batch}"
            if variant != "baseline" and plugin_problem:
                train[key] = {"status": f"failed: {plugin_problem}"}
                continue
            small = train.get(f"{variant}/batch_1", {})
            if batch > 1 and small.get("status") != "ok":
                train[key] = {"status": f"skipped: batch 1 did not succeed ({small.get('status')})"}
                continue
            if batch > 1:
                projected = small["seconds_per_step"]["value"] * batch
                if projected * 2 > SKIP_PROJECTED_S:
                    train[key] = {
                        "status": f"skipped: projected {projected:.0f} s/step from batch 1 "
                        f"(x{batch}); 2 steps would exceed {SKIP_PROJECTED_S:.0f} s",
                        "projected_seconds_per_step": q(projected, "s/step"),
                    }
                    continue
            log(f"train {key}")
            timeout = 600 if not variant.startswith("engine_compile") else COMPILE_LIMIT_S + 60 + 40 * batch
            res = run_child(f"train:{variant}:{batch}", quick, timeout=timeout, budget=budget)
            entry: dict[str, Any] = {
                "variant": variant,
                "batch_size": q(batch, "images/step"),
                "status": res["status"],
            }
            if res["status"] == "ok":
                s = summarize(res, batch)
                med = s.pop("_median")
                if variant == "baseline":
                    base_s[batch] = med
                if variant == "engine_fp32":
                    fp32_s[batch] = med
                entry.update(s)
                entry["train_images_per_s"] = q(batch / med, "images/s")
                if batch in base_s:
                    entry["speedup_vs_baseline"] = q(base_s[batch] / med, "x (baseline s/step / this s/step)")
                if variant == "engine_bf16" and batch in fp32_s:
                    entry["speedup_vs_engine_fp32"] = q(
                        fp32_s[batch] / med, "x (engine_fp32 s/step / this s/step)"
                    )
                if doc["flops"].get("train_step"):
                    fl = doc["flops"]["train_step"][f"batch_{batch}"]["value"]
                    entry["achieved_gflops"] = q(fl / med / 1e9, "GFLOP/s")
                    top = best["bf16" if res["info"].get("precision") == "bf16" else "fp32"]
                    if top:
                        entry["fraction_of_peak"] = q(
                            fl / med / 1e9 / top, "achieved / best peak kernel, same dtype"
                        )
                entry["warmup_total"] = q(res["warmup_total_s"], "s")
                entry["engine"] = res["info"]
            entry["subprocess_wall"] = q(res.get("wall_s", 0.0), "s")
            train[key] = entry
            log(f"  -> {entry['status']} {entry.get('seconds_per_step', {}).get('value', '')}")
    doc["train"] = train

    infer: dict[str, Any] = {}
    base_inf: dict[int, float] = {}
    for variant in INFER_VARIANTS:
        for batch in batches:
            key = f"{variant}/batch_{batch}"
            if variant == "pipeline_generate" and plugin_problem:
                infer[key] = {"status": f"failed: {plugin_problem}"}
                continue
            log(f"infer {key}")
            res = run_child(f"infer:{variant}:{batch}", quick, timeout=600, budget=budget)
            entry = {"variant": variant, "batch_size": q(batch, "images/call"), "status": res["status"]}
            if res["status"] == "ok":
                s = summarize(res, batch)
                med = s.pop("_median")
                if variant == "baseline_fp32_nchw":
                    base_inf[batch] = med
                entry["latency_per_image"] = q(med / batch * 1000.0, "ms/image")
                entry["seconds_per_call"] = s.pop("seconds_per_step")
                entry["seconds_per_call"]["unit"] = "s/call"
                entry.update(s)
                entry["images_per_s"] = q(batch / med, "images/s")
                if batch in base_inf:
                    entry["speedup_vs_baseline"] = q(
                        base_inf[batch] / med, "x (baseline s/call / this s/call)"
                    )
                if doc["flops"].get("generator_forward"):
                    fl = doc["flops"]["generator_forward"][f"batch_{batch}"]["value"]
                    entry["achieved_gflops"] = q(fl / med / 1e9, "GFLOP/s")
                if res["info"]:
                    entry["details"] = res["info"]
            entry["subprocess_wall"] = q(res.get("wall_s", 0.0), "s")
            infer[key] = entry
            log(f"  -> {entry['status']} {entry.get('latency_per_image', {}).get('value', '')}")
    doc["inference"] = infer
    if not quick:
        doc["quality"] = quality(quick)
    doc["observations"] = observations(doc, batches)
    doc["runtime"] = q(round(time.perf_counter() - started, 1), "s")

    text = json.dumps(doc, indent=2)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(text + "\n", encoding="utf-8")
    log(f"wrote {out_path}")
    print(text)
    return 0


def quality(quick: bool) -> dict[str, Any]:
    """fp32 (two seeds: the noise) against bf16 on the same short pix2pix run, held-out L1."""
    runs = {}
    for precision, seed in (("fp32", 0), ("fp32", 1), ("bf16", 0)):
        log(f"quality {precision} seed {seed}")
        runs[f"{precision}/seed_{seed}"] = run_child(f"quality:{precision}:{seed}", quick, timeout=900)
    out: dict[str, Any] = {
        "setup": f"img2img demo facades 64x64, unet num_downs 6 ngf 32, PatchGAN ndf 32, batch 4, "
        f"{QUALITY_STEPS} steps, L1 on the held-out test split (0-1)",
        "runs": runs,
    }
    l1 = {k: r.get("held_out_l1") for k, r in runs.items()}
    if all(v is not None for v in l1.values()):
        noise = abs(l1["fp32/seed_0"] - l1["fp32/seed_1"])
        gap = l1["bf16/seed_0"] - l1["fp32/seed_0"]
        out["fp32_seed_noise"] = q(noise, "L1 (|seed 0 - seed 1|)")
        out["bf16_minus_fp32"] = q(gap, "L1 (positive: bf16 worse)")
        out["bf16_within_noise"] = bool(gap <= max(noise, 0.005))
    return out


def observations(doc: dict[str, Any], batches: list[int]) -> list[str]:
    """Automatic one-line findings; a reader should still look at the numbers."""
    notes = []
    train, infer = doc.get("train", {}), doc.get("inference", {})

    def speed(table: dict[str, Any], key: str, field: str = "speedup_vs_baseline") -> float | None:
        entry = table.get(key, {})
        return entry.get(field, {}).get("value") if entry.get("status") == "ok" else None

    for batch in batches:
        for variant in ("engine_fp32", "engine_bf16", "engine_compile", "engine_compile_bf16"):
            key = f"{variant}/batch_{batch}"
            entry = train.get(key, {})
            if entry.get("status", "ok") != "ok":
                notes.append(f"train {key}: {entry['status']}")
                continue
            r = speed(train, key)
            if r is not None:
                verdict = "faster than" if r > 1.05 else "slower than" if r < 0.95 else "on par with"
                notes.append(f"train {key}: {r:.2f}x the baseline's speed ({verdict} plain pix2pix)")
        r = speed(train, f"engine_bf16/batch_{batch}", "speedup_vs_engine_fp32")
        if r is not None and r < 1.0:
            notes.append(f"train batch {batch}: bf16 autocast is slower than fp32 on this CPU ({r:.2f}x)")
    opt = train.get("engine_fp32/batch_1", {}).get("engine", {}).get("optimizer")
    if opt:
        notes.append(f"engine optimiser on CPU: {opt} (make_adam)")
    for batch in batches:
        r = speed(infer, f"pipeline_generate/batch_{batch}")
        c = speed(infer, f"eval_channels_last/batch_{batch}")
        if r is not None and c is not None:
            notes.append(
                f"inference batch {batch}: Pipeline.generate {r:.2f}x, channels_last eval {c:.2f}x "
                "the fp32 NCHW speed"
            )
    for key in ("i2i_plugins", "i2i_run_help"):
        s = doc.get("startup", {}).get(key, {})
        if s.get("imports_torch"):
            notes.append(f"start-up: `{s['command']}` imports torch")
    return notes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="batch 1 only, fewer steps (about 2 minutes)")
    p.add_argument("--out", help="where to write the JSON (default benchmarks/results/img2img-<host>.json)")
    p.add_argument(
        "--wait-plugin",
        type=float,
        default=120.0,
        help="seconds to wait for the img2img plugin modules the engine variants need (default 120)",
    )
    p.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds of timed steps per configuration before steps are cut (default 60, quick 30)",
    )
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration in this process
    args = p.parse_args(argv)
    if args.one:
        return child_main(args.one, args.quick, args.budget)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
