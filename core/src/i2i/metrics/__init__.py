"""Offline metrics, and the evaluator API a modality implements for `i2i eval`.

`Modality.evaluator` names a function

    evaluate(pipe: Pipeline, data: Path, split: str = "test", limit: int | None = None) -> dict

that `i2i eval --checkpoint F --data DIR [--split S] [--limit N] [--json]` calls with the loaded
`i2i.pipeline.Pipeline` (its `config`, `modality`, `conditioner`, `generator`, `generate`) and the
data directory. A typical evaluator builds the modality's own dataset without augmentation,
`resolve_object(pipe.modality.dataset)(data, pipe.config.data, split, False)`, generates with a
fixed seed (`pipe.generate(batch, seed=0)`) so that every number is reproducible, scores with the
helpers of this package and returns its result with the common header, built by
`i2i.metrics.result.evaluation(pipe, data, split, n, metrics, notes)`: `plugin`, `checkpoint`,
`data`, `split`, `n` (how many samples were scored), `metrics` (the plugin's own numbers), `notes`
(what each number measures) and `provenance` (i2i, plugin and torch versions, device, time).
`i2i eval` prints it (as JSON with `--json`). The shipped evaluators' `metrics` hold the model's
mean scores and references scored the same way (an unchanged input, bicubic upscaling, a warp
alone, real images as a ceiling) so that a number means something. No split on disk is an
`InputError` naming the data directory.

- `i2i.metrics.paired`: L1, PSNR, SSIM (masked too) against a paired ground truth.
- `i2i.metrics.video`: flicker of a generated video against its input.
- `i2i.metrics.batches`: a split stacked into one batch, the pipeline run over it in chunks.
- `i2i.metrics.judges`: proxy judges (small networks trained on the real data), their training
  loop and their cache.
- `i2i.metrics.result`: the result header every evaluator returns.
"""
