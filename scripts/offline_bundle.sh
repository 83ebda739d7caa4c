#!/usr/bin/env bash
# Build, on a machine with network, a wheelhouse for an air-gapped GPU host that already has Python, torch/CUDA and
# transformers (e.g. an NVIDIA image): verl 0.9.1, Ray, hydra/omegaconf, TransferQueue, ... and r1-recipe's own wheel,
# as x86-64 wheels for the target's Python. On the target: scripts/gpu_check.sh --wheels DIR (or by hand:
# pip install --no-index --no-deps --target SITE DIR/*.whl; export PYTHONPATH=SITE). docs/recipes.md "Offline GPU
# hosts" has the steps.
#
#   bash scripts/offline_bundle.sh [--out .bundle/wheels] [--python 3.12] [--have FREEZE] [--budget-mib 60]
#
# --have FREEZE: `pip list --format=freeze` of the target; without it, the stack of the measured H200 image
#   (/work/shared/notes/gpu-h200-facts.md: torch 2.11, transformers 5.17, accelerate, peft, pandas, pyarrow, numpy,
#   sympy, aiohttp, psutil, jinja2, pyyaml, msgpack, protobuf, grpcio and what those need) is assumed.
# What is left out on purpose (never imported by verl's trainers with the console/file loggers): the vLLM/SGLang
#   engines (rollout `hf` replaces them), wandb, tensorboard, torchcodec, qwen-vl-utils, mathruler, nvtx, pytest*,
#   Ray's dashboard extras (ray[default]), matplotlib (only `r1-recipe report`), and from Ray's wheel its Java jar
#   (ray/jars/ray_dist.jar, 31 MB: Java workers only) and the dashboard's web UI build. The script checks that every wheel's requirements are met by the bundle, the target's
#   stack or that list, and prints the total size against --budget-mib (default 60: the 64 MiB that may travel with
#   a working tree to a GPU machine, minus ~1.5 MiB of tree and some room).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.bundle/wheels PYV=3.12 HAVE="" BUDGET_MIB=60
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --python) PYV=$2; shift 2 ;;
    --have) HAVE=$(realpath "$2"); shift 2 ;;
    --budget-mib) BUDGET_MIB=$2; shift 2 ;;
    *) echo "usage: $0 [--out DIR] [--python 3.12] [--have FREEZE] [--budget-mib N]" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-.venv/bin/python}
TAG=cp${PYV/./}
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64
           manylinux2014_x86_64 linux_x86_64)
PLATFORM_ARGS=()
for p in "${PLATFORMS[@]}"; do PLATFORM_ARGS+=(--platform "$p"); done

# The measured H200 image (gpu-h200-facts.md) and what its packages need to import; pillow was there too (verl's
# main_ppo, which imports PIL, ran without it being installed). Replaced by the names of --have FREEZE.
H200_HAVE="torch transformers pillow accelerate peft pandas pyarrow numpy sympy aiohttp psutil jinja2 pyyaml msgpack
protobuf grpcio filelock typing-extensions networkx fsspec setuptools triton mpmath huggingface-hub tokenizers
safetensors regex tqdm packaging httpx httpcore anyio sniffio idna certifi h11 click typer typer-slim shellingham hf-xet
python-dateutil six tzdata pytz aiohappyeyeballs aiosignal attrs frozenlist multidict propcache yarl markupsafe"
HAVE_NAMES=$H200_HAVE
if [ -n "$HAVE" ]; then
  HAVE_NAMES=$(sed -e '/^#/d' -e 's/[=<>@ ].*//' "$HAVE" | tr '\n' ' ')
fi
# What the GPU check imports beyond the target's stack. Unpinned names get the version installed in this machine's
# venv (the one the CPU test suite passed with), else the newest wheel for the target.
RUNTIME=(
  verl==0.9.1 ray==2.60.0 hydra-core omegaconf tensordict pyvers orjson cloudpickle importlib-metadata zipp
  lazy-importer torchdata transferqueue prometheus-client pyzmq msgspec fastapi starlette annotated-doc
  opentelemetry-api uvicorn pydantic pydantic-core annotated-types typing-inspection datasets dill multiprocess xxhash
  jsonschema jsonschema-specifications referencing rpds-py codetiming cachetools pebble math-verify
  latex2sympy2-extended requests urllib3 charset-normalizer pillow
)
# pillow: verl imports PIL in its datasets and workers whatever the model (rl_dataset.py, engine_workers.py)
mapfile -t RUNTIME < <("$PY" - "$HAVE_NAMES" "${RUNTIME[@]}" <<'PIN'
import sys
from importlib.metadata import PackageNotFoundError, version

from packaging.utils import canonicalize_name

have = {canonicalize_name(n) for n in sys.argv[1].split()}  # what the target has is not downloaded
for req in sys.argv[2:]:
    name = req.split("==")[0]
    if canonicalize_name(name) in have:
        continue
    try:
        print(req if "==" in req else f"{req}=={version(name)}")
    except PackageNotFoundError:
        print(req)
PIN
)
# sdist-only on PyPI, pure Python: built here as py3-none-any wheels
BUILD=(antlr4-python3-runtime==4.9.3 pylatexenc==2.10)

