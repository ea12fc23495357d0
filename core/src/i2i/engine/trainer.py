"""The one GAN trainer. It owns device, precision, optimisers, schedule, EMA, checkpoints,
distribution (torchrun + DDP) and logging; a modality contributes only its conditioner, networks,
dataset and optional extra loss terms (Conditioner.extra_generator_loss)."""

from __future__ import annotations

import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from i2i import losses, temporal
from i2i.config import Config
from i2i.engine import checkpoint as ckpt
from i2i.engine import distributed
from i2i.engine.build import build_conditioner, build_discriminator, build_generator
from i2i.engine.data_stream import KeyStream, mix_seed
from i2i.engine.device import select_device, select_precision
from i2i.engine.ema import EMA
from i2i.engine.report import RunLog, write_text_atomic
from i2i.errors import ConfigError, I2IError, InputError
from i2i.interfaces import Condition
from i2i.modality import Modality, resolve_object

log = logging.getLogger("i2i.train")
SAMPLE_ROWS = 4
FAKE_BEFORE = "_fake_before"  # temporal mode: frame t-1 as generated, before any flow warp


def lr_factor(step: int, total: int, decay_from: float) -> float:
    """Constant, then linear decay to zero (the pix2pix schedule, counted in steps)."""
    start = int(total * decay_from)
    return 1.0 - max(0, step - start) / float(total - start + 1)


def make_adam(
    params: list[nn.Parameter], lr: float, betas: list[float], device: torch.device
) -> torch.optim.Adam:
    """Fused Adam where this torch supports it on the device (measured faster), else foreach."""
    betas_t = (float(betas[0]), float(betas[1]))
    try:
        return torch.optim.Adam(params, lr=lr, betas=betas_t, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, betas=betas_t, foreach=True)


