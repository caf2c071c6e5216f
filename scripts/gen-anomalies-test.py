#!/usr/bin/env python3
"""Writes deploy/prometheus/anomalies_test.yml, the promtool unit tests of the anomaly
rules (recording.yml baselines and z-scores, the VosAgent*Anomaly alerts in alerts.yml).

The input series are two days of one-minute counter samples following a daily pattern
(traffic and latency low at midnight, high at noon: a raised cosine in hourly steps), so
that the 1-day baselines are full when the second day is checked, with 20-minute
anomalies injected on the second day. The values are written in promtool's expanding
notation (`a+bxN`), one term per run of equal increments, which keeps two days of a
series on a few lines.

    scripts/gen-anomalies-test.py > deploy/prometheus/anomalies_test.yml

scripts/check-observability.sh regenerates it and fails when the committed file differs.
"""
import math

DAY = 24 * 60  # minutes
SPAN = 2 * DAY  # two days of samples, one a minute
SPIKE_AT = DAY + 9 * 60  # day 2, 09:00
SPIKE_LEN = 20  # minutes

# Histogram buckets of the test series (a subset of the gateway's 5 ms … 82 s).
BUCKETS = ["0.5", "1", "2.5", "5", "+Inf"]
BASE = 'job="vos-gateway", instance="gateway:8080"'


