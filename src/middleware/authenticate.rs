//! Authentication at the edge, authorisation per route.
//!
//! `identify` runs first for every request: it looks the key up (in memory) and records who
//! is calling, because the server span's parent depends on it (only trusted keys may continue
//! a caller's trace). `require(scope)` guards each `/api/v1` route: 503 until the keyring is
//! loaded, 401 (or 429 per client address once failures pile up), 403 without the scope, 429
//! over the key's rate; then the handler runs as the key's [`Principal`].

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{
    auth::{AuthFailure, KeyEntry, Keyring, Principal},
    config::ClientAddress,
    domain::Scope,
    error::ApiError,
    metrics::Metrics,
    privacy,
    ratelimit::{self, ClientLimiter, Decision, Quota},
    registry::Registry,
};

/// Who is calling, decided once per request before its span opens.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: Result<Arc<KeyEntry>, AuthFailure>,
    /// Whether the caller's `traceparent` may parent the request's span.
    pub trusted: bool,
    /// The client's address as `[privacy] client_address` says to record it, if at all.
    pub recorded_address: Option<Arc<str>>,
}

/// The agent's bucket a handler took from, for the response's RateLimit fields.
#[derive(Debug, Clone)]
pub struct AgentQuota(pub Quota);

/// How long a request that arrives while the gateway starts waits for keys and agents to be
/// loaded (milliseconds, normally) before it is answered 503.
const STARTUP_WAIT: Duration = Duration::from_secs(1);

/// What authentication needs, shared by every request.
#[derive(Clone)]
pub struct Gatekeeper {
    pub keyring: Keyring,
    /// Registered agents: routes that name one need them loaded too.
    pub registry: Registry,
    /// `[auth] required`; when false every request is unrestricted and trusted.
    pub required: bool,
    /// Failed authentications per client address.
    pub clients: Option<ClientLimiter>,
    pub metrics: Metrics,
    /// Whether (and how) the client's address is recorded on the span and the log line.
    pub client_address: ClientAddress,
}

pub async fn identify(
    State(gate): State<Gatekeeper>,
    mut request: Request,
    next: Next,
) -> Response {
    // A key that arrives while the gateway starts waits (briefly) for the keyring, rather than
    // being judged against an empty one.
    if request.headers().contains_key(header::AUTHORIZATION) && !gate.keyring.is_loaded() {
        gate.keyring.wait_loaded(STARTUP_WAIT).await;
    }
    let key = gate
        .keyring
        .authenticate(request.headers().get(header::AUTHORIZATION));
    let trusted = !gate.required || key.as_ref().is_ok_and(|key| key.grant.trust_trace_context);
    let recorded_address = gate.recorded_address(client_address(&request));
    request.extensions_mut().insert(Caller {
        key,
        trusted,
        recorded_address,
    });
    next.run(request).await
}

pub async fn require(
    State((gate, scope)): State<(Gatekeeper, Scope)>,
    mut request: Request,
    next: Next,
) -> Response {
    // Keys and agents are read once the schema exists: until then nothing can be authorised
    // or routed, and the answer is a 503 like any database outage.
    if !gate.is_loaded().await {
        return ApiError::NotReady.into_response();
    }
    if !gate.required {
        request.extensions_mut().insert(Principal::Unrestricted);
        return next.run(request).await;
    }
    let caller = request.extensions().get::<Caller>().map(|c| c.key.clone());
    let key = match caller.unwrap_or(Err(AuthFailure::Missing)) {
        Ok(key) => key,
        Err(failure) => return gate.refuse(failure, client_address(&request)),
    };
    if !key.grant.allows(scope) {
        return ApiError::Forbidden(scope.as_str()).into_response();
    }
    let quota = match key.limiter.as_deref().map(|limiter| limiter.check()) {
        Some(Decision::Limited(limited)) => {
            gate.metrics.limited("key");
            return ApiError::RateLimited(limited).into_response();
        }
        Some(Decision::Allowed(quota)) => Some(quota),
        None => None,
    };
    request.extensions_mut().insert(Principal::Key(key));
    let mut response = next.run(request).await;
    set_ratelimit_fields(&mut response, quota);
    response
}

impl Gatekeeper {
    /// The address as the privacy settings allow it to be recorded.
    fn recorded_address(&self, client: IpAddr) -> Option<Arc<str>> {
        match self.client_address {
            ClientAddress::Off => None,
            ClientAddress::Plain => Some(client.to_string().into()),
            ClientAddress::Pseudonym => privacy::policy()
                .pseudonym(&client.to_string())
                .map(Arc::from),
        }
    }

    /// Whether keys and agents are in memory, waiting a little for them at startup (a request
    /// can arrive between the listener opening and the first load).
    async fn is_loaded(&self) -> bool {
        if self.keyring.is_loaded() && self.registry.is_loaded() {
            return true;
        }
        let (keys, agents) = tokio::join!(
            self.keyring.wait_loaded(STARTUP_WAIT),
            self.registry.wait_loaded(STARTUP_WAIT)
        );
        keys && agents
    }

    /// A 401, or a 429 once this address has failed too often.
    fn refuse(&self, failure: AuthFailure, client: IpAddr) -> Response {
        self.metrics.auth_failed(failure.reason());
        if let Some(clients) = &self.clients {
            let decision = clients.check(client);
            self.metrics
                .ratelimit_tracked_clients
                .set(clients.tracked() as i64);
            if let Decision::Limited(limited) = decision {
                self.metrics.limited("client");
                return ApiError::RateLimited(limited).into_response();
            }
        }
        ApiError::Unauthorized(failure.detail()).into_response()
    }
}

/// `RateLimit-Policy` and `RateLimit` for the key's bucket and, on notify, the agent's. A 429
/// already carries the fields of the policy that refused it.
fn set_ratelimit_fields(response: &mut Response, key: Option<Quota>) {
    if response.status() == axum::http::StatusCode::TOO_MANY_REQUESTS {
        return;
    }
    let agent = response
        .extensions_mut()
        .remove::<AgentQuota>()
        .map(|q| q.0);
    let quotas: Vec<Quota> = key.into_iter().chain(agent).collect();
    if quotas.is_empty() {
        return;
    }
    let headers = response.headers_mut();
    headers.insert("ratelimit-policy", ratelimit::policy_header(&quotas));
    headers.insert("ratelimit", ratelimit::ratelimit_header(&quotas));
}

/// The TCP peer (the server records it per connection); behind a proxy that is the proxy.
fn client_address(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip())
}
