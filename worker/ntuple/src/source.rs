//! Where the bytes come from: a small positioned-read trait, so that HTTP range
//! requests or XRootD can be added later without touching the decoder.

use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::path::Path;

/// Random access to the bytes of one file. Implementations must be cheap to call
/// from several threads at once.
pub trait ReadAt: Send + Sync {
    /// Total size of the file in bytes.
    fn size(&self) -> u64;

    /// Reads exactly `len` bytes at `offset`; a read past the end is an error of kind
    /// [`io::ErrorKind::UnexpectedEof`].
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Cow<'_, [u8]>>;

    /// Like [`ReadAt::read_at`], but a source that has to copy the bytes copies
    /// them into `scratch` (grown when too short, never shrunk), so that a caller
    /// reading many blocks reuses one buffer instead of allocating (and having
    /// the kernel zero) a fresh one per block. Sources that hold the bytes in
    /// memory return them borrowed and leave `scratch` alone.
    fn read_into<'a>(
        &'a self,
        offset: u64,
        len: usize,
        scratch: &'a mut Vec<u8>,
    ) -> io::Result<&'a [u8]> {
        match self.read_at(offset, len)? {
            Cow::Borrowed(b) => Ok(b),
            Cow::Owned(v) => {
                *scratch = v;
                Ok(&scratch[..])
            }
        }
    }
}

fn check_bounds(size: u64, offset: u64, len: usize) -> io::Result<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= size => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "read of {len} bytes at offset {offset} passes the end of the file ({size} bytes)"
            ),
        )),
    }
}

/// A local file read with `pread` (no mapping: safe if the file is truncated
/// while it is being read).
pub struct FileSource {
    file: File,
    size: u64,
}

impl FileSource {
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        Ok(FileSource { file, size })
    }
}

impl ReadAt for FileSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, len: usize) -> io::Result<Cow<'_, [u8]>> {
        check_bounds(self.size, offset, len)?;
        let mut buf = vec![0u8; len];
        read_exact_at(&self.file, &mut buf, offset)?;
        Ok(Cow::Owned(buf))
    }

    fn read_into<'a>(
        &'a self,
        offset: u64,
        len: usize,
        scratch: &'a mut Vec<u8>,
    ) -> io::Result<&'a [u8]> {
        check_bounds(self.size, offset, len)?;
        if scratch.len() < len {
            scratch.resize(len, 0);
        }
        let dst = &mut scratch[..len];
        read_exact_at(&self.file, dst, offset)?;
        Ok(dst)
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// A local file mapped into memory: no copies for uncompressed data. Only safe to
/// use on files that nobody truncates while they are mapped.
pub struct MmapSource {
    map: memmap2::Mmap,
}

impl MmapSource {
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        // SAFETY: the mapping is read-only; the caller of `RootFile::open_mmap`
        // promises the file is not truncated while it is open.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(MmapSource { map })
    }
}

impl ReadAt for MmapSource {
    fn size(&self) -> u64 {
        self.map.len() as u64
    }

    fn read_at(&self, offset: u64, len: usize) -> io::Result<Cow<'_, [u8]>> {
        check_bounds(self.size(), offset, len)?;
        let start = offset as usize;
        Ok(Cow::Borrowed(&self.map[start..start + len]))
    }
}

/// A file held in memory (tests, or bytes fetched by other means).
pub struct MemSource {
    bytes: Vec<u8>,
}

impl MemSource {
    pub fn new(bytes: Vec<u8>) -> Self {
        MemSource { bytes }
    }
}

impl ReadAt for MemSource {
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn read_at(&self, offset: u64, len: usize) -> io::Result<Cow<'_, [u8]>> {
        check_bounds(self.size(), offset, len)?;
        let start = offset as usize;
        Ok(Cow::Borrowed(&self.bytes[start..start + len]))
    }
}
