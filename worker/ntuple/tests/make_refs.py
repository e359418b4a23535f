"""Reference values for kaon-ntuple's tests, read by uproot (run by fetch-data.sh).

For every ROOT file under DATA/skhep and DATA/synthetic (except the benchmark
ntuples), every TTree and every branch that uproot reads as a plain array (numbers,
fixed-size arrays of numbers, jagged lists of numbers, strings), writes the values to
DATA/refs/<file>.bin and a manifest DATA/refs/<file>.json:

  {"file": ..., "trees": [{"path", "entries", "branches": [
      {"name", "path", "kind": flat|fixed|jagged|string, "dtype", "inner",
       "data": [offset, nbytes], "offsets": [offset, nbytes] | null, "interp"}],
      "skipped": [{"path", "reason"}]}], "error": null | "..."}

Values are little-endian; offsets (jagged and string) are int64 with n+1 entries.
"""
import glob
import json
import os
import sys
import traceback

import awkward as ak
import numpy as np
import uproot

DATA = sys.argv[1]
OUT = os.path.join(DATA, "refs")
PRIMS = {"bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"}


def classify(arr):
    layout = ak.to_packed(arr).layout
    if layout.parameter("__array__") == "string":
        offsets = np.asarray(layout.offsets, dtype=np.int64)
        content = np.asarray(layout.content.data, dtype=np.uint8)
        return "string", "uint8", 1, content, offsets - offsets[0]
    inner = 1
    node = layout
    while isinstance(node, ak.contents.RegularArray):
        inner *= node.size
        node = node.content
    if isinstance(node, ak.contents.NumpyArray):
        data = np.asarray(node.data)
        if data.dtype == np.bool_:
            data = data.view(np.uint8) != 0  # ROOT writes any non-zero byte for true
        if data.dtype.name not in PRIMS:
            return None
        inner *= int(np.prod(data.shape[1:], dtype=np.int64))
        return ("flat" if inner == 1 and node is layout else "fixed"), data.dtype.name, inner, data.reshape(-1), None
    if node is layout and isinstance(node, (ak.contents.ListOffsetArray, ak.contents.ListArray)):
        content = node.content
        if isinstance(content, ak.contents.NumpyArray) and content.data.ndim == 1 and content.data.dtype.name in PRIMS:
            offsets = np.asarray(node.offsets, dtype=np.int64)
            values = np.asarray(content.data)
            if values.dtype == np.bool_:
                values = values.view(np.uint8) != 0
            return "jagged", values.dtype.name, 1, values, offsets - offsets[0]
    return None


def main():
    if len(sys.argv) > 3 and sys.argv[2] == "--one":
        # one file per process, with a memory cap: some files make uproot allocate
        # without bound for a branch, which then counts as "uproot cannot read it"
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
        return one(sys.argv[3])
    os.makedirs(OUT, exist_ok=True)
    files = sorted(glob.glob(os.path.join(DATA, "skhep", "*.root"))) + sorted(
        p for p in glob.glob(os.path.join(DATA, "synthetic", "*.root")) if "bench-" not in os.path.basename(p)
    )
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    def run(path):
        try:
            subprocess.run([sys.executable, __file__, DATA, "--one", path], check=True, timeout=600)
        except Exception as err:
            with open(os.path.join(OUT, os.path.basename(path) + ".json"), "w") as out:
                json.dump({"file": os.path.relpath(path, DATA), "trees": [], "error": f"reference process: {err}"}, out)
            with open(os.path.join(OUT, os.path.basename(path) + ".bin"), "wb"):
                pass

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(run, files))
    print("make_refs: wrote references for", len(files), "files")