def phase(minute):
    """0 at midnight, 1 at noon, in hourly steps."""
    hour = (minute // 60) % 24
    return (1 - math.cos(2 * math.pi * hour / 24)) / 2


def normal(minute):
    """One minute of a normal day: (results, shares of the buckets, failed share)."""
    p = phase(minute)
    n = round(100 + 200 * p)  # 100 … 300 results a minute (1.7 … 5/s)
    slow = 0.01 + 0.14 * p  # (1, 2.5]: p95 from 0.9 s at night to 2.0 s at noon
    shares = {"0.5": 1 - 0.2 - slow, "1": 0.2, "2.5": slow, "5": 0.0}
    failed = 0.01 + 0.02 * p  # 1 % … 3 % failed
    return n, shares, failed


def latency_spike(minute):
    n, shares, failed = normal(minute)
    if SPIKE_AT <= minute < SPIKE_AT + SPIKE_LEN:
        # 30 % of the results take 2.5 … 5 s: p95 about 4.6 s.
        shares = {"0.5": 0.5, "1": 0.2, "2.5": 0.0, "5": 0.3}
    return n, shares, failed


def error_spike(minute):
    n, shares, failed = normal(minute)
    if SPIKE_AT <= minute < SPIKE_AT + SPIKE_LEN:
        failed = 0.30
    return n, shares, failed


def rare(minute):
    """3 results a minute (0.05/s, under the 0.1/s guard), all slow during the spike."""
    if SPIKE_AT <= minute < SPIKE_AT + SPIKE_LEN:
        return 3, {"0.5": 0.0, "1": 0.0, "2.5": 0.0, "5": 1.0}, 1.0
    return 3, {"0.5": 1.0, "1": 0.0, "2.5": 0.0, "5": 0.0}, 0.0


def steady(minute):
    """A flat baseline (stddev 0) and a shift of about 1 % in p95 during the spike: the
    stddev floor keeps this quiet, where a bare z-score would divide by zero."""
    if SPIKE_AT <= minute < SPIKE_AT + SPIKE_LEN:
        return 200, {"0.5": 0.0, "1": 1.0, "2.5": 0.0, "5": 0.0}, 0.0
    return 200, {"0.5": 0.3, "1": 0.7, "2.5": 0.0, "5": 0.0}, 0.0


def compress(values):
    """Cumulative samples as expanding-notation terms: `a+bxN` is a, a+b, … (N+1 values)."""
    terms, i = [], 0
    while i < len(values):
        j = i + 1
        if j < len(values):
            step = values[j] - values[i]
            while j + 1 < len(values) and values[j + 1] - values[j] == step:
                j += 1
            terms.append(f"{values[i]}+{step}x{j - i}")
            i = j + 1
        else:
            terms.append(str(values[i]))
            i = j
    return " ".join(terms)


def series_of(agent, pattern, notification_type="task"):
    """The end-to-end histogram (outcome completed) and the processing histogram counts
    (completed, failed) of one agent, as (series, values) pairs."""
    buckets = {le: [0] for le in BUCKETS}
    completed, failed = [0], [0]
    for minute in range(1, SPAN + 1):
        n, shares, failed_share = pattern(minute)
        counts = {le: round(n * shares[le]) for le in BUCKETS[:-1]}
        counts["+Inf"] = n - sum(counts.values())  # rounding left-overs above 5 s: none here
        cumulative = 0
        for le in BUCKETS:
            cumulative += counts[le]
            buckets[le].append(buckets[le][-1] + cumulative)
        f = round(n * failed_share)
        failed.append(failed[-1] + f)
        completed.append(completed[-1] + n - f)
    labels = f'{BASE}, agent_id="{agent}", notification_type="{notification_type}"'
    out = []
    for le in BUCKETS:
        out.append((f'vos_notification_end_to_end_duration_seconds_bucket{{{labels}, outcome="completed", le="{le}"}}', buckets[le]))
    out.append((f'vos_notification_processing_duration_seconds_count{{{labels}, outcome="completed"}}', completed))
    out.append((f'vos_notification_processing_duration_seconds_count{{{labels}, outcome="failed"}}', failed))
    return out


def input_series(agents):
    lines = ["    input_series:"]
    for agent, pattern in agents:
        for series, values in series_of(agent, pattern):
            lines.append(f"      - series: '{series}'")
            lines.append(f"        values: '{compress(values)}'")
    return lines


def hm(minute):
    return f"{minute // 60}h{minute % 60}m" if minute % 60 else f"{minute // 60}h"


def quiet(alertnames, minutes):
    lines = ["    alert_rule_test:"]
    for m in minutes:
        for name in alertnames:
            lines += [f"      - eval_time: {hm(m)}", f"        alertname: {name}", "        exp_alerts: []"]
    return lines


def firing(name, agent, summary, description, at):
    return [
        f"      - eval_time: {hm(at)}",
        f"        alertname: {name}",
        "        exp_alerts:",
        "          - exp_labels:",
        "              job: vos-gateway",
        f"              agent_id: {agent}",
        "              severity: warning",
        "            exp_annotations:",
        f'              summary: "{summary}"',
        f"              description: '{description}'",
    ]


LATENCY = "VosAgentLatencyAnomaly"
ERRORS = "VosAgentErrorRateAnomaly"
Z_LATENCY = "agent_id:vos_notification_end_to_end_duration_seconds:p95_rate5m_zscore1d"
Z_ERRORS = "agent_id:vos_notification_failures_per_results:ratio_rate5m_zscore1d"
P95 = "agent_id:vos_notification_end_to_end_duration_seconds:p95_rate5m"
# Every two hours over both days, the first (partial baseline) included.
EVERY_2H = list(range(60, SPAN, 120))
# Around the spike: before it, while it builds up, and after it has passed.
AROUND = [SPIKE_AT - 30, SPIKE_AT + 5, SPIKE_AT + 45, SPIKE_AT + 90]


def main():
    out = [
        "# Unit tests of the anomaly rules: promtool test rules deploy/prometheus/anomalies_test.yml",
        "# GENERATED by scripts/gen-anomalies-test.py: edit that and regenerate, do not edit here.",
        "#",
        "# Two days of one-minute samples per agent with a daily pattern (low at midnight, high",
        "# at noon); the checks on day 2 run against a full 1-day baseline. Spikes start on day",
        f"# 2 at {hm(SPIKE_AT)} and last {SPIKE_LEN} minutes.",
        "",
        "rule_files:",
        "  - recording.yml",
        "  - alerts.yml",
        "",
        "# Rules every 2 minutes (15 s in the compose stack): a day of baseline is 720 values",
        "# per series, and two days of evaluations take half the time they would at 1m.",
        "evaluation_interval: 2m",
        "# Recording rules first at each instant, so the alerts see this evaluation's scores",
        "# (Prometheus itself runs groups independently; promtool's order would be random).",
        "group_eval_order:",
        "  - vos-gateway-recording",
        "  - vos-gateway",
        "",
        "tests:",
        "  - name: a normal daily pattern stays quiet for two days",
        "    interval: 1m",
    ]
    out += input_series([("planner", normal)])
    out += quiet([LATENCY, ERRORS], EVERY_2H)
    out += [
        "    promql_expr_test:",
        "      # The baseline holds a full day of 5-minute values on day 2 ...",
        f"      - expr: count_over_time({P95}[1d]) >= bool 700",
        f"        eval_time: {hm(SPAN - 5)}",
        "        exp_samples:",
        '          - labels: \'{job="vos-gateway", agent_id="planner"}\'',
        "            value: 1",
        "      # ... over which p95 swings from 0.9 s at night to 2 s at noon ...",
        f"      - expr: max_over_time({P95}[1d]) - min_over_time({P95}[1d]) > bool 1",
        f"        eval_time: {hm(SPAN - 5)}",
        "        exp_samples:",
        '          - labels: \'{job="vos-gateway", agent_id="planner"}\'',
        "            value: 1",
        "      # ... and never scores 3 (the daily peak is part of the baseline).",
        f"      - expr: max_over_time({Z_LATENCY}[1d]) < bool 3",
        f"        eval_time: {hm(SPAN - 5)}",
        "        exp_samples:",
        '          - labels: \'{job="vos-gateway", agent_id="planner"}\'',
        "            value: 1",
        f"      - expr: max_over_time({Z_ERRORS}[1d]) < bool 3",
        f"        eval_time: {hm(SPAN - 5)}",
        "        exp_samples:",
        '          - labels: \'{job="vos-gateway", agent_id="planner"}\'',
        "            value: 1",
        "",
        "  - name: a 20-minute latency spike fires for that agent only (not on low traffic, not on a flat baseline's small shift)",
        "    interval: 1m",
    ]
    out += input_series([("planner", normal), ("weather", latency_spike), ("rare", rare), ("steady", steady)])
    out += quiet([LATENCY, ERRORS], AROUND)
    out += firing(
        LATENCY, "weather", "Agent weather is unusually slow",
        "The end-to-end p95 of agent weather is LATENCY_Z standard deviations above its average of the last day (for 10m). "
        "Compare agent_id:vos_notification_end_to_end_duration_seconds:p95_rate5m with its _avg1d.",
        SPIKE_AT + 18,
    )
    out += [
        f"      - eval_time: {hm(SPIKE_AT + 18)}",
        f"        alertname: {ERRORS}",
        "        exp_alerts: []",
        "    promql_expr_test:",
        "      # The low-traffic agent scores high, but the alert's traffic guard holds it back.",
        f'      - expr: {Z_LATENCY}{{agent_id="rare"}} >= bool 3',
        f"        eval_time: {hm(SPIKE_AT + 18)}",
        "        exp_samples:",
        '          - labels: \'{job="vos-gateway", agent_id="rare"}\'',
        "            value: 1",
        "      # The flat baseline's shift stays under 3 thanks to the stddev floor.",
        f'      - expr: {Z_LATENCY}{{agent_id="steady"}} < bool 3',
        f"        eval_time: {hm(SPIKE_AT + 18)}",
        "        exp_samples:",
        '          - labels: \'{job="vos-gateway", agent_id="steady"}\'',
        "            value: 1",
        "",
        "  - name: a 20-minute error spike fires the error-rate alert for that agent only",
        "    interval: 1m",
    ]
    out += input_series([("planner", normal), ("search", error_spike)])
    out += quiet([LATENCY, ERRORS], AROUND)
    out += firing(
        ERRORS, "search", "Agent search fails unusually often",
        "The share of failed results of agent search is ERRORS_Z standard deviations above its average of the last day (for 10m). "
        "Compare agent_id:vos_notification_failures_per_results:ratio_rate5m with its _avg1d.",
        SPIKE_AT + 18,
    )
    out += [
        f"      - eval_time: {hm(SPIKE_AT + 18)}",
        f"        alertname: {LATENCY}",
        "        exp_alerts: []",
    ]
    text = "\n".join(out) + "\n"
    # The scores at the check, as promtool computes them (pinned, see the description).
    text = text.replace("LATENCY_Z", LATENCY_Z).replace("ERRORS_Z", ERRORS_Z)
    print(text, end="")


LATENCY_Z = "5.4"
ERRORS_Z = "8.9"

if __name__ == "__main__":
    main()
