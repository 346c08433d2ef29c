"""``mmrealsr models``: the known models, which are available locally, and where."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import settings
from ..registry import load_registry
from ..sources import locate


def handler(args: argparse.Namespace) -> int:
    registry = load_registry()
    rows = []
    for name, entry in sorted(registry.entries.items()):
        status, path, how = locate(entry)
        rows.append({"name": name, "default": name == registry.default, "status": status, "path": path,
                     "how": how, "description": entry.description, "license": entry.license,
                     "source": entry.source or entry.url or (entry.repo_id and f"hf://{entry.repo_id}")})
    if args.json:
        print(json.dumps({"models_dir": settings.models_dir(), "models": rows}, indent=2))
        return 0
    print(f"Models folder for manual downloads: {Path(settings.models_dir())} (set {settings.HOME_ENV} to move it)")
    width = max((len(r["name"]) for r in rows), default=4) + 2
    for row in rows:
        mark = "*" if row["default"] else " "
        where = row["path"] if row["path"] else row["how"]
        print(f"{mark} {row['name']:<{width}}{row['status']:<10}{where}")
        if row["description"]:
            print(f"  {'':<{width}}{'':<10}{row['description']}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        description="List the registry's models (packaged, Hub, official releases; plus entries from the TOML file "
        f"named by {settings.MODELS_CONFIG_ENV}) with their status: packaged, local (in the models folder), cached "
        "(Hugging Face cache), remote (fetched on first use) or manual (download it yourself into the models folder).",
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(func=handler)
