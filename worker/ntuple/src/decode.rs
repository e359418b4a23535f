//! Turns the entries of uncompressed baskets into Arrow arrays: big-endian values
//! to native ones, entry offsets to list offsets. Baskets are converted in
//! parallel straight into one preallocated output buffer.

use std::sync::Arc;

use arrow_array::types::*;
use arrow_array::{
    Array, ArrayRef, BooleanArray, FixedSizeListArray, ListArray, PrimitiveArray, StringArray,
};
use arrow_buffer::{BooleanBuffer, Buffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::Field;
use rayon::prelude::*;

use crate::basket::BasketData;
use crate::error::{Fault, PResult};
use crate::interp::{Layout, ListKind, ScalarType, Shape, Storage};
use crate::outbuf::fill_parts;

/// The entries [lo, hi) of one basket that a read needs.
pub(crate) struct Piece<'a> {
    pub basket: BasketData<'a>,
    pub lo: usize,
    pub hi: usize,
}

/// Byte segments holding the values of one piece, in order.
struct Segments<'a> {
    segs: Vec<&'a [u8]>,
}

/// Decodes the pieces (in entry order) into one array.
pub(crate) fn decode(layout: &Layout, pieces: &[Piece]) -> PResult<ArrayRef> {
    let width = layout.storage.disk_width();
    match &layout.shape {
        Shape::Scalar | Shape::Fixed(_) => {
            let per_entry = match &layout.shape {
                Shape::Fixed(d) => d.iter().product::<usize>(),
                _ => 1,
            };
            let entry_bytes = per_entry * width;
            let segs = pieces
                .iter()
                .map(|p| fixed_segments(p, entry_bytes))
                .collect::<PResult<Vec<_>>>()?;
            let values = convert(layout.storage, &segs[..])?;
            match &layout.shape {
                Shape::Fixed(dims) => nest_fixed(values, dims),
                _ => Ok(values),
            }
        }
        Shape::Jagged {
            inner,
            header,
            list,
        } => {
            let item = inner.iter().product::<usize>().max(1);
            let item_bytes = item * width;
            let parts = pieces
                .par_iter()
                .map(|p| match list {
                    ListKind::TObjectBits => bits_segments(p),
                    _ => jagged_segments(p, item_bytes, *header, *list == ListKind::Vector),
                })
                .collect::<PResult<Vec<_>>>()?;
            let items: u64 = parts
                .iter()
                .map(|(_, c)| c.iter().map(|&x| x as u64).sum::<u64>())
                .sum();
            if items > i32::MAX as u64 {
                return Err(Fault::unsupported(
                    "more than 2^31 list items in one read (read a smaller entry range)",
                ));
            }
            let mut offsets =
                Vec::with_capacity(pieces.iter().map(|p| p.hi - p.lo).sum::<usize>() + 1);
            offsets.push(0i32);
            let mut total = 0i32;
            for (_, counts) in &parts {
                offsets.extend(counts.iter().map(|&c| {
                    total += c as i32;
                    total
                }));
            }
            let segs: Vec<Segments> = parts.into_iter().map(|(s, _)| s).collect();
            let mut values = convert(layout.storage, &segs[..])?;
            if !inner.is_empty() {
                values = nest_fixed(values, inner)?;
            }
            let field = Arc::new(Field::new("item", values.data_type().clone(), false));
            let list = ListArray::try_new(
                field,
                OffsetBuffer::new(ScalarBuffer::from(offsets)),
                values,
                None,
            )
            .map_err(|e| Fault::corrupt(format!("list assembly: {e}")))?;
            Ok(Arc::new(list))
        }
        Shape::Str { header } => strings(pieces, *header),
    }
}

fn fixed_segments<'a>(p: &'a Piece, entry_bytes: usize) -> PResult<Segments<'a>> {
    let b = &p.basket;
    let data: &[u8] = &b.data;
    if data.len() != b.n * entry_bytes {
        if let Some(offs) = &b.offsets {
            // entries with a header (or otherwise not contiguous): check each
            let mut segs = Vec::with_capacity(p.hi - p.lo);
            for i in p.lo..p.hi {
                let (s, e) = (offs[i], offs[i + 1]);
                if e - s != entry_bytes {
                    return Err(Fault::corrupt(format!(
                        "entry {i} of a basket holds {} bytes, {entry_bytes} expected",
                        e - s
                    )));
                }
                segs.push(&data[s..e]);
            }
            return Ok(Segments { segs });
        }
        return Err(Fault::corrupt(format!(
            "basket of {} entries holds {} bytes, {} expected ({} bytes each)",
            b.n,
            data.len(),
            b.n * entry_bytes,
            entry_bytes
        )));
    }
    Ok(Segments {
        segs: vec![&data[p.lo * entry_bytes..p.hi * entry_bytes]],
    })
}

