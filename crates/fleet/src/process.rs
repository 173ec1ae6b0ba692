//! Process figures from `/proc` (Linux): peak RSS, CPU time, open files; and the cores the
//! process may use. Machine-dependent and informational; elsewhere they read as zero.

use std::time::Duration;

use metrics::ProcessStats;

/// Clock ticks per second of `/proc/self/stat` (Linux's USER_HZ is 100 on every common build).
const TICKS_PER_SEC: u64 = 100;

/// Peak RSS, CPU time and open files of this process now.
pub(crate) fn stats() -> ProcessStats {
    ProcessStats {
        peak_rss_bytes: peak_rss().unwrap_or(0),
        cpu_time_ms: cpu_time().map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        open_files: std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as u64)
            .unwrap_or(0),
        ..ProcessStats::default()
    }
}

fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// User plus system CPU time of this process so far, to the clock tick (10 ms); `None` where
/// `/proc/self/stat` cannot be read.
pub(crate) fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SEC,
    ))
}

/// Cores this process may run on (its CPU affinity and cgroup quota), at least 1.
pub(crate) fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let s = super::stats();
        if cfg!(target_os = "linux") {
            assert!(s.peak_rss_bytes > 1 << 20);
            assert!(s.open_files >= 3);
            assert!(super::cpu_time().is_some());
        }
        assert!(super::cores() >= 1);
    }
}
