//! Issuing keys, for the CLI, the keys API and the first start alike.

use sqlx::PgPool;

use crate::{
    domain::{AgentPattern, ApiKey, Grant, KeyHasher, Scope},
    store::{
        StoreError,
        keys::{self, KeyRecord, NewKey},
    },
};

/// What a new key may do.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    pub name: String,
    pub grant: Grant,
    /// Requests per second; `None` means `[rate_limit] per_key`.
    pub rate_per_second: Option<u32>,
}

/// Creates a key and stores its hash; the key itself is returned once and kept nowhere.
pub async fn issue(
    pool: &PgPool,
    hasher: &KeyHasher,
    request: &KeyRequest,
) -> Result<(ApiKey, KeyRecord), StoreError> {
    let key = ApiKey::generate();
    let record = keys::insert(pool, new_key(hasher, &key, request)).await?;
    Ok((key, record))
}

/// On a first start against an empty key table: stores `configured` (from
/// `VOS_BOOTSTRAP_ADMIN_KEY`) or a generated admin key. Returns the key when it was generated
/// here, for the caller to show once; `None` when a key existed already or the configured one
/// was used. Replicas starting together store exactly one.
pub async fn bootstrap(
    pool: &PgPool,
    hasher: &KeyHasher,
    configured: Option<&ApiKey>,
) -> Result<Option<ApiKey>, StoreError> {
    let request = KeyRequest {
        name: "bootstrap admin".into(),
        grant: Grant {
            scopes: vec![Scope::Admin],
            agents: vec![AgentPattern::any()],
            trust_trace_context: false,
        },
        rate_per_second: None,
    };
    let generated = configured.is_none().then(ApiKey::generate);
    let key = configured.or(generated.as_ref()).expect("one of the two");
    let stored = keys::insert_first(pool, new_key(hasher, key, &request)).await?;
    Ok(if stored { generated } else { None })
}

fn new_key<'a>(hasher: &KeyHasher, key: &'a ApiKey, request: &'a KeyRequest) -> NewKey<'a> {
    NewKey {
        name: &request.name,
        display_prefix: key.display_prefix(),
        hash: hasher.hash(key),
        grant: &request.grant,
        rate_per_second: request.rate_per_second,
    }
}
