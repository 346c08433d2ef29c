"""``mmrealsr train CONFIG``: run or resume a training run (single process, or under torchrun); registered by the
training plugin and imported only when the command runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmrealsr_plugin.cli.exit_codes import EXIT_FAILED, EXIT_OK
from mmrealsr_plugin.errors import HubError

from .config import load_config
from .publish import push_checkpoint_every, push_final
from .trainer import train


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "train",
        description=(
            "Train from a TOML config (a path, or a bundled name such as mmrealsr_net_x4, mmrealsr_gan_x4, "
            "estimator_only, finetune_from_realesrgan, smoke). Data parallel: "
            "torchrun --nproc_per_node=N -m mmrealsr_plugin train CONFIG."
        ),
    )
    parser.add_argument("config", help="TOML config file or bundled config name")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the run's latest complete checkpoint (starts fresh if there is none)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value (TOML syntax), e.g. --set run.total_iter=1000; repeatable")
    parser.add_argument("--push-to-hub", metavar="REPO",
                        help="upload the final EMA weights with a model card to this Hub repo (hub.every: also periodically)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.push_to_hub:
        overrides.append(f'hub.repo="{args.push_to_hub}"')
    config = load_config(args.config, overrides)
    hook = push_checkpoint_every(config) if config.hub.repo and config.hub.every else None
    exported = train(config, resume=args.resume, on_checkpoint=hook)
    if exported is not None:
        print(f"mmrealsr: trained weights written to {exported}")
        if config.hub.repo:
            try:
                url = push_final(config, Path(exported))
            except HubError as exc:  # the Hub plugin turns every failure of the client into one of these
                print(f"mmrealsr: error: pushing to the Hub repo {config.hub.repo} failed ({type(exc).__name__}: "
                      f"{exc}). Nothing is lost: the weights are in {exported}; push them later with `mmrealsr hub "
                      f"push {exported} --repo-id {config.hub.repo}`", file=sys.stderr)
                return EXIT_FAILED
            print(f"mmrealsr: pushed to {url}")
    return EXIT_OK
