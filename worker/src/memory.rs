//! Memory figures of this process and this host, read from /proc, and the
//! allocator settings of a worker process.

/// Makes glibc's allocator keep freed buffers for reuse instead of handing them back
/// to the kernel at once. A worker allocates and frees buffers of many megabytes per
/// task (decompressed baskets, chunks); by default glibc maps each one fresh (above its
/// mmap threshold) and returns freed heap tops, so every task pays page faults to zero
/// new pages again, which cost a third of an ntuple task's time. Freed memory up to
/// these bounds is reused and still counted in the worker's resident memory, which its
/// spill and pause marks watch. Called once by `kaon worker` and `python -m
/// kaon.worker` at start-up (not by embedded workers, whose process belongs to someone
/// else).
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const MMAP_THRESHOLD: libc::c_int = 256 << 20;
        const TRIM_THRESHOLD: libc::c_int = 512 << 20;
        // SAFETY: mallopt only changes allocator parameters; called before any
        // worker thread starts allocating.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    }
}

/// Resident set size of this process in bytes (0 where /proc is unavailable).
pub fn process_rss_bytes() -> u64 {
    let page = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page)
}

/// CPU time (user + system) this process used so far, in seconds.
pub fn process_cpu_seconds() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, after the parenthesized command name.
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            // SAFETY: sysconf has no preconditions.
            let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
            Some(ticks / hz.max(1.0))
        })
        .unwrap_or(0.0)
}

/// Total memory of this host in bytes.
pub fn total_memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(8 << 30, |kib| kib * 1024)
}

/// Parses a memory limit: `auto` (this worker's share of the host, by threads), a byte
/// count, or a number with a unit (`4GB`, `512MiB`, `2G`).
pub fn parse_memory_limit(text: &str, nthreads: usize) -> Result<u64, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("auto") {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let share = (nthreads as f64 / cores as f64).min(1.0);
        return Ok((total_memory_bytes() as f64 * share) as u64);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("memory limit {text:?} is not a number of bytes or 'auto'"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024f64.powi(4),
        other => {
            return Err(format!(
                "memory limit {text:?} has an unknown unit {other:?}"
            ));
        }
    };
    Ok((number * factor) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limits_parse() {
        assert_eq!(parse_memory_limit("1000", 1), Ok(1000));
        assert_eq!(parse_memory_limit("2GB", 1), Ok(2_000_000_000));
        assert_eq!(parse_memory_limit("512MiB", 1), Ok(512 << 20));
        assert!(parse_memory_limit("auto", 1).unwrap() > 0);
        assert!(parse_memory_limit("lots", 1).unwrap_err().contains("lots"));
        assert!(
            parse_memory_limit("3 parsecs", 1)
                .unwrap_err()
                .contains("unit")
        );
    }

    #[test]
    fn this_process_has_a_resident_size_and_cpu_time() {
        assert!(process_rss_bytes() > 0);
        let before = process_cpu_seconds();
        let mut x = 0u64;
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(process_cpu_seconds() > before);
    }
}
