//! A test-only pause inside a publish, so a crash test can SIGKILL the
//! publishing process at an exact point of the sequence: a kill at a
//! random moment rarely lands in the few milliseconds a publish takes.
//!
//! With `RECD_TEST_PAUSE_PUBLISH=POINT:FILE` in its environment, a process
//! whose publish reaches POINT creates FILE (holding the point's name) and
//! sleeps [`PAUSE`] before going on. Nothing else in recd reads that
//! variable and no deployment sets it; unset, each point costs one
//! environment lookup per publish. It is read where the pause would be, not
//! once at start, so a test can give each process it starts its own point.

use std::time::Duration;

/// The variable naming a pause point and the file that says it is reached.
pub const ENV: &str = "RECD_TEST_PAUSE_PUBLISH";

/// Long enough for a test to see the file and kill; bounded, so a process
/// nobody kills still finishes its publish.
pub const PAUSE: Duration = Duration::from_secs(30);

/// Where a publish can pause, in the order it passes them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr, strum::EnumIter,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Point {
    /// The temp file written and flushed, not yet fsynced.
    Written,
    /// The temp file fsynced and verified, not yet renamed to its version.
    Verified,
    /// Renamed to its version, the directory not yet fsynced.
    Renamed,
    /// The new `current` symlink made under a temp name, not yet renamed
    /// over `current`.
    Linked,
    /// `current` replaced, the directory not yet fsynced.
    Switched,
    /// `current` durable; the previous version and old backups not yet
    /// removed.
    Pruning,
}

/// Pause at `point` if the environment asks for it.
pub(super) fn at(point: Point) {
    let Some(spec) = std::env::var_os(ENV) else {
        return;
    };
    let Some((name, file)) = spec.to_str().and_then(|s| s.split_once(':')) else {
        return;
    };
    if name.parse::<Point>().ok() != Some(point) {
        return;
    }
    let name: &'static str = point.into();
    // A test waits for this file: if it cannot be written, the wait fails
    // there, which says more than a pause nobody sees.
    let _ = std::fs::write(file, name);
    std::thread::sleep(PAUSE);
}
