//! Baskets: where each basket of a branch lives (in the file, or inside the TTree
//! record), which entries it holds, and its uncompressed content split into entry
//! data and the entry-offset table.

use std::borrow::Cow;

use crate::compression;
use crate::directory::Key;
use crate::error::{Fault, PResult};
use crate::model::{BranchMeta, EmbeddedBasket};
use crate::rbuf::RBuf;
use crate::source::ReadAt;

/// Where a basket is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BasketLoc {
    File { seek: u64, nbytes: u32 },
    Embedded(usize),
}

/// One basket and the entries [start, stop) it holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BasketSpan {
    pub start: u64,
    pub stop: u64,
    pub loc: BasketLoc,
}

/// The baskets of a branch in entry order, checked to tile 0..entries exactly.
pub(crate) fn basket_spans(
    b: &BranchMeta,
    embedded: &[EmbeddedBasket],
    entries: u64,
) -> PResult<Vec<BasketSpan>> {
    if !b.file_name.is_empty() {
        return Err(Fault::unsupported(format!(
            "baskets stored in another file ({:?})",
            b.file_name
        )));
    }
    let mut spans = Vec::new();
    let nw = b.write_basket;
    for i in 0..nw.min(b.basket_seek.len()) {
        let seek = b.basket_seek[i];
        let nbytes = b.basket_bytes.get(i).copied().unwrap_or(0);
        if seek <= 0 || nbytes <= 0 {
            continue;
        }
        let start = b.basket_entry.get(i).copied().unwrap_or(-1);
        let stop = if i + 1 < b.basket_entry.len() {
            b.basket_entry[i + 1]
        } else {
            b.entries
        };
        if start < 0 || stop < start {
            return Err(Fault::corrupt(format!(
                "basket {i} holds entries {start}..{stop}"
            )));
        }
        spans.push(BasketSpan {
            start: start as u64,
            stop: stop as u64,
            loc: BasketLoc::File {
                seek: seek as u64,
                nbytes: nbytes as u32,
            },
        });
    }
    for &(slot, idx) in &b.embedded {
        let basket = embedded
            .get(idx)
            .ok_or_else(|| Fault::corrupt("embedded basket index out of range"))?;
        let start = match b.basket_entry.get(slot) {
            Some(&s) if s >= 0 => s as u64,
            _ => spans.last().map(|s| s.stop).unwrap_or(0),
        };
        if basket.nev_buf == 0 {
            continue;
        }
        spans.push(BasketSpan {
            start,
            stop: start + basket.nev_buf as u64,
            loc: BasketLoc::Embedded(idx),
        });
    }
    spans.sort_by_key(|s| (s.start, s.stop));
    spans.retain(|s| s.stop > s.start);
    let mut expect = 0u64;
    for s in &spans {
        if s.start != expect {
            return Err(Fault::corrupt(format!(
                "baskets do not tile the entries: a basket starts at entry {} where {} was expected",
                s.start, expect
            )));
        }
        expect = s.stop;
    }
    if expect < entries {
        return Err(Fault::corrupt(format!(
            "baskets hold {expect} entries, the tree has {entries}"
        )));
    }
    Ok(spans)
}

/// Part of a buffer that is either borrowed or owned (no copy to cut it).
pub(crate) struct Bytes<'a> {
    buf: Cow<'a, [u8]>,
    start: usize,
    end: usize,
}

impl<'a> Bytes<'a> {
    pub fn new(buf: Cow<'a, [u8]>, start: usize, end: usize) -> Self {
        debug_assert!(start <= end && end <= buf.len());
        Bytes { buf, start, end }
    }
}

impl std::ops::Deref for Bytes<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}

/// The uncompressed content of one basket.
pub(crate) struct BasketData<'a> {
    /// Entry data, without the offset table.
    pub data: Bytes<'a>,
    /// Start of each entry in `data` and the end (n + 1 values), when the entries
    /// have variable size.
    pub offsets: Option<Cow<'a, [usize]>>,
    /// Entries in the basket.
    pub n: usize,
}

