//! The state store behind [`ClientLimiter`](super::ClientLimiter): governor's DashMap store of
//! one GCRA state per address, with a hard cap on entries.
//!
//! governor's own store inserts every new key, so a flood of distinct addresses (one IPv6 /64
//! holds 2^64) grows it until the next sweep. Here an address that finds the map full is
//! measured against one shared overflow state instead: memory is bounded by `max` entries, and
//! the addresses past the cap share one bucket (unauthenticated requests only, so callers
//! with a valid key never meet it).

use std::{
    net::IpAddr,
    sync::atomic::{AtomicUsize, Ordering},
};

use governor::{
    nanos::Nanos,
    state::{
        InMemoryState, NotKeyed, StateStore,
        keyed::{DashMapStateStore, ShrinkableKeyedStateStore},
    },
};

/// One GCRA state (theoretical arrival time) per address, at most `max` of them.
pub(super) struct CappedStore {
    map: DashMapStateStore<IpAddr>,
    /// Entries in `map` plus inserts in flight; kept by hand because `DashMap::len` locks every
    /// shard, and it decides the cap on every miss.
    slots: AtomicUsize,
    max: usize,
    /// The bucket shared by every address that found the map full.
    overflow: InMemoryState,
}

impl CappedStore {
    pub(super) fn new(max: usize) -> Self {
        Self {
            map: DashMapStateStore::default(),
            slots: AtomicUsize::new(0),
            max,
            overflow: InMemoryState::default(),
        }
    }

    /// Takes a slot for a new entry, unless the map is full.
    fn reserve(&self) -> bool {
        let max = self.max;
        self.slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }
}

impl StateStore for CappedStore {
    type Key = IpAddr;

    fn measure_and_replace<T, F, E>(&self, key: &IpAddr, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if let Some(state) = self.map.get(key) {
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        if !self.reserve() {
            return self.overflow.measure_and_replace(&NotKeyed::NonKey, f);
        }
        let mut inserted = false;
        let state = self.map.entry(*key).or_insert_with(|| {
            inserted = true;
            InMemoryState::default()
        });
        if !inserted {
            // Another request from the same address inserted it between `get` and `entry`.
            self.slots.fetch_sub(1, Ordering::AcqRel);
        }
        state.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

impl ShrinkableKeyedStateStore<IpAddr> for CappedStore {
    /// Drops the entries whose bucket is full again (arrival time at or before `drop_below`),
    /// as governor's DashMap store does, and gives their slots back.
    fn retain_recent(&self, drop_below: Nanos) {
        self.map.retain(|_, state| {
            let keep = arrival_time(state).is_some_and(|tat| tat > drop_below);
            if !keep {
                self.slots.fetch_sub(1, Ordering::AcqRel);
            }
            keep
        });
    }

    fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    /// The entries, from the slot count: cheap enough for a gauge on every scrape.
    fn len(&self) -> usize {
        self.slots.load(Ordering::Acquire)
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A state's theoretical arrival time, read without changing it: governor keeps the reader
/// private, but its measure step leaves the state alone when the decision is an error.
fn arrival_time(state: &InMemoryState) -> Option<Nanos> {
    state
        .measure_and_replace(&NotKeyed::NonKey, Err::<((), Nanos), _>)
        .err()
        .flatten()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    /// One GCRA step as governor takes it: 1 ns per cell, no burst beyond one.
    fn take(store: &CappedStore, key: IpAddr, now: u64) -> Result<(), Nanos> {
        store.measure_and_replace(&key, |tat| {
            let tat = tat.unwrap_or(Nanos::from(now));
            if tat > Nanos::from(now) {
                Err(tat)
            } else {
                Ok(((), Nanos::from(now + 1)))
            }
        })
    }

    fn address(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(i))
    }

    #[test]
    fn the_map_never_holds_more_than_max_entries() {
        let store = CappedStore::new(3);
        for i in 0..10 {
            let _ = take(&store, address(i), 1);
        }
        assert_eq!(store.map.len(), 3);
        assert_eq!(store.len(), 3);
        assert!(store.map.contains_key(&address(0)) && !store.map.contains_key(&address(3)));
    }

    #[test]
    fn addresses_past_the_cap_all_use_the_overflow_state() {
        let store = CappedStore::new(1);
        assert_eq!(take(&store, address(0), 1), Ok(()));
        assert_eq!(take(&store, address(1), 1), Ok(()));
        assert_eq!(take(&store, address(2), 1), Err(Nanos::from(2)));
        // The address with its own entry is unaffected by the overflow being spent.
        assert_eq!(take(&store, address(0), 2), Ok(()));
    }

    #[test]
    fn retain_recent_frees_the_slots_of_the_entries_it_drops() {
        let store = CappedStore::new(2);
        let _ = take(&store, address(0), 1); // arrival time 2
        let _ = take(&store, address(1), 5); // arrival time 6
        store.retain_recent(Nanos::from(3));
        assert_eq!((store.map.len(), store.len()), (1, 1));
        assert!(store.map.contains_key(&address(1)));
        assert_eq!(
            arrival_time(&store.map.get(&address(1)).unwrap()),
            Some(Nanos::from(6))
        );
        // The freed slot goes to the next new address rather than to the overflow.
        let _ = take(&store, address(2), 7);
        assert!(store.map.contains_key(&address(2)));
    }
}
