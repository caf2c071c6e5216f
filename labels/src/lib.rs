//! Bounded label values: the gateway and the agent runtime both export labels whose values
//! come from outside (agent ids, notification types, tool and model names). A [`LabelCap`]
//! keeps the first `max` distinct values and reports every later one as [`OVERFLOW`], so no
//! client or handler can grow the number of series without bound.

use std::{
    collections::HashSet,
    sync::{Arc, RwLock},
};

/// Label value for everything beyond a cap.
pub const OVERFLOW: &str = "_other";

/// Admits the first `max` distinct values; later ones become [`OVERFLOW`].
#[derive(Clone, Debug)]
pub struct LabelCap {
    max: usize,
    seen: Arc<RwLock<HashSet<Arc<str>>>>,
    overflow: Arc<str>,
}

impl LabelCap {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            seen: Arc::default(),
            overflow: Arc::from(OVERFLOW),
        }
    }

    pub fn label(&self, value: &str) -> Arc<str> {
        // Read lock first: after warm-up nearly every value is already known.
        if let Some(known) = self.seen.read().expect("label cap lock").get(value) {
            return known.clone();
        }
        let mut seen = self.seen.write().expect("label cap lock");
        if let Some(known) = seen.get(value) {
            return known.clone();
        }
        if seen.len() >= self.max {
            return self.overflow.clone();
        }
        let value: Arc<str> = Arc::from(value);
        seen.insert(value.clone());
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_cap_admits_the_first_values_then_overflows() {
        let cap = LabelCap::new(2);
        assert_eq!(&*cap.label("a"), "a");
        assert_eq!(&*cap.label("b"), "b");
        assert_eq!(&*cap.label("c"), OVERFLOW);
        assert_eq!(&*cap.label("a"), "a");
    }
}
