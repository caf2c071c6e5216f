//! Queries on `api_keys`. Keys are never deleted, only revoked, so that a revoked key is
//! recognised (and reported as revoked) rather than unknown.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{AgentPattern, Grant, Scope};

/// A key as stored: everything but the key itself.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub key_id: Uuid,
    pub name: String,
    pub display_prefix: String,
    pub grant: Grant,
    /// Requests per second for this key; `None` means the configured default.
    pub rate_per_second: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key about to be stored.
pub struct NewKey<'a> {
    pub name: &'a str,
    pub display_prefix: &'a str,
    pub hash: [u8; 32],
    pub grant: &'a Grant,
    pub rate_per_second: Option<u32>,
}

#[derive(sqlx::FromRow)]
struct Row {
    key_id: Uuid,
    name: String,
    display_prefix: String,
    key_hash: Vec<u8>,
    scopes: Vec<String>,
    agents: Vec<String>,
    rate_per_second: Option<i32>,
    trust_trace_context: bool,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "key_id, name, display_prefix, key_hash, scopes, agents, rate_per_second, \
                       trust_trace_context, created_at, revoked_at";

impl Row {
    fn into_record(self) -> Result<([u8; 32], KeyRecord), StoreError> {
        let decode = |problem: String| StoreError::Query(sqlx::Error::Decode(problem.into()));
        let hash: [u8; 32] = self
            .key_hash
            .try_into()
            .map_err(|_| decode("key_hash is not 32 bytes".into()))?;
        let scopes = self
            .scopes
            .iter()
            .map(|scope| scope.parse::<Scope>())
            .collect::<Result<_, _>>()
            .map_err(decode)?;
        let agents = self
            .agents
            .iter()
            .map(|pattern| AgentPattern::parse(pattern))
            .collect::<Result<_, _>>()
            .map_err(decode)?;
        let record = KeyRecord {
            key_id: self.key_id,
            name: self.name,
            display_prefix: self.display_prefix,
            grant: Grant {
                scopes,
                agents,
                trust_trace_context: self.trust_trace_context,
            },
            rate_per_second: self.rate_per_second.map(|rate| rate as u32),
            created_at: self.created_at,
            revoked_at: self.revoked_at,
        };
        Ok((hash, record))
    }
}

/// Stores a new key; returns its record.
pub async fn insert(pool: &PgPool, key: NewKey<'_>) -> Result<KeyRecord, StoreError> {
    let row = insert_where(pool, &key, true)
        .await?
        .expect("an unconditional insert returns its row");
    Ok(row.into_record()?.1)
}

/// Stores `key` only if no key exists yet (the first start's admin key); `false` if one did.
/// Replicas starting together serialise on an advisory lock, so exactly one stores its key.
pub async fn insert_first(pool: &PgPool, key: NewKey<'_>) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("select pg_advisory_xact_lock(hashtext('vos_gateway.first_key'))")
        .execute(&mut *tx)
        .await?;
    let inserted = insert_where(&mut *tx, &key, false).await?.is_some();
    tx.commit().await?;
    Ok(inserted)
}

/// The insert, unconditional or only into an empty table.
async fn insert_where<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    key: &NewKey<'_>,
    always: bool,
) -> Result<Option<Row>, StoreError> {
    let sql = format!(
        "insert into api_keys (key_id, name, display_prefix, key_hash, scopes, agents, \
             rate_per_second, trust_trace_context) \
         select $1, $2, $3, $4, $5, $6, $7, $8 \
         where $9 or not exists (select 1 from api_keys) \
         returning {COLUMNS}"
    );
    let scopes: Vec<&str> = key.grant.scopes.iter().map(|s| s.as_str()).collect();
    let agents: Vec<&str> = key.grant.agents.iter().map(|p| p.as_str()).collect();
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(Uuid::now_v7())
        .bind(key.name)
        .bind(key.display_prefix)
        .bind(&key.hash[..])
        .bind(scopes)
        .bind(agents)
        .bind(key.rate_per_second.map(|rate| rate as i32))
        .bind(key.grant.trust_trace_context)
        .bind(always)
        .fetch_optional(executor)
        .await?)
}

/// Every key, revoked ones included (the keyring reports them as revoked), oldest first.
pub async fn all(pool: &PgPool) -> Result<Vec<([u8; 32], KeyRecord)>, StoreError> {
    let sql = format!("select {COLUMNS} from api_keys order by created_at");
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?;
    rows.into_iter().map(Row::into_record).collect()
}

/// Why a revocation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("no key matches `{0}`")]
    NotFound(String),
    #[error("`{0}` matches more than one key; use the key id")]
    Ambiguous(String),
    #[error("give the key id, or at least the first 8 characters of its prefix (`vos_…`)")]
    TooShort,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Revokes the key with this id, or the one key whose display prefix starts with `id_or_prefix`.
/// Revoking a revoked key changes nothing and succeeds.
pub async fn revoke(pool: &PgPool, id_or_prefix: &str) -> Result<KeyRecord, RevokeError> {
    if id_or_prefix.len() < 8 {
        return Err(RevokeError::TooShort);
    }
    let sql = format!(
        "select {COLUMNS} from api_keys \
         where key_id::text = $1 or starts_with(display_prefix, $1) limit 2"
    );
    let matches: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id_or_prefix)
        .fetch_all(pool)
        .await
        .map_err(StoreError::from)?;
    let row = match matches.len() {
        0 => return Err(RevokeError::NotFound(id_or_prefix.to_owned())),
        1 => matches.into_iter().next().expect("one row"),
        _ => return Err(RevokeError::Ambiguous(id_or_prefix.to_owned())),
    };
    let sql = format!(
        "update api_keys set revoked_at = coalesce(revoked_at, now()) where key_id = $1 \
         returning {COLUMNS}"
    );
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(row.key_id)
        .fetch_one(pool)
        .await
        .map_err(StoreError::from)?;
    Ok(row.into_record()?.1)
}
