//! Writing a 1-D histogram as a ROOT file holding one `TH1D`.
//!
//! The file is ROOT's small-file format, uncompressed: the file header, the top
//! directory, the histogram's key and object, the list of keys and the free-segments
//! record. The object layout follows the classes' current versions (TH1D 3, TH1 8,
//! TAxis 10, TList 5), as uproot writes them; the file carries no StreamerInfo record
//! (readers know these classes).
//!
//! Statistics the histogram does not keep (the sums of w·x and w·x²) are computed from
//! the bin centres, as when a histogram is converted from NumPy arrays.

use std::time::{SystemTime, UNIX_EPOCH};

const K_BYTE_COUNT_MASK: u32 = 0x4000_0000;
const K_IS_ON_HEAP: u32 = 0x0100_0000;
const K_NOT_DELETED: u32 = 0x0200_0000;
const K_MUST_CLEANUP: u32 = 1 << 3;
const K_START_BIG_FILE: u32 = 2_000_000_000;
const BEGIN: u32 = 100;
const KEY_VERSION: i16 = 4;
const FILE_VERSION: i32 = 62400;

/// Big-endian writer.
#[derive(Default)]
struct Out(Vec<u8>);

impl Out {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn i16(&mut self, v: i16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    /// A TString: a length byte (or 255 and a 4-byte length), then the bytes.
    fn string(&mut self, s: &str) {
        let b = s.as_bytes();
        if b.len() < 255 {
            self.u8(b.len() as u8);
        } else {
            self.u8(255);
            self.u32(b.len() as u32);
        }
        self.bytes(b);
    }
    /// Starts an object with a byte count and a version; [`Out::close`] fills the count.
    fn open(&mut self, version: i16) -> usize {
        let at = self.0.len();
        self.u32(0);
        self.i16(version);
        at
    }
    fn close(&mut self, at: usize) {
        let n = (self.0.len() - at - 4) as u32 | K_BYTE_COUNT_MASK;
        self.0[at..at + 4].copy_from_slice(&n.to_be_bytes());
    }
    fn tobject(&mut self, bits: u32) {
        self.i16(1);
        self.u32(0); // fUniqueID
        self.u32(bits | K_IS_ON_HEAP | K_NOT_DELETED);
    }
    fn tnamed(&mut self, name: &str, title: &str, bits: u32) {
        let at = self.open(1);
        self.tobject(bits);
        self.string(name);
        self.string(title);
        self.close(at);
    }
    fn tarrayd(&mut self, values: &[f64]) {
        self.i32(values.len() as i32);
        for &v in values {
            self.f64(v);
        }
    }
    fn taxis(&mut self, name: &str, bins: u32, low: f64, high: f64) {
        let at = self.open(10);
        self.tnamed(name, "", 0);
        // TAttAxis with ROOT's defaults.
        let att = self.open(4);
        self.i32(510); // fNdivisions
        self.i16(1); // fAxisColor
        self.i16(1); // fLabelColor
        self.i16(42); // fLabelFont
        self.f32(0.005); // fLabelOffset
        self.f32(0.035); // fLabelSize
        self.f32(0.03); // fTickLength
        self.f32(1.0); // fTitleOffset
        self.f32(0.035); // fTitleSize
        self.i16(1); // fTitleColor
        self.i16(42); // fTitleFont
        self.close(att);
        self.i32(bins as i32);
        self.f64(low);
        self.f64(high);
        self.tarrayd(&[]); // fXbins: regular
        self.i32(0); // fFirst
        self.i32(0); // fLast
        self.u16(0); // fBits2
        self.u8(0); // fTimeDisplay
        self.string(""); // fTimeFormat
        self.u32(0); // fLabels: none
        self.u32(0); // fModLabs: none
        self.close(at);
    }
}

/// A 1-D histogram to write: counts (or sums of weights) with flow bins.
pub struct Th1d<'a> {
    pub name: &'a str,
    pub title: &'a str,
    pub bins: u32,
    pub low: f64,
    pub high: f64,
    /// `bins + 2` values: underflow, the bins, overflow.
    pub values: &'a [f64],
    /// Sums of squared weights, same layout, when weighted.
    pub sumw2: Option<&'a [f64]>,
}

