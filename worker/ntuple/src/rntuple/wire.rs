//! The RNTuple wire format's building blocks: little-endian integers and strings,
//! record and list frames, locators and envelope links, envelopes (decompressed and
//! checksummed), and the big-endian `ROOT::RNTuple` anchor of the ROOT file embedding.

use xxhash_rust::xxh3::xxh3_64;

use crate::compression;
use crate::error::{Fault, PResult};
use crate::file::FileInner;

/// Largest envelope or page this reader inflates (guards allocations driven by
/// corrupt sizes; real envelopes are kilobytes to megabytes, pages about 1 MiB).
pub(crate) const MAX_BLOCK: u64 = 1 << 32;

/// A bounds-checked little-endian reader over a byte slice.
#[derive(Clone)]
pub(crate) struct Cur<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cur { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize) -> PResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(Fault::corrupt(format!(
                "needs {n} bytes at byte {} of a {}-byte record",
                self.pos,
                self.buf.len()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> PResult<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.bytes(N)?);
        Ok(a)
    }

    pub(crate) fn u16(&mut self) -> PResult<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub(crate) fn u32(&mut self) -> PResult<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn i32(&mut self) -> PResult<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> PResult<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> PResult<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    pub(crate) fn f64(&mut self) -> PResult<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// A string: 32-bit length, then UTF-8 bytes.
    pub(crate) fn string(&mut self) -> PResult<String> {
        let n = self.u32()? as usize;
        let b = self.bytes(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| Fault::corrupt("a string that is not UTF-8"))
    }

    /// A frame: returns its payload and, for a list frame, the number of items;
    /// the cursor moves past the whole frame (its size is trusted over the sum of
    /// its items, so that frames extended by newer writers are skipped correctly).
    pub(crate) fn frame(&mut self) -> PResult<(Cur<'a>, Option<u32>)> {
        let start = self.pos;
        let size = self.i64()?;
        let (len, items) = if size < 0 {
            (size.unsigned_abs(), Some(self.u32()?))
        } else {
            (size as u64, None)
        };
        let head = (self.pos - start) as u64;
        if len < head || len - head > self.remaining() as u64 {
            self.pos = start;
            return Err(Fault::corrupt(format!(
                "frame of {len} bytes at byte {start} of a {}-byte record",
                self.buf.len()
            )));
        }
        let body = self.bytes((len - head) as usize)?;
        Ok((Cur::new(body), items))
    }

    /// A record frame (an error if it is a list frame).
    pub(crate) fn record(&mut self) -> PResult<Cur<'a>> {
        match self.frame()? {
            (c, None) => Ok(c),
            (_, Some(_)) => Err(Fault::corrupt("a list frame where a record frame belongs")),
        }
    }

    /// A list frame: its payload and number of items.
    pub(crate) fn list(&mut self) -> PResult<(Cur<'a>, u32)> {
        match self.frame()? {
            (c, Some(n)) => Ok((c, n)),
            (_, None) => Err(Fault::corrupt("a record frame where a list frame belongs")),
        }
    }

    /// A list frame whose items are record frames, each parsed by `item`.
    pub(crate) fn records<T>(
        &mut self,
        what: &str,
        mut item: impl FnMut(&mut Cur<'a>) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        let (mut body, n) = self.list()?;
        // every item takes at least a frame preamble: a count beyond that is corrupt
        if n as usize > body.remaining() / 8 {
            return Err(Fault::corrupt(format!(
                "list of {n} {what} in {} bytes",
                body.remaining()
            )));
        }
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let mut r = body
                .record()
                .map_err(|f| prefix(f, &format!("{what} {i}")))?;
            out.push(item(&mut r).map_err(|f| prefix(f, &format!("{what} {i}")))?);
        }
        Ok(out)
    }

    /// A locator (the byte range of a page or envelope in the file).
    pub(crate) fn locator(&mut self) -> PResult<Locator> {
        let start = self.pos;
        let head = self.i32()?;
        if head >= 0 {
            let offset = self.u64()?;
            return Ok(Locator {
                offset,
                size: head as u64,
            });
        }
        // a non-standard locator: 16-bit size of the locator itself, 8-bit type
        let raw = head as u32;
        let own = (raw & 0xffff) as usize;
        let kind = ((raw >> 24) as u8 as i8).unsigned_abs();
        if kind != 1 {
            return Err(Fault::unsupported(format!(
                "RNTuple locator of type {kind} (only on-disk locators are read)"
            )));
        }
        let size = self.u64()?;
        let offset = self.u64()?;
        let used = self.pos - start;
        if own < used {
            return Err(Fault::corrupt(format!(
                "large locator of {own} bytes, needs {used}"
            )));
        }
        self.bytes(own - used)?;
        Ok(Locator { offset, size })
    }

    /// An envelope link: uncompressed size, then a locator.
    pub(crate) fn link(&mut self) -> PResult<Link> {
        let len = self.u64()?;
        let loc = self.locator()?;
        Ok(Link { len, loc })
    }
}