impl BasketData<'_> {
    /// The byte range of entry `i`, with a uniform entry size when there is no
    /// offset table.
    pub fn entry(&self, i: usize) -> PResult<&[u8]> {
        let (a, b) = match &self.offsets {
            Some(o) => (o[i], o[i + 1]),
            None => {
                let w = self.uniform_width()?;
                (i * w, (i + 1) * w)
            }
        };
        Ok(&self.data[a..b])
    }

    pub fn uniform_width(&self) -> PResult<usize> {
        if self.n == 0 {
            return Ok(0);
        }
        if self.data.is_empty() || !self.data.len().is_multiple_of(self.n) {
            return Err(Fault::corrupt(format!(
                "basket of {} entries without entry offsets holds {} bytes",
                self.n,
                self.data.len()
            )));
        }
        Ok(self.data.len() / self.n)
    }
}

fn offsets_from_table(raw: &[u8], n: usize, keylen: usize, border: usize) -> PResult<Vec<usize>> {
    let mut r = RBuf::new(raw, 0);
    let count = r.i32()?;
    if count < 0 || (count as usize) < n {
        return Err(Fault::corrupt(format!(
            "entry-offset table has {count} values for {n} entries"
        )));
    }
    let table = r.bytes(4 * n)?;
    let mut out: Vec<usize> = Vec::with_capacity(n + 1);
    out.extend(
        table.chunks_exact(4).map(|c| {
            (i32::from_be_bytes([c[0], c[1], c[2], c[3]]) as i64 - keylen as i64) as usize
        }),
    );
    out.push(border);
    // non-decreasing and within the data (a negative offset wrapped to a huge one)
    if out.windows(2).any(|w| w[0] > w[1]) {
        return Err(Fault::corrupt(format!(
            "entry offsets out of order or outside the {border}-byte data"
        )));
    }
    if let Some(&first) = out.first()
        && first != 0
        && n > 0
    {
        return Err(Fault::corrupt(format!(
            "first entry starts at byte {first}, not 0"
        )));
    }
    Ok(out)
}

/// What the key and TBasket header of a basket in the file say, checked against
/// the branch's record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BasketHeader {
    pub keylen: usize,
    /// Bytes of the uncompressed object (entry data and offset table).
    pub objlen: usize,
    /// Bytes of entry data (the offset table, if any, follows).
    pub border: usize,
    /// Entries in the basket.
    pub n: usize,
    /// Whether the object is stored compressed.
    pub compressed: bool,
}

impl BasketHeader {
    /// Parses the header at the start of `raw` (at least the key's bytes) of the
    /// `nbytes`-byte basket at `seek` that the branch says holds `n_expected`
    /// entries.
    fn parse(raw: &[u8], seek: u64, nbytes: u32, n_expected: usize) -> PResult<BasketHeader> {
        let mut r = RBuf::new(raw, 0);
        let key = Key::parse(&mut r)?;
        let keylen = key.keylen as usize;
        if keylen < 19 || keylen > raw.len() || key.nbytes != nbytes {
            return Err(Fault::corrupt(format!(
                "basket key at byte {seek}: {} bytes with a {keylen}-byte header, the branch says {nbytes}",
                key.nbytes
            )));
        }
        r.seek(keylen - 19)?;
        let _version = r.u16()?;
        let _buffer_size = r.i32()?;
        let _nev_buf_size = r.i32()?;
        let nev_buf = r.i32()?;
        let last = r.i32()?;
        if nev_buf < 0 || nev_buf as usize != n_expected {
            return Err(Fault::corrupt(format!(
                "basket at byte {seek} holds {nev_buf} entries, the branch says {n_expected}"
            )));
        }
        let objlen = key.objlen as usize;
        if last < keylen as i32 || last as usize - keylen > objlen {
            return Err(Fault::corrupt(format!(
                "basket at byte {seek}: data ends at {last}, outside {keylen}..{}",
                keylen + objlen
            )));
        }
        Ok(BasketHeader {
            keylen,
            objlen,
            border: last as usize - keylen,
            n: nev_buf as usize,
            compressed: objlen != nbytes as usize - keylen,
        })
    }
}

