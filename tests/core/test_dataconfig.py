"""The one strict config reader: every configuration dataclass (architecture, registry, training) goes through it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from mmrealsr_plugin.archs.mmrealsr import MMRealSRConfig
from mmrealsr_plugin.dataconfig import AT_LEAST_ONE, NON_NEGATIVE, from_dict, ranged, to_dict
from mmrealsr_plugin.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    size: int = ranged(4, AT_LEAST_ONE)
    weights: dict[str, float] = ranged(default_factory=dict, allowed=NON_NEGATIVE)


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    scale: Literal[1, 2, 4] = 4
    pair: tuple[float, float] = (0.0, 1.0)
    sizes: tuple[int, ...] = ranged((1,), AT_LEAST_ONE)
    path: str | None = None
    inner: Inner = field(default_factory=Inner)


@pytest.mark.parametrize(("data", "message"), [
    ({"nmae": "y"}, "unknown config key(s) ['nmae'] in the top level"),
    ({"inner": {"sise": 1}}, "unknown config key(s) ['inner.sise'] in [inner]"),
    ({"name": 5}, "'name' has the wrong type: expected text, got 5"),
    ({"scale": True}, "'scale' must be one of [1, 2, 4], got True"),
    ({"pair": [1.0]}, "'pair' has the wrong type: expected a list of 2 numbers, got [1.0]"),
    ({"pair": [1.0, float("nan")]}, "'pair[1]' must be a finite number, got nan"),
    ({"sizes": [3, 0]}, "'sizes[1]' must be >= 1, got 0"),
    ({"inner": {"size": 0}}, "'inner.size' must be >= 1, got 0"),
    ({"inner": {"weights": {"a": -1.0}}}, "'inner.weights.a' must be >= 0, got -1.0"),
    ({"path": 3}, "'path' has the wrong type: expected text, got 3"),
    ({"inner": 3}, "'inner' has the wrong type: expected a table, got 3"),
])
def test_every_problem_names_the_dotted_key_the_value_and_what_is_allowed(data: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        from_dict(Outer, data, source="f.toml")
    assert str(caught.value).startswith("f.toml: ") and message in str(caught.value), str(caught.value)


def test_values_come_back_in_the_dataclass_types_and_round_trip() -> None:
    read = from_dict(Outer, {"pair": [1, 2], "sizes": [2, 3], "inner": {"weights": {"a": 1}}})
    assert read.pair == (1.0, 2.0) and isinstance(read.pair[0], float) and read.sizes == (2, 3)
    assert from_dict(Outer, to_dict(read)) == read


def test_given_values_cannot_come_from_the_data() -> None:
    assert from_dict(Inner, {}, given={"size": 2}).size == 2
    with pytest.raises(ConfigError, match="unknown config key"):
        from_dict(Inner, {"size": 3}, given={"size": 2})


def test_an_estimator_stage_of_width_zero_is_refused_however_the_config_is_made() -> None:
    """It used to be accepted and fail only at the first forward pass (training guarded it on its own)."""
    with pytest.raises(ConfigError, match=r"'estimator_feats\[0\]' must be >= 1"):
        MMRealSRConfig.from_dict({"estimator_feats": [0, 16], "estimator_blocks": [1, 1],
                                  "estimator_downscales": [2, 1]})
    with pytest.raises(ValueError, match=r"estimator_feats\[0\] must be >= 1"):
        MMRealSRConfig(estimator_feats=(0, 16), estimator_blocks=(1, 1), estimator_downscales=(2, 1))
    with pytest.raises(ValueError, match="estimator_downscales"):
        MMRealSRConfig(estimator_downscales=(1, 1, 3, 1))
