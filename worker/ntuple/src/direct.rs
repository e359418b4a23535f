//! The fast path of TTree reads for numbers and lists of numbers: the output
//! buffers are sized once from the basket headers, then each basket is read and
//! decompressed into per-thread scratch buffers and decoded straight into its part
//! of the output (no per-basket allocations, no zeroed buffers, one pass over the
//! data).
//!
//! Whatever it does not cover (strings, TObject bits, counted
//! arrays without entry offsets, fixed-size entries with headers), and any basket
//! that fails a check, is left to the general path in `decode` (which then reports
//! the error), so both paths accept exactly the same files.

use std::cell::Cell;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, ListArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::Field;
use rayon::prelude::*;

use crate::basket::{BasketHeader, BasketLoc, BasketSpan, Scratch, object_into, read_header};
use crate::decode::{Fill, convert, nest_fixed};
use crate::error::{Fault, PResult};
use crate::interp::{Layout, ListKind, Shape};
use crate::model::EmbeddedBasket;
use crate::outbuf::{Out, fill_parts};
use crate::source::ReadAt;

/// How the entries of the branch are framed.
#[derive(Clone, Copy)]
enum Kind {
    /// `per_entry` values per entry, back to back.
    Fixed { per_entry: usize },
    /// A list per entry: `header` bytes, then items of `item` values each;
    /// `vector`: the header ends with the item count, which is checked.
    Jagged {
        item: usize,
        header: usize,
        vector: bool,
    },
}

/// One basket and the entries [lo, hi) of it that the read needs.
struct Planned<'a> {
    span: &'a BasketSpan,
    h: BasketHeader,
    lo: usize,
    hi: usize,
    /// Values (of `width` bytes on disk) the piece holds.
    values: usize,
    /// The uncompressed object, when planning needed it (a part of a basket of
    /// lists: its entry offsets give the number of values).
    object: Option<Vec<u8>>,
}

/// Reads entries `range` of a branch laid out as `layout` from the baskets
/// `spans` (those overlapping the range, in entry order). `None`: this path does
/// not cover the branch or a basket failed a check; use the general path.
pub(crate) fn read(
    source: &dyn ReadAt,
    embedded: &[EmbeddedBasket],
    spans: &[&BasketSpan],
    range: Range<u64>,
    layout: &Layout,
) -> Option<ArrayRef> {
    let width = layout.storage.disk_width();
    // values of a fixed array (dimensions from the file: no overflow)
    let values_in = |dims: &[usize]| {
        dims.iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|v| v.checked_mul(width).is_some())
    };
    let kind = match &layout.shape {
        Shape::Scalar => Kind::Fixed { per_entry: 1 },
        Shape::Fixed(dims) => Kind::Fixed {
            per_entry: values_in(dims)?,
        },
        Shape::Jagged {
            inner,
            header,
            list: list @ (ListKind::Plain | ListKind::Vector),
        } => Kind::Jagged {
            item: values_in(inner)?.max(1),
            header: *header,
            vector: *list == ListKind::Vector,
        },
        Shape::Jagged { .. } | Shape::Str { .. } => return None,
    };
    let pieces = spans
        .par_iter()
        .map(|s| {
            plan(source, embedded, s, &range, kind, width)
                .ok()
                .flatten()
        })
        .collect::<Option<Vec<_>>>()?;
    let arr: ArrayRef = match (&layout.shape, kind) {
        (Shape::Jagged { inner, .. }, Kind::Jagged { item, .. }) => {
            let items: usize = pieces.iter().map(|p| p.values / item).sum();
            if items > i32::MAX as usize {
                return None;
            }
            let mut sizes = vec![1];
            sizes.extend(pieces.iter().map(|p| p.hi - p.lo));
            let (offsets, values) = fill_parts::<i32, _>(&sizes, |mut outs| {
                outs[0].push(0)?;
                convert(
                    layout.storage,
                    &Job::new(source, kind, width, &pieces, outs.split_off(1)),
                )
            })
            .ok()?;
            let values = if inner.is_empty() {
                values
            } else {
                nest_fixed(values, inner).ok()?
            };
            let field = Arc::new(Field::new("item", values.data_type().clone(), false));
            // SAFETY: the offsets start at 0 and never fall: within a piece they
            // were checked to rise (`lists`, `plain_lists`), each piece starts at the item count
            // of the pieces before it and was checked to end at that plus its own
            // count (`decode_piece`), and the total fits an i32 (checked above).
            // `OffsetBuffer::new` would check this again in a scalar pass over
            // every entry (4% of a read of lists).
            let offsets = unsafe { OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets)) };
            let list = ListArray::try_new(field, offsets, values, None).ok()?;
            Arc::new(list)
        }
        (shape, Kind::Fixed { .. }) => {
            let values = convert(
                layout.storage,
                &Job::new(source, kind, width, &pieces, Vec::new()),
            )
            .ok()?;
            match shape {
                Shape::Fixed(dims) => nest_fixed(values, dims).ok()?,
                _ => values,
            }
        }
        _ => return None,
    };
    Some(arr)
}

