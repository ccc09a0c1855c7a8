//! The daemon's use of the C allocator (glibc's malloc on Linux).
//!
//! glibc gives each thread that allocates under contention an arena of its
//! own, up to eight per core, and keeps what is freed in it. A daemon whose
//! requests run on whichever worker or blocking thread is free, beside a
//! training thread per retrain, spreads its small heap over many arenas,
//! each holding its own free memory: measured on a soak (32 clients, a
//! retrain every 4 s), RSS crept by about 1 MB a minute for many minutes
//! with the default, and stayed flat after its first minute with one arena
//! per core. So the daemon caps the arenas at the number of cores it may
//! use, and hands a retrain's freed memory back when the retrain ends. An
//! operator's `MALLOC_ARENA_MAX` wins.
//!
//! glibc also raises its mmap threshold to the size of each large block
//! freed (up to 32 MiB), after which blocks of a retrain's size (a ratings
//! file's read buffer, a training array) come from the arenas, where live
//! small objects can pin their pages. The daemon fixes the threshold at
//! 1 MiB, so such blocks are always mapped and go back to the system when
//! freed. An operator's `MALLOC_MMAP_THRESHOLD_` wins.

/// The fixed mmap threshold: blocks from this size up are mapped.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 1 << 20;

/// Cap glibc's arenas at the number of cores the process may use (at
/// least 2), unless `MALLOC_ARENA_MAX` is set, and fix its mmap threshold
/// unless `MALLOC_MMAP_THRESHOLD_` is set. Call before threads start.
pub fn cap_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only sets the allocator's own parameter.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        let cores = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets the allocator's own parameter.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, cores);
        }
    }
}

/// Hand the memory a retrain freed (its dataset, blocks and factors: some
/// bytes a rating) back to the system. glibc keeps freed memory in its
/// arenas, so a daemon that retrains every few hours would otherwise hold
/// its largest retrain's memory for good.
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
