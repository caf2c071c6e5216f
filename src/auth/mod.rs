//! Access control on the request path: the keyring every replica keeps in memory, issuing
//! keys, and the principal a request acts as. The key format and what a key grants are
//! domain values (`domain::ApiKey`, `domain::Grant`).

mod issue;
mod keyring;
mod principal;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub use issue::{KeyRequest, bootstrap, issue};
pub use keyring::{AuthFailure, KeyEntry, Keyring};
pub use principal::Principal;

use crate::{
    background::Stage,
    config::Settings,
    domain::{ApiKey, KeyHasher},
    store::{
        Schema,
        changes::{self, Table},
    },
};

/// Starts the keyring: on a first start against an empty key table it stores the bootstrap
/// admin key (and shows a generated one once, on standard error), then mirrors `api_keys`.
pub fn spawn(
    pool: PgPool,
    settings: &Settings,
    schema: Schema,
    shutdown: CancellationToken,
) -> (Keyring, Stage) {
    let keyring = Keyring::new(
        KeyHasher::new(settings.auth.pepper.expose()),
        settings.rate_limit.per_key,
    );
    // Validated with the rest of the settings, so a bad value never reaches this point.
    let configured = ApiKey::parse(settings.auth.bootstrap_admin_key.expose()).ok();
    let bootstrap_pending = Arc::new(AtomicBool::new(settings.auth.required));
    let reload = {
        let (keyring, pool) = (keyring.clone(), pool.clone());
        move || {
            let (keyring, pool) = (keyring.clone(), pool.clone());
            let (configured, pending) = (configured.clone(), bootstrap_pending.clone());
            async move {
                if pending.load(Ordering::Acquire) {
                    let generated = bootstrap(&pool, keyring.hasher(), configured.as_ref()).await?;
                    pending.store(false, Ordering::Release);
                    if let Some(key) = generated {
                        show_first_key(&key);
                    }
                }
                keyring.reload(&pool).await
            }
        }
    };
    let stage = changes::mirror(
        pool,
        Table::ApiKeys,
        schema,
        settings.auth.refresh_interval,
        settings.database.deadline() + Duration::from_secs(1),
        shutdown,
        reload,
    );
    (keyring, stage)
}

/// The generated first admin key goes to the terminal once, never into the JSON log stream
/// (standard output) and never again: it is not stored anywhere.
fn show_first_key(key: &ApiKey) {
    eprintln!(
        "\nvos-gateway: no API key existed, so this admin key was created. It is shown once;\n\
         keep it (e.g. export VOS_KEY=...), or set VOS_BOOTSTRAP_ADMIN_KEY before the first start.\n\n    {}\n",
        key.expose()
    );
    tracing::warn!(
        key_prefix = key.display_prefix(),
        "created the first admin key and showed it on standard error"
    );
}
