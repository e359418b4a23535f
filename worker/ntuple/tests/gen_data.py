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
# (450 MB, so only for `make bench-ntuple`, which sets KAON_NTUPLE_BENCH=1)
if os.environ.get("KAON_NTUPLE_BENCH") == "1":
    for name, comp in {"zlib1": uproot.ZLIB(1), "lz4": uproot.LZ4(1), "none": None}.items():
        write_dilepton(os.path.join(OUT, f"bench-dilepton-{name}.root"), comp, [100_000] * 20, 99, bench_chunk)

# RNTuple (ROOT 6.34+ format), written by uproot
rng = np.random.default_rng(5)
with uproot.recreate(os.path.join(OUT, "rntuple-simple.root")) as f:
    counts = rng.integers(0, 4, 1000)
    f["ntuple"] = {"x": rng.normal(0, 1, 1000), "i": np.arange(1000, dtype=np.int32),
                   "j": ak.unflatten(rng.normal(0, 1, int(counts.sum())).astype(np.float32), counts)}
print("gen_data: wrote", len(os.listdir(OUT)), "files")


# RNTuple dilepton ntuples (uproot's mkrntuple, RNTuple format 1.0): one cluster per
# extend() call, odd cluster sizes (one of a single entry), every compression uproot
# writes; flat and jagged numbers, booleans, strings, fixed-size arrays, a vector of
# records and a nested vector (the last is listed but not read).
def rntuple_chunk(rng, n, first_event):
    lep, lep_n = dilepton(rng, n)
    jet_n = rng.integers(0, 4, n)
    jtot = int(jet_n.sum())
    return {
        "lep_n": lep_n,
        "lep_pt": lep.pt, "lep_eta": lep.eta, "lep_phi": lep.phi, "lep_E": lep.E,
        "lep_charge": lep.charge,
        "eventNumber": np.arange(first_event, first_event + n, dtype=np.uint64) * 7919,
        "runNumber": rng.integers(250000, 350000, n).astype(np.uint32),
        "v_i64": rng.integers(-(2**62), 2**62, n, dtype=np.int64),
        "mcWeight": rng.normal(1.0, 0.3, n),
        "met_et": rng.exponential(30.0, n).astype(np.float32),
        "trigE": rng.integers(0, 2, n).astype(bool),
        "v_i8": rng.integers(-128, 128, n).astype(np.int8),
        "v_u16": rng.integers(0, 2**16, n).astype(np.uint16),
        "v_u64": rng.integers(0, 2**63, n, dtype=np.uint64),
        "fix3": rng.normal(0, 1, (n, 3)),
        "jet_flag": ak.unflatten(rng.integers(0, 2, jtot).astype(bool), jet_n),
        "jet_id": ak.unflatten(rng.integers(-(2**40), 2**40, jtot, dtype=np.int64), jet_n),
        "tag": ak.Array(["e" * int(k) + "µ" * int(lep_n[i] % 2) for i, k in enumerate(jet_n)]),
        "muon": ak.zip({"pt": ak.unflatten(rng.exponential(20.0, jtot).astype(np.float32), jet_n),
                        "q": ak.unflatten(rng.integers(-1, 2, jtot).astype(np.int16), jet_n)}),
        "nested": ak.unflatten(ak.unflatten(np.arange(jtot, dtype=np.float64), np.ones(jtot, np.int64)), jet_n),
    }


RNTUPLE_CLUSTERS = [700, 1, 2500, 13, 4000, 999]
for i, (name, comp) in enumerate(COMPRESSIONS.items()):
    rng = np.random.default_rng(500 + i)
    with uproot.recreate(os.path.join(OUT, f"rntuple-dilepton-{name}.root"), compression=comp) as f:
        first, nt = 0, None
        for size in RNTUPLE_CLUSTERS:
            data = ak.Array(rntuple_chunk(rng, size, first))
            if nt is None:
                nt = f.mkrntuple("nominal", data.layout.form)
            nt.extend(data)
            first += size
print("gen_data: wrote", len(os.listdir(OUT)), "files (with the RNTuples)")


