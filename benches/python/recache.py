"""Puts files in the page cache as a first read from disk (or a copy from the data lake)
leaves them: their cached pages are dropped, then each file is read once, in order.

`make bench-ntuple` runs this on the benchmark ntuples after writing them. uproot's
writer fills the cache with many small writes, and pages cached that way are held in
small pieces: every later `pread` of them (Kaon's workers read that way) costs about
half again as much kernel time as a read of pages a sequential read brought in
(measured 2026-11-27 on the LZ4 file: 0.045-0.048 s against 0.031 s). uproot, which
maps the file, gains too (0.131 against 0.119 s). Both peers read the same cache.

    python3 benches/python/recache.py FILE...
"""
import os
import sys


def recache(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages would stay cached
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        while os.read(fd, 8 << 20):
            pass
    finally:
        os.close(fd)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: recache.py FILE...")
    for p in sys.argv[1:]:
        recache(p)
        print(f"recache: {p} read back into the page cache")