rm -rf "$OUT" && mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export PIP_CONSTRAINT=""   # a host-wide pip constraint (e.g. on torch) must not reach a download for another target
echo "offline_bundle: downloading ${#RUNTIME[@]} packages for $TAG x86-64 ..." >&2
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYV" --implementation cp \
  --abi "$TAG" --abi abi3 --abi none "${PLATFORM_ARGS[@]}" --platform any -d "$tmp/dl" "${RUNTIME[@]}"
"$PY" -m pip wheel -q --no-deps -w "$tmp/dl" "${BUILD[@]}"
# r1-recipe itself, from this tree, as pip builds it (packages discovered: tests/test_packaging.py)
rm -rf build ./*.egg-info
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$tmp/dl" . >/dev/null
rm -rf build ./*.egg-info

"$PY" - "$tmp/dl" "$OUT" "$PYV" "$HAVE_NAMES" "$BUDGET_MIB" <<'PY'
"""Repack Ray without its Java jar, copy the wheels, check their requirements are met, report sizes."""
import re
import shutil
import sys
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

src, out, pyv, have_names, budget = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
# Required by a bundled wheel's metadata, never imported by the check (see the header of offline_bundle.sh).
SKIP = {"nvtx": "NVTX ranges for nsys (verl falls back without it)", "wandb": "logger wandb", "tensorboard": "logger tensorboard", "torchcodec": "video inputs",
        "qwen-vl-utils": "vision models", "mathruler": "verl's geo3k reward", "pytest": "tests",
        "pytest-asyncio": "tests", "pytest-rerunfailures": "tests", "matplotlib": "r1-recipe report",
        "pybind11": "building extensions", "vllm": "rollout hf replaces it", "sglang": "rollout hf replaces it",
        "flash-attn": "sdpa instead", "liger-kernel": "optional kernels", "tensorboardx": "logger tensorboard",
        "torchvision": "vision models", "py-spy": "ray[default] dashboard",
        "opencensus": "ray[default]", "opentelemetry-sdk": "ray[default]", "prometheus-client": "ray[default]",
        "smart-open": "ray[default]", "virtualenv": "ray[default]", "aiohttp-cors": "ray[default]",
        "colorful": "ray[default]", "opentelemetry-exporter-prometheus": "ray[default]",
        "opentelemetry-proto": "ray[default]", "ray-cpp": "ray[cpp]"}

out.mkdir(parents=True, exist_ok=True)
for whl in sorted(src.glob("*.whl")):
    dest = out / whl.name
    if whl.name.startswith("ray-"):
        # Java workers' jar (31 MB) and the dashboard's web UI build: neither runs without Java / ray[default]
        jar = re.compile(r"^ray/(jars/|dashboard/client/build/)")
        with zipfile.ZipFile(whl) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
            for item in zin.infolist():
                if jar.match(item.filename):
                    continue
                data = zin.read(item.filename)
                if item.filename.endswith(".dist-info/RECORD"):
                    data = b"".join(l for l in data.splitlines(keepends=True) if not jar.match(l.decode()))
                zout.writestr(item, data)
        print(f"ray: {whl.stat().st_size / 2**20:.1f} MiB -> {dest.stat().st_size / 2**20:.1f} MiB without ray/jars/ "
              "and ray/dashboard/client/build/")
    else:
        shutil.copy2(whl, dest)

wheels = {canonicalize_name(parse_wheel_filename(w.name)[0]): w for w in out.glob("*.whl")}
have = {canonicalize_name(n) for n in have_names.split()}
env = {**default_environment(), "python_version": pyv, "python_full_version": f"{pyv}.0", "sys_platform": "linux",
       "platform_system": "Linux", "platform_machine": "x86_64", "implementation_name": "cpython",
       "platform_python_implementation": "CPython"}
missing, skipped = {}, {}
for name, whl in sorted(wheels.items()):
    with zipfile.ZipFile(whl) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode()
    extras = {"antlr4_9_3"} if name == "math-verify" else {""}
    for line in re.findall(r"^Requires-Dist: (.+)$", text, re.M):
        req = Requirement(line)
        if req.marker is not None and not any(req.marker.evaluate({**env, "extra": e}) for e in extras):
            continue
        dep = canonicalize_name(req.name)
        if dep in wheels or dep in have or dep.startswith(("nvidia-", "cuda-")):
            continue
        (skipped if dep in SKIP else missing).setdefault(dep, set()).add(name)
for dep, by in sorted(skipped.items()):
    print(f"left out: {dep} ({SKIP[dep]}), required by {', '.join(sorted(by))}")
total = sum(w.stat().st_size for w in wheels.values()) / 2**20
print(f"{len(wheels)} wheels, {total:.1f} MiB in {out} (budget {budget:g} MiB)")
for name, whl in sorted(wheels.items(), key=lambda kv: -kv[1].stat().st_size)[:5]:
    print(f"  {whl.stat().st_size / 2**20:6.1f} MiB  {whl.name}")
if missing:
    sys.exit("offline_bundle: requirements met by neither the bundle nor the target: "
             + "; ".join(f"{d} (by {', '.join(sorted(b))})" for d, b in sorted(missing.items())))
if total > budget:
    sys.exit(f"offline_bundle: {total:.1f} MiB is over the {budget:g} MiB budget")
PY
