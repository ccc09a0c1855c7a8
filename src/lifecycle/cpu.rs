//! The CPU time of a retrain's threads, from /proc: the job's thread is
//! named [`THREAD_PREFIX`]`<id>` and the threads it starts inherit the
//! name, so they are told apart from serving's. Each live retrain thread's
//! time is followed from sample to sample, so a thread that ends between
//! two samples loses at most the part it used since the last.

use std::collections::HashMap;

use super::jobs::THREAD_PREFIX;

/// The CPU seconds a retrain's threads have used, sample by sample.
#[derive(Debug, Default)]
pub struct RetrainCpu {
    /// Each retrain thread's ticks at the last sample.
    seen: HashMap<u64, u64>,
    ticks: u64,
}

impl RetrainCpu {
    /// CPU seconds used so far by the retrain threads seen alive at some
    /// sample; None where /proc cannot be read.
    pub fn sample(&mut self) -> Option<f64> {
        let mut now = HashMap::new();
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            // A thread that ends between the listing and the read is skipped.
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            if let Some((comm, t)) = ticks(&stat) {
                if comm.starts_with(THREAD_PREFIX) {
                    let before = self.seen.get(&tid).copied().unwrap_or(0);
                    self.ticks += t.saturating_sub(before);
                    now.insert(tid, t);
                }
            }
        }
        self.seen = now;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let hz = if hz > 0 { hz as f64 } else { 100.0 };
        Some(self.ticks as f64 / hz)
    }
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
    fn a_busy_retrain_thread_is_counted_and_others_are_not() {
        let mut cpu = RetrainCpu::default();
        let before = cpu.sample().unwrap();
        let spinning = std::thread::Builder::new()
            .name(format!("{THREAD_PREFIX}2"))
            .spawn(|| {
                let t = std::time::Instant::now();
                let mut x = 0u64;
                while t.elapsed().as_secs_f64() < 1.5 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
                }
            })
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        cpu.sample().unwrap();
        // This thread's own work is not a retrain's.
        let t = std::time::Instant::now();
        while t.elapsed().as_secs_f64() < 0.3 {
            std::hint::black_box(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        // At most 0.9 s of wall time has passed since it began: one thread
        // cannot have used more, so this thread's 0.3 s is not in there.
        let during = cpu.sample().unwrap();
        spinning.join().unwrap();
        assert!(during - before > 0.2, "{before} -> {during}");
        assert!(during - before < 1.0, "{before} -> {during}");
    }
}
