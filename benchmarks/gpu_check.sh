#!/usr/bin/env bash
# The GPU check on a lent machine that reaches no registry (see benchmarks/gpu_check.py).
# Carried: .whl/ with the wheels the machine's image lacks (ASE, matscipy), fetched beforehand with
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 -d .whl ase matscipy
# The image's python3 has torch (CUDA), e3nn, safetensors, scipy, tqdm and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade .whl/*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || export PYTHONPATH="$PWD"
exec python3 benchmarks/gpu_check.py "$@"
