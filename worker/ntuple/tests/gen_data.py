"""Writes the synthetic ntuples kaon-ntuple's tests read (run by fetch-data.sh with the
test venv's python): ATLAS-dilepton-like `nominal` trees with counted jagged branches,
flat branches of every primitive type and fixed-size arrays, in every compression
uproot writes and several basket layouts; a file with subdirectories; files whose
baskets exceed 16 MiB (several compression blocks); the 2M-event benchmark ntuple."""
import os
import sys

import awkward as ak
import numpy as np
import uproot

OUT = sys.argv[1]


def dilepton(rng, n, mean=1.6):
    lep_n = np.minimum(rng.poisson(mean, n), 8).astype(np.int32)
    tot = int(lep_n.sum())
    pt = rng.exponential(35.0, tot).astype(np.float32) + 5.0
    eta = rng.uniform(-2.5, 2.5, tot).astype(np.float32)
    phi = rng.uniform(-np.pi, np.pi, tot).astype(np.float32)
    e = (pt * np.cosh(eta)).astype(np.float32)
    charge = rng.choice(np.array([-1, 1], np.int32), tot)
    typ = rng.choice(np.array([11, 13], np.int32), tot)
    lep = ak.zip(
        {
            "pt": ak.unflatten(pt, lep_n),
            "eta": ak.unflatten(eta, lep_n),
            "phi": ak.unflatten(phi, lep_n),
            "E": ak.unflatten(e, lep_n),
            "charge": ak.unflatten(charge, lep_n),
            "type": ak.unflatten(typ, lep_n),
        }
    )
    return lep, lep_n


def full_chunk(rng, n, first_event):
    lep, lep_n = dilepton(rng, n)
    jet_n = rng.integers(0, 5, n)
    jtot = int(jet_n.sum())
    data = {
        "lep": lep,
        "eventNumber": np.arange(first_event, first_event + n, dtype=np.uint64) * 7919,
        "runNumber": rng.integers(250000, 350000, n).astype(np.int32),
        "mcWeight": rng.normal(1.0, 0.3, n),
        "met_et": rng.exponential(30.0, n).astype(np.float32),
        "trigE": rng.integers(0, 2, n).astype(bool),
        "v_i8": rng.integers(-128, 128, n).astype(np.int8),
        "v_u8": rng.integers(0, 256, n).astype(np.uint8),
        "v_i16": rng.integers(-(2**15), 2**15, n).astype(np.int16),
        "v_u16": rng.integers(0, 2**16, n).astype(np.uint16),
        "v_u32": rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32),
        "v_i64": rng.integers(-(2**62), 2**62, n, dtype=np.int64),
        "v_nan": np.where(rng.random(n) < 0.1, np.nan, rng.normal(0, 1, n)),
        "fix3": rng.normal(0, 1, (n, 3)),
        "fix2x3": rng.integers(-100, 100, (n, 2, 3)).astype(np.int16),
        "jet_pt": ak.unflatten(rng.exponential(50.0, jtot), jet_n),
        "jet_flag": ak.unflatten(rng.integers(0, 2, jtot).astype(bool), jet_n),
        "jet_id": ak.unflatten(rng.integers(-(2**40), 2**40, jtot, dtype=np.int64), jet_n),
    }
    return data


def bench_chunk(rng, n, first_event):
    lep, _ = dilepton(rng, n, mean=2.65)
    return {"lep": lep}


def write_dilepton(path, compression, chunk_sizes, seed, make=full_chunk):
    rng = np.random.default_rng(seed)
    with uproot.recreate(path, compression=compression) as f:
        first = 0
        tree = None
        for size in chunk_sizes:
            data = make(rng, size, first)
            if tree is None:
                tree = f.mktree(
                    "nominal",
                    {k: v.type if isinstance(v, ak.Array) else (v.dtype, v.shape[1:]) for k, v in data.items()},
                    counter_name=lambda c: c + "_n",
                    field_name=lambda outer, inner: outer + "_" + inner,
                )
            tree.extend(data)
            first += size


