"""VGG19 feature extractor for the perceptual loss; weights come from a file or the Hub, never bundled.

The module layout is torchvision's ``vgg19().features`` (keys ``features.N.weight``), so the
ImageNet weights torchvision publishes load directly; classifier keys in such files are ignored.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mmrealsr_plugin.errors import MMRealSRError, ModelLoadError, TrainingConfigError
from mmrealsr_plugin.sources import HUB_SCHEME, fetch_remote
from mmrealsr_plugin.weights import read_state_dict

from .config import VGG19_LAYERS

_PLAN = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _conv_indices() -> dict[str, int]:
    """Index of each named conv inside ``features`` (conv1_2 -> 2, ..., conv5_4 -> 34)."""
    indices: dict[str, int] = {}
    index, block, conv = 0, 1, 1
    for item in _PLAN:
        if item == "M":
            index, block, conv = index + 1, block + 1, 1
        else:
            indices[f"conv{block}_{conv}"] = index
            index, conv = index + 2, conv + 1  # conv, ReLU
    return indices


CONV_INDEX = _conv_indices()


class VGG19Features(nn.Module):
    """Returns the pre-ReLU outputs of the requested convs for [0, 1] RGB input (ImageNet-normalised inside)."""

    def __init__(self, layers: tuple[str, ...]) -> None:
        super().__init__()
        unknown = [name for name in layers if name not in VGG19_LAYERS]
        if unknown:
            raise TrainingConfigError(f"unknown VGG19 layers {unknown}; known: {VGG19_LAYERS}")
        self.layers = tuple(layers)
        last = max(CONV_INDEX[name] for name in layers)
        modules: list[nn.Module] = []
        in_ch = 3
        for item in _PLAN:
            if item == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                modules += [nn.Conv2d(in_ch, int(item), 3, 1, 1), nn.ReLU(inplace=False)]
                in_ch = int(item)
        self.features = nn.Sequential(*modules[: last + 1])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        wanted = {CONV_INDEX[name]: name for name in self.layers}
        out: dict[str, torch.Tensor] = {}
        x = (x - self.mean) / self.std
        for index, module in enumerate(self.features):
            x = module(x)
            if index in wanted:
                out[wanted[index]] = x
        return out


def resolve_vgg_weights(source: str) -> Path:
    """A local path as is; ``hf://owner/repo/path/in/repo`` downloaded (and cached) from the Hub."""
    if source.startswith(HUB_SCHEME):
        if len(source[len(HUB_SCHEME):].split("/")) < 3:
            raise TrainingConfigError(f"losses.vgg_weights {source!r}: expected hf://owner/repo/file")
        return fetch_remote(source)  # through the Hub plugin: cached, verified, bounded waits
    return Path(source).expanduser()


def load_vgg19(layers: tuple[str, ...], source: str) -> VGG19Features:
    """Build the extractor and load ImageNet weights; a clear error when none are given."""
    if not source:
        raise TrainingConfigError(
            "losses.perceptual > 0 needs VGG19 ImageNet weights, and none ship with this package. Set "
            "losses.vgg_weights to a local file (e.g. torchvision's vgg19-dcbb9e9d.pth converted or as is) or to "
            "hf://owner/repo/file, or disable the loss with --set losses.perceptual=0"
        )
    net = VGG19Features(layers)
    try:
        tensors = read_state_dict(resolve_vgg_weights(source)).tensors
    except (MMRealSRError, OSError) as exc:
        raise ModelLoadError(f"losses.vgg_weights = {source!r} cannot be used: {exc}") from exc
    tensors = {k: v for k, v in tensors.items() if k.startswith("features.")}
    wanted = net.features.state_dict()
    missing = [f"features.{k}" for k in wanted if f"features.{k}" not in tensors]
    if missing:
        raise ModelLoadError(f"{source}: not VGG19 features weights (torchvision layout); missing {missing[:4]}")
    for key, value in wanted.items():
        if tensors[f"features.{key}"].shape != value.shape:
            raise ModelLoadError(f"{source}: features.{key} has shape {tuple(tensors[f'features.{key}'].shape)}, "
                                 f"expected {tuple(value.shape)} (VGG19)")
    net.features.load_state_dict({k: tensors[f"features.{k}"] for k in wanted}, strict=True)
    return net
