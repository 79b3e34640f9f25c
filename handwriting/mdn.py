"""Mixture density output of Graves (2013), eqs. 15-26: M bivariate Gaussians with correlation
for the pen offset plus a Bernoulli for the end of stroke. All densities are kept in log space
(log-sum-exp over the components), so long lines cannot underflow."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


class Mixture(NamedTuple):
    """MDN parameters, each (..., M) except `eos_logit` (...)."""

    log_pi: torch.Tensor  # log mixture weights, eq. 19
    mu1: torch.Tensor  # means, eq. 20
    mu2: torch.Tensor
    log_sigma1: torch.Tensor  # log standard deviations, eq. 21
    log_sigma2: torch.Tensor
    rho: torch.Tensor  # correlations in (-1, 1), eq. 22
    eos_logit: torch.Tensor  # end-of-stroke logit, eq. 18 (e = sigmoid)


def split_params(y: torch.Tensor, n_mixtures: int, bias: float = 0.0) -> Mixture:
    """Network output (..., 1 + 6M) -> Mixture. `bias` b >= 0 sharpens sampling (section 5.4):
    sigma = exp(sigma_hat - b), pi = softmax(pi_hat * (1 + b)); b = 0 for training."""
    eos, pi_hat, mu1, mu2, s1, s2, rho_hat = torch.split(y, [1] + [n_mixtures] * 6, dim=-1)
    return Mixture(
        log_pi=F.log_softmax(pi_hat * (1 + bias), dim=-1),
        mu1=mu1,
        mu2=mu2,
        log_sigma1=(s1 - bias).clamp(min=-8.0),
        log_sigma2=(s2 - bias).clamp(min=-8.0),
        rho=torch.tanh(rho_hat).clamp(-0.9999, 0.9999),
        eos_logit=eos.squeeze(-1),
    )


def log_gaussian2d(x1, x2, mix: Mixture) -> torch.Tensor:
    """log N(x | mu, sigma, rho) per component (eqs. 24-25); x1, x2 are (...) and broadcast."""
    z1 = (x1.unsqueeze(-1) - mix.mu1) * torch.exp(-mix.log_sigma1)
    z2 = (x2.unsqueeze(-1) - mix.mu2) * torch.exp(-mix.log_sigma2)
    one_m_rho2 = 1 - mix.rho**2
    z = z1**2 + z2**2 - 2 * mix.rho * z1 * z2
    return (
        -LOG_2PI
        - mix.log_sigma1
        - mix.log_sigma2
        - 0.5 * torch.log(one_m_rho2)
        - z / (2 * one_m_rho2)
    )


def nll(mix: Mixture, target: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood per point (eq. 26), shape (...); target (..., 3) is (dx, dy, pen)."""
    log_density = torch.logsumexp(
        mix.log_pi + log_gaussian2d(target[..., 0], target[..., 1], mix), -1
    )
    log_eos = -F.binary_cross_entropy_with_logits(mix.eos_logit, target[..., 2], reduction="none")
    return -(log_density + log_eos)


@torch.no_grad()
def sample(mix: Mixture, generator: torch.Generator | None = None) -> torch.Tensor:
    """One point (B, 3) from a Mixture of shape (B, M): pick a component, then draw the
    correlated Gaussian and the Bernoulli end-of-stroke."""
    j = torch.multinomial(mix.log_pi.exp(), 1, generator=generator)  # (B, 1)
    pick = [t.gather(-1, j).squeeze(-1) for t in mix[1:6]]
    mu1, mu2, ls1, ls2, rho = pick
    n1, n2 = torch.randn(2, *mu1.shape, generator=generator, device=mu1.device)
    s1, s2 = ls1.exp(), ls2.exp()
    x1 = mu1 + s1 * n1
    x2 = mu2 + s2 * (rho * n1 + torch.sqrt(1 - rho**2) * n2)
    eos = torch.bernoulli(torch.sigmoid(mix.eos_logit), generator=generator)
    return torch.stack([x1, x2, eos], dim=-1)
