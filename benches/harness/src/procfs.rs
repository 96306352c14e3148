//! Resource use of a serving process from /proc: resident memory (sampled, so the peak within
//! one scenario is known, not only since start) and CPU time (user + system).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::stats::ProcessUsage;

/// Resident set size of `pid` in KiB.
pub fn resident_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// Peak resident set size of `pid` since it started, in KiB.
pub fn peak_resident_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

/// One KiB field of `/proc/{pid}/status` (`VmRSS:`, `RssAnon:`, ...).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_field_kib(&status, field)
}

fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find(|line| line.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// User plus system CPU time of `pid` (all its threads), in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_seconds_from_stat(&stat, clock_ticks_per_second())
}

fn cpu_seconds_from_stat(stat: &str, ticks_per_second: f64) -> Option<f64> {
    // The command name (field 2) may hold spaces; fields after its closing parenthesis are
    // plain. utime and stime are fields 14 and 15, so 12th and 13th after the state field.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_second)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Samples a process's resident memory every few milliseconds while a scenario runs.
pub struct UsageSampler {
    pid: u32,
    cpu_at_start: f64,
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UsageSampler {
    /// Starts sampling process `pid`'s resident memory (every 20 ms) and its CPU time.
    pub fn start(pid: u32) -> UsageSampler {
        let peak_kib = Arc::new(AtomicU64::new(resident_kib(pid).unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak_kib, stop) = (peak_kib.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = resident_kib(pid) {
                        peak_kib.fetch_max(kib, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        UsageSampler {
            pid,
            cpu_at_start: cpu_seconds(pid).unwrap_or(0.0),
            peak_kib,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops and answers the peak resident memory and the CPU time used since the start.
    pub fn finish(mut self) -> ProcessUsage {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(kib) = resident_kib(self.pid) {
            self.peak_kib.fetch_max(kib, Ordering::Relaxed);
        }
        ProcessUsage {
            peak_rss_mib: self.peak_kib.load(Ordering::Relaxed) as f64 / 1024.0,
            cpu_seconds: cpu_seconds(self.pid).unwrap_or(0.0) - self.cpu_at_start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let pid = std::process::id();
        assert!(resident_kib(pid).unwrap() > 0);
        assert!(peak_resident_kib(pid).unwrap() >= resident_kib(pid).unwrap() / 2);
        assert!(cpu_seconds(pid).is_some());
    }

    #[test]
    fn parses_cpu_time_after_a_name_with_spaces() {
        let stat = "42 (a b) c) S 1 1 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(cpu_seconds_from_stat(stat, 100.0), Some(3.0));
    }
}