/// Reads the header of one basket and works out how many values the read takes
/// from it. `Ok(None)`: the basket is not for this path.
fn plan<'a>(
    source: &dyn ReadAt,
    embedded: &[EmbeddedBasket],
    span: &'a BasketSpan,
    range: &Range<u64>,
    kind: Kind,
    width: usize,
) -> PResult<Option<Planned<'a>>> {
    let n_expected = (span.stop - span.start) as usize;
    let (h, mut object) = match span.loc {
        BasketLoc::File { seek, nbytes } => (read_header(source, seek, nbytes, n_expected)?, None),
        BasketLoc::Embedded(idx) => {
            match embedded.get(idx).and_then(|b| as_object(b, n_expected)) {
                Some((h, obj)) => (h, Some(obj)),
                None => return Ok(None),
            }
        }
    };
    let lo = (range.start.max(span.start) - span.start) as usize;
    let hi = (range.end.min(span.stop) - span.start) as usize;
    let values = match kind {
        Kind::Fixed { per_entry } => {
            if Some(h.border) != h.n.checked_mul(per_entry * width) {
                return Ok(None);
            }
            (hi - lo) * per_entry
        }
        Kind::Jagged { item, header, .. } => {
            if h.n > 0 && h.border == h.objlen {
                // no entry offsets: they come from the count branch
                return Ok(None);
            }
            let item_bytes = item * width;
            let payload = if lo == 0 && hi == h.n {
                h.border.checked_sub(header * h.n)
            } else {
                // part of the basket: its entry offsets tell how much
                let obj = match (object.take(), span.loc) {
                    (Some(obj), _) => obj,
                    (None, BasketLoc::File { seek, nbytes }) => {
                        let mut scratch = Scratch::default();
                        object_into(source, seek, nbytes, &h, &mut scratch)?.to_vec()
                    }
                    (None, BasketLoc::Embedded(_)) => return Ok(None),
                };
                let t = Table::new(&obj, &h)?;
                t.check()?;
                let payload = (t.at(hi) - t.at(lo)) as usize;
                object = Some(obj);
                payload.checked_sub(header * (hi - lo))
            };
            match payload {
                Some(p) if p.is_multiple_of(item_bytes) => p / item_bytes * item,
                _ => return Ok(None),
            }
        }
    };
    Ok(Some(Planned {
        span,
        h,
        lo,
        hi,
        values,
        object,
    }))
}

/// A basket kept in the TTree record as the object a basket in the file holds
/// (entry data, then the offset table as ROOT writes it, with a 0-byte key), so
/// that one decoder serves both. `None` when it does not fit that form.
fn as_object(b: &EmbeddedBasket, n: usize) -> Option<(BasketHeader, Vec<u8>)> {
    if b.nev_buf != n {
        return None;
    }
    let border = b.data.len();
    let mut obj = Vec::with_capacity(border + b.offsets.as_ref().map_or(0, |o| 4 * o.len()));
    obj.extend_from_slice(&b.data);
    if let Some(offs) = &b.offsets {
        if offs.len() != n + 1 || offs[n] != border {
            return None;
        }
        obj.extend_from_slice(&i32::try_from(n).ok()?.to_be_bytes());
        for &o in &offs[..n] {
            obj.extend_from_slice(&i32::try_from(o).ok()?.to_be_bytes());
        }
    }
    let h = BasketHeader {
        keylen: 0,
        objlen: obj.len(),
        border,
        n,
        compressed: false,
    };
    Some((h, obj))
}

/// The entry-offset table of a basket: after a count, one big-endian i32 per
/// entry, the position of the entry in the basket counted from the key's start.
struct Table<'a> {
    offs: &'a [[u8; 4]],
    keylen: i64,
    border: i64,
}

