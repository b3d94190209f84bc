//! Process-wide malloc policy for long runs, for binaries to opt into at start-up.

/// Serves blocks of 64 KiB and more straight from the kernel and returns them on free (glibc;
/// a no-op elsewhere). parquet gives every column writer of every row group a zstd decompression
/// context of ~100 KiB that writing never touches: from fresh pages it costs no resident memory,
/// but glibc's default (a threshold that rises as large blocks are freed) served them from
/// recycled, already resident memory, so peak RSS grew with the number of row groups written.
/// Call once, before other threads start.
pub fn limit_retained_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before other threads allocate.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
    }
}
