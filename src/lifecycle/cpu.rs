//! The CPU time of a retrain's threads, from /proc: the process's total
//! (which keeps the time of threads that have ended) less that of its live
//! threads that are not the retrain's (serving, the runtime). Training
//! threads are told apart by name: the job's thread is named
//! [`THREAD_PREFIX`]`<id>` and the threads it starts inherit the name.

use super::jobs::THREAD_PREFIX;

/// CPU seconds the retrain's threads have used, live and ended; None where
/// /proc cannot be read.
pub fn retrain_seconds() -> Option<f64> {
    let total = ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)?.1;
    let mut others = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        // A thread that ends between the listing and the read is skipped.
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        if let Some((comm, t)) = ticks(&stat) {
            if !comm.starts_with(THREAD_PREFIX) {
                others += t;
            }
        }
    }
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    Some(total.saturating_sub(others) as f64 / hz)
}

/// The command name and utime + stime (in clock ticks) of a `stat` line
/// (proc(5)): `pid (comm) state ...`, where comm may hold spaces and
/// parentheses, so the fields are counted from the last `)`.
fn ticks(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    let mut fields = stat.get(close + 1..)?.split_whitespace();
    // After the comm: state is field 3; utime and stime are 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((comm, utime + stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_read_past_odd_command_names() {
        let line = "4242 (recd-retrain-7 (x)) R 1 2 3 4 5 6 7 8 9 10 150 25 0 0 20 0 3 0";
        assert_eq!(ticks(line), Some(("recd-retrain-7 (x)", 175)));
        assert_eq!(ticks("4242 (short) R 1"), None);
    }

    #[test]
    fn a_busy_retrain_thread_is_counted() {
        // Threads of other tests that end meanwhile can only add to the
        // figure, so only its lower bound is checked.
        let before = retrain_seconds().unwrap();
        std::thread::Builder::new()
            .name(format!("{THREAD_PREFIX}1"))
            .spawn(|| {
                let t = std::time::Instant::now();
                let mut x = 0u64;
                while t.elapsed().as_secs_f64() < 0.5 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
                }
            })
            .unwrap()
            .join()
            .unwrap();
        let after = retrain_seconds().unwrap();
        assert!(after - before > 0.3, "{before} -> {after}");
    }
}
