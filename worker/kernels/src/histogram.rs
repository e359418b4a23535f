//! Per-chunk histograms with NumPy's binning, streamed over a program's tiles.
//!
//! NumPy's `histogram(a, bins=n, range=(lo, hi))` guesses an element's bin as
//! `floor((x - lo) / (hi - lo) * n)` and then corrects it by one against the bin edges
//! `lo + i * ((hi - lo) / n)` (the last edge is `hi` itself), so the bin depends on the
//! edges alone; the same edges and correction are used here, so values on an edge land
//! where NumPy puts them.

use kaon_graph::ChunkHistogram;
use rayon::prelude::*;

use crate::eval::TILE;
use crate::reduce::Source;

/// Elements one parallel piece bins; pieces depend on the length only, and their
/// histograms are added in order, so weighted sums do not depend on the thread count.
const PIECE: usize = 64 * TILE;

/// Bin edges as NumPy's `linspace(lo, hi, bins + 1)` computes them (then rounded to
/// float32 for float32 binning, as NumPy's `linspace(..., dtype=float32)`).
pub fn edges(h: &ChunkHistogram) -> Vec<f64> {
    let n = h.bins as usize;
    let step = (h.hi - h.lo) / n as f64;
    let mut e: Vec<f64> = (0..=n).map(|i| i as f64 * step + h.lo).collect();
    e[n] = h.hi;
    if h.float32 {
        for x in &mut e {
            *x = *x as f32 as f64;
        }
    }
    e
}

/// The histogram of `len` values of `values` (weighted by `weights` when given).
pub fn histogram(
    h: &ChunkHistogram,
    values: &Source,
    weights: Option<&Source>,
    len: usize,
) -> Vec<f64> {
    let binner = Binner::new(h);
    let pieces = len.div_ceil(PIECE);
    let parts: Vec<Vec<f64>> = (0..pieces)
        .into_par_iter()
        .map(|p| {
            let nb = h.bins as usize;
            let mut counts = vec![0.0; nb];
            let mut ints = vec![0u32; 4 * nb];
            let mut vs = values.scratch();
            let mut ws = weights.map(|w| w.scratch());
            let end = ((p + 1) * PIECE).min(len);
            let mut at = p * PIECE;
            while at < end {
                let n = TILE.min(end - at);
                let x = values.values(&mut vs, at, n);
                match (weights, ws.as_mut()) {
                    (Some(w), Some(s)) => {
                        let wv = w.values(s, at, n);
                        for (&x, &w) in x.iter().zip(wv) {
                            if let Some(b) = binner.bin(x) {
                                counts[b] += w;
                            }
                        }
                    }
                    _ => {
                        // Four interleaved integer histograms: consecutive values that
                        // fall in one bin do not wait on each other's increments.
                        let mut lanes = x.chunks_exact(4);
                        for quad in &mut lanes {
                            for (lane, &x) in quad.iter().enumerate() {
                                if let Some(b) = binner.bin(x) {
                                    ints[lane * nb + b] += 1;
                                }
                            }
                        }
                        for &x in lanes.remainder() {
                            if let Some(b) = binner.bin(x) {
                                ints[b] += 1;
                            }
                        }
                    }
                }
                at += n;
            }
            for lane in ints.chunks_exact(nb) {
                for (c, &i) in counts.iter_mut().zip(lane) {
                    *c += i as f64;
                }
            }
            counts
        })
        .collect();
    let mut total = vec![0.0; h.bins as usize];
    for part in parts {
        for (t, c) in total.iter_mut().zip(part) {
            *t += c;
        }
    }
    total
}

/// Finds bins as NumPy does: a first guess from `(x - lo) * bins / (hi - lo)`, then
/// corrected by one against the edges, so the bin depends on the edges only (the guess
/// may be off by one either way; NumPy divides where this multiplies, and the
/// correction makes the results the same).
struct Binner {
    lo: f64,
    hi: f64,
    scale: f64,
    n: usize,
    edges: Vec<f64>,
}

impl Binner {
    fn new(h: &ChunkHistogram) -> Self {
        let edges = edges(h);
        let (lo, hi) = if h.float32 {
            (h.lo as f32 as f64, h.hi as f32 as f64)
        } else {
            (h.lo, h.hi)
        };
        Self {
            lo,
            hi,
            scale: h.bins as f64 / (hi - lo),
            n: h.bins as usize,
            edges,
        }
    }

    /// The bin of `x`, or None outside `[lo, hi]` (and for NaN).
    #[inline(always)]
    fn bin(&self, x: f64) -> Option<usize> {
        // float32 values compare with float32 bounds exactly as float64 numbers.
        if !(x >= self.lo && x <= self.hi) {
            return None;
        }
        let f = (x - self.lo) * self.scale;
        let mut i = (f as usize).min(self.n - 1);
        if x < self.edges[i] {
            i = i.saturating_sub(1);
        } else if i + 1 < self.n && x >= self.edges[i + 1] {
            i += 1;
        }
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_and_the_last_bin_follow_numpy() {
        let h = ChunkHistogram {
            bins: 3,
            lo: 0.0,
            hi: 1.0,
            weight: None,
            float32: false,
        };
        let e = edges(&h);
        assert_eq!(e[3], 1.0);
        let b = Binner::new(&h);
        assert_eq!(b.bin(1.0), Some(2));
        assert_eq!(b.bin(0.0), Some(0));
        assert_eq!(b.bin(e[1]), Some(1));
        assert_eq!(b.bin(e[2]), Some(2));
        assert_eq!(b.bin(-0.0), Some(0));
        assert_eq!(b.bin(f64::NAN), None);
        assert_eq!(b.bin(1.0 + 1e-16 * 3.0), None);
        // Just below an edge stays in the bin before it.
        assert_eq!(b.bin(f64::from_bits(e[2].to_bits() - 1)), Some(1));
    }
}
