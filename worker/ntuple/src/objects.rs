//! ROOT's object-pointer serialization (`TBufferFile::ReadObjectAny`): objects
//! written once and referred to afterwards by their position in the buffer, and
//! class names written once and referred to afterwards by tag.

use std::collections::HashMap;

use crate::error::{Fault, PResult};
use crate::rbuf::{BYTE_COUNT_MASK, RBuf};

const CLASS_MASK: u32 = 0x8000_0000;
const NEW_CLASS_TAG: u32 = 0xFFFF_FFFF;
const MAP_OFFSET: usize = 2;

/// An entry of the reference map of one buffer.
pub(crate) enum Slot<O> {
    Class(String),
    Obj(O),
}

/// Knows how to read the classes a caller cares about; everything else is skipped
/// with its byte count.
pub(crate) trait Factory {
    type Obj: Clone;
    fn refs(&mut self) -> &mut HashMap<usize, Slot<Self::Obj>>;
    /// Reads one object of `class` (starting with its byte count and version);
    /// `key` is where the object goes in the reference map, for factories that
    /// register an object before reading its members (members may refer back to it).
    fn read_class(&mut self, buf: &mut RBuf, class: &str, key: usize) -> PResult<Self::Obj>;
    /// The object to return for a reference that cannot be resolved.
    fn unresolved(&self) -> Self::Obj;
}

/// Reads an object pointer; `None` is a null pointer.
pub(crate) fn read_object_any<F: Factory>(f: &mut F, buf: &mut RBuf) -> PResult<Option<F::Obj>> {
    let beg = buf.displacement();
    let beg_pos = buf.pos();
    let first = buf.u32()?;
    let (with_count, start, tag, count) = if first & BYTE_COUNT_MASK == 0 || first == NEW_CLASS_TAG
    {
        (false, 0, first, 0usize)
    } else {
        let start = buf.displacement();
        let tag = buf.u32()?;
        (true, start, tag, (first & !BYTE_COUNT_MASK) as usize)
    };
    if tag & CLASS_MASK == 0 {
        // a reference to an object read before (or null)
        if tag == 0 {
            return Ok(None);
        }
        let obj = match f.refs().get(&(tag as usize)) {
            Some(Slot::Obj(o)) => o.clone(),
            _ => f.unresolved(),
        };
        if with_count {
            buf.seek(beg_pos + 4 + count)?;
        }
        return Ok(Some(obj));
    }
    let class = if tag == NEW_CLASS_TAG {
        let name = buf.cstring()?;
        let key = if with_count {
            start + MAP_OFFSET
        } else {
            f.refs().len() + 1
        };
        f.refs().insert(key, Slot::Class(name.clone()));
        name
    } else {
        let r = (tag & !CLASS_MASK) as usize;
        match f.refs().get(&r) {
            Some(Slot::Class(name)) => name.clone(),
            _ => {
                return Err(Fault::corrupt(format!(
                    "object at byte {beg} refers to an unknown class tag {r}"
                )));
            }
        }
    };
    let key = if with_count {
        beg + MAP_OFFSET
    } else {
        f.refs().len() + 1
    };
    let obj = f.read_class(buf, &class, key)?;
    f.refs().insert(key, Slot::Obj(obj.clone()));
    if with_count {
        let end = beg_pos + 4 + count;
        if buf.pos() > end {
            return Err(Fault::corrupt(format!(
                "{class} at byte {beg} overran its byte count"
            )));
        }
        buf.seek(end)?;
    }
    Ok(Some(obj))
}

/// TObjArray: returns its slots (null pointers included, so slot index = array index).
pub(crate) fn read_objarray<F: Factory>(f: &mut F, buf: &mut RBuf) -> PResult<Vec<Option<F::Obj>>> {
    let h = buf.header()?;
    if h.version > 2 {
        buf.tobject()?;
    }
    if h.version > 1 {
        let _name = buf.tstring()?;
    }
    let n = buf.count(4)?;
    let _lower_bound = buf.i32()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(read_object_any(f, buf)?);
    }
    buf.finish(&h, "TObjArray")?;
    Ok(out)
}

/// TList: returns its objects (the per-object option strings are dropped).
pub(crate) fn read_tlist<F: Factory>(f: &mut F, buf: &mut RBuf) -> PResult<Vec<Option<F::Obj>>> {
    let h = buf.header()?;
    if h.version > 3 {
        buf.tobject()?;
        let _name = buf.tstring()?;
    }
    let n = buf.count(4)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(read_object_any(f, buf)?);
        if h.version > 4 {
            let len = buf.u8()? as usize;
            buf.skip(len)?;
        }
    }
    buf.finish(&h, "TList")?;
    Ok(out)
}
