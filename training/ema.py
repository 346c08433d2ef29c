"""Exponential moving average of a model's weights (decay 0.999 in both official stages)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``shadow = decay * shadow + (1 - decay) * model`` after every optimizer step.

    The shadow is a full frozen copy of the model, so it can be evaluated and exported as is.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        current = dict(model.named_parameters())
        shadow = dict(self.shadow.named_parameters())
        # one fused update instead of ~900 small ones (the EMA was a visible share of a GPU step)
        torch._foreach_lerp_(list(shadow.values()), [current[n].detach() for n in shadow], 1.0 - self.decay)
        current_buffers = dict(model.named_buffers())
        for name, buf in self.shadow.named_buffers():
            buf.copy_(current_buffers[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.shadow.load_state_dict(state, strict=True)
