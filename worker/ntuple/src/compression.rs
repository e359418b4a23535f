//! ROOT's compressed blocks: a 9-byte header (two letters naming the algorithm, a
//! method byte, 3-byte little-endian compressed and uncompressed sizes) followed by
//! the payload. Large objects are a sequence of such blocks (each at most 16 MiB
//! uncompressed).

use crate::error::{Fault, PResult};

const HEADER: usize = 9;

/// The algorithms ROOT writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Zlib,
    Lz4,
    Lzma,
    Zstd,
}

fn compression(msg: String) -> Fault {
    Fault::Compression(msg)
}

/// Decompresses `src` (a sequence of blocks) into exactly `uncompressed_len` bytes.
pub(crate) fn decompress(src: &[u8], uncompressed_len: usize) -> PResult<Vec<u8>> {
    let mut out = vec![0u8; uncompressed_len];
    decompress_into(src, &mut out)?;
    Ok(out)
}

/// Decompresses `src` (a sequence of blocks) filling all of `out`.
pub(crate) fn decompress_into(mut src: &[u8], out: &mut [u8]) -> PResult<()> {
    let mut filled = 0usize;
    let mut block = 0usize;
    while filled < out.len() {
        if src.len() < HEADER {
            return Err(compression(format!(
                "block {block}: {} bytes left, a block header needs {HEADER} ({filled} of {} bytes decompressed)",
                src.len(),
                out.len()
            )));
        }
        let h = &src[..HEADER];
        let c_len = h[3] as usize | (h[4] as usize) << 8 | (h[5] as usize) << 16;
        let u_len = h[6] as usize | (h[7] as usize) << 8 | (h[8] as usize) << 16;
        let algorithm = match &h[..2] {
            b"ZL" => Algorithm::Zlib,
            b"L4" => Algorithm::Lz4,
            b"XZ" => Algorithm::Lzma,
            b"ZS" => Algorithm::Zstd,
            b"CS" => {
                return Err(Fault::unsupported(
                    "ROOT's old \"CS\" compression algorithm (ROOT 3 era)",
                ));
            }
            other => {
                return Err(compression(format!(
                    "block {block}: unknown algorithm tag {:02x}{:02x}",
                    other[0], other[1]
                )));
            }
        };
        if c_len > src.len() - HEADER {
            return Err(compression(format!(
                "block {block}: {algorithm:?} block of {c_len} bytes, only {} left",
                src.len() - HEADER
            )));
        }
        if u_len == 0 || u_len > out.len() - filled {
            return Err(compression(format!(
                "block {block}: {algorithm:?} block claims {u_len} uncompressed bytes, {} expected at most",
                out.len() - filled
            )));
        }
        let payload = &src[HEADER..HEADER + c_len];
        let dst = &mut out[filled..filled + u_len];
        let got = match algorithm {
            Algorithm::Zlib => inflate(payload, dst),
            Algorithm::Lz4 => lz4(payload, dst),
            Algorithm::Lzma => xz(payload, dst),
            Algorithm::Zstd => zstd(payload, dst),
        }
        .map_err(|e| compression(format!("block {block} ({algorithm:?}): {e}")))?;
        if got != u_len {
            return Err(compression(format!(
                "block {block} ({algorithm:?}): produced {got} bytes, the header says {u_len}"
            )));
        }
        filled += u_len;
        src = &src[HEADER + c_len..];
        block += 1;
    }
    Ok(())
}

fn inflate(src: &[u8], dst: &mut [u8]) -> Result<usize, String> {
    let mut d = flate2::Decompress::new(true);
    let status = d
        .decompress(src, dst, flate2::FlushDecompress::Finish)
        .map_err(|e| e.to_string())?;
    match status {
        flate2::Status::StreamEnd => Ok(d.total_out() as usize),
        _ => Err(format!(
            "zlib stream did not end ({} of {} bytes in, {} out)",
            d.total_in(),
            src.len(),
            d.total_out()
        )),
    }
}

fn lz4(src: &[u8], dst: &mut [u8]) -> Result<usize, String> {
    if src.len() < 8 {
        return Err("LZ4 block shorter than its checksum".into());
    }
    let (sum, data) = src.split_at(8);
    let mut want = [0u8; 8];
    want.copy_from_slice(sum);
    let want = u64::from_be_bytes(want);
    let got = xxhash_rust::xxh64::xxh64(data, 0);
    if got != want {
        return Err(format!(
            "xxhash64 checksum {got:016x} differs from the stored {want:016x}"
        ));
    }
    // The reference C decoder (its bounds-checked entry point): 1.4x the speed of
    // lz4_flex on the integer branches of the dilepton benchmark, where LZ4 is
    // the largest part of a read.
    let (Ok(src_len), Ok(cap)) = (i32::try_from(data.len()), i32::try_from(dst.len())) else {
        return Err("LZ4 block over 2 GiB".into());
    };
    // SAFETY: LZ4_decompress_safe reads at most `src_len` bytes of `data` and
    // writes at most `cap` bytes to `dst`, whatever the input holds.
    let n = unsafe {
        lz4_sys::LZ4_decompress_safe(data.as_ptr().cast(), dst.as_mut_ptr().cast(), src_len, cap)
    };
    usize::try_from(n).map_err(|_| format!("corrupt LZ4 block (decoder returned {n})"))
}