impl<'a> Table<'a> {
    fn new(obj: &'a [u8], h: &BasketHeader) -> PResult<Table<'a>> {
        let raw = obj
            .get(h.border..h.objlen)
            .ok_or_else(|| Fault::corrupt("basket shorter than its header says"))?;
        let count = raw
            .get(..4)
            .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .unwrap_or(-1);
        let offs = raw.get(4..4 + 4 * h.n).map(|t| t.as_chunks::<4>().0);
        match offs {
            Some(offs) if count >= 0 && count as usize >= h.n => Ok(Table {
                offs,
                keylen: h.keylen as i64,
                border: h.border as i64,
            }),
            _ => Err(Fault::corrupt("entry-offset table too short")),
        }
    }

    /// Start of entry `i` in the entry data (`n`: the end of the data).
    fn at(&self, i: usize) -> i64 {
        match self.offs.get(i) {
            Some(&c) => i32::from_be_bytes(c) as i64 - self.keylen,
            None => self.border,
        }
    }

    /// Entries start at 0 and rise within the data.
    fn check(&self) -> PResult<()> {
        let mut prev = 0i64;
        let mut ok = self.offs.is_empty() || self.at(0) == 0;
        for i in 0..=self.offs.len() {
            let o = self.at(i);
            ok &= prev <= o && o <= self.border;
            prev = o;
        }
        if ok {
            Ok(())
        } else {
            Err(Fault::corrupt("entry offsets out of order"))
        }
    }
}

/// The pieces of one read and the writers of their list offsets.
struct Job<'s, 'o> {
    source: &'s dyn ReadAt,
    kind: Kind,
    width: usize,
    pieces: &'s [Planned<'s>],
    /// One writer per piece (lists), taken by `fill`.
    offsets: Cell<Vec<Out<'o, i32>>>,
}

impl<'s, 'o> Job<'s, 'o> {
    fn new(
        source: &'s dyn ReadAt,
        kind: Kind,
        width: usize,
        pieces: &'s [Planned<'s>],
        offsets: Vec<Out<'o, i32>>,
    ) -> Self {
        Job {
            source,
            kind,
            width,
            pieces,
            offsets: Cell::new(offsets),
        }
    }
}

impl Fill for Job<'_, '_> {
    fn fill<T, const W: usize, F>(&self, f: F) -> PResult<Vec<T>>
    where
        T: Copy + Send + Sync,
        F: Fn([u8; W]) -> T + Sync,
    {
        if W != self.width {
            return Err(Fault::corrupt("value width mismatch"));
        }
        let mut offsets: Vec<Option<Out<i32>>> =
            self.offsets.take().into_iter().map(Some).collect();
        if offsets.is_empty() {
            offsets.resize_with(self.pieces.len(), || None);
        }
        let sizes: Vec<usize> = self.pieces.iter().map(|p| p.values).collect();
        let (source, kind, pieces) = (self.source, self.kind, self.pieces);
        let mut bases = Vec::with_capacity(pieces.len());
        let mut base = 0usize;
        for p in pieces {
            bases.push(base);
            if let Kind::Jagged { item, .. } = kind {
                base += p.values / item;
            }
        }
        let (values, ()) = fill_parts(&sizes, |outs| {
            pieces
                .par_iter()
                .zip(bases.into_par_iter())
                .zip(outs.into_par_iter().zip(offsets.into_par_iter()))
                .try_for_each(|((p, base), (mut out, offs))| {
                    with_scratch(|scratch| {
                        let obj = match &p.object {
                            Some(o) => &o[..],
                            None => {
                                let BasketLoc::File { seek, nbytes } = p.span.loc else {
                                    return Err(Fault::corrupt("embedded basket"));
                                };
                                object_into(source, seek, nbytes, &p.h, scratch)?
                            }
                        };
                        decode_piece(p, obj, kind, base, &mut out, offs, &f)
                    })
                })
        })?;
        Ok(values)
    }
}

