"""The mixture density loss against a slow per-component reference, its stability, and the bias."""

import math

import torch

from handwriting import mdn


def slow_nll(y: torch.Tensor, target: torch.Tensor, M: int) -> float:
    """Graves (2013) eqs. 18-26 for one point, component by component, in plain float maths."""
    y = y.tolist()
    e = 1 / (1 + math.exp(-y[0]))
    pi_hat = y[1 : 1 + M]
    pis = [math.exp(p) / sum(math.exp(q) for q in pi_hat) for p in pi_hat]
    x1, x2, pen = target.tolist()
    density = 0.0
    for j in range(M):
        mu1, mu2 = y[1 + M + j], y[1 + 2 * M + j]
        s1, s2 = math.exp(y[1 + 3 * M + j]), math.exp(y[1 + 4 * M + j])
        rho = math.tanh(y[1 + 5 * M + j])
        z = ((x1 - mu1) / s1) ** 2 + ((x2 - mu2) / s2) ** 2
        z -= 2 * rho * (x1 - mu1) * (x2 - mu2) / (s1 * s2)
        n = math.exp(-z / (2 * (1 - rho**2))) / (2 * math.pi * s1 * s2 * math.sqrt(1 - rho**2))
        density += pis[j] * n
    return -math.log(density) - math.log(e if pen > 0.5 else 1 - e)


def test_nll_matches_per_component_reference():
    torch.manual_seed(0)
    M = 4
    y = torch.randn(6, 1 + 6 * M, dtype=torch.float64) * 0.7
    target = torch.cat([torch.randn(6, 2), torch.randint(0, 2, (6, 1))], -1).double()
    fast = mdn.nll(mdn.split_params(y, M), target)
    for i in range(6):
        assert math.isclose(fast[i].item(), slow_nll(y[i], target[i], M), rel_tol=1e-9)


def test_nll_is_finite_far_from_every_component_and_on_long_lines():
    M = 3
    y = torch.zeros(1, 2000, 1 + 6 * M)
    y[..., 1 + 3 * M :] = -5.0  # tiny sigmas: naive densities underflow to 0 -> inf loss
    target = torch.full((1, 2000, 3), 50.0)
    target[..., 2] = 1.0
    loss = mdn.nll(mdn.split_params(y, M), target)
    assert torch.isfinite(loss).all()
    assert loss.sum().item() > 1e6  # large, as it should be, but not inf
    y.requires_grad_(True)
    mdn.nll(mdn.split_params(y, M), target).sum().backward()
    assert torch.isfinite(y.grad).all()


def test_bias_sharpens_mixture_and_shrinks_spread():
    M = 2
    y = torch.zeros(1, 1 + 6 * M)
    y[0, 1:3] = torch.tensor([0.0, 1.0])  # pi_hat
    y[0, 1 + 3 * M : 1 + 5 * M] = 0.0  # sigma = 1
    for b in (0.0, 1.0, 3.0):
        mix = mdn.split_params(y, M, bias=b)
        assert torch.allclose(mix.log_sigma1.exp(), torch.full((1, M), math.exp(-b)))
        expected = torch.softmax(torch.tensor([0.0, 1.0]) * (1 + b), -1)
        assert torch.allclose(mix.log_pi.exp()[0], expected)
    g = torch.Generator().manual_seed(0)
    spread = {}
    for b in (0.0, 3.0):
        mix = mdn.split_params(y.expand(4000, -1), M, bias=b)
        spread[b] = mdn.sample(mix, g)[:, :2].std().item()
    assert spread[0.0] > 0.9 and spread[3.0] < 0.1


def test_sample_follows_the_correlation():
    M = 1
    y = torch.zeros(20000, 1 + 6 * M)
    y[:, 1 + 5 * M] = math.atanh(0.8)
    points = mdn.sample(mdn.split_params(y, M), torch.Generator().manual_seed(1))
    corr = torch.corrcoef(points[:, :2].T)[0, 1].item()
    assert abs(corr - 0.8) < 0.03
    assert abs(points[:, 2].mean().item() - 0.5) < 0.03  # eos logit 0 -> p = 0.5