# The same ntuple with ROOT's split encodings, which uproot does not write: a copy of
# the uncompressed file whose columns are turned into SplitReal32/64, SplitInt*
# (zigzag), SplitUInt* and SplitIndex* (delta) and whose pages are each cut into up to
# three pages (so that reads cross page boundaries inside clusters). The pages are
# re-encoded in place (same sizes), those of every other column copied to the end of
# the file with a page checksum; the page lists are written anew at the end of the
# file and the header, footer and page-list checksums recomputed.
def rewrite_split(src, dst, name="nominal"):
    import struct

    import xxhash

    raw = bytearray(open(src, "rb").read())
    with uproot.open(src) as f:
        m = f[name].members
    hs, hl, fs, fl = m["fSeekHeader"], m["fLenHeader"], m["fSeekFooter"], m["fLenFooter"]
    assert m["fNBytesHeader"] == hl and m["fNBytesFooter"] == fl, "envelopes must be stored uncompressed"
    to_split = {0x05: 0x11, 0x06: 0x12, 0x07: 0x13, 0x08: 0x14, 0x09: 0x15, 0x0A: 0x16,
                0x0C: 0x18, 0x0D: 0x19, 0x0E: 0x1A, 0x0F: 0x1B}
    dtypes = {0x11: "<i2", 0x12: "<u2", 0x13: "<i4", 0x14: "<u4", 0x15: "<i8", 0x16: "<u8",
              0x18: "<u4", 0x19: "<u8", 0x1A: "<u4", 0x1B: "<u8"}

    def i64(b, p):
        return struct.unpack_from("<q", b, p)[0]

    def u32(b, p):
        return struct.unpack_from("<I", b, p)[0]

    def seal(env):
        struct.pack_into("<Q", env, len(env) - 8, xxhash.xxh3_64_intdigest(bytes(env[:-8])))
        return struct.unpack_from("<Q", env, len(env) - 8)[0]

    # header: envelope preamble, feature flags, three strings, fields, columns
    header = raw[hs:hs + hl]
    p = 16
    for _ in range(3):
        p += 4 + u32(header, p)
    p += -i64(header, p)
    ncols = u32(header, p + 8)
    q = p + 12
    coltypes = []
    for _ in range(ncols):
        ty = struct.unpack_from("<H", header, q + 8)[0]
        new = to_split.get(ty, ty)
        struct.pack_into("<H", header, q + 8, new)
        coltypes.append(new)
        q += i64(header, q)
    hck = seal(header)
    raw[hs:hs + hl] = header

    def encode(ty, off, n, width):
        """Re-encodes n plain elements at raw[off:] in place."""
        if ty not in dtypes or n == 0:
            return
        a = np.frombuffer(bytes(raw[off:off + n * width]), dtype=dtypes[ty]).copy()
        if ty in (0x11, 0x13, 0x15):  # zigzag
            bits = 8 * width
            a = ((a << 1) ^ (a >> (bits - 1))).view(dtypes[ty].replace("i", "u"))
        if ty in (0x1A, 0x1B):  # delta: the first element as it is
            a[1:] = a[1:] - a[:-1]
        raw[off:off + n * width] = a.view(np.uint8).reshape(n, width).T.tobytes()

    def list_frame(n, payload):
        return struct.pack("<qI", -(12 + len(payload)), n) + payload

    def page_list(pl):
        # preamble, header checksum, cluster summaries (kept), nested page locations
        p = 16
        summaries = bytes(pl[p:p + (-i64(pl, p))])
        p += -i64(pl, p)
        nclusters = u32(pl, p + 8)
        p += 12
        clusters = []
        for _ in range(nclusters):
            ncol = u32(pl, p + 8)
            end_cluster = p + (-i64(pl, p))
            p += 12
            cols = []
            for col in range(ncol):
                end_col = p + (-i64(pl, p))
                npages = u32(pl, p + 8)
                p += 12
                pages = []
                for _ in range(npages):
                    n, size, off = struct.unpack_from("<iiQ", pl, p)
                    p += 16
                    ty = coltypes[col]
                    if ty == 0x00 or n < 2:  # bit-packed pages stay whole
                        pieces = [(0, n)]
                    else:
                        k = (n + 2) // 3
                        pieces = [(a, min(a + k, n)) for a in range(0, n, k)]
                    width = size // n if n else 0
                    for a, b in pieces:
                        if ty != 0x00:
                            encode(ty, off + a * width, b - a, width)
                        sz = size if ty == 0x00 else (b - a) * width
                        at = off + a * width
                        if col % 2 == 0:
                            # a copy with ROOT's page checksum (xxhash3 after the page)
                            page = bytes(raw[at:at + sz])
                            at = len(raw)
                            raw.extend(page + struct.pack("<Q", xxhash.xxh3_64_intdigest(page)))
                            pages.append(struct.pack("<iiQ", -(b - a), sz, at))
                        else:
                            pages.append(struct.pack("<iiQ", b - a, sz, at))
                tail = bytes(pl[p:end_col])  # element offset, compression settings
                p = end_col
                cols.append(list_frame(len(pages), b"".join(pages) + tail))
            p = end_cluster
            clusters.append(list_frame(len(cols), b"".join(cols)))
        payload = struct.pack("<Q", hck) + summaries + list_frame(len(clusters), b"".join(clusters))
        env = bytearray(struct.pack("<Q", ((len(payload) + 16) << 16) | 3) + payload + bytes(8))
        seal(env)
        return env

    footer = raw[fs:fs + fl]
    struct.pack_into("<Q", footer, 16, hck)
    p = 24
    p += i64(footer, p)  # schema extension
    ngroups = u32(footer, p + 8)
    q = p + 12
    for _ in range(ngroups):
        link = q + 8 + 8 + 8 + 4
        length, size, off = struct.unpack_from("<QiQ", footer, link)
        new = page_list(raw[off:off + length])
        at = len(raw)
        raw += new
        struct.pack_into("<QiQ", footer, link, len(new), len(new), at)
        q += i64(footer, q)
    seal(footer)
    raw[fs:fs + fl] = footer
    open(dst, "wb").write(bytes(raw))


rewrite_split(os.path.join(OUT, "rntuple-dilepton-none.root"), os.path.join(OUT, "rntuple-dilepton-split.root"))
print("gen_data: wrote the split-encoded RNTuple")