fn th1d_object(h: &Th1d) -> Vec<u8> {
    let mut o = Out::default();
    let th1d = o.open(3);
    let th1 = o.open(8);
    o.tnamed(h.name, h.title, K_MUST_CLEANUP);
    let line = o.open(2);
    o.i16(602); // fLineColor
    o.i16(1); // fLineStyle
    o.i16(1); // fLineWidth
    o.close(line);
    let fill = o.open(2);
    o.i16(0); // fFillColor
    o.i16(1001); // fFillStyle
    o.close(fill);
    let marker = o.open(2);
    o.i16(1); // fMarkerColor
    o.i16(1); // fMarkerStyle
    o.f32(1.0); // fMarkerSize
    o.close(marker);
    o.i32(h.bins as i32 + 2); // fNcells
    o.taxis("xaxis", h.bins, h.low, h.high);
    o.taxis("yaxis", 1, 0.0, 1.0);
    o.taxis("zaxis", 1, 0.0, 1.0);
    o.i16(0); // fBarOffset
    o.i16(1000); // fBarWidth
    // Statistics of the in-range bins, x at the bin centres.
    let width = (h.high - h.low) / h.bins as f64;
    let (mut sw, mut sw2, mut swx, mut swx2) = (0.0, 0.0, 0.0, 0.0);
    for k in 0..h.bins as usize {
        let w = h.values[k + 1];
        let x = h.low + (k as f64 + 0.5) * width;
        sw += w;
        sw2 += h.sumw2.map_or(w, |s| s[k + 1]);
        swx += w * x;
        swx2 += w * x * x;
    }
    o.f64(h.values.iter().sum()); // fEntries
    o.f64(sw); // fTsumw
    o.f64(sw2); // fTsumw2
    o.f64(swx); // fTsumwx
    o.f64(swx2); // fTsumwx2
    o.f64(-1111.0); // fMaximum
    o.f64(-1111.0); // fMinimum
    o.f64(0.0); // fNormFactor
    o.tarrayd(&[]); // fContour
    o.tarrayd(h.sumw2.unwrap_or(&[])); // fSumw2
    o.string(""); // fOption
    let functions = o.open(5); // fFunctions: an empty TList
    o.tobject(1 << 16);
    o.string("");
    o.i32(0);
    o.close(functions);
    o.u32(0); // fBufferSize
    o.u8(0); // fBuffer: none
    o.i32(0); // fBinStatErrOpt
    o.i32(0); // fStatOverflows
    o.close(th1);
    o.tarrayd(h.values); // the TArrayD base: the bin contents
    o.close(th1d);
    o.0
}

/// ROOT's TDatime encoding of the current UTC time.
fn datime() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as u32;
    ((year.saturating_sub(1995)) << 26)
        | (month << 22)
        | (day << 17)
        | ((rem / 3600) as u32) << 12
        | (((rem / 60) % 60) as u32) << 6
        | (rem % 60) as u32
}

/// A key's header: its record is `keylen + objlen` bytes at `seek`.
fn key_header(
    objlen: u32,
    datime: u32,
    seek: u32,
    pdir: u32,
    class: &str,
    name: &str,
    title: &str,
) -> Vec<u8> {
    let mut strings = Out::default();
    strings.string(class);
    strings.string(name);
    strings.string(title);
    let keylen = 4 + 2 + 4 + 4 + 2 + 2 + 4 + 4 + strings.0.len() as u32;
    let mut o = Out::default();
    o.u32(keylen + objlen); // fNbytes
    o.i16(KEY_VERSION);
    o.u32(objlen); // fObjlen
    o.u32(datime);
    o.i16(keylen as i16);
    o.i16(1); // fCycle
    o.u32(seek);
    o.u32(pdir);
    o.bytes(&strings.0);
    o.0
}

