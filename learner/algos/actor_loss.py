"""The actor's losses (reference-spec §1.4.2): REINFORCE with a baseline (default) or PPO-clip.

All per-(transition, agent) terms are averaged over ALIVE pairs only: dead agents act uniformly and the
environment ignores their actions, so they carry no policy-gradient signal.
"""

from __future__ import annotations

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` over the True entries of `mask` (0 when there are none)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def vff_advantage(returns: torch.Tensor, probs_old: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Â_i = G_t − Σ_a π_old(a | o_i) · Q_i(o_i, a), both baseline factors detached.

    returns (M,), probs_old and q (M, N, A) -> (M, N). Used by the actor of every VFF method and by
    MetaGrad, with the just-updated local Q-net.
    """
    baseline = (probs_old.detach() * q.detach()).sum(-1)
    return returns.unsqueeze(-1) - baseline


def importance_weights(logp_current: torch.Tensor, logp_behaviour: torch.Tensor, clip: float) -> torch.Tensor:
    """Async correction min(clip, π_current(a) / μ(a)), detached (a truncated per-decision ratio)."""
    return torch.exp(logp_current.detach() - logp_behaviour).clamp(max=clip)


def reinforce_loss(
    logp_taken: torch.Tensor,
    advantage: torch.Tensor,
    alive: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """−mean_alive(w · log π(a_i | o_i) · Â_i), Â (and w) detached."""
    term = logp_taken * advantage.detach()
    if weight is not None:
        term = term * weight.detach()
    return -masked_mean(term, alive)


def ppo_clip_loss(
    logp_taken: torch.Tensor,
    logp_old: torch.Tensor,
    advantage: torch.Tensor,
    alive: torch.Tensor,
    clip: float,
) -> torch.Tensor:
    """−mean_alive(min(ρ·Â, clip(ρ, 1 ± ε)·Â)) with ρ = π(a) / π_old(a); ρ corrects off-policy data itself."""
    ratio = torch.exp(logp_taken - logp_old.detach())
    adv = advantage.detach()
    term = torch.minimum(ratio * adv, ratio.clamp(1.0 - clip, 1.0 + clip) * adv)
    return -masked_mean(term, alive)


def value_loss(value: torch.Tensor, returns: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
    """IL's critic term: mean_alive((V(o_i) − G_t)²), weight 1."""
    return masked_mean((value - returns.unsqueeze(-1)) ** 2, alive)
