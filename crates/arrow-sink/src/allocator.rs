//! Process-wide malloc policy for long runs, for binaries to opt into at start-up.

use std::time::Duration;

/// How often free memory inside glibc's arenas is handed back to the kernel.
pub const TRIM_INTERVAL: Duration = Duration::from_millis(250);

/// Keeps the resident set close to what is live (glibc; a no-op elsewhere). Call once, before
/// other threads start.
///
/// - Blocks of 64 KiB and more come straight from the kernel and go back on free. parquet gives
///   every column writer of every row group a zstd decompression context of ~100 KiB that writing
///   never touches: from fresh pages it costs no resident memory, but glibc's default (a threshold
///   that rises as large blocks are freed) served them from recycled, already resident memory.
/// - Smaller blocks live in per-thread arenas, which glibc only shrinks from the top: a row group's
///   thousands of small buffers, freed when it is written, left free but resident holes behind
///   the long-lived ones allocated meanwhile, so the resident set crept up over a long run (a
///   20k-user sync: +37 MB that `malloc_trim` gave back at once). A background thread calls
///   `malloc_trim` every [`TRIM_INTERVAL`], which returns those free pages.
pub fn limit_retained_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only adjusts allocator parameters; called before other threads allocate.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
        }
    }
    trim_periodically();
}

/// Only the periodic `malloc_trim` of [`limit_retained_memory`], with glibc's own (rising) mmap
/// threshold: for a one-stream bulk load, where every large buffer being a fresh mmap of zero
/// pages costs more than the memory it saves (the Singer target on 300k mail rows: 674k minor
/// page faults and 5.3 s of system time with the 64 KiB threshold, 133k and 2.4 s without; wall
/// 10.3 -> 8.8 s, peak RSS 89 -> 135 MiB).
pub fn trim_periodically() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let spawned = std::thread::Builder::new()
            .name("malloc-trim".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(TRIM_INTERVAL);
                    // SAFETY: malloc_trim only releases free memory; it is thread-safe.
                    unsafe {
                        libc::malloc_trim(0);
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::debug!(error = %e, "no malloc-trim thread; memory is still returned, later");
        }
    }
}
