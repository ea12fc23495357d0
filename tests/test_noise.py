"""Sampling noise for `i2i-run`: seeded, and truncated (the BigGAN truncation trick) for any bound."""

from __future__ import annotations

import pytest
import torch

from i2i.errors import I2IError
from i2i.pipeline import draw_noise


def test_same_seed_same_noise_and_plain_draw_is_standard_normal():
    a, b = draw_noise(512, 64, seed=7), draw_noise(512, 64, seed=7)
    assert torch.equal(a, b)
    assert not torch.equal(a, draw_noise(512, 64, seed=8))
    assert abs(a.mean().item()) < 0.02 and abs(a.std().item() - 1) < 0.02
    assert a.abs().max() > 3  # untruncated: the tails are there


@pytest.mark.parametrize("t", [0.25, 1.0, 2.0])
def test_truncation_bounds_the_noise_as_a_truncated_normal_not_clipping(t):
    z = draw_noise(512, 64, seed=0, truncation=t)
    assert z.abs().max() <= t
    # Clipping would pile mass on the bound; a truncated normal has almost none there.
    assert (z.abs() > 0.999 * t).float().mean() < 0.01
    # Truncated-normal variance: 1 - 2 t phi(t) / (2 Phi(t) - 1).
    normal = torch.distributions.Normal(0.0, 1.0)
    tt = torch.tensor(t)
    var = 1 - 2 * tt * normal.log_prob(tt).exp() / (2 * normal.cdf(tt) - 1)
    assert abs(z.var().item() - var.item()) < 0.02 * max(1.0, var.item() * 10)


def test_truncation_must_be_positive():
    with pytest.raises(I2IError, match="truncation"):
        draw_noise(2, 3, seed=0, truncation=0.0)


@pytest.mark.parametrize("t", [1e-12, 1e-6, 1e3])
def test_any_positive_truncation_ends_at_once(t):
    import time

    start = time.perf_counter()
    z = draw_noise(256, 128, seed=0, truncation=t)
    assert time.perf_counter() - start < 2
    assert z.abs().max() <= t and torch.isfinite(z).all()
    assert torch.equal(z, draw_noise(256, 128, seed=0, truncation=t))


def test_nan_truncation_and_unbounded_sample_counts_are_refused():
    with pytest.raises(I2IError, match="truncation"):
        draw_noise(2, 3, seed=0, truncation=float("nan"))
    with pytest.raises(I2IError, match="num-samples"):
        draw_noise(10**9, 128, seed=0)
