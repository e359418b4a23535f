//! Output buffers filled in parallel without being zeroed first: a buffer is split
//! into consecutive parts, each written by one task through an [`Out`], and it is
//! only handed back once every part has been written to its end.

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Fault, PResult};

/// A writer of one part of a buffer: values go in order, and the count written so
/// far is the number of initialised values at the start of the part.
pub(crate) struct Out<'a, T> {
    dst: &'a mut [MaybeUninit<T>],
    pos: usize,
    /// Values written by all the parts, added when a part is dropped.
    filled: &'a AtomicUsize,
}

impl<T> Out<'_, T> {
    /// Values still to be written.
    pub fn remaining(&self) -> usize {
        self.dst.len() - self.pos
    }

    pub fn push(&mut self, v: T) -> PResult<()> {
        match self.dst.get_mut(self.pos) {
            Some(d) => {
                d.write(v);
                self.pos += 1;
                Ok(())
            }
            None => Err(overflow()),
        }
    }

    /// Converts `src`, `W` bytes per value, into the next values.
    #[inline]
    pub fn put<const W: usize>(&mut self, src: &[u8], f: impl Fn([u8; W]) -> T) -> PResult<()> {
        let (chunks, rest) = src.as_chunks::<W>();
        if !rest.is_empty() || chunks.len() > self.remaining() {
            return Err(overflow());
        }
        let dst = &mut self.dst[self.pos..self.pos + chunks.len()];
        convert(dst, chunks, &f);
        self.pos += chunks.len();
        Ok(())
    }
}

impl<T> Drop for Out<'_, T> {
    fn drop(&mut self) {
        self.filled.fetch_add(self.pos, Ordering::Relaxed);
    }
}

/// Writes `f` of each chunk to `dst` (of the same length).
#[inline]
fn convert<T, const W: usize>(
    dst: &mut [MaybeUninit<T>],
    src: &[[u8; W]],
    f: &impl Fn([u8; W]) -> T,
) {
    #[cfg(target_arch = "x86_64")]
    if dst.len() >= 64 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { convert_avx2(dst, src, f) };
        return;
    }
    convert_loop(dst, src, f)
}

/// The same loop compiled for AVX2: a byte swap becomes one shuffle per 32 bytes
/// instead of about six SSE2 instructions per 16 bytes (the x86-64 baseline);
/// 4% of a read of the LZ4 benchmark.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn convert_avx2<T, const W: usize>(
    dst: &mut [MaybeUninit<T>],
    src: &[[u8; W]],
    f: &impl Fn([u8; W]) -> T,
) {
    convert_loop(dst, src, f)
}

/// A plain element-wise loop over equal lengths, which LLVM vectorises.
#[inline(always)]
fn convert_loop<T, const W: usize>(
    dst: &mut [MaybeUninit<T>],
    src: &[[u8; W]],
    f: &impl Fn([u8; W]) -> T,
) {
    for (d, c) in dst.iter_mut().zip(src) {
        d.write(f(*c));
    }
}

fn overflow() -> Fault {
    Fault::corrupt("a basket holds more values than its entries and header say")
}

/// Allocates a buffer of `sizes.iter().sum()` values, splits it into writers of
/// those sizes, runs `body` on them (which may hand them to parallel tasks), and
/// returns the buffer when every writer was filled, with what `body` returned.
pub(crate) fn fill_parts<T, R>(
    sizes: &[usize],
    body: impl for<'a> FnOnce(Vec<Out<'a, T>>) -> PResult<R>,
) -> PResult<(Vec<T>, R)> {
    let total: usize = sizes.iter().sum();
    // sizes come from basket headers: a damaged file may claim absurd ones, which
    // must be an error, not an abort
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(total)
        .map_err(|_| Fault::corrupt(format!("baskets claim {total} values")))?;
    huge_pages(&mut v);
    let filled = AtomicUsize::new(0);
    let r = {
        let mut rest = &mut v.spare_capacity_mut()[..total];
        let mut outs = Vec::with_capacity(sizes.len());
        for &n in sizes {
            let (head, tail) = rest.split_at_mut(n);
            rest = tail;
            outs.push(Out {
                dst: head,
                pos: 0,
                filled: &filled,
            });
        }
        body(outs)?
    };
    // every writer is gone (they borrow `v`), so `filled` is final
    let filled = filled.into_inner();
    if filled != total {
        return Err(Fault::corrupt(format!(
            "baskets hold {filled} values where their headers say {total}"
        )));
    }
    // SAFETY: the writers own disjoint parts of `v[..total]`, and each one's
    // first `pos` values were written (`push`/`put` write every value they
    // count); the positions add up to `total`, and none exceeds its part's size,
    // so each part was written to its end and all of `v[..total]` is initialised.
    // Skipping `vec![0; total]` saves zeroing (and a second pass over) every output
    // buffer.
    unsafe { v.set_len(total) };
    Ok((v, r))
}

/// Asks the kernel to back a large buffer with transparent huge pages (where the
/// system leaves that to `madvise`, the usual setting). Every page of an output
/// buffer is freshly faulted in and then written once; with 2 MiB pages that is
/// one fault per 512 pages, and it cut a read of the dilepton benchmark by a
/// sixth. Only a hint: nothing changes if the kernel declines.
#[cfg(target_os = "linux")]
fn huge_pages<T>(v: &mut Vec<T>) {
    const MIN: usize = 4 << 20;
    const PAGE: usize = 4096;
    const MADV_HUGEPAGE: std::ffi::c_int = 14;
    unsafe extern "C" {
        fn madvise(
            addr: *mut std::ffi::c_void,
            len: usize,
            advice: std::ffi::c_int,
        ) -> std::ffi::c_int;
    }
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < MIN {
        return;
    }
    let start = v.as_mut_ptr() as usize;
    let (first, end) = (start.next_multiple_of(PAGE), (start + bytes) / PAGE * PAGE);
    if end > first {
        // SAFETY: `first..end` is whole pages inside the vector's allocation,
        // which this function borrows mutably; MADV_HUGEPAGE only changes how the
        // kernel backs those pages, never their contents, and a failure is
        // harmless (the return value is ignored on purpose).
        unsafe { madvise(first as *mut std::ffi::c_void, end - first, MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
fn huge_pages<T>(_: &mut Vec<T>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_must_be_filled() {
        let (v, ()) = fill_parts::<u32, _>(&[2, 1], |mut outs| {
            outs[0].put::<4>(&[0, 0, 0, 1, 0, 0, 0, 2], u32::from_be_bytes)?;
            outs[1].push(3)
        })
        .unwrap();
        assert_eq!(v, [1, 2, 3]);
        let short = fill_parts::<u32, _>(&[2, 1], |mut outs| outs[1].push(3));
        assert!(short.is_err());
        let over = fill_parts::<u32, _>(&[1], |mut outs| {
            outs[0].put::<4>(&[0; 8], u32::from_be_bytes)
        });
        assert!(over.is_err());
        let ragged = fill_parts::<u32, _>(&[1], |mut outs| {
            outs[0].put::<4>(&[0; 5], u32::from_be_bytes)
        });
        assert!(ragged.is_err());
    }
}
