//! The handler an agent author writes, behind one object-safe trait.

use std::{future::Future, pin::Pin, sync::Arc};

use vos_protocol::Notification;

use crate::{Context, HandlerError};

/// What one attempt produced: the result object, or why it failed.
pub type HandlerResult = Result<serde_json::Value, HandlerError>;

/// An agent's work on one notification. Implemented for every
/// `Fn(Context, Notification) -> impl Future<Output = HandlerResult>`; the builder's
/// `handler` method takes such a closure directly.
pub trait Handler: Send + Sync + 'static {
    fn call(
        &self,
        ctx: Context,
        notification: Notification,
    ) -> Pin<Box<dyn Future<Output = HandlerResult> + Send + 'static>>;
}

impl<F, Fut> Handler for F
where
    F: Fn(Context, Notification) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    fn call(
        &self,
        ctx: Context,
        notification: Notification,
    ) -> Pin<Box<dyn Future<Output = HandlerResult> + Send + 'static>> {
        Box::pin(self(ctx, notification))
    }
}

pub(crate) type BoxHandler = Arc<dyn Handler>;