fn jagged_segments<'a>(
    p: &'a Piece,
    item_bytes: usize,
    header: usize,
    vector: bool,
) -> PResult<(Segments<'a>, Vec<u32>)> {
    let b = &p.basket;
    let item = item_bytes.max(1);
    let uniform;
    let offs: &[usize] = match &b.offsets {
        Some(o) => o,
        None => {
            let w = b.uniform_width()?;
            uniform = (0..=b.n).map(|i| i * w).collect::<Vec<_>>();
            &uniform
        }
    };
    let offs = &offs[p.lo..=p.hi];
    let data: &[u8] = &b.data;
    if header == 0 {
        // payloads back to back: one segment, counts from the offsets
        let mut bad = false;
        let counts: Vec<u32> = offs
            .windows(2)
            .map(|w| {
                let len = w[1] - w[0];
                bad |= len % item != 0;
                (len / item) as u32
            })
            .collect();
        if bad {
            let i = offs
                .windows(2)
                .position(|w| (w[1] - w[0]) % item != 0)
                .unwrap_or(0);
            return Err(Fault::corrupt(format!(
                "entry {} of a basket holds {} bytes, not a multiple of the {item}-byte item",
                p.lo + i,
                offs[i + 1] - offs[i]
            )));
        }
        let segs = vec![&data[offs[0]..offs[offs.len() - 1]]];
        return Ok((Segments { segs }, counts));
    }
    let mut counts = Vec::with_capacity(p.hi - p.lo);
    let mut segs = Vec::with_capacity(p.hi - p.lo);
    for (k, w) in offs.windows(2).enumerate() {
        let i = p.lo + k;
        let entry = &data[w[0]..w[1]];
        if entry.len() < header {
            return Err(Fault::corrupt(format!(
                "entry {i} of a basket has {} bytes, shorter than its {header}-byte header",
                entry.len()
            )));
        }
        let payload = entry.len() - header;
        if !payload.is_multiple_of(item) {
            return Err(Fault::corrupt(format!(
                "entry {i} of a basket holds {payload} bytes, not a multiple of the {item}-byte item"
            )));
        }
        let n = payload / item;
        if vector {
            let stored = i32::from_be_bytes([entry[6], entry[7], entry[8], entry[9]]);
            if stored < 0 || stored as usize != n {
                return Err(Fault::corrupt(format!(
                    "std::vector in entry {i} of a basket says {stored} items, its {payload} bytes hold {n}"
                )));
            }
        }
        counts.push(n as u32);
        if n > 0 {
            segs.push(&entry[header..]);
        }
    }
    Ok((Segments { segs }, counts))
}

/// TObject::fBits of each object of each entry: 4 bytes, plus 2 when the object
/// is referenced.
fn bits_segments<'a>(p: &'a Piece) -> PResult<(Segments<'a>, Vec<u32>)> {
    let b = &p.basket;
    let mut counts = Vec::with_capacity(p.hi - p.lo);
    let mut segs = Vec::new();
    for i in p.lo..p.hi {
        let e = b.entry(i)?;
        let mut pos = 0;
        let mut n = 0u32;
        while pos < e.len() {
            let v = e
                .get(pos..pos + 4)
                .ok_or_else(|| Fault::corrupt(format!("fBits of entry {i} cut short")))?;
            segs.push(v);
            pos += if v[3] & 0x10 != 0 { 6 } else { 4 };
            n += 1;
        }
        if pos != e.len() {
            return Err(Fault::corrupt(format!("fBits of entry {i} cut short")));
        }
        counts.push(n);
    }
    Ok((Segments { segs }, counts))
}

/// A source of the values of one column: fills a buffer of `T`, converting each
/// value from `W` bytes on disk with `f`.
pub(crate) trait Fill {
    fn fill<T, const W: usize, F>(&self, f: F) -> PResult<Vec<T>>
    where
        T: Copy + Send + Sync,
        F: Fn([u8; W]) -> T + Sync;
}

/// The values of segments, converted in parallel into one buffer.
impl Fill for [Segments<'_>] {
    fn fill<T, const W: usize, F>(&self, f: F) -> PResult<Vec<T>>
    where
        T: Copy + Send + Sync,
        F: Fn([u8; W]) -> T + Sync,
    {
        let sizes: Vec<usize> = self
            .iter()
            .map(|s| s.segs.iter().map(|x| x.len() / W).sum())
            .collect();
        let (out, ()) = fill_parts(&sizes, |outs| {
            self.par_iter()
                .zip(outs.into_par_iter())
                .try_for_each(|(s, mut out)| {
                    s.segs.iter().try_for_each(|seg| out.put::<W>(seg, &f))
                })
        })?;
        Ok(out)
    }
}

fn prim<T: ArrowPrimitiveType>(v: Vec<T::Native>) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(v), None))
}

/// Truncated Float16_t/Double32_t: exponent byte and a 16-bit mantissa whose bit
/// `nbits + 1` is the sign.
fn truncated(c: [u8; 3], nbits: u32) -> f32 {
    let exponent = c[0] as u32;
    let mantissa = u16::from_be_bytes([c[1], c[2]]) as u32;
    let mut bits = exponent << 23;
    bits |= (mantissa & ((1u32 << (nbits + 1)) - 1)) << (23 - nbits);
    let v = f32::from_bits(bits);
    if (1u32 << (nbits + 1)) & mantissa != 0 {
        -v
    } else {
        v
    }
}

