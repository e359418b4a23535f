//! A bounds-checked big-endian cursor over a buffer of ROOT's serialized data.

use crate::error::{Fault, PResult};

/// Flag of a byte count word in ROOT's object serialization.
pub(crate) const BYTE_COUNT_MASK: u32 = 0x4000_0000;

/// Reads big-endian values from a byte slice; every read checks bounds and fails
/// with [`Fault::Corrupt`] instead of panicking.
#[derive(Clone)]
pub(crate) struct RBuf<'a> {
    data: &'a [u8],
    pos: usize,
    /// Added to a position to get ROOT's "displacement" (positions in a key's buffer
    /// count the key header, which precedes the object data).
    origin: usize,
}

/// Version and end of an object written with a byte count.
pub(crate) struct Header {
    pub version: u16,
    /// Position just past the object, when it carries a byte count.
    pub end: Option<usize>,
    pub start: usize,
}

impl<'a> RBuf<'a> {
    pub fn new(data: &'a [u8], origin: usize) -> Self {
        RBuf {
            data,
            pos: 0,
            origin,
        }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn displacement(&self) -> usize {
        self.pos + self.origin
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn seek(&mut self, pos: usize) -> PResult<()> {
        if pos > self.data.len() {
            return Err(Fault::corrupt(format!(
                "jump to byte {pos} of a {}-byte buffer",
                self.data.len()
            )));
        }
        self.pos = pos;
        Ok(())
    }

    pub fn skip(&mut self, n: usize) -> PResult<()> {
        self.bytes(n).map(|_| ())
    }

    pub fn bytes(&mut self, n: usize) -> PResult<&'a [u8]> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.data.len() => {
                let out = &self.data[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            _ => Err(Fault::corrupt(format!(
                "needs {n} bytes at byte {} of a {}-byte buffer",
                self.pos,
                self.data.len()
            ))),
        }
    }

    fn array<const N: usize>(&mut self) -> PResult<[u8; N]> {
        let b = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    pub fn u8(&mut self) -> PResult<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub fn i16(&mut self) -> PResult<i16> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    pub fn u16(&mut self) -> PResult<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub fn i32(&mut self) -> PResult<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> PResult<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub fn i64(&mut self) -> PResult<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    pub fn f64(&mut self) -> PResult<f64> {
        Ok(f64::from_be_bytes(self.array()?))
    }

    /// A count that must be non-negative and plausible for the bytes left
    /// (`item_size` bytes per item).
    pub fn count(&mut self, item_size: usize) -> PResult<usize> {
        let n = self.i32()?;
        self.check_count(n as i64, item_size)
    }

    pub fn check_count(&self, n: i64, item_size: usize) -> PResult<usize> {
        if n < 0 || (n as u64).saturating_mul(item_size as u64) > self.remaining() as u64 {
            return Err(Fault::corrupt(format!(
                "count {n} at byte {} does not fit the {} bytes left",
                self.pos,
                self.remaining()
            )));
        }
        Ok(n as usize)
    }

    /// ROOT's TString: one length byte, or 255 followed by a 4-byte length.
    pub fn tstring(&mut self) -> PResult<String> {
        let mut n = self.u8()? as usize;
        if n == 255 {
            n = self.count(1)?;
        }
        Ok(String::from_utf8_lossy(self.bytes(n)?).into_owned())
    }

    /// A NUL-terminated C string.
    pub fn cstring(&mut self) -> PResult<String> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == 0) {
            Some(n) => {
                let s = String::from_utf8_lossy(&rest[..n]).into_owned();
                self.pos += n + 1;
                Ok(s)
            }
            None => Err(Fault::corrupt("unterminated class name")),
        }
    }

    /// Byte count and version of an object (the byte count is optional in ROOT's
    /// format: old writers and some classes leave it out).
    pub fn header(&mut self) -> PResult<Header> {
        let start = self.pos;
        let first = self.u32()?;
        if first & BYTE_COUNT_MASK != 0 {
            let count = (first & !BYTE_COUNT_MASK) as usize;
            let end = self.pos + count;
            if end > self.data.len() || count < 2 {
                return Err(Fault::corrupt(format!(
                    "object at byte {start} claims {count} bytes, {} are left",
                    self.remaining()
                )));
            }
            let version = self.u16()?;
            Ok(Header {
                version,
                end: Some(end),
                start,
            })
        } else {
            self.pos = start;
            let version = self.u16()?;
            Ok(Header {
                version,
                end: None,
                start,
            })
        }
    }

    /// Moves to the end of an object read with [`RBuf::header`], checking that the
    /// members read did not overrun it.
    pub fn finish(&mut self, h: &Header, class: &str) -> PResult<()> {
        if let Some(end) = h.end {
            if self.pos > end {
                return Err(Fault::corrupt(format!(
                    "{class} at byte {} read {} bytes past its end",
                    h.start,
                    self.pos - end
                )));
            }
            self.pos = end;
        }
        Ok(())
    }

    /// Skips an object written with a byte count (members unknown to us).
    pub fn skip_object(&mut self, class: &str) -> PResult<()> {
        let h = self.header()?;
        match h.end {
            Some(end) => self.seek(end),
            None => Err(Fault::unsupported(format!(
                "cannot skip {class} (version {}) written without a byte count",
                h.version
            ))),
        }
    }

    /// TObject: version, fUniqueID, fBits (and a process id when referenced).
    pub fn tobject(&mut self) -> PResult<()> {
        let version = self.i16()?;
        if version as u16 as u32 & (BYTE_COUNT_MASK >> 16) != 0 {
            // written with a byte count: the version follows
            self.skip(4)?;
        }
        let _unique_id = self.u32()?;
        let bits = self.u32()?;
        if bits & (1 << 4) != 0 {
            // kIsReferenced: a process id follows
            self.skip(2)?;
        }
        Ok(())
    }

    /// TNamed: returns (name, title).
    pub fn tnamed(&mut self) -> PResult<(String, String)> {
        let h = self.header()?;
        self.tobject()?;
        let name = self.tstring()?;
        let title = self.tstring()?;
        self.finish(&h, "TNamed")?;
        Ok((name, title))
    }

    /// A basic array preceded by the one-byte "speed bump" ROOT writes before
    /// arrays sized by another member.
    pub fn i32_array_bump(&mut self, n: usize) -> PResult<Vec<i32>> {
        self.skip(1)?;
        self.check_count(n as i64, 4)?;
        (0..n).map(|_| self.i32()).collect()
    }

    pub fn i64_array_bump(&mut self, n: usize) -> PResult<Vec<i64>> {
        self.skip(1)?;
        self.check_count(n as i64, 8)?;
        (0..n).map(|_| self.i64()).collect()
    }
}
