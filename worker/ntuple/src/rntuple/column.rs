//! RNTuple column types and page decoding: bit-packed booleans, plain
//! little-endian values, and the split (byte-transposed), split + zigzag and
//! split + delta encodings; then conversion to the field's in-memory type.

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, PrimitiveArray, types::*};

use crate::error::{Fault, PResult};
use crate::interp::ScalarType;

/// How a column's elements are to be read once decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bit,
    Signed,
    Unsigned,
    Float,
    /// Offsets of a collection (end of each entry's items, relative to the cluster).
    Index,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Plain,
    Split,
    SplitZigzag,
    SplitDelta,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ColType {
    pub kind: Kind,
    /// Bytes per element once decoded (1 for bits).
    pub width: usize,
    pub encoding: Encoding,
    pub name: &'static str,
}

/// The column type of a column record (type id and bits on storage).
pub(crate) fn col_type(ty: u16, bits: u16) -> PResult<ColType> {
    use Encoding::*;
    use Kind::*;
    let (kind, width, encoding, name) = match ty {
        0x00 => (Bit, 1, Plain, "Bit"),
        0x01 => (Unsigned, 1, Plain, "Byte"),
        0x02 => (Signed, 1, Plain, "Char"),
        0x03 => (Signed, 1, Plain, "Int8"),
        0x04 => (Unsigned, 1, Plain, "UInt8"),
        0x05 => (Signed, 2, Plain, "Int16"),
        0x06 => (Unsigned, 2, Plain, "UInt16"),
        0x07 => (Signed, 4, Plain, "Int32"),
        0x08 => (Unsigned, 4, Plain, "UInt32"),
        0x09 => (Signed, 8, Plain, "Int64"),
        0x0A => (Unsigned, 8, Plain, "UInt64"),
        0x0B => (Float, 2, Plain, "Real16"),
        0x0C => (Float, 4, Plain, "Real32"),
        0x0D => (Float, 8, Plain, "Real64"),
        0x0E => (Index, 4, Plain, "Index32"),
        0x0F => (Index, 8, Plain, "Index64"),
        0x11 => (Signed, 2, SplitZigzag, "SplitInt16"),
        0x12 => (Unsigned, 2, Split, "SplitUInt16"),
        0x13 => (Signed, 4, SplitZigzag, "SplitInt32"),
        0x14 => (Unsigned, 4, Split, "SplitUInt32"),
        0x15 => (Signed, 8, SplitZigzag, "SplitInt64"),
        0x16 => (Unsigned, 8, Split, "SplitUInt64"),
        0x17 => (Float, 2, Split, "SplitReal16"),
        0x18 => (Float, 4, Split, "SplitReal32"),
        0x19 => (Float, 8, Split, "SplitReal64"),
        0x1A => (Index, 4, SplitDelta, "SplitIndex32"),
        0x1B => (Index, 8, SplitDelta, "SplitIndex64"),
        0x10 => return Err(Fault::unsupported("RNTuple Switch column (std::variant)")),
        0x1C => {
            return Err(Fault::unsupported(
                "RNTuple Real32Trunc column (floats with a truncated mantissa)",
            ));
        }
        0x1D => {
            return Err(Fault::unsupported(
                "RNTuple Real32Quant column (quantized floats)",
            ));
        }
        other => {
            return Err(Fault::unsupported(format!(
                "RNTuple column type {other:#x} (newer than this reader)"
            )));
        }
    };
    let want = if kind == Bit { 1 } else { width * 8 };
    if bits as usize != want {
        return Err(Fault::corrupt(format!(
            "{name} column of {bits} bits, {want} expected"
        )));
    }
    Ok(ColType {
        kind,
        width,
        encoding,
        name,
    })
}

impl ColType {
    /// Bytes of `n` elements on storage (uncompressed).
    pub(crate) fn stored_bytes(&self, n: u64) -> Option<u64> {
        if self.kind == Kind::Bit {
            Some(n.div_ceil(8))
        } else {
            n.checked_mul(self.width as u64)
        }
    }
}

fn le<const N: usize>(c: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&c[..N]);
    a
}

