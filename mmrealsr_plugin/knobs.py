"""How a model turns the knobs a user sets into the scores its network is conditioned on.

``absolute`` (every official model): the network gets the knobs as they are; the automatic setting is the
estimate, a different point of the network's input for every photo.

``relative`` (models trained for it, e.g. ``mmrealsr-x4-v3``): each knob is read against the image's own
estimate ``e``: ``e`` maps to 0.5, 0 to 0 and 1 to 1, linearly on each side (and beyond, when extrapolating).
Why: the automatic setting then meets the network at one point, (0.5, 0.5), whatever the photo, so it can be
exactly the restoration the model was distilled from; and a knob position means the same share of "less" or
"more" restoration on every photo, which a network that does not see the estimate can learn. What users see does
not change: the knobs still start at the estimate, and the scores shown are the estimator's.
"""

from __future__ import annotations

from typing import Literal, TypeVar

KnobMode = Literal["absolute", "relative"]
KNOB_MODES: tuple[KnobMode, ...] = ("absolute", "relative")
REFERENCE = 0.5
"""The network input of the automatic setting in ``relative`` mode."""
EDGE = 0.02
"""Estimates are held inside [EDGE, 1 - EDGE], so both sides of the map keep a finite slope."""

Array = TypeVar("Array")  # numpy arrays and torch tensors alike: only arithmetic, comparison and clip are used


def network_scores(mode: KnobMode, knobs: Array, estimate: Array) -> Array:
    """The scores to condition the network on, for ``knobs`` (B, 2) set on images whose estimate is ``estimate``."""
    if mode == "absolute":
        return knobs
    e = estimate.clip(EDGE, 1 - EDGE)  # type: ignore[attr-defined]
    below = (knobs <= e) * 1.0  # type: ignore[operator]
    return below * (REFERENCE * knobs / e) + (1 - below) * (  # type: ignore[operator]
        REFERENCE + (1 - REFERENCE) * (knobs - e) / (1 - e))  # type: ignore[operator]