def _sigterm_as_interrupt() -> Callable[[], None]:
    """Treat SIGTERM (schedulers, `kill`, container stops) like Ctrl-C: the loop saves a checkpoint
    of the last finished step before exiting. Returns the function that restores the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)


def _match_param_layout(opt: torch.optim.Optimizer) -> None:
    """Give loaded moment buffers their parameter's strides (channels_last after a resume).

    Checkpoints store contiguous tensors; fused Adam walks a parameter and its buffers as flat
    memory, so a contiguous buffer beside a channels_last parameter would pair the wrong elements.
    """
    for param, state in opt.state.items():
        for key, value in state.items():
            if isinstance(value, Tensor) and value.shape == param.shape and value.stride() != param.stride():
                state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


class _GenerateStep(nn.Module):
    """Conditioner then generator as one module, so one DDP wrapper averages the gradients of
    both (the conditioner's parameters are trained with the generator's)."""

    def __init__(self, conditioner: nn.Module, generator: nn.Module) -> None:
        super().__init__()
        self.conditioner = conditioner
        self.generator = generator

    def forward(self, batch: dict[str, Any], noise: Tensor | None) -> tuple[Condition, Tensor]:
        cond = temporal.with_previous(self.conditioner(batch), batch)
        return cond, self.generator(cond, noise)


def _to_device(batch: Mapping[str, Any], device: torch.device, channels_last: bool) -> dict[str, Any]:
    out = {}
    for k, v in batch.items():
        if isinstance(v, Tensor):
            fmt = torch.channels_last if channels_last and v.dim() == 4 else torch.contiguous_format
            out[k] = v.to(device, non_blocking=True, memory_format=fmt)
        else:
            out[k] = v
    return out


class Trainer:
    """Train a modality from a config on a data directory into a run directory."""

    def __init__(
        self,
        config: Config,
        modality: Modality,
        data_root: str | Path,
        run_dir: str | Path,
        *,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.modality = modality
        self.data_root = Path(data_root)
        self.run_dir = Path(run_dir)
        self.progress = progress
        t = config.train
        if t.steps < 1 or t.batch_size < 1 or t.grad_accum < 1:
            raise ConfigError("train.steps, train.batch_size and train.grad_accum must be >= 1")
        if config.loss.gan not in losses.GAN_LOSSES:
            raise ConfigError(
                f"loss.gan: unknown GAN loss {config.loss.gan!r} ({', '.join(losses.GAN_LOSSES)})"
            )
        self.world = distributed.world_from_env()
        self.device = distributed.local_device(self.world, select_device(config.device))
        distributed.init(self.world, self.device)
        self.precision = select_precision(t.precision, self.device)
        if t.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        torch.manual_seed(config.seed)
        random.seed(config.seed)

        dataset_cls = resolve_object(modality.dataset)
        self.dataset = dataset_cls(self.data_root, config.data, "train", True)
        self.temporal = bool(config.temporal.enabled)
        if self.temporal:
            self.dataset = temporal.ConsecutiveFrames(self.dataset)
        self.sample_set = self._sample_dataset(dataset_cls)

        self.conditioner = build_conditioner(modality, config).to(self.device)
        self.generator = build_generator(config).to(self.device)
        self.discriminator = build_discriminator(config).to(self.device)
        if t.sync_batchnorm and self.world.distributed:
            if self.device.type != "cuda":
                raise ConfigError("train.sync_batchnorm: SyncBatchNorm needs CUDA devices")
            self.generator = nn.SyncBatchNorm.convert_sync_batchnorm(self.generator)
            self.discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(self.discriminator)
        if t.channels_last:
            for m in (self.conditioner, self.generator, self.discriminator):
                m.to(memory_format=torch.channels_last)
        self.previous = temporal.Previous(config.temporal.flow, self.device) if self.temporal else None
        self.ema = EMA(self.generator, config.ema.decay) if config.ema.decay > 0 else None
        self.vgg: nn.Module | None = None
        if config.loss.vgg > 0:
            from i2i.nets.vgg import load_vgg_loss

            self.vgg = load_vgg_loss().to(self.device)
        g_params = list(self.generator.parameters()) + list(self.conditioner.parameters())
        self.opt_g = make_adam(g_params, config.optim.lr_g, config.optim.betas_g, self.device)
        self.opt_d = make_adam(
            list(self.discriminator.parameters()), config.optim.lr_d, config.optim.betas_d, self.device
        )
        self.scaler = torch.amp.GradScaler(self.device.type) if self.precision.scaler else None
        self.g_fwd: nn.Module = self.generator
        self.d_fwd: nn.Module = self.discriminator
        if t.compile:
            self.g_fwd = torch.compile(self.generator)
            self.d_fwd = torch.compile(self.discriminator)
        # DDP wraps what the D step trains (D) and what the G step trains (conditioner + G); the G
        # step runs the unwrapped D, whose frozen parameters DDP must not wait for.
        self.gen_step: nn.Module = distributed.wrap(
            _GenerateStep(self.conditioner, self.g_fwd), self.world, self.device
        )
        self.d_train: nn.Module = distributed.wrap(self.d_fwd, self.world, self.device)
        self.step = 0
        self.position = 0  # samples drawn from the global key stream, all ranks together
        self.nonfinite_in_row = 0

    # ---- data -------------------------------------------------------------------------------
    def _sample_dataset(self, dataset_cls: Any) -> Any:
        for split in ("test", "val"):
            try:
                ds = dataset_cls(self.data_root, self.config.data, split, False)
                if len(ds) > 0:
                    return ds
            except InputError:
                continue
        return dataset_cls(self.data_root, self.config.data, "train", False)

    def _batches(self) -> Iterator[dict[str, Any]]:
        t = self.config.train
        stream = KeyStream(
            len(self.dataset),
            self.config.seed,
            start=self.position,
            rank=self.world.rank,
            world=self.world.size,
            chunk=t.batch_size,
        )
        loader = DataLoader(
            self.dataset,
            batch_size=t.batch_size,
            sampler=stream,
            num_workers=t.num_workers,
            persistent_workers=False,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if t.num_workers > 0 else None,
            # Its own generator: creating the iterator must not draw from the global torch RNG,
            # or a resumed run (which creates it after restoring that RNG) would drift.
            generator=torch.Generator().manual_seed(self.config.seed),
        )
        return iter(loader)

    # ---- one optimisation step ----------------------------------------------------------------
    def _noise(self, batch_size: int) -> Tensor | None:
        dim = getattr(self.generator, "noise_dim", 0)
        return torch.randn(batch_size, dim, device=self.device) if dim else None

    def _generate(self, batch: dict[str, Any]) -> tuple[Condition, Tensor]:
        noise = batch[temporal.NOISE] if temporal.NOISE in batch else self._noise(batch["target"].shape[0])
        with self.precision.autocast(self.device):
            return self.gen_step(batch, noise)

    def _with_previous(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Temporal mode: generate frame t-1 first (no previous frame, as a video's first frame),
        then give it to frame t, as inference does; both frames share one noise draw."""
        before = temporal.previous_sample(batch)
        noise = self._noise(batch["target"].shape[0])
        with torch.no_grad():
            _, fake_before = self._generate({**before, temporal.NOISE: noise})
        assert self.previous is not None
        moved = self.previous(fake_before.float(), batch.get("input"), before.get("input"))
        return {**batch, temporal.PREVIOUS: moved, temporal.NOISE: noise, FAKE_BEFORE: fake_before}

    def _seed_step(self) -> None:
        """Noise and dropout of a step are a function of (seed, step, rank): every rank draws its
        own, and a resumed run (under any world size) draws what an uninterrupted one would."""
        torch.manual_seed(mix_seed(self.config.seed, 2, self.step, self.world.rank))
        random.seed(mix_seed(self.config.seed, 3, self.step, self.world.rank))

    def _backward(self, loss: Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler else loss).backward()

    def _opt_step(self, opt: torch.optim.Optimizer) -> None:
        if self.scaler:
            self.scaler.step(opt)
        else:
            opt.step()

    def train_step(self, micro_batches: list[dict[str, Any]]) -> dict[str, float]:
        cfg = self.config.loss
        if self.temporal:
            micro_batches = [self._with_previous(b) for b in micro_batches]
        accum = len(micro_batches)
        stats: dict[str, float] = {}

        def add(name: str, value: Tensor) -> None:
            stats[name] = stats.get(name, 0.0) + float(value.detach()) / accum

        # NaN/Inf guard: a step whose loss is not finite is not applied (its gradients are dropped)
        d_finite = torch.ones((), dtype=torch.bool, device=self.device)
        g_finite = torch.ones((), dtype=torch.bool, device=self.device)

        # discriminator: real vs detached fake
        self.discriminator.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        kept: list[tuple[Condition, Tensor]] = []
        for batch in micro_batches:
            real = batch["target"]
            if accum == 1:
                cond, fake = self._generate(batch)
                kept.append((cond, fake))
            else:
                with torch.no_grad():
                    cond, fake = self._generate(batch)
            c_d = cond.detach()
            # lazy regularisation (StyleGAN2): the penalty every ma_gp_every steps, weighted up to match
            gp = cfg.ma_gp > 0 and c_d.vector is not None and self.step % cfg.ma_gp_every == 0
            if cfg.r1 > 0 or gp:
                real = real.detach().requires_grad_(True)
            c_real = replace(c_d, vector=c_d.vector.requires_grad_(True)) if gp else c_d
            with self.precision.autocast(self.device):
                d_fake = self.d_train(fake.detach(), c_d)
                d_real = self.d_train(real, c_real)
            fake_term = losses.d_loss(cfg.gan, d_fake, real=False)
            if cfg.mismatch > 0:
                # matching-aware: a real image with another sample's condition is also "fake"
                with self.precision.autocast(self.device):
                    d_wrong = self.d_train(real.detach(), c_d.roll(1))
                wrong = losses.d_loss(cfg.gan, d_wrong, real=False)
                add("d_mismatch", wrong)
                fake_term = (fake_term + cfg.mismatch * wrong) / (1 + cfg.mismatch)
            loss_d = 0.5 * cfg.gan_weight * (fake_term + losses.d_loss(cfg.gan, d_real, real=True))
            add("d_adv", loss_d)
            if cfg.r1 > 0:
                r1 = losses.r1_penalty(d_real, real)
                add("d_r1", r1)
                loss_d = loss_d + cfg.r1 * r1
            if gp:
                ma = losses.matching_aware_gp(d_real, real, c_real.vector, cfg.ma_gp_power)
                add("d_ma_gp", ma)
                loss_d = loss_d + cfg.ma_gp * cfg.ma_gp_every * ma
            d_finite = d_finite & torch.isfinite(loss_d.detach())
            self._backward(loss_d / accum)
        if distributed.all_ranks(d_finite, self.world):
            self._opt_step(self.opt_d)
        else:
            stats["skipped_d"] = 1.0

        # generator: fool the updated discriminator, plus reconstruction and FM
        self.discriminator.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        for i, batch in enumerate(micro_batches):
            real = batch["target"]
            cond, fake = kept[i] if accum == 1 else self._generate(batch)
            with self.precision.autocast(self.device):
                d_fake = self.d_fwd(fake, cond)
                terms = {"g_adv": cfg.gan_weight * losses.g_loss(cfg.gan, d_fake)}
                if cfg.feature_matching > 0:
                    with torch.no_grad():
                        d_real = self.d_fwd(real, cond.detach())
                    terms["g_fm"] = cfg.feature_matching * losses.feature_matching(d_fake, d_real)
            if cfg.l1 > 0:
                terms["g_l1"] = cfg.l1 * F.l1_loss(fake.float(), real.float())
            if self.vgg is not None:
                terms["g_vgg"] = cfg.vgg * self.vgg(fake, real)
            if self.temporal:
                change = temporal.temporal_loss(
                    fake, batch[FAKE_BEFORE], real, batch[temporal.PREFIX + "target"]
                )
                terms["g_temporal"] = self.config.temporal.weight * change
            for name, value in self.conditioner.extra_generator_loss(fake, batch, cond).items():
                terms[f"g_{name}"] = value
            loss_g = torch.stack([v.float() for v in terms.values()]).sum()
            for name, value in terms.items():
                add(name, value)
            g_finite = g_finite & torch.isfinite(loss_g.detach())
            self._backward(loss_g / accum)
        g_ok = distributed.all_ranks(g_finite, self.world)
        if g_ok:
            self._opt_step(self.opt_g)
        else:
            stats["skipped_g"] = 1.0
        if self.scaler:
            self.scaler.update()
        if self.ema is not None and g_ok:
            decay = self.config.ema.decay if self.step >= self.config.ema.start else 0.0
            self.ema.update(self.generator, decay)
        return stats

    def _count_nonfinite(self, stats: Mapping[str, float]) -> None:
        """Skipped steps in a row; too many means the run diverged: stop, keeping the last good
        checkpoint (nothing is saved on this path) rather than training on garbage."""
        if "skipped_d" in stats or "skipped_g" in stats:
            self.nonfinite_in_row += 1
            log.warning(
                "step %d: non-finite loss, update skipped (%d in a row)", self.step, self.nonfinite_in_row
            )
            if self.nonfinite_in_row >= self.config.train.max_nonfinite:
                last = ckpt.list_states(self.run_dir)
                raise I2IError(
                    f"{self.run_dir}: training diverged: {self.nonfinite_in_row} steps in a row with NaN/Inf "
                    f"losses (to step {self.step}); last good checkpoint: {last[-1].name if last else 'none'}"
                )
        else:
            self.nonfinite_in_row = 0

    # ---- checkpoints ----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "position": self.position,
            "world_size": self.world.size,
            "conditioner": self.conditioner.state_dict(),
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "python": random.getstate(),
            },
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        self.step = int(state["step"])
        per_step = self.config.train.batch_size * self.config.train.grad_accum
        self.position = int(state.get("position", self.step * per_step))  # older states: one process
        self.conditioner.load_state_dict(state["conditioner"])
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.module.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        _match_param_layout(self.opt_g)
        _match_param_layout(self.opt_d)
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        version, internal, gauss = rng["python"]
        random.setstate((version, tuple(internal), gauss))

    def resume(self) -> bool:
        """Load the newest readable run state; a torn newest file falls back to the one before."""
        for path in reversed(ckpt.list_states(self.run_dir)):
            try:
                self.load_state(ckpt.load_state(path))
                log.info("resumed from %s at step %d", path, self.step)
                return True
            except (InputError, KeyError, RuntimeError, ValueError) as exc:
                log.warning("skipping unreadable checkpoint %s (%s)", path, exc)
        return False

    def export_generator(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.generator

    def save(self) -> None:
        if not self.world.main:
            return
        ckpt.save_state(ckpt.state_path(self.run_dir, self.step), self.state())
        ckpt.prune_states(self.run_dir, self.config.train.keep_last)
        self.save_model(self.run_dir / "model.safetensors")

    def save_model(self, path: Path) -> None:
        modules = {"generator": self.export_generator(), "conditioner": self.conditioner}
        extra = {"plugin": self.modality.name, "step": str(self.step)}
        ckpt.save_model(path, self.config.to_json(), modules, extra, half=self.config.train.model_fp16)

    # ---- samples ----------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_grid(self) -> Tensor:
        """Rows of (condition | generated | target) for a fixed set of held-out samples."""
        n = min(SAMPLE_ROWS, len(self.sample_set))
        batch = torch.utils.data.default_collate([self.sample_set[i] for i in range(n)])
        batch = _to_device(batch, self.device, False)
        gen = self.export_generator()
        was_training = gen.training
        gen.eval()
        self.conditioner.eval()
        g = torch.Generator(device="cpu").manual_seed(self.config.seed)
        dim = getattr(gen, "noise_dim", 0)
        z = torch.randn(n, dim, generator=g).to(self.device) if dim else None
        with self.precision.autocast(self.device):
            cond = self.conditioner(batch)
            fake = gen(cond, z).float()
        gen.train(was_training)
        self.conditioner.train()
        target = batch["target"].float()
        cols = []
        shown = self.conditioner.visualize(batch, cond)
        if shown is not None:
            cols.append(F.interpolate(shown.float(), size=target.shape[-2:], mode="nearest"))
        cols += [fake, target]
        return torch.cat(cols, dim=3).clamp(-1, 1).cpu()

    # ---- the loop -----------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> Path:
        """Train to `train.steps` (from the last checkpoint with `resume`), holding the run lock."""
        from i2i.engine.lock import RunLock

        if not self.world.main:  # rank 0 holds the lock and writes; the others only train
            return self._fit(resume)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with RunLock(self.run_dir):
            return self._fit(resume)

    def _fit(self, resume: bool) -> Path:
        t = self.config.train
        main = self.world.main
        if main:  # atomically: a kill mid-write must not leave a torn config for --resume to read
            write_text_atomic(self.run_dir / "config.yaml", self.config.to_yaml())
        if resume and not self.resume():
            log.info("no checkpoint in %s: starting from step 0", self.run_dir)
        runlog = RunLog(self.run_dir, tensorboard=t.tensorboard) if main else None
        if runlog is not None:
            runlog.forget_after(self.step)
        from tqdm.auto import tqdm

        bar = tqdm(
            total=t.steps,
            initial=self.step,
            disable=not (self.progress and main),
            dynamic_ncols=True,
            unit="step",
        )
        running: dict[str, float] = {}
        batches = self._batches()
        self.generator.train()
        self.discriminator.train()
        self.conditioner.train()
        started = time.perf_counter()
        start_step = self.step
        restore_sigterm = _sigterm_as_interrupt()
        try:
            while self.step < t.steps:
                factor = lr_factor(self.step, t.steps, self.config.optim.decay_from)
                for opt, base in ((self.opt_g, self.config.optim.lr_g), (self.opt_d, self.config.optim.lr_d)):
                    for group in opt.param_groups:
                        group["lr"] = base * factor
                micro = [_to_device(next(batches), self.device, t.channels_last) for _ in range(t.grad_accum)]
                self._seed_step()
                stats = self.train_step(micro)
                self.step += 1
                self.position += t.batch_size * t.grad_accum * self.world.size
                self._count_nonfinite(stats)
                for k, v in stats.items():
                    running[k] = v if k not in running else 0.9 * running[k] + 0.1 * v
                bar.update(1)
                if runlog is not None and (self.step % t.log_every == 0 or self.step == t.steps):
                    bar.set_postfix({k: f"{v:.3f}" for k, v in running.items()}, refresh=False)
                    rate = (self.step - start_step) / max(1e-9, time.perf_counter() - started)
                    runlog.scalars(self.step, {**stats, "lr_factor": factor, "steps_per_s": rate})
                if runlog is not None and (self.step % t.sample_every == 0 or self.step == t.steps):
                    from i2i.data.images import make_grid_image

                    runlog.sample(self.step, make_grid_image([self.sample_grid()]))
                    runlog.write_report(f"i2i run: {self.modality.name}", self.config.to_yaml())
                periodic = self.step % t.checkpoint_every == 0 and self.nonfinite_in_row == 0
                if periodic or self.step == t.steps:  # no periodic saves inside a NaN streak
                    self.save()
        except KeyboardInterrupt:
            self.save()
            raise
        finally:
            bar.close()
            if runlog is not None:
                runlog.close()
            restore_sigterm()
        return self.run_dir / "model.safetensors"