def one(path):
    with open(os.devnull):
        base = os.path.basename(path)
        manifest = {"file": os.path.relpath(path, DATA), "trees": [], "error": None}
        blob = bytearray()
        try:
            with uproot.open(path) as f:
                names = sorted({k.rsplit(";", 1)[0] for k, c in f.classnames().items() if c == "TTree"})
                for tname in names:
                    tree = f[tname]
                    entry = {"path": tname, "entries": int(tree.num_entries), "branches": [], "skipped": []}
                    manifest["trees"].append(entry)
                    for bpath, branch in tree.iteritems(recursive=True, full_paths=True):
                        try:
                            arr = branch.array(library="ak")
                            got = classify(arr)
                        except Exception as err:  # uproot cannot read it either
                            entry["skipped"].append({"path": bpath, "reason": f"uproot: {type(err).__name__}: {str(err)[:200]}"})
                            continue
                        if got is None:
                            entry["skipped"].append({"path": bpath, "reason": f"type {str(ak.type(arr))[:200]}"})
                            continue
                        kind, dtype, inner, data, offsets = got
                        raw = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<"), copy=False).tobytes()
                        rec = {"name": branch.name, "path": bpath, "kind": kind, "dtype": dtype, "inner": inner,
                               "interp": str(branch.interpretation)[:200], "len": len(arr),
                               "typename": branch.typename, "baskets": [int(x) for x in branch.entry_offsets]}
                        rec["data"] = [len(blob), len(raw)]
                        blob += raw
                        if offsets is not None:
                            raw = offsets.astype("<i8").tobytes()
                            rec["offsets"] = [len(blob), len(raw)]
                            blob += raw
                        else:
                            rec["offsets"] = None
                        entry["branches"].append(rec)
        except Exception as err:
            manifest["error"] = f"{type(err).__name__}: {str(err)[:300]}"
            traceback.print_exc(limit=1)
        with open(os.path.join(OUT, base + ".bin"), "wb") as out:
            out.write(blob)
        with open(os.path.join(OUT, base + ".json"), "w") as out:
            json.dump(manifest, out, indent=0)


main()


# RNTuple references (the RNTuple reader's tests): for every synthetic file that holds
# ROOT::RNTuple objects, every field (sub-fields of records as "rec.member") that uproot
# reads as numbers, fixed-size or jagged arrays of numbers, or strings, written to
# DATA/refs/<file>.rntuple.json and .bin in the manifest layout above ("trees" are the
# ntuples, "branches" their fields, "baskets" the cluster boundaries).
def rntuple_one(path, out_dir):
    base = os.path.basename(path)
    manifest = {"file": os.path.relpath(path, DATA), "trees": [], "error": None}
    blob = bytearray()
    try:
        with uproot.open(path) as f:
            names = sorted({k.rsplit(";", 1)[0] for k, c in f.classnames().items() if c == "ROOT::RNTuple"})
            for name in names:
                nt = f[name]
                bounds = [int(c.num_first_entry) for c in nt.cluster_summaries] + [int(nt.num_entries)]
                entry = {"path": name, "entries": int(nt.num_entries), "branches": [], "skipped": []}
                manifest["trees"].append(entry)
                for key in nt.keys(recursive=True):
                    try:
                        arr = nt[key].array(library="ak")
                        got = classify(arr)
                    except Exception as err:
                        entry["skipped"].append({"path": key, "reason": f"uproot: {type(err).__name__}: {str(err)[:200]}"})
                        continue
                    if got is None:
                        entry["skipped"].append({"path": key, "reason": f"type {str(ak.type(arr))[:200]}"})
                        continue
                    kind, dtype, inner, data, offsets = got
                    raw = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<"), copy=False).tobytes()
                    rec = {"name": key, "path": key, "kind": kind, "dtype": dtype, "inner": inner,
                           "interp": str(ak.type(arr))[:200], "len": len(arr), "typename": str(ak.type(arr))[:200],
                           "baskets": bounds, "data": [len(blob), len(raw)]}
                    blob += raw
                    if offsets is not None:
                        raw = offsets.astype("<i8").tobytes()
                        rec["offsets"] = [len(blob), len(raw)]
                        blob += raw
                    else:
                        rec["offsets"] = None
                    entry["branches"].append(rec)
    except Exception as err:
        manifest["error"] = f"{type(err).__name__}: {str(err)[:300]}"
        traceback.print_exc(limit=1)
    if not manifest["trees"] and manifest["error"] is None:
        return
    with open(os.path.join(out_dir, base + ".rntuple.bin"), "wb") as out:
        out.write(blob)
    with open(os.path.join(out_dir, base + ".rntuple.json"), "w") as out:
        json.dump(manifest, out, indent=0)


if not (len(sys.argv) > 3 and sys.argv[2] == "--one"):
    for p in sorted(glob.glob(os.path.join(DATA, "synthetic", "*.root"))):
        if "bench-" not in os.path.basename(p):
            rntuple_one(p, OUT)
    print("make_refs: wrote RNTuple references")