thread_local! {
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch buffers (taken out while in use, so a
/// nested use just starts with empty ones).
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut s = SCRATCH.with(Cell::take);
    let r = f(&mut s);
    if s.size() <= Scratch::KEEP_AT_MOST {
        SCRATCH.with(|c| c.set(s));
    }
    r
}

/// Decodes the entries of one piece from its basket's uncompressed object.
fn decode_piece<T, const W: usize, F>(
    p: &Planned,
    obj: &[u8],
    kind: Kind,
    base: usize,
    out: &mut Out<T>,
    offs: Option<Out<i32>>,
    f: &F,
) -> PResult<()>
where
    F: Fn([u8; W]) -> T,
{
    let data = obj
        .get(..p.h.border)
        .ok_or_else(|| Fault::corrupt("basket shorter than its header says"))?;
    match (kind, offs) {
        (Kind::Fixed { per_entry }, None) => {
            let eb = per_entry * W;
            let src = data
                .get(p.lo * eb..p.hi * eb)
                .ok_or_else(|| Fault::corrupt("basket shorter than its entries"))?;
            out.put::<W>(src, f)
        }
        (
            Kind::Jagged {
                item,
                header,
                vector,
            },
            Some(mut offs),
        ) => {
            if p.hi == p.lo {
                return Ok(());
            }
            let t = Table::new(obj, &p.h)?;
            let base = base as i64;
            let end = lists(
                &t,
                p,
                item * W,
                header,
                vector,
                base,
                &mut offs,
                |s| out.put::<W>(s, f),
                data,
            )?;
            if end != base + (p.values / item) as i64 {
                return Err(Fault::corrupt("list items differ from the planned count"));
            }
            Ok(())
        }
        _ => Err(Fault::corrupt("list offsets mismatch")),
    }
}

/// Writes the list offsets of entries lo..hi of a piece (the first list starting
/// at item `base`) and passes the bytes of their items, in order, to `put`.
/// Returns the item count after the last list.
#[allow(clippy::too_many_arguments)]
fn lists(
    t: &Table,
    p: &Planned,
    item_bytes: usize,
    header: usize,
    vector: bool,
    base: i64,
    offs: &mut Out<i32>,
    mut put: impl FnMut(&[u8]) -> PResult<()>,
    data: &[u8],
) -> PResult<i64> {
    let (lo, hi) = (p.lo, p.hi);
    let start = t.at(lo);
    if start < 0 || start > t.border || (lo == 0 && start != 0) {
        return Err(Fault::corrupt("entry offsets out of range"));
    }
    if header == 0 {
        return plain_lists(t, p, item_bytes, start, base, offs, put, data);
    }
    // a header before each list: one entry at a time
    let mut prev = start;
    let mut acc = base;
    for i in lo..hi {
        let next = t.at(i + 1);
        if next < prev || next > t.border {
            return Err(Fault::corrupt("entry offsets out of order"));
        }
        let entry = &data[prev as usize..next as usize];
        let payload = entry
            .len()
            .checked_sub(header)
            .filter(|p| p.is_multiple_of(item_bytes))
            .ok_or_else(|| Fault::corrupt("entry size does not fit its items"))?;
        let n = payload / item_bytes;
        if vector {
            let stored = entry
                .get(6..10)
                .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]));
            if stored != i32::try_from(n).ok() {
                return Err(Fault::corrupt("std::vector size differs from its bytes"));
            }
        }
        acc += n as i64;
        offs.push(acc as i32)?;
        put(&entry[header..])?;
        prev = next;
    }
    Ok(acc)
}

/// `lists` for items back to back (no header): one conversion of the whole range
/// of data, and the list offsets straight from the entry-offset table. Written as
/// independent passes over the table (offsets, then checks) so that LLVM
/// vectorises them; a shift replaces the division when the item size is a power
/// of two (the usual case).
#[allow(clippy::too_many_arguments)]
fn plain_lists(
    t: &Table,
    p: &Planned,
    item_bytes: usize,
    start: i64,
    base: i64,
    offs: &mut Out<i32>,
    mut put: impl FnMut(&[u8]) -> PResult<()>,
    data: &[u8],
) -> PResult<i64> {
    let (lo, hi) = (p.lo, p.hi);
    let n = t.offs.len();
    // ends of entries lo..hi that are in the table (the last entry of the basket
    // ends where the data does)
    let stop = (hi + 1).min(n);
    let ends = t.offs.get(lo + 1..stop.max(lo + 1)).unwrap_or(&[]);
    // table values are positions from the key's start, all in i32: the data is
    // keylen..=keylen + border, and entry lo starts at `zero`
    let zero = (t.keylen + start) as i32;
    let last = (t.keylen + t.border) as i32;
    let base32 = base as i32;
    let ib = item_bytes as i32;
    let (mut bad, mut prev) = if item_bytes.is_power_of_two() {
        let shift = item_bytes.trailing_zeros();
        offs.put::<4>(ends.as_flattened(), |c| {
            base32.wrapping_add(i32::from_be_bytes(c).wrapping_sub(zero) >> shift)
        })?;
        check_ends(ends, zero, last, |v| v & (ib - 1) != 0)
    } else {
        offs.put::<4>(ends.as_flattened(), |c| {
            base32.wrapping_add(i32::from_be_bytes(c).wrapping_sub(zero) / ib)
        })?;
        check_ends(ends, zero, last, |v| v % ib != 0)
    };
    if hi == n {
        bad |= (last < prev) | ((last - zero) % ib != 0);
        prev = last;
        offs.push(base32.wrapping_add((last - zero) / ib))?;
    }
    if bad {
        return Err(Fault::corrupt("entry offsets out of order"));
    }
    let end = (prev as i64) - t.keylen;
    put(&data[start as usize..end as usize])?;
    Ok(base + (end - start) / item_bytes as i64)
}

