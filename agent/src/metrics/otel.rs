//! The same instruments as the Prometheus families, on the global OpenTelemetry meter, so an
//! OTLP collector gets them too. OTel names are dotted with a unit; the Collector's
//! Prometheus exporter maps them back to the names `/metrics` shows.

use opentelemetry::{
    global,
    metrics::{Counter, Gauge, Histogram, UpDownCounter},
};

use super::families::processing_buckets;

pub(super) struct Instruments {
    pub received: Counter<u64>,
    pub processed: Counter<u64>,
    pub failed: Counter<u64>,
    pub duration: Histogram<f64>,
    pub tool_executions: Counter<u64>,
    pub tool_duration: Histogram<f64>,
    pub llm_calls: Counter<u64>,
    pub llm_tokens: Counter<u64>,
    pub in_use: UpDownCounter<i64>,
    pub capacity: Gauge<i64>,
    pub duplicates: Counter<u64>,
    pub dead_lettered: Counter<u64>,
    pub connected: Gauge<i64>,
}

impl Instruments {
    /// Instruments from whatever meter provider is global now (the no-op one if none).
    pub(super) fn new() -> Self {
        let meter = global::meter("vos-agent");
        let counter = |name: &'static str, unit: &'static str| {
            meter.u64_counter(name).with_unit(unit).build()
        };
        let seconds = |name: &'static str| {
            meter
                .f64_histogram(name)
                .with_unit("s")
                .with_boundaries(processing_buckets())
                .build()
        };
        Self {
            received: counter("vos.agent.notifications.received", "{notification}"),
            processed: counter("vos.agent.notifications.processed", "{notification}"),
            failed: counter("vos.agent.notifications.failed", "{notification}"),
            duration: seconds("vos.agent.processing.duration"),
            tool_executions: counter("vos.agent.tool.executions", "{execution}"),
            tool_duration: seconds("vos.agent.tool.duration"),
            llm_calls: counter("vos.agent.llm.calls", "{call}"),
            llm_tokens: counter("vos.agent.llm.tokens", "{token}"),
            in_use: meter
                .i64_up_down_counter("vos.agent.capacity.in_use")
                .with_unit("{handler}")
                .build(),
            capacity: meter
                .i64_gauge("vos.agent.capacity")
                .with_unit("{handler}")
                .build(),
            duplicates: counter("vos.agent.duplicates.dropped", "{message}"),
            dead_lettered: counter("vos.agent.dead_lettered", "{message}"),
            connected: meter.i64_gauge("vos.agent.amqp.connected").build(),
        }
    }
}
