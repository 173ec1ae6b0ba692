//! The memory of a runtime under test (`--pid PID` or `--cgroup PATH`): its resident set
//! sampled on a thread of its own every [`EVERY`], each reading paired with the sessions live
//! at that moment, so the report gives the peak and the memory per live session (the slope).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use metrics::RuntimeMemory;

/// How often memory is read.
pub const EVERY: Duration = Duration::from_millis(100);

/// Where a runtime's memory is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemorySource {
    /// A process's resident set (`VmRSS` of `/proc/PID/status`): the runtime's own process,
    /// not its children.
    Pid(u32),
    /// A cgroup's memory (v2 `memory.current`, v1 `memory.usage_in_bytes`): a directory of
    /// the cgroup (a container's), or the file itself; every process in it, page cache
    /// included.
    Cgroup(PathBuf),
}

impl MemorySource {
    /// The memory now, bytes.
    pub fn read(&self) -> std::io::Result<u64> {
        match self {
            MemorySource::Pid(pid) => {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().strip_suffix("kB"))
                    .and_then(|kb| kb.trim().parse::<u64>().ok())
                    .map(|kb| kb * 1024)
                    .ok_or_else(|| std::io::Error::other("no VmRSS line (a zombie process?)"))
            }
            MemorySource::Cgroup(path) => {
                let text = std::fs::read_to_string(cgroup_file(path))?;
                text.trim()
                    .parse()
                    .map_err(|_| std::io::Error::other(format!("not a number: `{}`", text.trim())))
            }
        }
    }

    /// How the report names it.
    pub fn describe(&self) -> String {
        match self {
            MemorySource::Pid(pid) => format!("pid {pid} (VmRSS)"),
            MemorySource::Cgroup(path) => format!("cgroup {}", cgroup_file(path).display()),
        }
    }

    /// Reads once, before the run: an error names the flag and says what to give.
    pub fn check(&self) -> Result<u64, String> {
        self.read().map_err(|err| match self {
            MemorySource::Pid(pid) => format!(
                "--pid {pid}: cannot read the memory of process {pid} (/proc/{pid}/status: {err}); is the runtime running? give the pid of its server process (e.g. `$!` after starting it in the background)"
            ),
            MemorySource::Cgroup(path) => format!(
                "--cgroup {}: cannot read {} ({err}); give the cgroup's directory, like /sys/fs/cgroup/system.slice/my-agent.service (cgroup v2 memory.current or v1 memory.usage_in_bytes)",
                path.display(),
                cgroup_file(path).display()
            ),
        })
    }
}

/// The file a cgroup path stands for.
fn cgroup_file(path: &Path) -> PathBuf {
    if !path.is_dir() {
        return path.to_owned();
    }
    let v2 = path.join("memory.current");
    if v2.exists() {
        v2
    } else {
        path.join("memory.usage_in_bytes")
    }
}

/// A running sampler.
#[derive(Debug)]
pub struct Sampler {
    source: MemorySource,
    done: Arc<AtomicBool>,
    thread: JoinHandle<Vec<(u64, u64)>>,
}

impl Sampler {
    /// Starts sampling `source` with the count of `live` sessions.
    pub fn start(source: MemorySource, live: Arc<AtomicU64>) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let reader = source.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                // A runtime that exits mid-run ends the samples, not the run.
                let Ok(bytes) = reader.read() else { break };
                samples.push((live.load(Ordering::Relaxed), bytes));
                std::thread::sleep(EVERY);
            }
            samples
        });
        Self {
            source,
            done,
            thread,
        }
    }

    /// Stops sampling; the figures against `target_bytes` per agent.
    pub fn finish(self, target_bytes: u64) -> RuntimeMemory {
        self.done.store(true, Ordering::Relaxed);
        let samples = self.thread.join().unwrap_or_default();
        RuntimeMemory::of(self.source.describe(), &samples, target_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_resident_set() {
        let me = MemorySource::Pid(std::process::id());
        let bytes = me.check().unwrap();
        assert!(bytes > 1_000_000, "{bytes}");
        let live = Arc::new(AtomicU64::new(0));
        let sampler = Sampler::start(me, live);
        std::thread::sleep(EVERY * 3);
        let m = sampler.finish(100 << 20);
        assert!(m.samples >= 2, "{m:?}");
        assert!(m.peak_bytes >= m.baseline_bytes);
        assert!(m.source.starts_with("pid "));
    }

    #[test]
    fn a_missing_process_or_cgroup_names_the_flag() {
        let err = MemorySource::Pid(u32::MAX).check().unwrap_err();
        assert!(err.starts_with("--pid 4294967295:"), "{err}");
        let err = MemorySource::Cgroup("/nonexistent/cg".into())
            .check()
            .unwrap_err();
        assert!(err.starts_with("--cgroup /nonexistent/cg:"), "{err}");
    }

    #[test]
    fn a_cgroup_file_is_read_as_a_number() {
        let dir = std::env::temp_dir().join(format!("fb-cg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory.current"), "123456\n").unwrap();
        assert_eq!(MemorySource::Cgroup(dir.clone()).read().unwrap(), 123_456);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
