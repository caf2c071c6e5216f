//! The Prometheus metric families, declared once with their exported names and help.
//! prometheus-client appends `_total` to counters.

use prometheus_client::{
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use super::labels::{
    AgentLabels, ModelLabels, OutcomeLabels, TokenLabels, ToolLabels, ToolStatusLabels, TypeLabels,
};

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 5 ms … ~82 s, doubling: agent work (tools, model calls) takes far longer than a request.
pub(super) fn processing_buckets() -> Vec<f64> {
    exponential_buckets(0.005, 2.0, 15).collect()
}

fn processing_histogram() -> Histogram {
    Histogram::new(processing_buckets())
}

/// Declares the `Families` struct and registers each field under its name.
macro_rules! families {
    ($( $field:ident: $ty:ty = $init:expr => $name:literal, $help:literal; )*) => {
        pub(super) struct Families {
            $( pub $field: $ty, )*
        }

        impl Families {
            pub(super) fn new() -> Self {
                Self { $( $field: $init, )* }
            }

            pub(super) fn register(&self, registry: &mut Registry) {
                $( registry.register($name, $help, self.$field.clone()); )*
            }
        }
    };
}

families! {
    received: Family<TypeLabels, Counter> = Family::default()
        => "vos_agent_notifications_received", "Notification deliveries taken from the agent's queue (duplicates excluded)";
    processed: Family<OutcomeLabels, Counter> = Family::default()
        => "vos_agent_notifications_processed", "Notifications settled with a result (completed or failed) and acknowledged";
    failed: Family<TypeLabels, Counter> = Family::default()
        => "vos_agent_notifications_failed", "Notifications that failed every attempt (or could not be read) and were dead-lettered";
    duration: Histograms<OutcomeLabels> = Family::new_with_constructor(processing_histogram)
        => "vos_agent_processing_duration_seconds", "Time from delivery to result, all attempts and retry pauses included";
    tool_executions: Family<ToolStatusLabels, Counter> = Family::default()
        => "vos_agent_tool_executions", "Tool calls made by handlers";
    tool_duration: Histograms<ToolLabels> = Family::new_with_constructor(processing_histogram)
        => "vos_agent_tool_duration_seconds", "Duration of one tool call";
    llm_calls: Family<ModelLabels, Counter> = Family::default()
        => "vos_agent_llm_calls", "Language-model calls reported by handlers";
    llm_tokens: Family<TokenLabels, Counter> = Family::default()
        => "vos_agent_llm_tokens", "Language-model tokens reported by handlers";
    in_use: Family<AgentLabels, Gauge> = Family::default()
        => "vos_agent_capacity_in_use", "Handlers running now";
    capacity: Family<AgentLabels, Gauge> = Family::default()
        => "vos_agent_capacity", "Most handlers that may run at once (also the prefetch)";
    duplicates: Family<AgentLabels, Counter> = Family::default()
        => "vos_agent_duplicates_dropped", "Deliveries acknowledged without handling: their message id was already completed or in progress";
    dead_lettered: Family<AgentLabels, Counter> = Family::default()
        => "vos_agent_dead_lettered", "Messages moved to the agent's dead-letter queue";
    connected: Family<AgentLabels, Gauge> = Family::default()
        => "vos_agent_amqp_connected", "1 while the agent holds an AMQP connection and consumes its queue";
}
