//! The floor of reading a zlib-compressed ROOT file: the time to inflate every
//! compression block in it with zlib-rs (the library the reader uses) into a reused
//! buffer, on one thread, best of 5. Compare `read_bench`'s one-thread time with it.
//!
//! ```text
//! cargo run --release -p kaon-ntuple --example zlib_floor -- FILE.root
//! ```
//!
//! Blocks are found by scanning for ROOT's 9-byte block header (`ZL`, method 8, then
//! the compressed and uncompressed sizes, little-endian 24-bit) followed by a zlib
//! stream header; a candidate counts only if it inflates to exactly the size its
//! header states, and the scan then skips the block.
use std::time::Instant;

use flate2::{Decompress, FlushDecompress, Status};

/// A compression block: the zlib stream's range in the file and its inflated size.
struct Block {
    start: usize,
    len: usize,
    out: usize,
}

fn u24(b: &[u8]) -> usize {
    b[0] as usize | (b[1] as usize) << 8 | (b[2] as usize) << 16
}

fn inflate(d: &mut Decompress, input: &[u8], out: &mut Vec<u8>, size: usize) -> bool {
    out.clear();
    out.reserve(size);
    d.reset(true);
    matches!(
        d.decompress_vec(input, out, FlushDecompress::Finish),
        Ok(Status::StreamEnd)
    ) && out.len() == size
}

fn find_blocks(data: &[u8]) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut d = Decompress::new(true);
    let mut out = Vec::new();
    let mut i = 0;
    while i + 11 <= data.len() {
        let h = &data[i..];
        let zlib_header = h[9] & 0x0f == 8 && (u16::from(h[9]) << 8 | u16::from(h[10])) % 31 == 0;
        if h[0] == b'Z' && h[1] == b'L' && h[2] == 8 && zlib_header {
            let (len, size) = (u24(&h[3..6]), u24(&h[6..9]));
            let start = i + 9;
            if start + len <= data.len()
                && inflate(&mut d, &data[start..start + len], &mut out, size)
            {
                blocks.push(Block {
                    start,
                    len,
                    out: size,
                });
                i = start + len;
                continue;
            }
        }
        i += 1;
    }
    blocks
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: zlib_floor FILE.root")?;
    let data = std::fs::read(&path)?;
    let blocks = find_blocks(&data);
    let (packed, inflated): (usize, usize) = blocks
        .iter()
        .fold((0, 0), |(p, o), b| (p + b.len, o + b.out));
    let mut d = Decompress::new(true);
    let mut out = Vec::new();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for b in &blocks {
            let ok = inflate(&mut d, &data[b.start..b.start + b.len], &mut out, b.out);
            assert!(ok, "a block inflated once does not inflate again");
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{path}: {} zlib blocks, {:.1} MB -> {:.1} MB; inflating them (zlib-rs, one thread, \
         best of 5): {best:.3} s",
        blocks.len(),
        packed as f64 / 1e6,
        inflated as f64 / 1e6
    );
    Ok(())
}
