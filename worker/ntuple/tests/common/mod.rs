//! Shared helpers of the integration tests: where the data is, the uproot
//! reference manifests, and comparing Arrow arrays with them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use serde_json::Value;

/// A copy of `orig` with a run of bytes at `at` overwritten, the `k`-th of a sequence
/// of damages: 1 to 7 bytes, set to one of a few telling patterns or shifted.
pub fn overwritten(orig: &[u8], at: usize, k: usize) -> Vec<u8> {
    let mut bad = orig.to_vec();
    let pattern = [0xFFu8, 0x00, 0x7F, 0x80, 0x40][k % 5];
    for b in bad.iter_mut().skip(at).take(1 + k % 7) {
        *b = if k.is_multiple_of(2) {
            pattern
        } else {
            b.wrapping_add(1 + (k % 250) as u8)
        };
    }
    bad
}

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Fails (never skips) when fetch-data.sh has not been run.
pub fn require_data() -> PathBuf {
    let d = data_dir();
    for stamp in ["skhep/.ok", "synthetic/.ok", "refs/.ok"] {
        assert!(
            d.join(stamp).exists(),
            "test data missing ({}): run worker/ntuple/tests/fetch-data.sh first \
             (downloads scikit-hep-testdata 0.3.12, writes synthetic files and uproot references)",
            d.join(stamp).display()
        );
    }
    d
}

pub struct RefBranch {
    pub name: String,
    pub path: String,
    pub kind: String,
    pub dtype: String,
    pub data: Vec<u8>,
    pub offsets: Option<Vec<i64>>,
    pub len: usize,
    pub baskets: Vec<u64>,
    pub interp: String,
}

pub struct RefTree {
    pub path: String,
    pub entries: u64,
    pub branches: Vec<RefBranch>,
    pub skipped: Vec<(String, String)>,
}

pub struct RefFile {
    pub file: PathBuf,
    pub trees: Vec<RefTree>,
    pub error: Option<String>,
}

/// Loads the reference of a file (`skhep/NAME` or `synthetic/NAME`).
pub fn load_ref(rel: &str) -> RefFile {
    let d = require_data();
    let base = Path::new(rel)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(d.join("refs").join(format!("{base}.json")))
            .unwrap_or_else(|e| panic!("reference manifest of {rel}: {e}")),
    )
    .unwrap();
    let blob = std::fs::read(d.join("refs").join(format!("{base}.bin"))).unwrap();
    let slice = |v: &Value| -> Vec<u8> {
        let a = v[0].as_u64().unwrap() as usize;
        let n = v[1].as_u64().unwrap() as usize;
        blob[a..a + n].to_vec()
    };
    let trees = manifest["trees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| RefTree {
            path: t["path"].as_str().unwrap().to_string(),
            entries: t["entries"].as_u64().unwrap(),
            branches: t["branches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| RefBranch {
                    name: b["name"].as_str().unwrap().to_string(),
                    path: b["path"].as_str().unwrap().to_string(),
                    kind: b["kind"].as_str().unwrap().to_string(),
                    dtype: b["dtype"].as_str().unwrap().to_string(),
                    data: {
                        // ROOT stores any non-zero byte as true; compare truth values
                        let d = slice(&b["data"]);
                        if b["dtype"] == "bool" {
                            d.into_iter().map(|x| u8::from(x != 0)).collect()
                        } else {
                            d
                        }
                    },
                    offsets: if b["offsets"].is_null() {
                        None
                    } else {
                        Some(
                            slice(&b["offsets"])
                                .chunks_exact(8)
                                .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                                .collect(),
                        )
                    },
                    len: b["len"].as_u64().unwrap() as usize,
                    baskets: b["baskets"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_u64().unwrap())
                        .collect(),
                    interp: b["interp"].as_str().unwrap_or("").to_string(),
                })
                .collect(),
            skipped: t["skipped"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["path"].as_str().unwrap().to_string(),
                        s["reason"].as_str().unwrap().to_string(),
                    )
                })
                .collect(),
        })
        .collect();
    RefFile {
        file: d.join(rel),
        trees,
        error: manifest["error"].as_str().map(|s| s.to_string()),
    }
}

/// All reference manifests: (relative path of the ROOT file).
pub fn all_ref_files() -> Vec<String> {
    let d = require_data();
    let mut out = Vec::new();
    for sub in ["skhep", "synthetic"] {
        let mut names: Vec<String> = std::fs::read_dir(d.join(sub))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.ends_with(".root") && !n.starts_with("bench-"))
            .collect();
        names.sort();
        out.extend(names.into_iter().map(|n| format!("{sub}/{n}")));
    }
    out
}

fn scalar_name(t: &DataType) -> Option<&'static str> {
    Some(match t {
        DataType::Boolean => "bool",
        DataType::Int8 => "int8",
        DataType::UInt8 => "uint8",
        DataType::Int16 => "int16",
        DataType::UInt16 => "uint16",
        DataType::Int32 => "int32",
        DataType::UInt32 => "uint32",
        DataType::Int64 => "int64",
        DataType::UInt64 => "uint64",
        DataType::Float32 => "float32",
        DataType::Float64 => "float64",
        _ => return None,
    })
}

