//! Process figures from `/proc` (Linux): peak RSS, CPU time, open files. Machine-dependent and
//! informational; elsewhere they read as zero.

use metrics::ProcessStats;

/// Clock ticks per second of `/proc/self/stat` (Linux's USER_HZ is 100 on every common build).
const TICKS_PER_SEC: u64 = 100;

/// Peak RSS, CPU time and open files of this process now.
pub(crate) fn stats() -> ProcessStats {
    ProcessStats {
        peak_rss_bytes: peak_rss().unwrap_or(0),
        cpu_time_ms: cpu_ms().unwrap_or(0),
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

fn cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1000 / TICKS_PER_SEC)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let s = super::stats();
        if cfg!(target_os = "linux") {
            assert!(s.peak_rss_bytes > 1 << 20);
            assert!(s.open_files >= 3);
        }
    }
}
