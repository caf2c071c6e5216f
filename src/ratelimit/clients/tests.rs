use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;

fn limiter(rate: &str, max_clients: usize) -> ClientLimiter {
    ClientLimiter::new(rate.parse().unwrap(), max_clients)
}

/// Address `i`: even numbers IPv4, odd numbers IPv6 (each in a /64 of its own), all distinct.
fn address(i: u32) -> IpAddr {
    if i.is_multiple_of(2) {
        IpAddr::V4(Ipv4Addr::from(i))
    } else {
        IpAddr::V6(Ipv6Addr::from(
            (0x2001_0db8_u128 << 96) | (u128::from(i) << 64),
        ))
    }
}

#[test]
fn the_addresses_of_one_ipv6_slash_64_share_a_bucket() {
    let limiter = limiter("2/h", 10);
    let host = |low: u128| IpAddr::V6(Ipv6Addr::from((0x2001_0db8_u128 << 96) | low));
    assert!(allowed(limiter.check(host(1))) && allowed(limiter.check(host(2))));
    assert!(
        !allowed(limiter.check(host(3))),
        "a third address of the /64 is the same client"
    );
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
    assert!(allowed(limiter.check(mapped)));
    assert!(allowed(
        limiter.check(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
    ));
    assert!(
        !allowed(limiter.check(mapped)),
        "a mapped IPv4 address is that IPv4 client"
    );
    assert_eq!(limiter.tracked(), 2);
}

fn allowed(decision: Decision) -> bool {
    matches!(decision, Decision::Allowed(_))
}

#[test]
fn distinct_addresses_have_independent_buckets() {
    let limiter = limiter("2/h", 10);
    let (a, b) = (address(1), address(2));
    assert!(allowed(limiter.check(a)) && allowed(limiter.check(a)));
    let Decision::Limited(limited) = limiter.check(a) else {
        panic!("a third request in the hour was allowed");
    };
    assert_eq!(limited.policy, "client");
    assert!(allowed(limiter.check(b)));
    assert_eq!(limiter.tracked(), 2);
}

#[test]
fn past_max_clients_new_addresses_share_one_overflow_bucket() {
    let limiter = limiter("1/h", 2);
    assert!(allowed(limiter.check(address(1))));
    assert!(allowed(limiter.check(address(2))));
    // The map is full: the next new address spends the overflow bucket, the one after finds
    // it spent, and neither gets an entry.
    assert!(allowed(limiter.check(address(3))));
    assert!(!allowed(limiter.check(address(4))));
    assert!(!allowed(limiter.check(address(5))));
    assert_eq!(limiter.tracked(), 2);
    // Addresses with their own bucket keep it.
    assert!(!allowed(limiter.check(address(1))));
}

#[test]
fn a_sweep_drops_addresses_whose_bucket_is_full_again() {
    let limiter = limiter("1000/s", 5);
    for i in 0..5 {
        assert!(allowed(limiter.check(address(i))));
    }
    assert_eq!(limiter.tracked(), 5);
    // One request takes 1 ms to replenish; after that the buckets are as good as new.
    std::thread::sleep(Duration::from_millis(20));
    limiter.sweep();
    assert_eq!(limiter.tracked(), 0);
    // The freed room goes to new addresses again.
    assert!(allowed(limiter.check(address(100))));
    assert_eq!(limiter.tracked(), 1);
}

#[test]
fn a_sweep_keeps_addresses_that_are_still_limited() {
    let limiter = limiter("1/h", 5);
    assert!(allowed(limiter.check(address(1))));
    limiter.sweep();
    assert_eq!(limiter.tracked(), 1);
    assert!(!allowed(limiter.check(address(1))));
}

#[tokio::test]
async fn the_sweeper_stage_sweeps_until_shutdown() {
    let limiter = limiter("1000/s", 5);
    limiter.check(address(1));
    let shutdown = CancellationToken::new();
    let mut stages = crate::background::Stages::default();
    stages.push(limiter.spawn_sweeper(Duration::from_millis(5), shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while limiter.tracked() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(limiter.tracked(), 0);
    shutdown.cancel();
    stages.join(deadline).await;
}

/// Resident set size from `/proc/self/statm` (second field, in 4 KiB pages).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

const MIB: f64 = 1024.0 * 1024.0;

/// Set in the copy of the test binary that does the measuring.
const MEASURING: &str = "VOS_RATELIMIT_MEASURE_RSS";

/// RSS belongs to the whole process, and the other tests share it (a `should_panic` test with
/// `RUST_BACKTRACE=1` alone adds ~170 MiB of symbols), so the measuring is done by a fresh copy
/// of this binary running only this test. The figures in docs/ratelimit-notes.md come from
/// `cargo test --lib ratelimit::clients::tests::a_million -- --nocapture`.
#[test]
fn a_million_distinct_addresses_stay_within_max_clients_and_64_mib() {
    if std::env::var_os(MEASURING).is_some() {
        return measure_a_million_addresses();
    }
    let (_, module) = module_path!().split_once("::").expect("crate::module");
    let this = format!("{module}::a_million_distinct_addresses_stay_within_max_clients_and_64_mib");
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([&this, "--exact", "--nocapture", "--test-threads=1"])
        .env(MEASURING, "1")
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&child.stdout);
    let report = stdout
        .lines()
        .find(|line| line.contains("ratelimit memory"));
    println!("{}", report.unwrap_or("no report"));
    assert!(
        child.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(report.is_some(), "the measuring copy ran no test: {stdout}");
}

fn measure_a_million_addresses() {
    const MAX_CLIENTS: usize = 100_000;
    const ADDRESSES: u32 = 1_000_000;
    let limiter = limiter("1000/s", MAX_CLIENTS);
    let before = rss_bytes();
    for i in 0..MAX_CLIENTS as u32 {
        limiter.check(address(i));
    }
    let filled = rss_bytes();
    for i in MAX_CLIENTS as u32..ADDRESSES {
        limiter.check(address(i));
    }
    let flooded = rss_bytes();
    assert!(limiter.tracked() <= MAX_CLIENTS, "{}", limiter.tracked());
    // At 1000/s every bucket is full again 1 ms after its last request: the sweep drops all.
    std::thread::sleep(Duration::from_millis(20));
    let started = std::time::Instant::now();
    limiter.sweep();
    let sweep = started.elapsed();
    let swept = rss_bytes();

    let mib = |bytes: u64| bytes as f64 / MIB;
    let entry = std::mem::size_of::<(IpAddr, governor::state::InMemoryState)>();
    println!(
        "ratelimit memory: {ADDRESSES} distinct addresses (half IPv4, half IPv6), max_clients \
         {MAX_CLIENTS}. RSS before {:.1} MiB; after the first {MAX_CLIENTS}: +{:.1} MiB \
         ({:.0} B/entry, key+state {entry} B); after all {ADDRESSES}: +{:.1} MiB, tracked {}; \
         sweep dropping {MAX_CLIENTS} entries took {sweep:?}, then +{:.1} MiB, tracked {}",
        mib(before),
        mib(filled - before),
        (filled - before) as f64 / MAX_CLIENTS as f64,
        mib(flooded.saturating_sub(before)),
        MAX_CLIENTS,
        mib(swept.saturating_sub(before)),
        limiter.tracked(),
    );
    assert!(flooded.saturating_sub(before) < 64 << 20);
}