# basket layouts: many small odd-sized baskets, a few larger ones, one single basket
ODD = [1, 7, 999, 4000, 3, 2500, 1234, 5000, 256]
COMPRESSIONS = {
    "zlib": uproot.ZLIB(6),
    "lz4": uproot.LZ4(4),
    "lzma": uproot.LZMA(2),
    "zstd": uproot.ZSTD(5),
    "none": None,
}
for i, (name, comp) in enumerate(COMPRESSIONS.items()):
    write_dilepton(os.path.join(OUT, f"dilepton-{name}.root"), comp, ODD, 100 + i)
write_dilepton(os.path.join(OUT, "dilepton-onebasket-zlib.root"), uproot.ZLIB(1), [20000], 7)
write_dilepton(os.path.join(OUT, "dilepton-tinybaskets-lz4.root"), uproot.LZ4(1), [50] * 40, 8)

# subdirectories
rng = np.random.default_rng(3)
with uproot.recreate(os.path.join(OUT, "nested-dirs.root"), compression=uproot.ZLIB(4)) as f:
    f.mktree("top", {"a": np.int32}).extend({"a": np.arange(10, dtype=np.int32)})
    f.mkdir("dir")
    f["dir"].mkdir("sub")
    t = f["dir"].mktree("tree2", {"b": np.float64})
    t.extend({"b": rng.normal(0, 1, 100)})
    t = f["dir/sub"].mktree("tree", {"x": np.float32, "j": "var * int64"})
    for k in range(3):
        n = 333 + k
        counts = rng.integers(0, 4, n)
        t.extend({"x": rng.normal(0, 1, n).astype(np.float32),
                  "j": ak.unflatten(rng.integers(0, 1000, int(counts.sum())), counts)})

# baskets over 16 MiB: ROOT's format splits them into several compression blocks
for name, comp in {"zlib": uproot.ZLIB(1), "lz4": uproot.LZ4(1), "zstd": uproot.ZSTD(1), "lzma": uproot.LZMA(1)}.items():
    rng = np.random.default_rng(11)
    n = 2_500_000
    with uproot.recreate(os.path.join(OUT, f"bigbasket-{name}.root"), compression=comp) as f:
        counts = rng.integers(0, 4, n)
        t = f.mktree("big", {"x": np.float64, "k": "var * int32"})
        t.extend({"x": np.round(rng.normal(0, 100, n), 1),
                  "k": ak.unflatten(rng.integers(0, 100, int(counts.sum())).astype(np.int32), counts)})
        t.extend({"x": np.arange(1000, dtype=np.float64), "k": ak.unflatten(np.arange(1000, dtype=np.int32), np.ones(1000, np.int64))})

# benchmark ntuple: 2M events, 100k-event baskets, the six lepton branches and lep_n
# (250 MB, so only for `make bench-ntuple`, which sets KAON_NTUPLE_BENCH=1)
if os.environ.get("KAON_NTUPLE_BENCH") == "1":
    for name, comp in {"zlib1": uproot.ZLIB(1), "lz4": uproot.LZ4(1)}.items():
        write_dilepton(os.path.join(OUT, f"bench-dilepton-{name}.root"), comp, [100_000] * 20, 99, bench_chunk)

# RNTuple (ROOT 6.34+ format), written by uproot
rng = np.random.default_rng(5)
with uproot.recreate(os.path.join(OUT, "rntuple-simple.root")) as f:
    counts = rng.integers(0, 4, 1000)
    f["ntuple"] = {"x": rng.normal(0, 1, 1000), "i": np.arange(1000, dtype=np.int32),
                   "j": ak.unflatten(rng.normal(0, 1, int(counts.sum())).astype(np.float32), counts)}
print("gen_data: wrote", len(os.listdir(OUT)), "files")
