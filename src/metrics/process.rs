//! Process metrics read from `/proc` at scrape time (Linux; elsewhere they stay 0).

use std::sync::atomic::AtomicU64;

use prometheus_client::{
    metrics::{counter::Counter, gauge::Gauge},
    registry::Registry,
};

#[derive(Clone, Default)]
pub struct ProcessMetrics {
    resident_memory: Gauge,
    cpu_seconds: Counter<f64, AtomicU64>,
    open_fds: Gauge,
    start_time: Gauge<f64, AtomicU64>,
}

impl ProcessMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            self.resident_memory.clone(),
        );
        registry.register(
            "process_cpu_seconds",
            "Total user and system CPU time in seconds",
            self.cpu_seconds.clone(),
        );
        registry.register(
            "process_open_fds",
            "Number of open file descriptors",
            self.open_fds.clone(),
        );
        registry.register(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch",
            self.start_time.clone(),
        );
    }

    pub fn refresh(&self) {
        let Some(stat) = read_stat() else { return };
        self.resident_memory.set(stat.rss_pages * page_size());
        // A counter only moves forward: add the difference since the last scrape.
        let previous = self.cpu_seconds.get();
        if stat.cpu_seconds > previous {
            self.cpu_seconds.inc_by(stat.cpu_seconds - previous);
        }
        self.start_time.set(stat.start_time);
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            self.open_fds.set(entries.count() as i64);
        }
    }
}

struct Stat {
    rss_pages: i64,
    cpu_seconds: f64,
    start_time: f64,
}

/// Clock ticks per second; Linux has used 100 on every mainstream platform for decades.
const TICKS_PER_SECOND: f64 = 100.0;

fn page_size() -> i64 {
    4096
}

fn read_stat() -> Option<Stat> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let number = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // Indices per proc(5), counted from field 3 (`state`) as 0.
    let (utime, stime, start_ticks, rss) = (number(11)?, number(12)?, number(19)?, number(21)?);
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("btime ")?.trim().parse::<f64>().ok())?;
    Some(Stat {
        rss_pages: rss as i64,
        cpu_seconds: (utime + stime) / TICKS_PER_SECOND,
        start_time: boot_time + start_ticks / TICKS_PER_SECOND,
    })
}
