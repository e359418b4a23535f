//! # kaon-ntuple: Kaon's reader of ROOT ntuples into Arrow arrays
//!
//! A pure library (no networking, no scheduler): it opens ROOT files, finds the
//! TTrees and RNTuples in any directory, and reads entry ranges of branches
//! (RNTuple: fields) straight into Arrow arrays, decoding only the baskets
//! (pages) that overlap the range and decompressing them in parallel with rayon.
//!
//! An RNTuple (ROOT 6.34+, binary format 1.x) is opened with the same
//! [`RootFile::tree`] and read through the same [`Tree`]: its fields are the
//! branches (members of records are named `record.member`), its clusters are
//! [`Tree::clusters`].
//!
//! ```no_run
//! use kaon_ntuple::RootFile;
//!
//! let file = RootFile::open("ntuple.root")?;
//! println!("trees: {:?}", file.list_trees());          // e.g. ["dir/sub/nominal"]
//! let tree = file.tree("nominal")?;
//! println!("{} entries", tree.num_entries());
//! for b in tree.branches() {
//!     println!("{} : {}", b.path, b.type_name);          // "lep_pt : float[lep_n]"
//! }
//! // partition by clusters, read one
//! let clusters = tree.clusters();
//! let lep_pt = tree.read("lep_pt", clusters[0].clone())?; // arrow ListArray<Float32>
//! let batch = tree.read_many(&["lep_n", "lep_pt", "lep_eta"], 0..1000)?;
//! assert_eq!(batch.num_rows(), 1000);
//! # let _ = lep_pt;
//! # Ok::<(), kaon_ntuple::NtupleError>(())
//! ```
//!
//! ## What comes out
//! | on disk | Arrow |
//! |---|---|
//! | `bool`, `(u)int8..64`, `float`, `double` (leaves `/O /B /b /S /s /I /i /L /l /F /D`, split-object members) | primitive array |
//! | `Double32_t`, `Float16_t` (all of ROOT's encodings) | `Float64` / `Float32` |
//! | fixed `T[N]`, `T[N][M]` | (nested) `FixedSizeList` |
//! | counted `T[n]`, `T[n][M]`, `std::vector<T>`, members of split `TClonesArray`/`std::vector<Object>` | `List` (i32 offsets) |
//! | `char*` leaves, `TString`, `std::string` | `Utf8` |
//!
//! RNTuple fields map the same way: `bool`, `std::[u]int*_t`, `float`, `double`
//! (plain, split, zigzag or half-precision columns) to primitive arrays,
//! `std::array<T,N>` to `FixedSizeList`, `std::vector<T>`/`RVec<T>` and members of
//! a collection of records to `List`, `std::string` to `Utf8`.
//!
//! Anything else (leaf lists with several leaves, objects that are not split,
//! nested containers; RNTuple variants, optionals, streamed fields) is reported
//! by [`Tree::branches`] with the reason, and reading it is an
//! [`NtupleError::Unsupported`] naming file, tree and branch.
//!
//! ## Modules
//! - [`source`]: the positioned-read trait [`ReadAt`] and local-file sources.
//! - `directory`: file header, TKey, TDirectory (small and large files).
//! - `objects`, `rbuf`: ROOT's object serialization (byte counts, references).
//! - [`streamers`]: TStreamerInfo records (class layouts).
//! - `model`: the TTree / TBranch / TLeaf records.
//! - `interp`: how a branch's entries are laid out.
//! - `basket`, `compression`: baskets and their zlib/LZ4/LZMA/ZSTD blocks.
//! - `decode`: entries to Arrow arrays.
//! - `direct`: the fast path for numbers and lists of numbers: output buffers
//!   sized from the basket headers, each basket decoded straight into its part.
//! - `outbuf`: output buffers filled in parallel without zeroing them first.
//! - `rntuple`: RNTuple anchor, envelopes (xxhash3-checked), page lists, column
//!   encodings, fields to Arrow arrays.
//!
//! Errors never panic: every read is bounds-checked, every count is checked
//! against the bytes that hold it, baskets (RNTuple: clusters) are checked to
//! tile the entries, and RNTuple checksums are verified.

mod basket;
mod compression;
mod decode;
mod direct;
mod directory;
mod error;
mod file;
mod interp;
mod model;
mod objects;
mod outbuf;
mod rbuf;
mod rntuple;
pub mod source;
pub mod streamers;
mod tree;

pub use compression::Algorithm;
pub use directory::Key;
pub use error::NtupleError;
pub use file::{KeyEntry, RootFile};
pub use interp::ScalarType;
pub use source::{FileSource, MemSource, MmapSource, ReadAt};
pub use tree::{BranchInfo, Tree};

/// Arrow types used in the API, re-exported for convenience.
pub use arrow_array::{ArrayRef, RecordBatch};

#[cfg(test)]
mod tests {
    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_are_shareable_between_threads() {
        send_sync::<crate::RootFile>();
        send_sync::<crate::Tree>();
        send_sync::<crate::NtupleError>();
    }
}
