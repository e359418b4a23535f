//! The file header, keys (TKey) and directories (TDirectory), small-file
//! (32-bit seek) and large-file (64-bit seek) variants.

use crate::error::{Fault, PResult};
use crate::rbuf::RBuf;

/// The fixed part of a ROOT file's header.
#[derive(Debug, Clone)]
pub(crate) struct FileHeader {
    pub begin: u64,
    pub nbytes_name: u32,
    pub seek_info: u64,
    pub nbytes_info: u32,
}

impl FileHeader {
    pub fn parse(b: &[u8]) -> PResult<FileHeader> {
        let mut r = RBuf::new(b, 0);
        let magic = r.bytes(4)?;
        if magic != b"root" {
            return Err(Fault::corrupt("no \"root\" magic"));
        }
        let version = r.i32()?;
        let begin = r.i32()? as u64;
        let large = version >= 1_000_000;
        let _end = if large {
            r.i64()? as u64
        } else {
            r.u32()? as u64
        };
        let _seek_free = if large {
            r.i64()? as u64
        } else {
            r.u32()? as u64
        };
        let _nbytes_free = r.i32()?;
        let _nfree = r.i32()?;
        let nbytes_name = r.u32()?;
        let _units = r.u8()?;
        let _compress = r.i32()?;
        let seek_info = if large {
            r.i64()? as u64
        } else {
            r.u32()? as u64
        };
        let nbytes_info = r.u32()?;
        Ok(FileHeader {
            begin,
            nbytes_name,
            seek_info,
            nbytes_info,
        })
    }
}

/// One TKey: where an object is and what it is.
#[derive(Debug, Clone)]
pub struct Key {
    pub nbytes: u32,
    pub version: i16,
    pub objlen: u32,
    pub keylen: u16,
    pub cycle: i16,
    pub seek_key: u64,
    pub seek_pdir: u64,
    pub class_name: String,
    pub name: String,
    pub title: String,
}

impl Key {
    pub(crate) fn parse(r: &mut RBuf) -> PResult<Key> {
        let nbytes = r.i32()?;
        let version = r.i16()?;
        let objlen = r.i32()?;
        let _datime = r.u32()?;
        let keylen = r.i16()?;
        let cycle = r.i16()?;
        let (seek_key, seek_pdir) = if version > 1000 {
            (r.i64()?, r.i64()?)
        } else {
            (r.i32()? as i64, r.i32()? as i64)
        };
        if nbytes < 0 || objlen < 0 || keylen < 0 || seek_key < 0 || seek_pdir < 0 {
            return Err(Fault::corrupt(format!(
                "key with negative size or position (nbytes {nbytes}, objlen {objlen}, keylen {keylen}, seek {seek_key})"
            )));
        }
        let class_name = r.tstring()?;
        let name = r.tstring()?;
        let title = r.tstring()?;
        Ok(Key {
            nbytes: nbytes as u32,
            version,
            objlen: objlen as u32,
            keylen: keylen as u16,
            cycle,
            seek_key: seek_key as u64,
            seek_pdir: seek_pdir as u64,
            class_name,
            name,
            title,
        })
    }
}

/// The part of a TDirectory record this reader needs.
#[derive(Debug, Clone)]
pub(crate) struct DirRecord {
    pub seek_keys: u64,
    pub nbytes_keys: u32,
}

impl DirRecord {
    pub fn parse(b: &[u8]) -> PResult<DirRecord> {
        let mut r = RBuf::new(b, 0);
        let version = r.i16()?;
        let _ctime = r.u32()?;
        let _mtime = r.u32()?;
        let nbytes_keys = r.i32()?;
        let _nbytes_name = r.i32()?;
        let (_seek_dir, _seek_parent, seek_keys) = if version > 1000 {
            (r.i64()?, r.i64()?, r.i64()?)
        } else {
            (r.i32()? as i64, r.i32()? as i64, r.i32()? as i64)
        };
        if seek_keys < 0 || nbytes_keys < 0 {
            return Err(Fault::corrupt(
                "directory with a negative key-list position",
            ));
        }
        Ok(DirRecord {
            seek_keys: seek_keys as u64,
            nbytes_keys: nbytes_keys as u32,
        })
    }
}

/// Parses a key list (the header of its own key, a count, then the keys).
pub(crate) fn parse_key_list(b: &[u8]) -> PResult<Vec<Key>> {
    let mut r = RBuf::new(b, 0);
    let own = Key::parse(&mut r)?;
    r.seek(own.keylen as usize)?;
    let n = r.count(18)?;
    let mut keys = Vec::with_capacity(n);
    for _ in 0..n {
        keys.push(Key::parse(&mut r)?);
    }
    Ok(keys)
}
