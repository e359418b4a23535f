#!/usr/bin/env bash
# Fetches and generates the test data of kaon-ntuple into tests/data/ (git-ignored).
# Idempotent: each step is skipped when its output is already there and up to date.
#   1. scikit-hep-testdata 0.3.12's wheel (140 real ROOT files) -> tests/data/skhep/
#   2. a Python venv with uproot                                -> tests/data/venv/
#   3. synthetic ntuples written by uproot (gen_data.py)        -> tests/data/synthetic/
#   4. reference values read by uproot (make_refs.py)           -> tests/data/refs/
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA="$HERE/data"
PYTHON="${PYTHON:-python3}"
mkdir -p "$DATA"

# 1. real files
if [ ! -f "$DATA/skhep/.ok" ]; then
    rm -rf "$DATA/skhep" "$DATA/wheel"
    mkdir -p "$DATA/wheel"
    "$PYTHON" -m pip download --quiet --no-deps --dest "$DATA/wheel" "scikit-hep-testdata==0.3.12"
    whl=$(ls "$DATA"/wheel/scikit_hep_testdata-0.3.12-*.whl)
    mkdir -p "$DATA/skhep"
    "$PYTHON" - "$whl" "$DATA/skhep" <<'PY'
import sys, zipfile, os
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        if name.endswith(".root"):
            target = os.path.join(out, os.path.basename(name))
            with z.open(name) as src, open(target, "wb") as dst:
                dst.write(src.read())
PY
    n=$(ls "$DATA/skhep"/*.root | wc -l)
    echo "fetch-data: $n ROOT files from scikit-hep-testdata 0.3.12"
    touch "$DATA/skhep/.ok"
    rm -rf "$DATA/wheel"
fi

# 2. venv with uproot (reference reader and writer of synthetic files)
if [ ! -f "$DATA/venv/.ok" ]; then
    rm -rf "$DATA/venv"
    "$PYTHON" -m venv "$DATA/venv"
    "$DATA/venv/bin/pip" install --quiet --disable-pip-version-check \
        "uproot==5.7.*" awkward numpy lz4 xxhash zstandard
    touch "$DATA/venv/.ok"
fi
VPY="$DATA/venv/bin/python"

# 3. synthetic files (regenerated when gen_data.py changes)
stamp=$(sha256sum "$HERE/gen_data.py" | cut -c1-16)
if [ "$(cat "$DATA/synthetic/.ok" 2>/dev/null || true)" != "$stamp" ]; then
    rm -rf "$DATA/synthetic"
    mkdir -p "$DATA/synthetic"
    "$VPY" "$HERE/gen_data.py" "$DATA/synthetic"
    echo "$stamp" > "$DATA/synthetic/.ok"
fi

# 4. reference values (regenerated when make_refs.py or the synthetic files change)
stamp=$(cat "$HERE/make_refs.py" "$DATA/synthetic/.ok" | sha256sum | cut -c1-16)
if [ "$(cat "$DATA/refs/.ok" 2>/dev/null || true)" != "$stamp" ]; then
    rm -rf "$DATA/refs"
    mkdir -p "$DATA/refs"
    "$VPY" "$HERE/make_refs.py" "$DATA"
    echo "$stamp" > "$DATA/refs/.ok"
fi
echo "fetch-data: test data ready in $DATA"
