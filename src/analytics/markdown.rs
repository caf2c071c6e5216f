//! The summary as Markdown: tables and a bar chart that read well in a terminal as they are.

use std::fmt::Write;

use chrono::SecondsFormat;

use super::summary::Summary;

/// The widest bar of the per-hour histogram, in characters.
const BAR_WIDTH: i64 = 40;

pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let at = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let _ = writeln!(out, "# vos-gateway report\n");
    let _ = writeln!(out, "{} to {}\n", at(summary.from), at(summary.until));
    totals(&mut out, summary);
    let _ = writeln!(out, "## Busiest agents\n");
    table(
        &mut out,
        &["agent", "results", "busy (s)", "utilisation"],
        summary.busiest_agents.iter().map(|a| {
            vec![
                a.agent_id.clone(),
                a.results.to_string(),
                format!("{:.1}", a.busy_ms / 1000.0),
                format!("{:.1} %", a.utilisation * 100.0),
            ]
        }),
    );
    let _ = writeln!(out, "## Most requested notification types\n");
    table(
        &mut out,
        &["notification type", "count"],
        summary
            .notification_types
            .iter()
            .map(|t| vec![t.notification_type.clone(), t.count.to_string()]),
    );
    let _ = writeln!(out, "## Tool adoption\n");
    table(
        &mut out,
        &["tool", "calls", "errors", "agents"],
        summary.tools.iter().map(|t| {
            let row = [t.calls, t.errors, t.agents].map(|n| n.to_string());
            std::iter::once(t.tool.clone()).chain(row).collect()
        }),
    );
    let _ = writeln!(out, "## LLM tokens by model\n");
    table(
        &mut out,
        &["model", "calls", "input tokens", "output tokens"],
        summary.llm.iter().map(|m| {
            let row = [m.calls, m.input_tokens, m.output_tokens].map(|n| n.to_string());
            std::iter::once(m.model.clone()).chain(row).collect()
        }),
    );
    peak_hours(&mut out, summary);
    let _ = writeln!(out, "## Slowest operations\n");
    table(
        &mut out,
        &[
            "agent",
            "notification type",
            "count",
            "avg ms",
            "p95 ms",
            "max ms",
        ],
        summary.slowest_operations.iter().map(|o| {
            vec![
                o.agent_id.clone(),
                o.notification_type.clone(),
                o.count.to_string(),
                format!("{:.1}", o.avg_ms),
                format!("{:.1}", o.p95_ms),
                format!("{:.1}", o.max_ms),
            ]
        }),
    );
    let _ = writeln!(out, "## Worst error-rate windows (5 minutes)\n");
    table(
        &mut out,
        &[
            "window start",
            "service",
            "requests",
            "errors",
            "error rate",
        ],
        summary.worst_error_windows.iter().map(|w| {
            vec![
                at(w.bucket_start),
                w.service.clone(),
                w.requests.to_string(),
                w.errors.to_string(),
                format!("{:.1} %", w.error_rate),
            ]
        }),
    );
    out
}

fn totals(out: &mut String, summary: &Summary) {
    let t = &summary.totals;
    let ratio = t
        .success_ratio
        .map_or_else(|| "n/a".to_owned(), |r| format!("{:.1} %", r * 100.0));
    let _ = writeln!(out, "## Totals\n");
    table(
        out,
        &[
            "accepted",
            "published",
            "pending",
            "undelivered",
            "answered",
            "completed",
            "failed",
            "success ratio",
        ],
        std::iter::once(
            [
                t.accepted,
                t.published,
                t.pending,
                t.undelivered,
                t.answered,
                t.completed,
                t.failed,
            ]
            .map(|n| n.to_string())
            .into_iter()
            .chain([ratio])
            .collect(),
        ),
    );
}

fn peak_hours(out: &mut String, summary: &Summary) {
    let _ = writeln!(out, "## Peak hours (accepted per hour)\n");
    let most = summary
        .peak_hours
        .iter()
        .map(|h| h.accepted)
        .max()
        .unwrap_or(0);
    if most == 0 {
        let _ = writeln!(out, "(none)\n");
        return;
    }
    let _ = writeln!(out, "```");
    for hour in &summary.peak_hours {
        let width = ((hour.accepted * BAR_WIDTH + most - 1) / most) as usize;
        let _ = writeln!(
            out,
            "{}  {:>9}  {}",
            hour.hour.format("%Y-%m-%d %H:00"),
            hour.accepted,
            "█".repeat(width)
        );
    }
    let _ = writeln!(out, "```\n");
}

/// A Markdown table with its columns padded to their widest cell; `(none)` when empty.
fn table(out: &mut String, header: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.collect();
    if rows.is_empty() {
        let _ = writeln!(out, "(none)\n");
        return;
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:<width$}"))
            .collect();
        format!("| {} |", padded.join(" | "))
    };
    let _ = writeln!(
        out,
        "{}",
        line(header.iter().map(|h| (*h).to_owned()).collect())
    );
    let _ = writeln!(
        out,
        "{}",
        line(widths.iter().map(|w| "-".repeat(*w)).collect())
    );
    for row in rows {
        let _ = writeln!(out, "{}", line(row));
    }
    let _ = writeln!(out);
}
