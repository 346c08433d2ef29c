"""One source of randomness for a whole degradation call, driven by an explicit ``torch.Generator``.

Why: the same seed must give the same batch (bit-identical on the CPU), so nothing here touches the global
RNG. Draws happen on the generator's device and are moved to the images' device, so a CPU generator also
drives a GPU pipeline (slower: noise fields cross the bus); pass a CUDA generator for speed on the GPU.
"""

from __future__ import annotations

import torch


class RandomSource:
    """Uniform, normal, Poisson and categorical draws from one generator, returned on ``device``."""

    def __init__(self, generator: torch.Generator, device: torch.device) -> None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        self.generator = generator
        self.device = device

    def rand(self, *shape: int) -> torch.Tensor:
        """U[0, 1) float32 of ``shape`` on ``device``."""
        out = torch.rand(shape, generator=self.generator, device=self.generator.device)
        return out.to(self.device)

    def uniform(self, n: int, low: float | torch.Tensor, high: float | torch.Tensor) -> torch.Tensor:
        """``n`` draws of U[low, high); bounds may be per-sample tensors."""
        return low + (high - low) * self.rand(n)

    def bernoulli(self, n: int, p: float) -> torch.Tensor:
        """``n`` booleans, each True with probability ``p``."""
        return self.rand(n) < p

    def categorical(self, n: int, probs: tuple[float, ...]) -> torch.Tensor:
        """``n`` indices into ``probs`` (inverse CDF of one uniform each)."""
        cdf = torch.tensor(probs, dtype=torch.float64).cumsum(0)
        cdf = (cdf / cdf[-1]).to(torch.float32).to(self.device)
        return torch.searchsorted(cdf, self.rand(n), right=True).clamp_max(len(probs) - 1)

    def scalar(self) -> float:
        """One U[0, 1) Python float, for batch-level choices (resize direction, mode, noise kind)."""
        return float(torch.rand((), generator=self.generator, device=self.generator.device))

    def choice(self, probs: tuple[float, ...]) -> int:
        """One index into ``probs`` for a batch-level decision."""
        u, total, acc = self.scalar(), sum(probs), 0.0
        for index, p in enumerate(probs):
            acc += p / total
            if u < acc:
                return index
        return len(probs) - 1

    def randn(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Standard normal field of ``shape`` on ``device``."""
        out = torch.randn(shape, generator=self.generator, device=self.generator.device)
        return out.to(self.device)

    def poisson(self, rates: torch.Tensor) -> torch.Tensor:
        """Poisson counts for non-negative ``rates`` (same shape and device as ``rates``)."""
        out = torch.poisson(rates.to(self.generator.device), generator=self.generator)
        return out.to(rates.device)
