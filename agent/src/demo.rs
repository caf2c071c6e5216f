//! The demo agent's behaviour (`vos-agent-demo`), by notification type:
//! `echo` answers the payload; `weather` calls the `get_weather` tool and reports a model
//! call; `fail` fails every attempt; anything else answers `{"handled": type}`. A payload
//! field `sleep_ms` delays the answer first.

use std::time::Duration;

use serde_json::{Value, json};
use vos_protocol::Notification;

use crate::{Context, HandlerResult};

/// Longest `sleep_ms` honoured: a typo must not hold a delivery for hours.
const MAX_SLEEP: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
#[error("demo failure")]
pub struct DemoFailure;

/// The demo handler.
pub async fn handle(ctx: Context, notification: Notification) -> HandlerResult {
    let payload: Value = serde_json::from_str(notification.payload.get()).unwrap_or(Value::Null);
    if let Some(ms) = payload.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(Duration::from_millis(ms).min(MAX_SLEEP)).await;
    }
    match notification.notification_type.as_str() {
        "echo" => Ok(payload),
        "weather" => {
            let city = payload
                .get("city")
                .and_then(Value::as_str)
                .unwrap_or("Paris")
                .to_owned();
            let forecast = ctx.tool("get_weather", get_weather(city)).await?;
            ctx.llm_usage("demo-llm", 42, 7);
            Ok(json!({ "forecast": forecast }))
        }
        "fail" => Err(DemoFailure.into()),
        other => Ok(json!({ "handled": other })),
    }
}

/// A toy weather service: a deterministic temperature per city, after ~5 ms.
async fn get_weather(city: String) -> Result<Value, std::convert::Infallible> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let temp_c = city.bytes().map(u32::from).sum::<u32>() % 35;
    Ok(json!({ "city": city, "temp_c": temp_c, "conditions": "sunny" }))
}
