"""IL, the reference's independent learner: an actor-critic whose baseline is the actor's own value head.

No Q-network and no operator: Â_i = G_t − V(o_i), and the actor's loss adds mean_alive((V − G)²).
(Not to be confused with the independent *operator* inside VAST, which regresses sub-team values.)
"""

from __future__ import annotations

from vast.learner.algos import actor_loss as al
from vast.learner.algos.base import PolicyGradientMethod


class IndependentActorCritic(PolicyGradientMethod):
    def critic_phase(self, data, probs_old, value, out):
        return data.returns.unsqueeze(-1) - value.detach()

    def extra_actor_loss(self, data, value, out):
        v_loss = al.value_loss(value, data.returns, data.alive)
        out["loss/value"] = v_loss.detach()
        return v_loss