/// Decodes an uncompressed page of `n` elements into plain little-endian elements
/// of `ct.width` bytes (one byte, 0 or 1, per bit).
pub(crate) fn decode_page(ct: ColType, raw: Vec<u8>, n: usize) -> PResult<Vec<u8>> {
    let want = ct.stored_bytes(n as u64).unwrap_or(u64::MAX);
    if raw.len() as u64 != want {
        return Err(Fault::corrupt(format!(
            "{} page of {n} elements holds {} bytes, {want} expected",
            ct.name,
            raw.len()
        )));
    }
    if ct.kind == Kind::Bit {
        return Ok((0..n).map(|i| (raw[i / 8] >> (i % 8)) & 1).collect());
    }
    let w = ct.width;
    let mut out = if ct.encoding == Encoding::Plain || w == 1 {
        raw
    } else {
        // split: all first bytes, then all second bytes, ...
        let mut out = vec![0u8; raw.len()];
        for (b, plane) in raw.chunks_exact(n.max(1)).enumerate().take(w) {
            for (i, &x) in plane.iter().enumerate() {
                out[i * w + b] = x;
            }
        }
        out
    };
    match ct.encoding {
        Encoding::SplitZigzag => match w {
            2 => zigzag::<2>(
                &mut out,
                |c| u16::from_le_bytes(le(c)) as u64,
                |v, c| c.copy_from_slice(&(v as u16).to_le_bytes()),
            ),
            4 => zigzag::<4>(
                &mut out,
                |c| u32::from_le_bytes(le(c)) as u64,
                |v, c| c.copy_from_slice(&(v as u32).to_le_bytes()),
            ),
            _ => zigzag::<8>(
                &mut out,
                |c| u64::from_le_bytes(le(c)),
                |v, c| c.copy_from_slice(&v.to_le_bytes()),
            ),
        },
        Encoding::SplitDelta => {
            // every element after the first is stored as the difference to the previous
            if w == 4 {
                let mut acc = 0u32;
                for c in out.chunks_exact_mut(4) {
                    acc = acc.wrapping_add(u32::from_le_bytes(le(c)));
                    c.copy_from_slice(&acc.to_le_bytes());
                }
            } else {
                let mut acc = 0u64;
                for c in out.chunks_exact_mut(8) {
                    acc = acc.wrapping_add(u64::from_le_bytes(le(c)));
                    c.copy_from_slice(&acc.to_le_bytes());
                }
            }
        }
        _ => {}
    }
    Ok(out)
}

/// Undoes zigzag encoding (0, -1, 1, -2, ... stored as 0, 1, 2, 3, ...) in place.
fn zigzag<const W: usize>(
    out: &mut [u8],
    get: impl Fn(&[u8]) -> u64,
    put: impl Fn(u64, &mut [u8]),
) {
    for c in out.chunks_exact_mut(W) {
        let u = get(c);
        let v = (u >> 1) ^ (u & 1).wrapping_neg();
        put(v, c);
    }
}

fn signed(c: &[u8]) -> i64 {
    match c.len() {
        1 => c[0] as i8 as i64,
        2 => i16::from_le_bytes(le(c)) as i64,
        4 => i32::from_le_bytes(le(c)) as i64,
        _ => i64::from_le_bytes(le(c)),
    }
}

fn unsigned(c: &[u8]) -> u64 {
    match c.len() {
        1 => c[0] as u64,
        2 => u16::from_le_bytes(le(c)) as u64,
        4 => u32::from_le_bytes(le(c)) as u64,
        _ => u64::from_le_bytes(le(c)),
    }
}

fn float(c: &[u8]) -> f64 {
    match c.len() {
        2 => half_to_f32(u16::from_le_bytes(le(c))) as f64,
        4 => f32::from_le_bytes(le(c)) as f64,
        _ => f64::from_le_bytes(le(c)),
    }
}

/// IEEE 754 half precision to single precision.
fn half_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // subnormal: value = f * 2^-24
            let v = f as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

/// The offsets of an index column, as integers.
pub(crate) fn index_values(ct: ColType, plain: &[u8]) -> Vec<u64> {
    plain.chunks_exact(ct.width).map(unsigned).collect()
}

/// Whether a column of type `ct` can hold values of the field type `t`.
pub(crate) fn compatible(ct: ColType, t: ScalarType) -> bool {
    match t {
        ScalarType::F32 | ScalarType::F64 => ct.kind == Kind::Float,
        _ => matches!(ct.kind, Kind::Bit | Kind::Signed | Kind::Unsigned),
    }
}

