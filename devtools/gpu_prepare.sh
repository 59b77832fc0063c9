#!/usr/bin/env bash
# Prepare the project checkout for a run on the GPU machine (the `device` tool).
#
# The GPU machine has Python 3.12 with torch, torchvision, numpy, scipy, pandas, statsmodels,
# matplotlib, pillow and tqdm, but not Django, kornia or captum, and no Fashion-MNIST; nothing
# can be downloaded there. This script, run from the project's root on your own machine
# (devtools/gpu_prepare.sh [--test-only]), puts into the checkout (both ignored by .gitignore):
#   .whl/   wheels of the missing packages for Python 3.12 (the versions in .venv)
#   .gpu/   Fashion-MNIST compressed with xz, and setup.sh, which installs both on the GPU machine
# Then, with the device tool:  run  command="source .gpu/setup.sh && python3 benchmarks/gpu.py"
#                                   carry=[".whl", ".gpu"]
# Everything that travels (tracked files + .whl + .gpu) must stay under 64 MiB: pass --test-only
# when the run needs no training (the test split alone is 3.8 MB instead of 26.5 MB).
# If the project has gained a dependency the GPU machine lacks, name it: EXTRA_WHEELS="choix" devtools/gpu_prepare.sh
set -euo pipefail
splits="train t10k"
[ "${1:-}" = "--test-only" ] && splits="t10k"
[ -f manage.py ] || { echo "run this from the project's root" >&2; exit 2; }
py=.venv/bin/python
[ -x "$py" ] || { echo "no .venv: run 'make install' first" >&2; exit 2; }
version() { "$py" -c "import importlib.metadata as m; print(m.version('$1'))"; }
wheels=()
for name in django asgiref sqlparse kornia kornia_rs captum dj-database-url whitenoise ${EXTRA_WHEELS:-}; do
  wheels+=("$name==$(version "$name")")
done
rm -rf .whl .gpu && mkdir -p .whl .gpu/fashion-mnist
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "${wheels[@]}" 2>&1 | grep -v "is ignored: it is neither" || true
# Django's translations are 5.5 of its 7.7 MB and the GPU run needs none: keep English only.
python3 - .whl/django-*.whl <<'STRIP'
import os, re, sys, zipfile
path = sys.argv[1]; tmp = path + ".tmp"
with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as out:
    for item in src.infolist():
        language = re.search(r"/locale/([^/]+)/", item.filename)
        if language and language.group(1) != "en":
            continue
        out.writestr(item, src.read(item.filename))
os.replace(tmp, path)
STRIP
src=/usr/share/datasets/fashion-mnist
for split in $splits; do
  for kind in images-idx3 labels-idx1; do
    zcat "$src/$split-$kind-ubyte.gz" | xz -9 -T2 > ".gpu/fashion-mnist/$split-$kind-ubyte.xz"
  done
done
cat > .gpu/setup.sh <<'SETUP'
# Sourced on the GPU machine from the project's root: installs the carried wheels and Fashion-MNIST.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || return 1
export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=config.settings
mkdir -p /usr/share/datasets/fashion-mnist
for f in .gpu/fashion-mnist/*.xz; do
  out="/usr/share/datasets/fashion-mnist/$(basename "$f" .xz).gz"
  [ -f "$out" ] || xz -dc "$f" | gzip -1 > "$out"
done
nvidia-smi -L
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
SETUP
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
extra=$(du -sb .whl .gpu | awk '{s+=$1} END {print s}')
total=$((tracked + extra))
echo "travels: tracked $((tracked / 1048576)) MiB + .whl/.gpu $((extra / 1048576)) MiB = $((total / 1048576)) MiB (limit 64 MiB)"
[ "$total" -lt 67108864 ] || echo "over the limit: use --test-only, or keep large outputs out of the tracked tree" >&2
