"""The model card (README.md) pushed with a checkpoint: YAML front matter the Hub indexes, and a short body.

``card`` keys: ``title``, ``description`` and ``recipe`` (text or a mapping, rendered as a list)
fill the body; ``license``, ``base_model``, ``tags``, ``datasets`` and any other key go into the
front matter. ``metrics`` maps a metric name to a value, or a data set name to such a mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from mmrealsr_plugin.archs.mmrealsr import MMRealSRConfig

LIBRARY_NAME = "mmrealsr-plugin"
PIPELINE_TAG = "image-to-image"
BASE_TAGS = ("mmrealsr", "super-resolution", "image-restoration", "real-world-sr")
DEFAULT_LICENSE = "bsd-3-clause"
BODY_KEYS = ("title", "description", "recipe")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _metrics_table(metrics: Mapping[str, Any]) -> list[str]:
    rows = []
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            rows += [f"| {key} | {name} | {_fmt(v)} |" for name, v in value.items()]
        else:
            rows.append(f"| - | {key} | {_fmt(value)} |")
    return ["| data set | metric | value |", "|---|---|---|", *rows]


def _recipe(recipe: Any) -> list[str]:
    if isinstance(recipe, Mapping):
        return [f"- **{key}**: {_fmt(value)}" for key, value in recipe.items()]
    return [str(recipe)]


def model_card(
    repo_id: str, config: MMRealSRConfig, card: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None, files: tuple[str, ...] = (),
) -> str:
    """README.md text for ``repo_id``."""
    card = dict(card or {})
    front: dict[str, Any] = {"library_name": LIBRARY_NAME, "pipeline_tag": PIPELINE_TAG,
                             "license": card.pop("license", DEFAULT_LICENSE)}
    tags = list(BASE_TAGS) + [f"x{config.scale}"] + [t for t in card.pop("tags", []) if t not in BASE_TAGS]
    front["tags"] = list(dict.fromkeys(tags))
    body = {key: card.pop(key) for key in BODY_KEYS if key in card}
    front.update(card)
    lines = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip(), "---", ""]
    lines += [f"# {body.get('title') or repo_id.split('/')[-1]}", ""]
    lines += [body.get("description") or (
        f"MM-RealSR x{config.scale} real-world super-resolution with two restoration knobs, noise and blur "
        "(0 = keep, 1 = full strength), estimated from the image when not set."), ""]
    lines += ["## Usage", "", "```sh", "pip install mmrealsr-plugin",
              f"mmrealsr restore --model hf://{repo_id}/model.safetensors input.png -o out/ --noise 0.5 --blur 0.5",
              "```", "", "```python", "import mmrealsr_plugin as sr",
              f'model = sr.load_model("hf://{repo_id}/model.safetensors")', "```", ""]
    if "recipe" in body:
        lines += ["## Training recipe", "", *_recipe(body["recipe"]), ""]
    if metrics:
        lines += ["## Measured metrics", "", *_metrics_table(metrics), ""]
    arch = config.to_dict()
    lines += ["## Architecture", "", *[f"- {key}: {value}" for key, value in arch.items()], ""]
    if files:
        lines += ["## Files", "", *[f"- `{name}`" for name in files], ""]
    return "\n".join(lines)