/// Reads the header of the `nbytes`-byte basket at `seek` in the file, with one
/// small read in the common case.
pub(crate) fn read_header(
    source: &dyn ReadAt,
    seek: u64,
    nbytes: u32,
    n_expected: usize,
) -> PResult<BasketHeader> {
    // a key header is ~100 bytes (class, branch and tree names); reread if longer
    const GUESS: usize = 256;
    let read = |len: usize| {
        source
            .read_at(seek, len)
            .map_err(|e| Fault::corrupt(format!("basket at byte {seek}: {e}")))
    };
    let head = read((nbytes as usize).min(GUESS))?;
    let keylen = match head.get(14..16) {
        Some(b) => u16::from_be_bytes([b[0], b[1]]) as usize,
        None => 0,
    };
    if keylen > head.len() && keylen <= nbytes as usize {
        let head = read(keylen)?;
        return BasketHeader::parse(&head, seek, nbytes, n_expected);
    }
    BasketHeader::parse(&head, seek, nbytes, n_expected)
}

/// Scratch buffers for reading and decompressing baskets, reused from basket to
/// basket so that big buffers are not allocated (and zeroed) for each one.
#[derive(Default)]
pub(crate) struct Scratch {
    raw: Vec<u8>,
    object: Vec<u8>,
}

impl Scratch {
    /// Buffers above this size are not kept for the next basket (memory held per
    /// thread stays bounded).
    pub const KEEP_AT_MOST: usize = 64 << 20;

    pub fn size(&self) -> usize {
        self.raw.capacity() + self.object.capacity()
    }
}

/// Reads the basket at `seek` whose header is `h` and returns its uncompressed
/// object (`h.objlen` bytes), borrowed from the source when it holds the bytes in
/// memory and they are not compressed, otherwise in `scratch`.
pub(crate) fn object_into<'a>(
    source: &'a dyn ReadAt,
    seek: u64,
    nbytes: u32,
    h: &BasketHeader,
    scratch: &'a mut Scratch,
) -> PResult<&'a [u8]> {
    let raw = source
        .read_into(seek, nbytes as usize, &mut scratch.raw)
        .map_err(|e| Fault::corrupt(format!("basket at byte {seek}: {e}")))?;
    let payload = raw
        .get(h.keylen..)
        .ok_or_else(|| Fault::corrupt(format!("basket at byte {seek} cut short")))?;
    if !h.compressed {
        return payload
            .get(..h.objlen)
            .ok_or_else(|| Fault::corrupt(format!("basket at byte {seek} cut short")));
    }
    if scratch.object.len() < h.objlen {
        scratch.object.resize(h.objlen, 0);
    }
    let out = &mut scratch.object[..h.objlen];
    compression::decompress_into(payload, out)?;
    Ok(out)
}

/// Reads and decompresses one basket.
pub(crate) fn load<'a>(
    source: &'a dyn ReadAt,
    embedded: &'a [EmbeddedBasket],
    span: &BasketSpan,
) -> PResult<BasketData<'a>> {
    let n_expected = (span.stop - span.start) as usize;
    match span.loc {
        BasketLoc::Embedded(idx) => {
            let b = embedded
                .get(idx)
                .ok_or_else(|| Fault::corrupt("embedded basket index out of range"))?;
            if b.nev_buf != n_expected {
                return Err(Fault::corrupt(format!(
                    "embedded basket holds {} entries, the branch says {n_expected}",
                    b.nev_buf
                )));
            }
            let _ = b.nev_buf_size;
            Ok(BasketData {
                data: Bytes::new(Cow::Borrowed(&b.data), 0, b.data.len()),
                offsets: b.offsets.as_deref().map(Cow::Borrowed),
                n: b.nev_buf,
            })
        }
        BasketLoc::File { seek, nbytes } => {
            let raw = source
                .read_at(seek, nbytes as usize)
                .map_err(|e| Fault::corrupt(format!("basket at byte {seek}: {e}")))?;
            let h = BasketHeader::parse(&raw, seek, nbytes, n_expected)?;
            let (keylen, objlen, border, n) = (h.keylen, h.objlen, h.border, h.n);
            let compressed_len = raw.len() - keylen;
            // the uncompressed object is content[start..start + objlen]
            let (content, start): (Cow<'a, [u8]>, usize) = if objlen == compressed_len {
                (raw, keylen)
            } else {
                let out = compression::decompress(&raw[keylen..], objlen)?;
                (Cow::Owned(out), 0)
            };
            let offsets = if border == objlen {
                None
            } else {
                let table = &content[start + border..start + objlen];
                Some(Cow::Owned(offsets_from_table(table, n, keylen, border)?))
            };
            Ok(BasketData {
                data: Bytes::new(content, start, start + border),
                offsets,
                n,
            })
        }
    }
}