fn zstd(src: &[u8], dst: &mut [u8]) -> Result<usize, String> {
    zstd::bulk::decompress_to_buffer(src, dst).map_err(|e| e.to_string())
}

fn xz(src: &[u8], dst: &mut [u8]) -> Result<usize, String> {
    let mut input = std::io::BufReader::new(src);
    let mut out = Vec::with_capacity(dst.len());
    lzma_rs::xz_decompress(&mut input, &mut out).map_err(|e| format!("{e:?}"))?;
    if out.len() != dst.len() {
        return Err(format!(
            "xz stream holds {} bytes, expected {}",
            out.len(),
            dst.len()
        ));
    }
    dst.copy_from_slice(&out);
    Ok(out.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut out = vec![0u8; 100];
        for tag in [b"ZL", b"L4", b"XZ", b"ZS", b"CS", b"QQ"] {
            let mut src = tag.to_vec();
            src.extend_from_slice(&[0, 20, 0, 0, 100, 0, 0]);
            src.extend_from_slice(&[0x55; 20]);
            assert!(decompress_into(&src, &mut out).is_err());
        }
        assert!(decompress_into(&[], &mut out).is_err());
    }

    /// A ROOT LZ4 block: header, xxhash64 of the LZ4 data, the data.
    fn lz4_block(lz4: &[u8], u_len: usize) -> Vec<u8> {
        let mut b = b"L4\x01".to_vec();
        b.extend_from_slice(&((lz4.len() + 8) as u32).to_le_bytes()[..3]);
        b.extend_from_slice(&(u_len as u32).to_le_bytes()[..3]);
        b.extend_from_slice(&xxhash_rust::xxh64::xxh64(lz4, 0).to_be_bytes());
        b.extend_from_slice(lz4);
        b
    }

    #[test]
    fn lz4_round_trip_and_corrupt_data() {
        let data: Vec<u8> = (0..5000u32).flat_map(|i| (i % 3).to_be_bytes()).collect();
        let mut lz4 = vec![0u8; data.len() + data.len() / 255 + 16];
        // SAFETY: the source and destination lengths are those of the buffers.
        let n = unsafe {
            lz4_sys::LZ4_compress_default(
                data.as_ptr().cast(),
                lz4.as_mut_ptr().cast(),
                data.len() as i32,
                lz4.len() as i32,
            )
        };
        assert!(n > 0);
        lz4.truncate(n as usize);
        assert_eq!(
            decompress(&lz4_block(&lz4, data.len()), data.len()).unwrap(),
            data
        );
        // damaged data under a matching checksum: an error, never a read past the
        // buffers (the decoder checks every length)
        for i in 0..lz4.len() {
            for v in [0u8, 0xff, lz4[i] ^ 0x55] {
                let mut bad = lz4.clone();
                bad[i] = v;
                if let Ok(out) = decompress(&lz4_block(&bad, data.len()), data.len()) {
                    assert_eq!(out.len(), data.len());
                }
            }
        }
        // a stored size larger than what the data holds
        assert!(decompress(&lz4_block(&lz4, data.len() + 1), data.len() + 1).is_err());
    }

    #[test]
    fn zlib_round_trip_in_two_blocks() {
        use std::io::Write;
        let part = |data: &[u8]| {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(1));
            e.write_all(data).unwrap();
            let c = e.finish().unwrap();
            let mut b = b"ZL\x08".to_vec();
            b.extend_from_slice(&(c.len() as u32).to_le_bytes()[..3]);
            b.extend_from_slice(&(data.len() as u32).to_le_bytes()[..3]);
            b.extend_from_slice(&c);
            b
        };
        let a: Vec<u8> = (0..1000u32).map(|i| (i % 7) as u8).collect();
        let b: Vec<u8> = (0..500u32).map(|i| (i % 13) as u8).collect();
        let mut src = part(&a);
        src.extend(part(&b));
        let out = decompress(&src, 1500).unwrap();
        assert_eq!(&out[..1000], &a[..]);
        assert_eq!(&out[1000..], &b[..]);
        // one block short
        assert!(decompress(&src[..src.len() - 3], 1500).is_err());
    }
}