/// Values of one field, in its in-memory type.
pub(crate) enum Values {
    Bool(Vec<bool>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    U16(Vec<u16>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    I64(Vec<i64>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

macro_rules! fill {
    ($v:expr, $t:ty, $native:expr, $ct:expr, $b:expr) => {{
        let w = $ct.width;
        if $ct.kind == $native && w == std::mem::size_of::<$t>() {
            $v.extend($b.chunks_exact(w).map(|c| <$t>::from_le_bytes(le(c))));
        } else {
            match $ct.kind {
                Kind::Signed => $v.extend($b.chunks_exact(w).map(|c| signed(c) as $t)),
                Kind::Float => $v.extend($b.chunks_exact(w).map(|c| float(c) as $t)),
                _ => $v.extend($b.chunks_exact(w).map(|c| unsigned(c) as $t)),
            }
        }
    }};
}

impl Values {
    pub(crate) fn new(t: ScalarType) -> Values {
        match t {
            ScalarType::Bool => Values::Bool(Vec::new()),
            ScalarType::I8 => Values::I8(Vec::new()),
            ScalarType::U8 => Values::U8(Vec::new()),
            ScalarType::I16 => Values::I16(Vec::new()),
            ScalarType::U16 => Values::U16(Vec::new()),
            ScalarType::I32 => Values::I32(Vec::new()),
            ScalarType::U32 => Values::U32(Vec::new()),
            ScalarType::I64 => Values::I64(Vec::new()),
            ScalarType::U64 => Values::U64(Vec::new()),
            ScalarType::F32 => Values::F32(Vec::new()),
            ScalarType::F64 => Values::F64(Vec::new()),
        }
    }

    /// Appends plain decoded elements of a column of type `ct`.
    pub(crate) fn push(&mut self, ct: ColType, b: &[u8]) {
        use Kind::*;
        match self {
            Values::Bool(v) => {
                v.extend(b.chunks_exact(ct.width).map(|c| c.iter().any(|&x| x != 0)))
            }
            Values::I8(v) => fill!(v, i8, Signed, ct, b),
            Values::U8(v) => fill!(v, u8, Unsigned, ct, b),
            Values::I16(v) => fill!(v, i16, Signed, ct, b),
            Values::U16(v) => fill!(v, u16, Unsigned, ct, b),
            Values::I32(v) => fill!(v, i32, Signed, ct, b),
            Values::U32(v) => fill!(v, u32, Unsigned, ct, b),
            Values::I64(v) => fill!(v, i64, Signed, ct, b),
            Values::U64(v) => fill!(v, u64, Unsigned, ct, b),
            Values::F32(v) => fill!(v, f32, Float, ct, b),
            Values::F64(v) => fill!(v, f64, Float, ct, b),
        }
    }

    pub(crate) fn append(&mut self, other: Values) {
        match (self, other) {
            (Values::Bool(a), Values::Bool(b)) => a.extend(b),
            (Values::I8(a), Values::I8(b)) => a.extend(b),
            (Values::U8(a), Values::U8(b)) => a.extend(b),
            (Values::I16(a), Values::I16(b)) => a.extend(b),
            (Values::U16(a), Values::U16(b)) => a.extend(b),
            (Values::I32(a), Values::I32(b)) => a.extend(b),
            (Values::U32(a), Values::U32(b)) => a.extend(b),
            (Values::I64(a), Values::I64(b)) => a.extend(b),
            (Values::U64(a), Values::U64(b)) => a.extend(b),
            (Values::F32(a), Values::F32(b)) => a.extend(b),
            (Values::F64(a), Values::F64(b)) => a.extend(b),
            // both come from Values::new with the same type
            _ => {}
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Values::Bool(v) => v.len(),
            Values::I8(v) => v.len(),
            Values::U8(v) => v.len(),
            Values::I16(v) => v.len(),
            Values::U16(v) => v.len(),
            Values::I32(v) => v.len(),
            Values::U32(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::U64(v) => v.len(),
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
        }
    }

    pub(crate) fn into_array(self) -> ArrayRef {
        match self {
            Values::Bool(v) => Arc::new(BooleanArray::from(v)),
            Values::I8(v) => Arc::new(PrimitiveArray::<Int8Type>::from(v)),
            Values::U8(v) => Arc::new(PrimitiveArray::<UInt8Type>::from(v)),
            Values::I16(v) => Arc::new(PrimitiveArray::<Int16Type>::from(v)),
            Values::U16(v) => Arc::new(PrimitiveArray::<UInt16Type>::from(v)),
            Values::I32(v) => Arc::new(PrimitiveArray::<Int32Type>::from(v)),
            Values::U32(v) => Arc::new(PrimitiveArray::<UInt32Type>::from(v)),
            Values::I64(v) => Arc::new(PrimitiveArray::<Int64Type>::from(v)),
            Values::U64(v) => Arc::new(PrimitiveArray::<UInt64Type>::from(v)),
            Values::F32(v) => Arc::new(PrimitiveArray::<Float32Type>::from(v)),
            Values::F64(v) => Arc::new(PrimitiveArray::<Float64Type>::from(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(plain: &[u8], w: usize) -> Vec<u8> {
        let n = plain.len() / w;
        let mut out = vec![0u8; plain.len()];
        for i in 0..n {
            for b in 0..w {
                out[b * n + i] = plain[i * w + b];
            }
        }
        out
    }

    #[test]
    fn split_real32_and_real64() {
        let xs = [1.5f32, -2.25, 1e30, 0.0, f32::MIN_POSITIVE];
        let plain: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
        let ct = col_type(0x18, 32).unwrap();
        let out = decode_page(ct, split(&plain, 4), xs.len()).unwrap();
        assert_eq!(out, plain);
        let ys = [std::f64::consts::PI, -1e-300, 7.0];
        let plain: Vec<u8> = ys.iter().flat_map(|x| x.to_le_bytes()).collect();
        let ct = col_type(0x19, 64).unwrap();
        assert_eq!(decode_page(ct, split(&plain, 8), 3).unwrap(), plain);
        let mut v = Values::new(ScalarType::F64);
        v.push(ct, &plain);
        assert!(matches!(v, Values::F64(ref a) if a == &ys));
    }

    #[test]
    fn split_zigzag_ints() {
        let xs = [0i32, -1, 1, -2, i32::MAX, i32::MIN, 12345];
        let zz: Vec<u8> = xs
            .iter()
            .flat_map(|&x| (((x << 1) ^ (x >> 31)) as u32).to_le_bytes())
            .collect();
        let ct = col_type(0x13, 32).unwrap();
        let out = decode_page(ct, split(&zz, 4), xs.len()).unwrap();
        let mut v = Values::new(ScalarType::I32);
        v.push(ct, &out);
        assert!(matches!(v, Values::I32(ref a) if a == &xs));
        let ys = [0i64, -5, i64::MIN, i64::MAX];
        let zz: Vec<u8> = ys
            .iter()
            .flat_map(|&x| (((x << 1) ^ (x >> 63)) as u64).to_le_bytes())
            .collect();
        let ct = col_type(0x15, 64).unwrap();
        let out = decode_page(ct, split(&zz, 8), ys.len()).unwrap();
        let mut v = Values::new(ScalarType::I64);
        v.push(ct, &out);
        assert!(matches!(v, Values::I64(ref a) if a == &ys));
        let zs = [-3i16, 3, i16::MIN];
        let zz: Vec<u8> = zs
            .iter()
            .flat_map(|&x| (((x << 1) ^ (x >> 15)) as u16).to_le_bytes())
            .collect();
        let ct = col_type(0x11, 16).unwrap();
        let out = decode_page(ct, split(&zz, 2), zs.len()).unwrap();
        let mut v = Values::new(ScalarType::I16);
        v.push(ct, &out);
        assert!(matches!(v, Values::I16(ref a) if a == &zs));
    }

    #[test]
    fn split_delta_index() {
        let ends = [2u64, 2, 5, 9, 9, 10];
        let mut prev = 0;
        let deltas: Vec<u8> = ends
            .iter()
            .flat_map(|&e| {
                let d = (e - prev) as u32;
                prev = e;
                d.to_le_bytes()
            })
            .collect();
        let ct = col_type(0x1A, 32).unwrap();
        let out = decode_page(ct, split(&deltas, 4), ends.len()).unwrap();
        assert_eq!(index_values(ct, &out), ends);
        let deltas64: Vec<u8> = [3u64, 0, 4].iter().flat_map(|d| d.to_le_bytes()).collect();
        let ct = col_type(0x1B, 64).unwrap();
        let out = decode_page(ct, split(&deltas64, 8), 3).unwrap();
        assert_eq!(index_values(ct, &out), vec![3, 3, 7]);
    }

    #[test]
    fn bits_and_halves() {
        let ct = col_type(0x00, 1).unwrap();
        let out = decode_page(ct, vec![0b1010_0101, 0b1], 9).unwrap();
        assert_eq!(out, vec![1, 0, 1, 0, 0, 1, 0, 1, 1]);
        assert!(decode_page(ct, vec![0], 9).is_err());
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x7bff), 65504.0);
        assert!(half_to_f32(0x7e00).is_nan());
        assert_eq!(half_to_f32(0x0001), 2f32.powi(-24));
        let ct = col_type(0x17, 16).unwrap();
        let plain = [0x00u8, 0x3c, 0x00, 0xc0];
        let out = decode_page(ct, split(&plain, 2), 2).unwrap();
        let mut v = Values::new(ScalarType::F32);
        v.push(ct, &out);
        assert!(matches!(v, Values::F32(ref a) if a == &[1.0, -2.0]));
    }

    #[test]
    fn wrong_widths_are_errors() {
        assert!(col_type(0x0C, 64).is_err());
        assert!(col_type(0x1C, 20).is_err());
        assert!(col_type(0x99, 8).is_err());
        let ct = col_type(0x0D, 64).unwrap();
        assert!(decode_page(ct, ([0u8; 15]).to_vec(), 2).is_err());
    }
}