/// The values of a column as an Arrow array of the storage's output type.
pub(crate) fn convert<S: Fill + ?Sized>(storage: Storage, src: &S) -> PResult<ArrayRef> {
    let out: ArrayRef = match storage {
        Storage::Plain(t) => match t {
            ScalarType::Bool => {
                let raw = src.fill(|[b]: [u8; 1]| b)?;
                let bits = BooleanBuffer::collect_bool(raw.len(), |i| raw[i] != 0);
                Arc::new(BooleanArray::new(bits, None))
            }
            ScalarType::I8 => prim::<Int8Type>(src.fill(i8::from_be_bytes)?),
            ScalarType::U8 => prim::<UInt8Type>(src.fill(u8::from_be_bytes)?),
            ScalarType::I16 => prim::<Int16Type>(src.fill(i16::from_be_bytes)?),
            ScalarType::U16 => prim::<UInt16Type>(src.fill(u16::from_be_bytes)?),
            ScalarType::I32 => prim::<Int32Type>(src.fill(i32::from_be_bytes)?),
            ScalarType::U32 => prim::<UInt32Type>(src.fill(u32::from_be_bytes)?),
            ScalarType::I64 => prim::<Int64Type>(src.fill(i64::from_be_bytes)?),
            ScalarType::U64 => prim::<UInt64Type>(src.fill(u64::from_be_bytes)?),
            ScalarType::F32 => prim::<Float32Type>(src.fill(f32::from_be_bytes)?),
            ScalarType::F64 => prim::<Float64Type>(src.fill(f64::from_be_bytes)?),
        },
        Storage::Double32AsFloat => {
            prim::<Float64Type>(src.fill(|c: [u8; 4]| f32::from_be_bytes(c) as f64)?)
        }
        Storage::Scaled { min, scale, double } => {
            if double {
                prim::<Float64Type>(
                    src.fill(|c: [u8; 4]| u32::from_be_bytes(c) as f64 * scale + min)?,
                )
            } else {
                let (scale, min) = (scale as f32, min as f32);
                prim::<Float32Type>(
                    src.fill(|c: [u8; 4]| u32::from_be_bytes(c) as f32 * scale + min)?,
                )
            }
        }
        Storage::Truncated { nbits, double } => {
            if double {
                prim::<Float64Type>(src.fill(|c: [u8; 3]| truncated(c, nbits) as f64)?)
            } else {
                prim::<Float32Type>(src.fill(|c: [u8; 3]| truncated(c, nbits))?)
            }
        }
    };
    Ok(out)
}

/// Wraps flat values into nested fixed-size lists (outermost dimension first).
pub(crate) fn nest_fixed(values: ArrayRef, dims: &[usize]) -> PResult<ArrayRef> {
    let mut arr = values;
    for &d in dims.iter().rev() {
        let d32 = i32::try_from(d).map_err(|_| Fault::unsupported("huge fixed dimension"))?;
        if d == 0 || !arr.len().is_multiple_of(d) {
            return Err(Fault::corrupt(format!(
                "{} values do not split into arrays of {d}",
                arr.len()
            )));
        }
        let field = Arc::new(Field::new("item", arr.data_type().clone(), false));
        arr = Arc::new(
            FixedSizeListArray::try_new(field, d32, arr, None)
                .map_err(|e| Fault::corrupt(format!("fixed-size list assembly: {e}")))?,
        );
    }
    Ok(arr)
}

fn strings(pieces: &[Piece], header: usize) -> PResult<ArrayRef> {
    let mut offsets: Vec<i32> = vec![0];
    let mut bytes: Vec<u8> = Vec::new();
    for p in pieces {
        for i in p.lo..p.hi {
            let e = p.basket.entry(i)?;
            let bad = |what: &str| {
                Fault::corrupt(format!(
                    "string in entry {i} of a basket ({} bytes): {what}",
                    e.len()
                ))
            };
            if e.len() < header + 1 {
                return Err(bad("shorter than its header and length"));
            }
            let mut pos = header;
            let mut n = e[pos] as usize;
            pos += 1;
            if n == 255 {
                if e.len() < pos + 4 {
                    return Err(bad("long length cut short"));
                }
                n = u32::from_be_bytes([e[pos], e[pos + 1], e[pos + 2], e[pos + 3]]) as usize;
                pos += 4;
            }
            let s = e
                .get(pos..pos + n)
                .ok_or_else(|| bad("length past its end"))?;
            bytes.extend_from_slice(s);
            let end = i32::try_from(bytes.len())
                .map_err(|_| Fault::unsupported("more than 2 GiB of strings in one read"))?;
            offsets.push(end);
        }
    }
    let arr = StringArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Buffer::from_vec(bytes),
        None,
    )
    .map_err(|e| Fault::unsupported(format!("string that is not UTF-8 ({e})")))?;
    Ok(Arc::new(arr))
}