/// Whether entry ends (table values) fail to rise from `zero`, pass `last`, or
/// leave a partial item (`rem` of their distance from `zero`); and the last end.
#[inline]
fn check_ends<R: Fn(i32) -> bool>(ends: &[[u8; 4]], zero: i32, last: i32, rem: R) -> (bool, i32) {
    #[cfg(target_arch = "x86_64")]
    if ends.len() >= 64 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { check_ends_avx2(ends, zero, last, rem) };
    }
    check_ends_loop(ends, zero, last, rem)
}

/// The same checks compiled for AVX2, where a byte swap is one shuffle: the
/// x86-64 baseline has none, so the loop stayed scalar (about 5 instructions an
/// entry, a sixth of all the instructions of a read of the LZ4 benchmark; a
/// quarter of that with AVX2, and 3-4% less time for the read).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn check_ends_avx2<R: Fn(i32) -> bool>(
    ends: &[[u8; 4]],
    zero: i32,
    last: i32,
    rem: R,
) -> (bool, i32) {
    check_ends_loop(ends, zero, last, rem)
}

/// Each end is compared with the one before it through two offset views of the
/// table rather than a value carried from step to step, and the failures are
/// or-ed into one mask: LLVM vectorises this into fewer instructions than the
/// carried form (15% fewer in callgrind).
#[inline(always)]
fn check_ends_loop<R: Fn(i32) -> bool>(
    ends: &[[u8; 4]],
    zero: i32,
    last: i32,
    rem: R,
) -> (bool, i32) {
    let (Some(first), Some(end)) = (ends.first(), ends.last()) else {
        return (false, zero);
    };
    let first = i32::from_be_bytes(*first);
    let mut bad = (first < zero) | (first > last) | rem(first.wrapping_sub(zero));
    let mut mask = 0u32;
    for (a, b) in ends.iter().zip(&ends[1..]) {
        let (a, b) = (i32::from_be_bytes(*a), i32::from_be_bytes(*b));
        mask |= ((b < a) | (b > last) | rem(b.wrapping_sub(zero))) as u32;
    }
    bad |= mask != 0;
    (bad, i32::from_be_bytes(*end))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checks one entry at a time, as the format states them.
    fn check_ends_plain(ends: &[[u8; 4]], zero: i32, last: i32, ib: i32) -> (bool, i32) {
        let mut bad = false;
        let mut prev = zero;
        for c in ends {
            let v = i32::from_be_bytes(*c);
            bad |= v < prev || v > last || v.wrapping_sub(zero) % ib != 0;
            prev = v;
        }
        (bad, prev)
    }

    #[test]
    fn check_ends_flags_what_the_plain_loop_flags() {
        // a rising table of 8-byte items, then each kind of damage at each place,
        // at lengths on both sides of the vectorised path's threshold
        let (zero, ib) = (100, 8);
        let mut x = 7u64;
        for n in [0usize, 1, 2, 63, 64, 65, 200] {
            let mut vals = Vec::with_capacity(n);
            let mut v = zero;
            for _ in 0..n {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                v += ib * (x >> 61) as i32;
                vals.push(v);
            }
            let last = v + 3 * ib;
            let mut cases = vec![vals.clone()];
            for i in (0..n).step_by(7).chain(n.checked_sub(1)) {
                for delta in [-1, 1, -ib, last] {
                    let mut bad = vals.clone();
                    bad[i] = bad[i].wrapping_add(delta);
                    cases.push(bad);
                }
            }
            for case in cases {
                let ends: Vec<[u8; 4]> = case.iter().map(|v| v.to_be_bytes()).collect();
                let want = check_ends_plain(&ends, zero, last, ib);
                let got = check_ends(&ends, zero, last, |v| v & (ib - 1) != 0);
                assert_eq!(got, want, "{case:?}");
                let got = check_ends(&ends, zero, last, |v| v % ib != 0);
                assert_eq!(got, want, "{case:?}");
            }
        }
    }
}