/// The bytes of a ROOT file holding the histogram; `file_name` is recorded in it.
pub fn th1d_file(h: &Th1d, file_name: &str) -> Result<Vec<u8>, String> {
    if h.values.len() != h.bins as usize + 2 {
        return Err(format!(
            "a histogram of {} bins needs {} values with the flow bins, not {}",
            h.bins,
            h.bins + 2,
            h.values.len()
        ));
    }
    let now = datime();
    let uuid: [u8; 16] = {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut u = [0u8; 16];
        u.copy_from_slice(&(t ^ (std::process::id() as u128) << 64).to_be_bytes());
        u
    };
    let object = th1d_object(h);

    // The top directory's key and record at BEGIN.
    let mut named = Out::default();
    named.string(file_name);
    named.string("");
    let dir_len = 2 + 4 * 2 + 4 * 5 + 2 + 16 + 12;
    let top_objlen = named.0.len() as u32 + dir_len as u32;
    let top_key = key_header(top_objlen, now, BEGIN, 0, "TFile", file_name, "");
    let nbytes_name = top_key.len() as u32 + named.0.len() as u32;
    let hist_at = BEGIN + top_key.len() as u32 + top_objlen;
    let hist_key = key_header(
        object.len() as u32,
        now,
        hist_at,
        BEGIN,
        "TH1D",
        h.name,
        h.title,
    );
    let keys_at = hist_at + hist_key.len() as u32 + object.len() as u32;
    let keys_objlen = 4 + hist_key.len() as u32;
    let keys_key = key_header(keys_objlen, now, keys_at, BEGIN, "TFile", file_name, "");
    let nbytes_keys = keys_key.len() as u32 + keys_objlen;
    let free_at = keys_at + nbytes_keys;
    let free_objlen = 2 + 4 + 4;
    let free_key = key_header(free_objlen, now, free_at, BEGIN, "TFile", file_name, "");
    let nbytes_free = free_key.len() as u32 + free_objlen;
    let end = free_at + nbytes_free;
    if end >= K_START_BIG_FILE {
        return Err("the histogram is too large for a small ROOT file".into());
    }

    let mut f = Out::default();
    f.bytes(b"root");
    f.i32(FILE_VERSION);
    f.u32(BEGIN);
    f.u32(end);
    f.u32(free_at); // fSeekFree
    f.u32(nbytes_free);
    f.i32(1); // nfree
    f.u32(nbytes_name);
    f.u8(4); // fUnits
    f.i32(100); // fCompress: zlib level 0, i.e. none
    f.u32(0); // fSeekInfo: no StreamerInfo record
    f.u32(0); // fNbytesInfo
    f.u16(1); // UUID version
    f.bytes(&uuid);
    f.0.resize(BEGIN as usize, 0);
    f.bytes(&top_key);
    f.bytes(&named.0);
    f.i16(5); // TDirectory version
    f.u32(now);
    f.u32(now);
    f.u32(nbytes_keys);
    f.u32(nbytes_name);
    f.u32(BEGIN); // fSeekDir
    f.u32(0); // fSeekParent
    f.u32(keys_at); // fSeekKeys
    f.u16(1);
    f.bytes(&uuid);
    f.bytes(&[0u8; 12]);
    debug_assert_eq!(f.0.len() as u32, hist_at);
    f.bytes(&hist_key);
    f.bytes(&object);
    f.bytes(&keys_key);
    f.i32(1);
    f.bytes(&hist_key);
    f.bytes(&free_key);
    f.u16(1); // free segment: everything after the end
    f.u32(end);
    f.u32(K_START_BIG_FILE - 1);
    debug_assert_eq!(f.0.len() as u32, end);
    Ok(f.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_opens_and_lists_the_histogram() {
        let values = vec![1.0, 2.0, 3.0, 4.0, 5.0];
        let bytes = th1d_file(
            &Th1d {
                name: "mll",
                title: "m_{ll}",
                bins: 3,
                low: 0.0,
                high: 3.0,
                values: &values,
                sumw2: None,
            },
            "h.root",
        )
        .unwrap();
        let f = kaon_ntuple::RootFile::from_source(
            "h.root",
            Box::new(kaon_ntuple::MemSource::new(bytes.clone())),
        )
        .unwrap();
        let keys = f.keys();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].path, "mll");
        assert_eq!(keys[0].key.class_name, "TH1D");
        // The bin contents close the object: their count, then the values.
        let object = th1d_object(&Th1d {
            name: "mll",
            title: "",
            bins: 3,
            low: 0.0,
            high: 3.0,
            values: &values,
            sumw2: None,
        });
        let tail = &object[object.len() - 44..];
        assert_eq!(tail[..4], 5i32.to_be_bytes());
        for (k, v) in values.iter().enumerate() {
            let at = 4 + 8 * k;
            assert_eq!(f64::from_be_bytes(tail[at..at + 8].try_into().unwrap()), *v);
        }
        assert!(
            th1d_file(
                &Th1d {
                    name: "x",
                    title: "",
                    bins: 4,
                    low: 0.0,
                    high: 1.0,
                    values: &values,
                    sumw2: None,
                },
                "x.root"
            )
            .is_err()
        );
    }

    #[test]
    fn datime_encodes_a_plausible_date() {
        let d = datime();
        let year = (d >> 26) + 1995;
        let month = (d >> 22) & 0xf;
        let day = (d >> 17) & 0x1f;
        assert!((2024..2100).contains(&year), "{year}");
        assert!((1..=12).contains(&month) && (1..=31).contains(&day));
    }
}
