//! The RNTuple metadata envelopes: the header (schema: fields and columns), the
//! footer (schema extension, cluster groups) and the page lists (clusters and the
//! location of every page of every column).

use crate::error::{Fault, PResult};

use super::wire::{Cur, Link, Locator, prefix};

/// Field structural roles.
pub(crate) const ROLE_LEAF: u16 = 0;
pub(crate) const ROLE_COLLECTION: u16 = 1;
pub(crate) const ROLE_RECORD: u16 = 2;

/// Field flags.
pub(crate) const FIELD_REPETITIVE: u16 = 0x01;
pub(crate) const FIELD_PROJECTED: u16 = 0x02;
const FIELD_CHECKSUM: u16 = 0x04;

/// Column flags.
pub(crate) const COLUMN_DEFERRED: u16 = 0x01;
const COLUMN_RANGE: u16 = 0x02;

#[derive(Debug, Clone)]
pub(crate) struct FieldDesc {
    pub parent: u32,
    pub role: u16,
    pub flags: u16,
    pub name: String,
    pub type_name: String,
    /// Array size of a repetitive field.
    pub repetition: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct ColumnDesc {
    pub ty: u16,
    pub bits: u16,
    pub field: u32,
    pub flags: u16,
    pub repr: u16,
    pub first_element: i64,
}

/// One schema description (the header's, or the footer's extension of it).
#[derive(Debug, Default)]
pub(crate) struct Schema {
    pub fields: Vec<FieldDesc>,
    pub columns: Vec<ColumnDesc>,
    /// Alias columns: (physical column id, projected field id).
    pub aliases: Vec<(u32, u32)>,
}

pub(crate) struct Header {
    pub name: String,
    pub description: String,
    pub schema: Schema,
}

fn feature_flags(c: &mut Cur) -> PResult<()> {
    let flags = c.u64()?;
    if flags != 0 {
        return Err(Fault::unsupported(format!(
            "RNTuple feature flags {flags:#x} (newer format features)"
        )));
    }
    Ok(())
}

fn field(c: &mut Cur) -> PResult<FieldDesc> {
    let _field_version = c.u32()?;
    let _type_version = c.u32()?;
    let parent = c.u32()?;
    let role = c.u16()?;
    let flags = c.u16()?;
    let name = c.string()?;
    let type_name = c.string()?;
    let _type_alias = c.string()?;
    let _description = c.string()?;
    let repetition = if flags & FIELD_REPETITIVE != 0 {
        c.u64()?
    } else {
        0
    };
    if flags & FIELD_PROJECTED != 0 {
        // projected fields read their source's columns through alias columns
        let _source = c.u32()?;
    }
    if flags & FIELD_CHECKSUM != 0 {
        let _checksum = c.u32()?;
    }
    Ok(FieldDesc {
        parent,
        role,
        flags,
        name,
        type_name,
        repetition,
    })
}

fn column(c: &mut Cur) -> PResult<ColumnDesc> {
    let ty = c.u16()?;
    let bits = c.u16()?;
    let field = c.u32()?;
    let flags = c.u16()?;
    let repr = c.u16()?;
    let first_element = if flags & COLUMN_DEFERRED != 0 {
        c.i64()?
    } else {
        0
    };
    if flags & COLUMN_RANGE != 0 {
        let _min = c.f64()?;
        let _max = c.f64()?;
    }
    Ok(ColumnDesc {
        ty,
        bits,
        field,
        flags,
        repr,
        first_element,
    })
}

/// The four list frames of a schema description, appended to `into` (an
/// extension's ids continue the header's).
fn schema(c: &mut Cur, into: &mut Schema) -> PResult<()> {
    if c.remaining() == 0 {
        return Ok(()); // an empty schema extension
    }
    into.fields.extend(c.records("field", field)?);
    into.columns.extend(c.records("column", column)?);
    into.aliases
        .extend(c.records("alias column", |r| Ok((r.u32()?, r.u32()?)))?);
    // extra type information (streamer infos of streamed fields): not needed
    let _ = c.list()?;
    Ok(())
}

pub(crate) fn parse_header(payload: &[u8]) -> PResult<Header> {
    let mut c = Cur::new(payload);
    feature_flags(&mut c)?;
    let name = c.string()?;
    let description = c.string()?;
    let _writer = c.string()?;
    let mut s = Schema::default();
    schema(&mut c, &mut s)?;
    Ok(Header {
        name,
        description,
        schema: s,
    })
}

pub(crate) struct ClusterGroup {
    pub min_entry: u64,
    pub entry_span: u64,
    pub clusters: u32,
    pub page_list: Link,
}

pub(crate) struct Footer {
    pub header_checksum: u64,
    pub groups: Vec<ClusterGroup>,
}

/// Parses the footer; the schema extension is appended to `schema`.
pub(crate) fn parse_footer(payload: &[u8], schema_out: &mut Schema) -> PResult<Footer> {
    let mut c = Cur::new(payload);
    feature_flags(&mut c)?;
    let header_checksum = c.u64()?;
    let mut ext = c.record()?;
    schema(&mut ext, schema_out).map_err(|f| prefix(f, "schema extension"))?;
    let groups = c.records("cluster group", |r| {
        Ok(ClusterGroup {
            min_entry: r.u64()?,
            entry_span: r.u64()?,
            clusters: r.u32()?,
            page_list: r.link()?,
        })
    })?;
    Ok(Footer {
        header_checksum,
        groups,
    })
}

#[derive(Debug, Clone)]
pub(crate) struct PageDesc {
    pub elements: u64,
    pub checksum: bool,
    pub loc: Locator,
}

/// The pages of one column in one cluster.
#[derive(Debug, Clone)]
pub(crate) struct ColumnPages {
    /// Index of the column's first element in this cluster; `None` when the column
    /// is suppressed (a secondary representation) in this cluster.
    pub element_offset: Option<u64>,
    pub pages: Vec<PageDesc>,
    /// Number of elements in this cluster (sum over the pages).
    pub elements: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct Cluster {
    pub first_entry: u64,
    pub entries: u64,
    /// Indexed by physical column id.
    pub columns: Vec<ColumnPages>,
}

pub(crate) struct PageList {
    pub header_checksum: u64,
    pub clusters: Vec<Cluster>,
}

pub(crate) fn parse_page_list(payload: &[u8]) -> PResult<PageList> {
    let mut c = Cur::new(payload);
    let header_checksum = c.u64()?;
    let summaries = c.records("cluster summary", |r| {
        let first = r.u64()?;
        let word = r.u64()?;
        if word >> 56 & 0x01 != 0 {
            return Err(Fault::unsupported("sharded RNTuple clusters"));
        }
        Ok((first, word & ((1 << 56) - 1)))
    })?;
    let (mut all, n_clusters) = c.list()?;
    if n_clusters as usize != summaries.len() {
        return Err(Fault::corrupt(format!(
            "page list of {n_clusters} clusters, {} cluster summaries",
            summaries.len()
        )));
    }
    let mut clusters = Vec::with_capacity(summaries.len());
    for (k, &(first_entry, entries)) in summaries.iter().enumerate() {
        let ctx = format!("page list of cluster {k}");
        let (mut cols, n_cols) = all.list().map_err(|f| prefix(f, &ctx))?;
        if n_cols as usize > cols.remaining() / 12 {
            return Err(Fault::corrupt(format!(
                "{ctx}: {n_cols} columns in {} bytes",
                cols.remaining()
            )));
        }
        let mut columns = Vec::with_capacity(n_cols as usize);
        for col in 0..n_cols {
            let ctx = format!("{ctx}, column {col}");
            let (mut pages, n_pages) = cols.list().map_err(|f| prefix(f, &ctx))?;
            if n_pages as usize > pages.remaining() / 16 {
                return Err(Fault::corrupt(format!(
                    "{ctx}: {n_pages} pages in {} bytes",
                    pages.remaining()
                )));
            }
            let mut list = Vec::with_capacity(n_pages as usize);
            let mut elements = 0u64;
            for _ in 0..n_pages {
                let n = pages.i32().map_err(|f| prefix(f, &ctx))?;
                let loc = pages.locator().map_err(|f| prefix(f, &ctx))?;
                let count = n.unsigned_abs() as u64;
                elements += count;
                list.push(PageDesc {
                    elements: count,
                    checksum: n < 0,
                    loc,
                });
            }
            let offset = pages.i64().map_err(|f| prefix(f, &ctx))?;
            let element_offset = if offset < 0 {
                if !list.is_empty() {
                    return Err(Fault::corrupt(format!(
                        "{ctx}: a suppressed column with pages"
                    )));
                }
                None
            } else {
                let _compression = pages.u32().map_err(|f| prefix(f, &ctx))?;
                Some(offset as u64)
            };
            columns.push(ColumnPages {
                element_offset,
                pages: list,
                elements,
            });
        }
        clusters.push(Cluster {
            first_entry,
            entries,
            columns,
        });
    }
    Ok(PageList {
        header_checksum,
        clusters,
    })
}
