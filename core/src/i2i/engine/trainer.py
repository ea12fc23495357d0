"""The one GAN trainer. It owns device, precision, optimisers, schedule, EMA, checkpoints,
distribution (torchrun + DDP) and logging for every recipe (`i2i.engine.recipe`); a recipe says
which networks and optimisers a step updates, a modality contributes its conditioner, networks,
dataset and loss terms (`i2i.terms`)."""

from __future__ import annotations

import logging
import random
import signal
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from i2i import losses, temporal
from i2i.config import Config
from i2i.engine import checkpoint as ckpt
from i2i.engine import distributed
from i2i.engine.atomic import write_text_atomic
from i2i.engine.data_stream import KeyStream, mix_seed
from i2i.engine.device import Precision, precision_candidates, select_device, select_precision
from i2i.engine.ema import EMA
from i2i.engine.recipe import RecipeContext, recipe_class
from i2i.engine.report import RunLog
from i2i.engine.stop import StopRequests, TrainingStopped
from i2i.errors import ConfigError, I2IError, InputError
from i2i.modality import Modality, resolve_object

log = logging.getLogger("i2i.train")
SAMPLE_ROWS = 4


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


# what a run state that does not fit (or cannot be read) raises while it is loaded
LOAD_ERRORS = (InputError, KeyError, RuntimeError, ValueError, TypeError, IndexError, AttributeError)


