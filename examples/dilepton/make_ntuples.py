"""Writes synthetic ATLAS-like dilepton ntuples for the example: a Z -> ll peak over a
falling background, as ``nominal`` trees with jagged ``lep_*`` branches and ``lep_n``.

    python make_ntuples.py data [--files 2] [--events 50000] [--seed 1]

Needs numpy, awkward and uproot (``pip install uproot``). Real analyses point
``kaon histogram`` at their own ntuples instead.
"""

from __future__ import annotations

import argparse
import os

import awkward as ak
import numpy as np
import uproot

Z_MASS, Z_WIDTH = 91.19, 2.50


def z_decays(rng: np.random.Generator, n: int) -> dict:
    """Two massless leptons per event from a Breit-Wigner Z boosted to the lab."""
    m = np.clip(Z_MASS + 0.5 * Z_WIDTH * rng.standard_cauchy(n), 20.0, 400.0)
    pt_z = rng.exponential(12.0, n)
    y_z = rng.uniform(-2.0, 2.0, n)
    phi_z = rng.uniform(-np.pi, np.pi, n)
    mt = np.hypot(m, pt_z)
    z4 = np.stack(
        [
            mt * np.cosh(y_z),
            pt_z * np.cos(phi_z),
            pt_z * np.sin(phi_z),
            mt * np.sinh(y_z),
        ],
        1,
    )
    # Decay at rest: back to back, isotropic.
    cos_t = rng.uniform(-1, 1, n)
    sin_t = np.sqrt(1 - cos_t**2)
    ph = rng.uniform(-np.pi, np.pi, n)
    p = m / 2
    d = np.stack([p * sin_t * np.cos(ph), p * sin_t * np.sin(ph), p * cos_t], 1)
    leptons = []
    for sign in (1, -1):
        rest = np.concatenate([p[:, None], sign * d], 1)
        leptons.append(boost(rest, z4))
    return {"leptons": leptons}


def boost(p4: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Boosts ``p4`` (E, px, py, pz) from the rest frame of ``parent`` to the lab."""
    m = np.sqrt(np.maximum(parent[:, 0] ** 2 - (parent[:, 1:] ** 2).sum(1), 1e-9))
    b = parent[:, 1:] / parent[:, :1]
    gamma = parent[:, 0] / m
    bp = (b * p4[:, 1:]).sum(1)
    b2 = np.maximum((b**2).sum(1), 1e-12)
    coef = (gamma - 1) * bp / b2 + gamma * p4[:, 0]
    e = gamma * (p4[:, 0] + bp)
    return np.concatenate([e[:, None], p4[:, 1:] + coef[:, None] * b], 1)


def kinematics(p4: np.ndarray) -> tuple:
    px, py, pz, e = p4[:, 1], p4[:, 2], p4[:, 3], p4[:, 0]
    pt = np.hypot(px, py)
    eta = np.arcsinh(pz / np.maximum(pt, 1e-9))
    return pt, eta, np.arctan2(py, px), e


def events(rng: np.random.Generator, n: int) -> dict:
    """``n`` events: 60% Z -> ll (opposite charges, same flavour), 40% background of
    0 to 4 random leptons."""
    n_z = int(0.6 * n)
    z = z_decays(rng, n_z)
    pts, etas, phis, es = zip(*(kinematics(lep) for lep in z["leptons"]))
    # Leading lepton first.
    lead = pts[0] >= pts[1]
    cols = {}
    for name, pair in (("pt", pts), ("eta", etas), ("phi", phis), ("E", es)):
        a, b = pair
        cols[name] = np.stack([np.where(lead, a, b), np.where(lead, b, a)], 1)
    q = rng.choice([-1, 1], n_z)
    cols["charge"] = np.stack([q, -q], 1)
    flavour = rng.choice([11, 13], n_z)
    cols["type"] = np.stack([flavour, flavour], 1)
    z_counts = np.full(n_z, 2)

    n_b = n - n_z
    b_counts = np.minimum(rng.poisson(1.5, n_b), 4)
    tot = int(b_counts.sum())
    b_pt = np.sort(rng.exponential(30.0, tot) + 7.0)[::-1]
    rng.shuffle(b_pt)
    b_eta = rng.uniform(-2.5, 2.5, tot)
    bcols = {
        "pt": b_pt,
        "eta": b_eta,
        "phi": rng.uniform(-np.pi, np.pi, tot),
        "E": b_pt * np.cosh(b_eta),
        "charge": rng.choice([-1, 1], tot),
        "type": rng.choice([11, 13], tot),
    }
    counts = np.concatenate([z_counts, b_counts])
    order = rng.permutation(n)
    out = {}
    for name, values in cols.items():
        dtype = np.int32 if name in ("charge", "type") else np.float32
        flat = np.concatenate([values.reshape(-1), bcols[name]]).astype(dtype)
        out[name] = ak.unflatten(flat, counts)[order]
    return {"lep": ak.zip(out)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--files", type=int, default=2)
    ap.add_argument("--events", type=int, default=50_000, help="events per file")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for i in range(args.files):
        path = os.path.join(args.outdir, f"dilepton-{i}.root")
        data = events(rng, args.events)
        with uproot.recreate(path, compression=uproot.ZLIB(4)) as f:
            f.mktree(
                "nominal",
                {"lep": data["lep"].type},
                counter_name=lambda c: c + "_n",
                field_name=lambda outer, inner: outer + "_" + inner,
            )
            f["nominal"].extend(data)
        print(f"wrote {path}: {args.events} events")


if __name__ == "__main__":
    main()
