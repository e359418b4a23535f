# Kaon: `make demo` runs the showcase on an embedded local cluster; `make test` runs
# every check CI runs. Both install what they need on a fresh machine.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: demo test lint rust-test python-test gateway-test browser-test chromium slurm python-build python-build-release venv test-data build-release bench bench-throughput bench-seed bench-ntuple bench-venv bench-arrays clean

## Build in release mode and compute the seed expression on an embedded cluster; the
## Python package `kaon` is installed into .venv as well.
demo: build-release python-build-release
	./target/release/kaon demo

build-release:
	$(CARGO) build --release -p kaon-cli

## Formatting, lints and every test.
test: lint rust-test python-test browser-test gateway-test

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The gateway's tests start `kaon` processes (target/debug/kaon); the Slurm test
# installs Debian's slurm-wlm and munge where missing and starts a one-node cluster.
rust-test: test-data slurm
	$(CARGO) build -p kaon-cli
	$(CARGO) test --workspace

## The Python package `kaon` (client-py/) in .venv at the repository root.
VENV := .venv
VENV_PY := $(CURDIR)/$(VENV)/bin/python
PY_PACKAGES := "maturin>=1.9,<2" numpy pytest pytest-timeout tqdm ruff ipywidgets ipykernel nbclient nbformat selenium jsonschema prometheus-client pyarrow boost-histogram hist psutil pyyaml
MATURIN := cd client-py && VIRTUAL_ENV=$(CURDIR)/$(VENV) $(CURDIR)/$(VENV)/bin/maturin develop --quiet

venv: $(VENV)/.ok
$(VENV)/.ok: Makefile
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet $(PY_PACKAGES)
	touch $@

# The tests' build uses cargo's dev profile, so it reuses what `cargo test` built.
python-build: venv
	$(MATURIN)

python-build-release: venv
	$(MATURIN) --release

## Ruff, then pytest against a real cluster of worker processes (the tests that start
## a `kaon scheduler` use target/debug/kaon).
python-test: python-build test-data
	$(CARGO) build -p kaon-cli
	$(VENV)/bin/ruff check client-py/python client-py/tests
	$(VENV)/bin/ruff format --check client-py/python client-py/tests
	cd client-py && $(VENV_PY) -m pytest -q --timeout 300 tests --ignore tests/test_gateway.py

## The gateway from its users' side: a real JupyterHub (installed into
## tests/gateway/.hub-venv), `kaon gateway` with the local backend, kaon.Gateway, the
## `kaon cluster`/`kaon run` commands, and the Reana example's steps (reana-client is
## installed into target/reana-venv to validate reana.yaml).
gateway-test: python-build test-data
	$(CARGO) build -p kaon-cli
	$(VENV)/bin/ruff check tests/gateway examples
	$(VENV)/bin/ruff format --check tests/gateway examples
	cd client-py && $(VENV_PY) -m pytest -q --timeout 300 tests/test_gateway.py
	cd tests/gateway && $(VENV_PY) -m pytest -q --timeout 600 test_reana.py
	$(VENV_PY) deploy/helm/check-yaml.py

## The dashboard in headless Chromium (Debian's package, installed where missing),
## and its JSON API against docs/dashboard-api.schema.json. Screenshots go to
## test-artifacts/.
browser-test: venv chromium
	$(CARGO) build -p kaon-cli
	$(VENV)/bin/ruff check tests/browser
	$(VENV)/bin/ruff format --check tests/browser
	cd tests/browser && $(VENV_PY) -m pytest -q --timeout 300 .

slurm:
	@command -v sbatch >/dev/null && command -v slurmctld >/dev/null && command -v munged >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge)

chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)

## Real ROOT files (scikit-hep-testdata), uproot, and synthetic ntuples for the reader's tests.
test-data:
	worker/ntuple/tests/fetch-data.sh

## Benchmarks, side by side with Dask (installs Dask into .venv-bench).
bench: bench-throughput bench-seed bench-ntuple bench-arrays

bench-venv: .venv-bench/.ok
.venv-bench/.ok:
	python3 -m venv .venv-bench
	.venv-bench/bin/pip install --quiet "dask[array,distributed]" numpy psutil bokeh
	touch $@

bench-throughput: bench-venv
	$(CARGO) build --release -p kaon-cli -p kaon-benches
	./target/release/transitions
	./target/release/throughput --kaon ./target/release/kaon --dask-python .venv-bench/bin/python

bench-seed: bench-venv
	$(CARGO) build --release -p kaon-cli -p kaon-benches
	./target/release/seed --kaon ./target/release/kaon --dask-python .venv-bench/bin/python

## kaon.array against dask.array case by case (seed expression, x + x.T, mean, std,
## matmul, histogram; times, peak memory of all processes), the Python layer's graph
## building and its overhead over the Rust API; writes target/bench-arrays.md.
bench-arrays: bench-venv python-build-release
	$(CARGO) build --release -p kaon-cli -p kaon-benches
	$(VENV_PY) benches/python/bench_arrays.py

## The ROOT reader against uproot on a 2M-event dilepton ntuple.
# The allocator settings `kaon worker` makes at start-up (keep_freed_memory in
# worker/src/memory.rs), so that read_bench measures the reader as workers run it.
WORKER_MALLOC := MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=536870912

BENCH_ZLIB := worker/ntuple/tests/data/synthetic/bench-dilepton-zlib1.root
BENCH_LZ4 := worker/ntuple/tests/data/synthetic/bench-dilepton-lz4.root
BENCH_NONE := worker/ntuple/tests/data/synthetic/bench-dilepton-none.root
UPROOT_PY := worker/ntuple/tests/data/venv/bin/python
READ_BENCH := $(WORKER_MALLOC) $(CARGO) run --release -p kaon-ntuple --example read_bench --

# The files are written anew, then read back into the page cache in order (recache.py
# says why). read_bench reads the whole file at once, by partitions of 100,000 entries
# as the workers' tasks do (`--step`), and through a map of the file as uproot reads.
bench-ntuple: test-data
	KAON_NTUPLE_BENCH=1 $(UPROOT_PY) worker/ntuple/tests/gen_data.py worker/ntuple/tests/data/synthetic
	python3 benches/python/recache.py $(BENCH_ZLIB) $(BENCH_LZ4) $(BENCH_NONE)
	$(CARGO) build --release -p kaon-cli -p kaon-benches
	./target/release/ntuple --kaon target/release/kaon --python $(UPROOT_PY) --file $(BENCH_ZLIB) --file $(BENCH_LZ4) --reps 5
	$(READ_BENCH) $(BENCH_LZ4) nominal --uproot $(UPROOT_PY)
	$(READ_BENCH) $(BENCH_LZ4) nominal --uproot $(UPROOT_PY) --step 100000
	$(READ_BENCH) $(BENCH_LZ4) nominal --uproot $(UPROOT_PY) --mmap
	$(READ_BENCH) $(BENCH_NONE) nominal --uproot $(UPROOT_PY) --step 100000
	$(READ_BENCH) $(BENCH_ZLIB) nominal --uproot $(UPROOT_PY)
	$(CARGO) run --release -p kaon-ntuple --example zlib_floor -- $(BENCH_ZLIB)
	./target/release/ntuple_timeline --kaon target/release/kaon --workers 1 --reps 5
	./target/release/ntuple_timeline --kaon target/release/kaon --workers 2 --reps 5

clean:
	$(CARGO) clean
