//! The keyring: every key, in memory, looked up by its hash on each request. Postgres holds
//! the truth; each replica reloads its copy when the `api_keys` version moves, so checking a
//! key costs one HMAC and one hash-map lookup, never a query.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, RwLock},
    time::Duration,
};

use axum::http::HeaderValue;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    domain::{ApiKey, Grant, KeyFormatError, KeyHasher},
    error::MISSING_KEY,
    ratelimit::{Limiter, Rate},
    store::{StoreError, changes::Loaded, keys},
};

/// A key as the request path sees it.
#[derive(Debug)]
pub struct KeyEntry {
    pub key_id: Uuid,
    pub name: String,
    /// `vos_` + 8 characters: what logs, spans and listings show of the key.
    pub display_prefix: Arc<str>,
    pub grant: Grant,
    pub revoked: bool,
    /// The key's own bucket (its `--rate`, else `[rate_limit] per_key`); `None` when unlimited.
    pub limiter: Option<Arc<Limiter>>,
}

/// Why a request is not authenticated; the label of `vos_auth_failures_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Malformed,
    Checksum,
    Unknown,
    Revoked,
}

impl AuthFailure {
    pub const ALL: [Self; 5] = [
        Self::Missing,
        Self::Malformed,
        Self::Checksum,
        Self::Unknown,
        Self::Revoked,
    ];

    /// The problem `detail` of the 401; it never repeats what was sent.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Missing => MISSING_KEY,
            Self::Malformed => "the key is not a well-formed vos_ key",
            Self::Checksum => "the key's checksum does not match (a typo?)",
            Self::Unknown => "the key is not known",
            Self::Revoked => "the key was revoked",
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Checksum => "checksum",
            Self::Unknown => "unknown",
            Self::Revoked => "revoked",
        }
    }
}

type Keys = HashMap<[u8; 32], Arc<KeyEntry>>;

/// Shared by every request; cheap to clone.
#[derive(Clone)]
pub struct Keyring(Arc<Inner>);

struct Inner {
    hasher: KeyHasher,
    default_rate: Option<Rate>,
    keys: RwLock<Arc<Keys>>,
    loaded: Loaded,
}

impl Keyring {
    pub fn new(hasher: KeyHasher, default_rate: Option<Rate>) -> Self {
        Self(Arc::new(Inner {
            hasher,
            default_rate,
            keys: RwLock::default(),
            loaded: Loaded::default(),
        }))
    }

    pub fn hasher(&self) -> &KeyHasher {
        &self.0.hasher
    }

    /// Whether the keys have been read at least once; until then nothing can be authorised.
    pub fn is_loaded(&self) -> bool {
        self.0.loaded.get()
    }

    /// Waits until the keys are loaded, at most `within`; whether they are.
    pub async fn wait_loaded(&self, within: Duration) -> bool {
        self.0.loaded.wait(within).await
    }

    /// The key an `Authorization` header carries. A malformed key or a bad checksum is
    /// refused before any lookup.
    pub fn authenticate(
        &self,
        authorization: Option<&HeaderValue>,
    ) -> Result<Arc<KeyEntry>, AuthFailure> {
        let value = authorization.ok_or(AuthFailure::Missing)?;
        let token = bearer_token(value).ok_or(AuthFailure::Malformed)?;
        let key = ApiKey::parse(token).map_err(|error| match error {
            KeyFormatError::Malformed => AuthFailure::Malformed,
            KeyFormatError::Checksum => AuthFailure::Checksum,
        })?;
        let hash = self.0.hasher.hash(&key);
        let keys = self.0.keys.read().expect("keyring lock").clone();
        let entry = keys.get(&hash).ok_or(AuthFailure::Unknown)?;
        if entry.revoked {
            return Err(AuthFailure::Revoked);
        }
        Ok(entry.clone())
    }

    /// Reads every key again. A key whose rate did not change keeps its bucket, so a reload
    /// (for another key's change) does not hand anyone a fresh burst.
    pub async fn reload(&self, pool: &PgPool) -> Result<(), StoreError> {
        let records = keys::all(pool).await?;
        let previous = self.0.keys.read().expect("keyring lock").clone();
        let mut next = Keys::with_capacity(records.len());
        for (hash, record) in records {
            let own = record
                .rate_per_second
                .and_then(NonZeroU32::new)
                .map(|count| Rate {
                    count,
                    period: Duration::from_secs(1),
                });
            let rate = own.or(self.0.default_rate);
            let limiter = match previous.get(&hash).and_then(|old| old.limiter.clone()) {
                Some(kept) if Some(kept.rate()) == rate => Some(kept),
                _ => rate.map(|rate| Arc::new(Limiter::new("key", rate))),
            };
            let entry = KeyEntry {
                key_id: record.key_id,
                name: record.name,
                display_prefix: record.display_prefix.into(),
                grant: record.grant,
                revoked: record.revoked_at.is_some(),
                limiter,
            };
            next.insert(hash, Arc::new(entry));
        }
        *self.0.keys.write().expect("keyring lock") = Arc::new(next);
        self.0.loaded.set();
        Ok(())
    }
}

/// `Bearer <token>`, the scheme matched case-insensitively (RFC 9110 § 11.1).
fn bearer_token(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_matches(' '))
}
