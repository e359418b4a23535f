//! The file's streamer infos (TStreamerInfo): class layouts, read to know the C++
//! types of split-object members (std::vector element types, Double32_t ranges).

use std::collections::HashMap;

use crate::error::PResult;
use crate::objects::{Factory, Slot, read_objarray, read_object_any, read_tlist};
use crate::rbuf::RBuf;

/// One member of a class as the streamer info describes it.
#[derive(Debug, Clone)]
pub struct StreamerElement {
    pub name: String,
    pub title: String,
    /// ROOT's streamer type code (1..19 basic types, +20 fixed arrays, +40 pointers
    /// to arrays, 61..69 objects, 300/500 STL containers, 365 std::string).
    pub etype: i32,
    pub type_name: String,
    pub array_length: i32,
    /// The class of the element (TStreamerBasicType, TStreamerSTL, ...).
    pub class: String,
}

/// A class layout.
#[derive(Debug, Clone)]
pub struct StreamerInfo {
    pub name: String,
    pub class_version: i32,
    pub elements: Vec<StreamerElement>,
}

#[derive(Clone, Debug)]
enum SObj {
    Info,
    Element(usize),
    Array(Vec<Option<Box<SObj>>>),
    Other,
}

#[derive(Default)]
struct SFactory {
    refs: HashMap<usize, Slot<SObj>>,
    infos: Vec<StreamerInfo>,
    elements: Vec<StreamerElement>,
}

impl Factory for SFactory {
    type Obj = SObj;

    fn refs(&mut self) -> &mut HashMap<usize, Slot<SObj>> {
        &mut self.refs
    }

    fn unresolved(&self) -> SObj {
        SObj::Other
    }

    fn read_class(&mut self, buf: &mut RBuf, class: &str, _key: usize) -> PResult<SObj> {
        match class {
            "TStreamerInfo" => {
                let h = buf.header()?;
                let (name, _title) = buf.tnamed()?;
                let _checksum = buf.u32()?;
                let class_version = buf.i32()?;
                let elements = match read_object_any(self, buf)? {
                    Some(SObj::Array(items)) => items
                        .into_iter()
                        .flatten()
                        .filter_map(|o| match *o {
                            SObj::Element(i) => self.elements.get(i).cloned(),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                buf.finish(&h, class)?;
                self.infos.push(StreamerInfo {
                    name,
                    class_version,
                    elements,
                });
                Ok(SObj::Info)
            }
            "TObjArray" => {
                let items = read_objarray(self, buf)?;
                Ok(SObj::Array(
                    items.into_iter().map(|o| o.map(Box::new)).collect(),
                ))
            }
            c if c.starts_with("TStreamer") => {
                let h = buf.header()?;
                // TStreamerSTLstring derives from TStreamerSTL: one more level
                let mid = if c == "TStreamerSTLstring" {
                    Some(buf.header()?)
                } else {
                    None
                };
                let eh = buf.header()?;
                let (name, title) = buf.tnamed()?;
                let mut etype = buf.i32()?;
                let _size = buf.i32()?;
                let array_length = buf.i32()?;
                let _array_dim = buf.i32()?;
                if eh.version == 1 {
                    let n = buf.count(4)?;
                    buf.skip(4 * n)?;
                } else {
                    buf.skip(4 * 5)?;
                }
                let type_name = buf.tstring()?;
                if etype == 11 && (type_name == "Bool_t" || type_name == "bool") {
                    etype = 18;
                }
                buf.finish(&eh, "TStreamerElement")?;
                if let Some(mid) = mid {
                    buf.finish(&mid, "TStreamerSTL")?;
                }
                buf.finish(&h, c)?;
                self.elements.push(StreamerElement {
                    name,
                    title,
                    etype,
                    type_name,
                    array_length,
                    class: c.to_string(),
                });
                Ok(SObj::Element(self.elements.len() - 1))
            }
            other => {
                buf.skip_object(other)?;
                Ok(SObj::Other)
            }
        }
    }
}

/// Parses the streamer-info TList (`data` uncompressed, after a key of `keylen` bytes).
pub(crate) fn parse_streamers(data: &[u8], keylen: usize) -> PResult<Vec<StreamerInfo>> {
    let mut buf = RBuf::new(data, keylen);
    let mut f = SFactory::default();
    let _ = read_tlist(&mut f, &mut buf)?;
    Ok(f.infos)
}