/// Little-endian bytes of a primitive array's values (1 byte per bool) and its
/// dtype name; fixed-size lists are flattened.
pub fn flat_values(a: &dyn Array) -> Result<(&'static str, Vec<u8>), String> {
    macro_rules! le {
        ($t:ty) => {
            a.as_primitive::<$t>()
                .values()
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect()
        };
    }
    let dt = a.data_type();
    let bytes: Vec<u8> = match dt {
        DataType::Boolean => a.as_boolean().values().iter().map(u8::from).collect(),
        DataType::Int8 => le!(Int8Type),
        DataType::UInt8 => le!(UInt8Type),
        DataType::Int16 => le!(Int16Type),
        DataType::UInt16 => le!(UInt16Type),
        DataType::Int32 => le!(Int32Type),
        DataType::UInt32 => le!(UInt32Type),
        DataType::Int64 => le!(Int64Type),
        DataType::UInt64 => le!(UInt64Type),
        DataType::Float32 => le!(Float32Type),
        DataType::Float64 => le!(Float64Type),
        DataType::FixedSizeList(_, n) => {
            let l = a.as_fixed_size_list();
            let inner = l.values();
            let start = l.offset() * *n as usize;
            let sliced = inner.slice(start, l.len() * *n as usize);
            return flat_values(sliced.as_ref());
        }
        other => return Err(format!("unexpected value type {other:?}")),
    };
    let name = scalar_name(dt).unwrap();
    Ok((name, bytes))
}

fn first_diff(a: &[u8], b: &[u8]) -> String {
    let i = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    format!(
        "lengths {} vs {}, first difference at byte {i}",
        a.len(),
        b.len()
    )
}

/// Compares an array (read for all entries, or for `range` of them) with the
/// reference.
pub fn compare(arr: &ArrayRef, r: &RefBranch, range: std::ops::Range<usize>) -> Result<(), String> {
    if arr.len() != range.len() {
        return Err(format!("{} entries, uproot {}", arr.len(), range.len()));
    }
    match r.kind.as_str() {
        "flat" | "fixed" => {
            let (dt, bytes) = flat_values(arr.as_ref())?;
            if dt != r.dtype {
                return Err(format!("type {dt}, uproot {}", r.dtype));
            }
            let w = if arr.is_empty() {
                0
            } else {
                bytes.len() / arr.len()
            };
            let want = &r.data[range.start * w..range.end * w];
            if bytes != want {
                return Err(format!("values differ: {}", first_diff(&bytes, want)));
            }
            if r.kind == "fixed" && !matches!(arr.data_type(), DataType::FixedSizeList(..)) {
                return Err("expected a fixed-size list".into());
            }
            Ok(())
        }
        "jagged" | "string" => {
            let roffs = r.offsets.as_ref().unwrap();
            let (offs, values): (Vec<i64>, Vec<u8>) = if r.kind == "string" {
                let s = arr
                    .as_string_opt::<i32>()
                    .ok_or_else(|| format!("type {:?}, uproot strings", arr.data_type()))?;
                let o = s.value_offsets();
                let base = o[0];
                (
                    o.iter().map(|&x| (x - base) as i64).collect(),
                    s.value_data()[base as usize..o[o.len() - 1] as usize].to_vec(),
                )
            } else {
                let l = arr
                    .as_list_opt::<i32>()
                    .ok_or_else(|| format!("type {:?}, uproot a jagged list", arr.data_type()))?;
                let o = l.value_offsets();
                let base = o[0];
                let vals = l
                    .values()
                    .slice(base as usize, (o[o.len() - 1] - base) as usize);
                let (dt, bytes) = flat_values(vals.as_ref())?;
                if dt != r.dtype {
                    return Err(format!("item type {dt}, uproot {}", r.dtype));
                }
                (o.iter().map(|&x| (x - base) as i64).collect(), bytes)
            };
            let a = roffs[range.start];
            let want_offs: Vec<i64> = roffs[range.start..=range.end]
                .iter()
                .map(|x| x - a)
                .collect();
            let per = if r.kind == "string" {
                1
            } else {
                let total = *roffs.last().unwrap() as usize;
                r.data.len().checked_div(total).unwrap_or(0)
            };
            if offs != want_offs {
                let i = offs
                    .iter()
                    .zip(&want_offs)
                    .position(|(x, y)| x != y)
                    .unwrap_or(0);
                return Err(format!(
                    "list offsets differ at entry {} ({} vs uproot {})",
                    range.start + i,
                    offs.get(i).copied().unwrap_or(-1),
                    want_offs.get(i).copied().unwrap_or(-1)
                ));
            }
            let want = &r.data[a as usize * per..roffs[range.end] as usize * per];
            if values != want {
                return Err(format!("list values differ: {}", first_diff(&values, want)));
            }
            Ok(())
        }
        k => Err(format!("unknown reference kind {k}")),
    }
}
