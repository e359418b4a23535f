# Kaon: `make demo` runs the showcase on an embedded local cluster; `make test` runs
# every check CI runs. Both install what they need on a fresh machine.

CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: demo test lint rust-test test-data build-release bench bench-throughput bench-seed bench-ntuple bench-venv clean

## Build in release mode and compute the seed expression on an embedded cluster.
demo: build-release
	./target/release/kaon demo

build-release:
	$(CARGO) build --release -p kaon-cli

## Formatting, lints and every test.
test: lint rust-test

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

rust-test: test-data
	$(CARGO) test --workspace

## Real ROOT files (scikit-hep-testdata), uproot, and synthetic ntuples for the reader's tests.
test-data:
	worker/ntuple/tests/fetch-data.sh

## Benchmarks, side by side with Dask (installs Dask into .venv-bench).
bench: bench-throughput bench-seed bench-ntuple

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

## The ROOT reader against uproot on a 2M-event dilepton ntuple.
bench-ntuple: test-data
	KAON_NTUPLE_BENCH=1 worker/ntuple/tests/data/venv/bin/python worker/ntuple/tests/gen_data.py worker/ntuple/tests/data/synthetic
	$(CARGO) run --release -p kaon-ntuple --example read_bench -- worker/ntuple/tests/data/synthetic/bench-dilepton-lz4.root nominal --uproot worker/ntuple/tests/data/venv/bin/python
	$(CARGO) run --release -p kaon-ntuple --example read_bench -- worker/ntuple/tests/data/synthetic/bench-dilepton-zlib1.root nominal --uproot worker/ntuple/tests/data/venv/bin/python

clean:
	$(CARGO) clean