def _ignore_stop_signals(worker_id: int) -> None:
    """DataLoader workers leave SIGINT and SIGTERM to the training process. Ctrl-C reaches the
    whole process group and SLURM signals every process of a job step; a worker dying of it
    would fail the batch the step is waiting for (or, through torch's SIGCHLD handler, raise
    in the middle of a step). Ignoring them, workers serve the step in progress and end when the
    loader shuts down, or when they see their parent gone."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def _match_param_layout(opt: torch.optim.Optimizer) -> None:
    """Give loaded moment buffers their parameter's strides (channels_last after a resume).

    Checkpoints store contiguous tensors; fused Adam walks a parameter and its buffers as flat
    memory, so a contiguous buffer beside a channels_last parameter would pair the wrong elements.
    """
    for param, state in opt.state.items():
        for key, value in state.items():
            if isinstance(value, Tensor) and value.shape == param.shape and value.stride() != param.stride():
                state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def _load_init(net: nn.Module, weights: Mapping[str, Tensor], name: str) -> None:
    try:
        net.load_state_dict(weights)
    except RuntimeError as exc:  # the config's network differs from the imported one
        raise ConfigError(
            f"train.init: the {name} weights do not fit ({str(exc).splitlines()[0][:120]})"
        ) from None


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
        init: Mapping[str, Mapping[str, Tensor]] | None = None,
    ) -> None:
        """`init`: weights per network name to start from (`i2i.engine.init.init_from`); a resumed
        run's state replaces them."""
        self.config = config
        self.modality = modality
        self.data_root = Path(data_root)
        self.run_dir = Path(run_dir)
        self.progress = progress
        t = config.train
        from i2i.validation import validate

        validate(modality, config)  # the plugin's own checks of its config values, before anything runs
        if t.steps < 1 or t.batch_size < 1 or t.grad_accum < 1:
            raise ConfigError("train.steps, train.batch_size and train.grad_accum must be >= 1")
        if config.loss.gan not in losses.GAN_LOSSES:  # a term-independent choice: check it up front
            raise ConfigError(
                f"loss.gan: unknown GAN loss {config.loss.gan!r} ({', '.join(losses.GAN_LOSSES)})"
            )
        self.world = distributed.world_from_env()
        self.device = distributed.local_device(self.world, select_device(config.device))
        distributed.init(self.world, self.device)
        # `auto` is measured when a new run starts (`_measure_precision`); until then, fp32
        self.precision = select_precision("fp32" if t.precision == "auto" else t.precision, self.device)
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

        self.ctx = RecipeContext(config, modality, self.device, self.precision, self.world)
        self.recipe = recipe_class(str(config.recipe))(self.ctx)
        nets = self.recipe.networks
        for name, weights in (init or {}).items():
            if name in nets:
                _load_init(nets[name], weights, name)
        if t.sync_batchnorm and self.world.distributed:
            if self.device.type != "cuda":
                raise ConfigError("train.sync_batchnorm: SyncBatchNorm needs CUDA devices")
            for name in self.recipe.sync_batchnorm:
                nets[name] = nn.SyncBatchNorm.convert_sync_batchnorm(nets[name])
        for net in nets.values():
            net.to(self.device)
            if t.channels_last:
                net.to(memory_format=torch.channels_last)
        self.recipe.prepare()
        self.averaged: dict[str, EMA] = (
            {name: EMA(nets[name], config.ema.decay) for name in self.recipe.ema}
            if config.ema.decay > 0
            else {}
        )
        self.base_lr: dict[str, float] = {}  # per optimiser, before the schedule
        for name, members in self.recipe.optimizers.items():
            params = [p for member in members for p in nets[member].parameters()]
            lr, betas = self._optim_settings(name)
            self.base_lr[name] = lr
            self.ctx.optimizers[name] = make_adam(params, lr, betas, self.device)
        self.ctx.scaler = torch.amp.GradScaler(self.device.type) if self.precision.scaler else None
        self.step = 0
        self.position = 0  # samples drawn from the global key stream, all ranks together
        self.nonfinite_in_row = 0
        self._saved_step = -1  # the step of the newest run state this process wrote or loaded
        self._model_floor = 0  # model.safetensors is not replaced by weights of an earlier step

    def _optim_settings(self, name: str) -> tuple[float, list[float]]:
        optim = self.config.optim
        lr_key, betas_key = f"lr_{name}", f"betas_{name}"
        if lr_key not in optim or betas_key not in optim:
            raise ConfigError(
                f"optim: recipe {self.config.recipe!r} needs optim.{lr_key} and optim.{betas_key}"
            )
        return float(optim[lr_key]), list(optim[betas_key])

    # ---- what tests and tools look at -----------------------------------------------------------
    @property
    def generator(self) -> nn.Module:
        return self.recipe.networks["generator"]

    @property
    def discriminator(self) -> nn.Module:
        return self.recipe.networks["discriminator"]

    @property
    def conditioner(self) -> nn.Module:
        return self.recipe.networks["conditioner"]

    @property
    def ema(self) -> EMA | None:
        return self.averaged.get("generator")

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self.ctx.optimizers

    def _averaged_modules(self) -> dict[str, nn.Module]:
        return {name: ema.module for name, ema in self.averaged.items()}

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
            worker_init_fn=_ignore_stop_signals if t.num_workers > 0 else None,
        )
        return iter(loader)

    # ---- one optimisation step ----------------------------------------------------------------
    def _seed_step(self) -> None:
        """Noise and dropout of a step are a function of (seed, step, rank): every rank draws its
        own, and a resumed run (under any world size) draws what an uninterrupted one would."""
        torch.manual_seed(mix_seed(self.config.seed, 2, self.step, self.world.rank))
        random.seed(mix_seed(self.config.seed, 3, self.step, self.world.rank))

    def train_step(self, micro_batches: list[dict[str, Any]]) -> dict[str, float]:
        """One step of the recipe, then the scaler and the EMA copies of what was updated."""
        self.ctx.step = self.step
        self.ctx.stepped.clear()
        stats = self.recipe.train_step(micro_batches, self._averaged_modules())
        if self.ctx.scaler:
            self.ctx.scaler.update()
        decay = self.config.ema.decay if self.step >= self.config.ema.start else 0.0
        for name, ema in self.averaged.items():
            trained_by = [o for o, members in self.recipe.optimizers.items() if name in members]
            if all(o in self.ctx.stepped for o in trained_by):
                ema.update(self.recipe.networks[name], decay)
        return stats

    def _count_nonfinite(self, stats: Mapping[str, float]) -> None:
        """Skipped steps in a row; too many means the run diverged: stop, keeping the last good
        checkpoint (nothing is saved on this path) rather than training on garbage."""
        if any(k.startswith("skipped_") for k in stats):
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
    @staticmethod
    def _ema_key(name: str) -> str:
        return "ema" if name == "generator" else f"ema_{name}"  # "ema": run states before recipes

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "step": self.step,
            "position": self.position,
            "world_size": self.world.size,
            "recipe": self.recipe.extra_state(),
            "scaler": self.ctx.scaler.state_dict() if self.ctx.scaler else None,
            "precision": self.precision.name,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "python": random.getstate(),
            },
        }
        for name, net in self.recipe.networks.items():
            state[name] = net.state_dict()
        for name in self.recipe.ema:
            state[self._ema_key(name)] = (
                self.averaged[name].module.state_dict() if name in self.averaged else None
            )
        for name, opt in self.ctx.optimizers.items():
            state[f"opt_{name}"] = opt.state_dict()
        return state

    def load_state(self, state: Mapping[str, Any]) -> None:
        if self.config.train.precision == "auto":  # a resumed run keeps the precision it measured
            stored = state.get("precision")
            self._set_precision(select_precision(str(stored) if stored else "auto", self.device))
        self.step = int(state["step"])
        per_step = self.config.train.batch_size * self.config.train.grad_accum
        self.position = int(state.get("position", self.step * per_step))  # older states: one process
        for name, net in self.recipe.networks.items():
            net.load_state_dict(state[name])
        for name, ema in self.averaged.items():
            if state.get(self._ema_key(name)) is not None:
                ema.module.load_state_dict(state[self._ema_key(name)])
        for name, opt in self.ctx.optimizers.items():
            opt.load_state_dict(state[f"opt_{name}"])
            _match_param_layout(opt)
        self.recipe.load_extra_state(state.get("recipe") or {})
        if self.ctx.scaler is not None and state.get("scaler"):
            self.ctx.scaler.load_state_dict(state["scaler"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        version, internal, gauss = rng["python"]
        random.setstate((version, tuple(internal), gauss))

    def resume(self) -> bool:
        """Load the newest run state that loads, newest by the step each records; a torn or
        corrupted newest falls back to the one before. Returns False when the run has no run
        state and no model file yet: a run killed before its first checkpoint starts over.

        Refuses (InputError, one line; nothing in the run directory has been written yet) when
        run states exist but none loads (all corrupted, or none fits this config's networks), and
        when there is a model file but no run state: starting over would replace the trained
        model with an untrained one. Newer states that did not load stay until training
        reaches their steps and replaces them; pruning never deletes a state just written for
        them (`ckpt.prune_states`), nor is the model file replaced by an earlier step's weights.
        """
        states = ckpt.list_states(self.run_dir)
        failed: list[tuple[Path, str]] = []
        for path in reversed(states):
            try:
                self.load_state(ckpt.load_state(path))
            except LOAD_ERRORS as exc:
                problem = exc.problem if isinstance(exc, InputError) else " ".join(str(exc).split())
                failed.append((path, problem))
                continue
            for bad, problem in failed:  # said only when resuming: a refusal is one line
                log.warning("skipping unreadable checkpoint %s (%s)", bad, problem[:300])
            log.info("resumed from %s at step %d", path, self.step)
            self._saved_step = self.step
            self._model_floor = self._model_step()
            return True
        model = self.run_dir / "model.safetensors"
        if failed:
            newest, problem = failed[0]
            others = f" (and {len(failed) - 1} older one(s))" if len(failed) > 1 else ""
            raise InputError(
                self.run_dir,
                f"cannot resume: no run state loads; {newest.name}{others}: {problem[:200]}; "
                "nothing was changed (fix the config or the files, or train into another --out)",
            )
        if model.exists():
            raise InputError(
                self.run_dir,
                "cannot resume: it has a model.safetensors but no run state (checkpoints/state-*.safetensors) "
                f"to continue from; nothing was changed (fine-tune it in a new run: --init {model} --out NEW)",
            )
        return False

    def _model_step(self) -> int:
        """The step model.safetensors records (0 when there is none or it is unreadable)."""
        try:
            return int(ckpt.read_metadata(self.run_dir / "model.safetensors").get("step", 0))
        except (InputError, ValueError):
            return 0

    def export_generator(self) -> nn.Module:
        return self.recipe.model_modules(self._averaged_modules())["generator"]

    def save(self) -> Path | None:
        """Write the run state of this step (then prune, then the model file); returns its path
        (None on ranks other than 0, which write nothing). Called only between steps."""
        if not self.world.main:
            return None
        path = ckpt.state_path(self.run_dir, self.step)
        ckpt.save_state(path, self.state())
        self._saved_step = self.step
        ckpt.prune_states(self.run_dir, self.config.train.keep_last, keep=path)
        if self.step >= self._model_floor:
            self.save_model(self.run_dir / "model.safetensors")
        else:  # resumed behind a newer state that did not load: the model file has later weights
            log.info("model.safetensors holds step %d: not replaced by step %d", self._model_floor, self.step)
        return path

    def _stop(self, stop: StopRequests) -> TrainingStopped:
        """Save the completed step (unless its state is already written) and return the exception
        that ends the run. A rank that got no signal itself stops with its peers as if SIGTERMed."""
        signum = stop.signum or signal.SIGTERM
        path = None
        if self.step > 0 and self.step != self._saved_step:
            path = self.save()
        elif self.step == self._saved_step and self.world.main:
            path = ckpt.state_path(self.run_dir, self.step)
        return TrainingStopped(signum, self.step, path)

    def save_model(self, path: Path) -> None:
        modules = self.recipe.model_modules(self._averaged_modules())
        extra = {"plugin": self.modality.name, "step": str(self.step)}
        ckpt.save_model(path, self.config.to_json(), modules, extra, half=self.config.train.model_fp16)

    # ---- samples ----------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_grid(self) -> Tensor:
        """The recipe's sample rows for a fixed set of held-out samples."""
        n = min(SAMPLE_ROWS, len(self.sample_set))
        batch = torch.utils.data.default_collate([self.sample_set[i] for i in range(n)])
        batch = _to_device(batch, self.device, False)
        return self.recipe.sample_grid(batch, self._averaged_modules(), self.config.seed)

    # ---- the loop -----------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> Path:
        """Train to `train.steps` (from the last checkpoint with `resume`), holding the run lock."""
        from i2i.engine.lock import RunLock

        if not self.world.main:  # rank 0 holds the lock and writes; the others only train
            return self._fit(resume)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with RunLock(self.run_dir):
            return self._fit(resume)

    # ---- precision: auto ------------------------------------------------------------------------
    def _set_precision(self, precision: Precision) -> None:
        self.precision = self.ctx.precision = precision
        self.ctx.scaler = torch.amp.GradScaler(self.device.type) if precision.scaler else None

    def _measure_precision(self) -> None:
        """`precision: auto` on a new run: time a few steps of this very model in each candidate
        precision on copies (weights, a fresh optimiser, one batch in memory, every RNG restored)
        and keep the fastest; cached per machine, torch version, model and batch shape. Several
        processes (torchrun) would time differently, so they take the static choice instead."""
        from i2i.engine import autoprecision

        if self.world.distributed:
            self._set_precision(select_precision("auto", self.device))
            log.info("precision auto: %s (not measured under torchrun)", self.precision.name)
            return
        t = self.config.train
        with autoprecision.preserved_rng():
            loader = DataLoader(self.dataset, batch_size=t.batch_size, sampler=KeyStream(len(self.dataset), self.config.seed, chunk=t.batch_size),
                                generator=torch.Generator().manual_seed(self.config.seed))  # fmt: skip
            batch = _to_device(next(iter(loader)), self.device, t.channels_last)
        shapes = {k: tuple(v.shape) for k, v in batch.items() if isinstance(v, Tensor)}
        key = autoprecision.precision_cache_key(
            self.device, {"recipe": self.config.recipe, "model": self.config.model}, shapes
        )
        sync = torch.cuda.synchronize if self.device.type == "cuda" else None

        def time_step(precision: Precision) -> float:
            ctx = RecipeContext(self.config, self.modality, self.device, precision, distributed.World())
            probe = recipe_class(str(self.config.recipe))(ctx)
            for name, net in probe.networks.items():
                net.load_state_dict(self.recipe.networks[name].state_dict())
                net.to(self.device)
                if t.channels_last:
                    net.to(memory_format=torch.channels_last)
            probe.prepare()
            for name, members in probe.optimizers.items():
                params = [p for m in members for p in probe.networks[m].parameters()]
                ctx.optimizers[name] = make_adam(params, *self._optim_settings(name), self.device)
            ctx.scaler = torch.amp.GradScaler(self.device.type) if precision.scaler else None
            return autoprecision.measure_step(
                lambda: probe.train_step([batch], {}), steps=2, warmup=1, sync=sync
            )

        with autoprecision.preserved_rng():  # building the probe's networks draws initial weights
            candidates = precision_candidates(self.device)
            chosen, _ = autoprecision.choose_precision(candidates, time_step, key)
        self._set_precision(chosen)

    def _fit(self, resume: bool) -> Path:
        """The loop, inside `StopRequests`: SIGTERM or Ctrl-C is looked at between steps only
        (all ranks agree on it), so the run state it saves is always that of a completed step."""
        with StopRequests() as stop:
            return self._loop(resume, stop)

    def _loop(self, resume: bool, stop: StopRequests) -> Path:
        t = self.config.train
        main = self.world.main
        resumed = resume and self.resume()  # first: a refusal leaves the run directory as it was
        if main:  # atomically: a kill mid-write must not leave a torn config for --resume to read
            write_text_atomic(self.run_dir / "config.yaml", self.config.to_yaml())
        if resume and not resumed:
            log.warning("no run state in %s yet: starting from step 0", self.run_dir)
        if not resumed and t.precision == "auto":
            self._measure_precision()
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
        for net in self.recipe.networks.values():
            net.train()
        started = time.perf_counter()
        start_step = self.step
        try:
            while self.step < t.steps:
                if distributed.any_rank(stop.requested, self.world, self.device):
                    raise self._stop(stop)
                factor = lr_factor(self.step, t.steps, self.config.optim.decay_from)
                for name, opt in self.ctx.optimizers.items():
                    for group in opt.param_groups:
                        group["lr"] = self.base_lr[name] * factor
                try:
                    micro = [
                        _to_device(next(batches), self.device, t.channels_last) for _ in range(t.grad_accum)
                    ]
                except Exception:
                    if stop.requested:  # a loader the signal ended; nothing of this step has run
                        raise self._stop(stop) from None
                    raise
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
        finally:  # no save here: an exception (or a second signal) may have come mid-step
            bar.close()
            if runlog is not None:
                runlog.close()
        return self.run_dir / "model.safetensors"
