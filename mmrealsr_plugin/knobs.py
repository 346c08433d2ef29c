"""How a model turns the knobs a user sets into the scores its network is conditioned on.

``absolute`` (every official model): the network gets the knobs as they are; the automatic setting is the
estimate, a different point of the network's input for every photo.

``relative`` (models trained for it, e.g. ``mmrealsr-x4-v4``): each knob is read against the image's own
estimate ``e``: ``e`` maps to 0.5, 0 to 0 and 1 to 1, linearly on each side (and beyond, when extrapolating).
Why: the automatic setting then meets the network at one point, (0.5, 0.5), whatever the photo, so it can be
exactly the restoration the model was distilled from; and a knob position means the same share of "less" or
"more" restoration on every photo, which a network that does not see the estimate can learn. What users see does
not change: the knobs still start at the estimate, and the scores shown are the estimator's.
"""

from __future__ import annotations

from typing import Literal, TypeVar

KnobMode = Literal["absolute", "relative"]
REFERENCE = 0.5
"""The network input of the automatic setting in ``relative`` mode."""
EDGE = 0.02
"""Smallest distance from the estimate to an end used as a side's length: an estimate within EDGE of 0 (or 1) still
maps to the reference exactly, and that side keeps a finite slope (0 or 1 itself is then not quite reached)."""

Array = TypeVar("Array")  # numpy arrays and torch tensors alike: only arithmetic, comparison and clip are used


def network_scores(mode: KnobMode, knobs: Array, estimate: Array) -> Array:
    """The scores to condition the network on, for ``knobs`` (B, 2) set on images whose estimate is ``estimate``."""
    if mode == "absolute":
        return knobs
    below = (knobs <= estimate) * 1.0  # type: ignore[operator]
    offset = knobs - estimate  # type: ignore[operator]
    side = below * estimate.clip(EDGE, None) + (1 - below) * (1 - estimate).clip(EDGE, None)  # type: ignore[attr-defined]
    return REFERENCE + (below * REFERENCE + (1 - below) * (1 - REFERENCE)) * offset / side
