"""Build the networks of a run: the generator (from scratch, a checkpoint, or Real-ESRGAN ncnn) and the discriminator."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from mmrealsr_plugin.archs.mmrealsr import MMRealSR
from mmrealsr_plugin.convert import identity_modulation_, mmrealsr_from_rrdb, read_ncnn_rrdb
from mmrealsr_plugin.errors import ModelLoadError
from mmrealsr_plugin.weights import read_network

from .config import TrainConfig
from .discriminator import UNetDiscriminatorSN


def official_init_(
    model: MMRealSR, scale: float = 0.1, parts: tuple[str, ...] = ("body", "am_list", "dd_embed", "de_net")
) -> MMRealSR:
    """Kaiming-normal x 0.1 with zero bias for the dense blocks, modulations, embedding and estimator.

    The small scale keeps the 23 residual-in-residual blocks close to the identity at the start,
    which is what makes training from scratch stable; other layers keep the PyTorch default.
    """
    with torch.no_grad():
        for part in parts:
            for layer in getattr(model, part).modules():
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(layer.weight)
                    layer.weight.mul_(scale)
                    nn.init.zeros_(layer.bias)
    return model


def pytorch_init_(module: nn.Module) -> nn.Module:
    """Every convolution and linear layer back to PyTorch's default init (draws from the global RNG).

    For the estimator: metric learning from the official kaiming x 0.1 init keeps the scores at 0.5.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            layer.reset_parameters()
    return module


def build_generator(config: TrainConfig) -> MMRealSR:
    """The generator a run starts from, per ``[init]``; the caller has seeded torch."""
    init = config.init
    if init.realesrgan_ncnn_param:
        try:
            trunk = read_ncnn_rrdb(init.realesrgan_ncnn_param, init.realesrgan_ncnn_bin)
        except ModelLoadError as exc:
            raise ModelLoadError(f"init.realesrgan_ncnn_param/bin cannot be used: {exc}") from exc
        model = mmrealsr_from_rrdb(trunk, config.model, seed=config.run.seed)
    elif init.generator:
        try:
            model = read_network(init.generator).requires_grad_(True)
        except ModelLoadError as exc:
            raise ModelLoadError(f"init.generator = {init.generator!r} cannot be used: {exc}") from exc
        model.config = replace(model.config, knobs=config.model.knobs)  # how the run conditions it, not shapes
        if model.config.canonical() != config.model.canonical():
            raise ModelLoadError(
                f"init.generator {init.generator!r} has architecture {model.config.to_dict()}, but [model] asks for "
                f"{config.model.to_dict()}; make [model] match the file"
            )
    else:
        model = official_init_(MMRealSR(config.model))
    if init.identity_modulation:
        identity_modulation_(model)
    if init.reinit_estimator == "official":
        official_init_(model, parts=("de_net",))
    elif init.reinit_estimator == "pytorch":
        pytorch_init_(model.de_net)
    return model.train()


def build_discriminator(config: TrainConfig) -> UNetDiscriminatorSN:
    d = config.discriminator
    return UNetDiscriminatorSN(config.model.out_channels, d.num_feat, d.skip_connection).train()