/// Adds context to a fault's message.
pub(crate) fn prefix(f: Fault, ctx: &str) -> Fault {
    match f {
        Fault::Corrupt(m) => Fault::Corrupt(format!("{ctx}: {m}")),
        Fault::Compression(m) => Fault::Compression(format!("{ctx}: {m}")),
        Fault::Unsupported(m) => Fault::Unsupported(m),
    }
}

/// A byte range in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Locator {
    pub offset: u64,
    pub size: u64,
}

/// Where an envelope is (compressed) and how long it is uncompressed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    pub len: u64,
    pub loc: Locator,
}

/// Reads a compressed (or stored) block of exactly `len` uncompressed bytes.
pub(crate) fn read_block(file: &FileInner, loc: Locator, len: u64) -> PResult<Vec<u8>> {
    if loc.size > MAX_BLOCK || len > MAX_BLOCK {
        return Err(Fault::corrupt(format!(
            "block of {} bytes ({len} uncompressed) is beyond this reader's limit",
            loc.size
        )));
    }
    if loc.size > file.source.size() {
        return Err(Fault::corrupt(format!(
            "block of {} bytes in a file of {}",
            loc.size,
            file.source.size()
        )));
    }
    let raw = file.read(loc.offset, loc.size as usize)?;
    inflate(&raw, len)
}

/// Uncompresses a block read from the file: stored as is when both sizes agree,
/// otherwise a sequence of ROOT compression blocks.
pub(crate) fn inflate(raw: &[u8], len: u64) -> PResult<Vec<u8>> {
    if raw.len() as u64 == len {
        return Ok(raw.to_vec());
    }
    // the block headers must add up to `len` before anything is allocated
    let mut total = 0u64;
    let mut rest = raw;
    while rest.len() >= 9 {
        let c = rest[3] as usize | (rest[4] as usize) << 8 | (rest[5] as usize) << 16;
        let u = rest[6] as u64 | (rest[7] as u64) << 8 | (rest[8] as u64) << 16;
        total += u;
        rest = rest.get(9 + c..).unwrap_or(&[]);
    }
    if total != len {
        return Err(Fault::Compression(format!(
            "compressed block of {} bytes holds {total} bytes, {len} expected",
            raw.len()
        )));
    }
    compression::decompress(raw, len as usize)
}

/// The envelope types of the specification.
pub(crate) const HEADER: u16 = 1;
pub(crate) const FOOTER: u16 = 2;
pub(crate) const PAGE_LIST: u16 = 3;

/// An envelope's payload and its checksum (other envelopes cross-check the header's).
pub(crate) struct Envelope {
    pub payload: Vec<u8>,
    pub checksum: u64,
}

/// Reads, uncompresses and checks an envelope: type, length and xxhash3 checksum.
pub(crate) fn envelope(file: &FileInner, link: Link, kind: u16) -> PResult<Envelope> {
    let data = read_block(file, link.loc, link.len)?;
    parse_envelope(data, kind)
}

pub(crate) fn parse_envelope(mut data: Vec<u8>, kind: u16) -> PResult<Envelope> {
    if data.len() < 16 {
        return Err(Fault::corrupt(format!(
            "envelope of {} bytes, at least 16 expected",
            data.len()
        )));
    }
    let n = data.len();
    let mut c = Cur::new(&data);
    let word = c.u64()?;
    let got_kind = (word & 0xffff) as u16;
    let len = word >> 16;
    if got_kind != kind {
        return Err(Fault::corrupt(format!(
            "envelope of type {got_kind}, type {kind} expected"
        )));
    }
    if len != n as u64 {
        return Err(Fault::corrupt(format!(
            "envelope says it has {len} bytes, it has {n}"
        )));
    }
    let mut sum = [0u8; 8];
    sum.copy_from_slice(&data[n - 8..]);
    let want = u64::from_le_bytes(sum);
    let got = xxh3_64(&data[..n - 8]);
    if got != want {
        return Err(Fault::corrupt(format!(
            "envelope checksum {got:016x} differs from the stored {want:016x}"
        )));
    }
    data.truncate(n - 8);
    data.drain(..8);
    Ok(Envelope {
        payload: data,
        checksum: want,
    })
}

/// The `ROOT::RNTuple` anchor object: format version and where the header and
/// footer envelopes are.
#[derive(Debug, Clone)]
pub(crate) struct Anchor {
    pub version: [u16; 4],
    pub header: Link,
    pub footer: Link,
    pub max_key_size: u64,
}

