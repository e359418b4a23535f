//! Per-chunk histograms with NumPy's binning, streamed over a program's tiles.
//!
//! NumPy's `histogram(a, bins=n, range=(lo, hi))` finds an element's bin as
//! `floor((x - lo) / (hi - lo) * n)` and then corrects it against the bin edges
//! `lo + i * ((hi - lo) / n)` (the last edge is `hi` itself), so values on an edge land
//! where NumPy puts them; the same steps are done here in the same order.

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
    let edges = edges(h);
    let pieces = len.div_ceil(PIECE);
    let parts: Vec<Vec<f64>> = (0..pieces)
        .into_par_iter()
        .map(|p| {
            let mut counts = vec![0.0; h.bins as usize];
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
                            if let Some(b) = bin(h, &edges, x) {
                                counts[b] += w;
                            }
                        }
                    }
                    _ => {
                        for &x in x {
                            if let Some(b) = bin(h, &edges, x) {
                                counts[b] += 1.0;
                            }
                        }
                    }
                }
                at += n;
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

/// The bin of `x`, or None outside `[lo, hi]` (and for NaN).
#[inline]
fn bin(h: &ChunkHistogram, edges: &[f64], x: f64) -> Option<usize> {
    let n = h.bins as usize;
    let f = if h.float32 {
        // NumPy computes in float32 throughout for float32 values.
        let (x, lo, hi) = (x as f32, h.lo as f32, h.hi as f32);
        if !(x >= lo && x <= hi) {
            return None;
        }
        ((x - lo) / (hi - lo) * n as f32) as f64
    } else {
        if !(x >= h.lo && x <= h.hi) {
            return None;
        }
        (x - h.lo) / (h.hi - h.lo) * n as f64
    };
    let mut i = (f as usize).min(n - 1);
    if x < edges[i] {
        i = i.saturating_sub(1);
    } else if i + 1 < n && x >= edges[i + 1] {
        i += 1;
    }
    Some(i)
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
        assert_eq!(bin(&h, &e, 1.0), Some(2));
        assert_eq!(bin(&h, &e, 0.0), Some(0));
        assert_eq!(bin(&h, &e, e[1]), Some(1));
        assert_eq!(bin(&h, &e, -0.0), Some(0));
        assert_eq!(bin(&h, &e, f64::NAN), None);
        assert_eq!(bin(&h, &e, 1.0 + 1e-16 * 3.0), None);
    }
}