/// Parses the anchor from its key's (uncompressed) object bytes: a ROOT byte count
/// and class version, then big-endian fields, then the xxhash3 of those fields.
pub(crate) fn parse_anchor(obj: &[u8]) -> PResult<Anchor> {
    let be = |b: &[u8], at: usize, n: usize| -> PResult<u64> {
        let s = b
            .get(at..at + n)
            .ok_or_else(|| Fault::corrupt(format!("anchor of {} bytes is cut short", b.len())))?;
        Ok(s.iter().fold(0u64, |a, &x| (a << 8) | x as u64))
    };
    let count = be(obj, 0, 4)?;
    if count & 0x4000_0000 == 0 {
        return Err(Fault::corrupt("anchor without a byte count"));
    }
    let end = 4 + (count & !0x4000_0000) as usize;
    if end < 6 + 64 || end + 8 > obj.len() {
        return Err(Fault::corrupt(format!(
            "anchor byte count {} in an object of {} bytes",
            end - 4,
            obj.len()
        )));
    }
    let fields = &obj[6..end];
    let want = be(obj, end, 8)?;
    let got = xxh3_64(fields);
    if got != want {
        return Err(Fault::corrupt(format!(
            "anchor checksum {got:016x} differs from the stored {want:016x}"
        )));
    }
    let v = |i: usize| be(fields, 2 * i, 2).map(|x| x as u16);
    let q = |i: usize| be(fields, 8 + 8 * i, 8);
    let version = [v(0)?, v(1)?, v(2)?, v(3)?];
    let header = Link {
        len: q(2)?,
        loc: Locator {
            offset: q(0)?,
            size: q(1)?,
        },
    };
    let footer = Link {
        len: q(5)?,
        loc: Locator {
            offset: q(3)?,
            size: q(4)?,
        },
    };
    Ok(Anchor {
        version,
        header,
        footer,
        max_key_size: q(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_bounds_checked() {
        // a record frame of 12 bytes holding a u32
        let mut b = 12i64.to_le_bytes().to_vec();
        b.extend(7u32.to_le_bytes());
        let mut c = Cur::new(&b);
        let mut r = c.record().unwrap();
        assert_eq!(r.u32().unwrap(), 7);
        assert_eq!(c.remaining(), 0);
        // claims more bytes than there are
        let mut b = 100i64.to_le_bytes().to_vec();
        b.extend([0u8; 4]);
        assert!(Cur::new(&b).record().is_err());
        // a list frame of 2 items but no room for them
        let mut b = (-12i64).to_le_bytes().to_vec();
        b.extend(2u32.to_le_bytes());
        assert!(Cur::new(&b).records("item", |c| c.u32()).is_err());
        // sizes smaller than the preamble, and negative extremes
        for s in [0i64, 3, -3, i64::MIN, i64::MAX] {
            let mut b = s.to_le_bytes().to_vec();
            b.extend([0u8; 16]);
            let _ = Cur::new(&b).frame();
        }
    }

    #[test]
    fn large_locators() {
        let mut b = Vec::new();
        // size 20 (the locator's own), type 1 (as -1 in the top byte)
        b.extend((((0xffu32) << 24) | 20).to_le_bytes());
        b.extend(1234u64.to_le_bytes());
        b.extend(99u64.to_le_bytes());
        let l = Cur::new(&b).locator().unwrap();
        assert_eq!(
            l,
            Locator {
                offset: 99,
                size: 1234
            }
        );
        // an unknown locator type
        let mut b = Vec::new();
        b.extend((((0x85u32) << 24) | 20).to_le_bytes());
        b.extend([0u8; 16]);
        assert!(matches!(Cur::new(&b).locator(), Err(Fault::Unsupported(_))));
    }

    #[test]
    fn envelopes_check_type_length_and_checksum() {
        let mut e = ((24u64) << 16 | 1).to_le_bytes().to_vec();
        e.extend(42u64.to_le_bytes());
        let sum = xxh3_64(&e);
        e.extend(sum.to_le_bytes());
        let env = parse_envelope(e.clone(), HEADER).unwrap();
        assert_eq!(env.payload, 42u64.to_le_bytes());
        assert!(parse_envelope(e.clone(), FOOTER).is_err());
        let mut bad = e.clone();
        bad[9] ^= 1;
        assert!(parse_envelope(bad, HEADER).is_err());
        assert!(parse_envelope(e[..10].to_vec(), HEADER).is_err());
    }

    #[test]
    fn inflate_checks_block_sizes_before_allocating() {
        // a block header claiming 16 MiB from 3 bytes of payload, but 10 expected
        let raw = [b'Z', b'L', 8, 3, 0, 0, 0xff, 0xff, 0xff, 1, 2, 3];
        assert!(inflate(&raw, 10).is_err());
        assert_eq!(inflate(&[1, 2, 3], 3).unwrap(), vec![1, 2, 3]);
    }
}
