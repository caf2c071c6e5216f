//! Reading `/metrics`: the exposition as text, and the samples of one metric in it.

use reqwest::Method;

use super::GatewayClient;

/// The whole `/metrics` exposition, in the Prometheus text format.
pub async fn scrape(gateway: &GatewayClient) -> String {
    scrape_as(gateway, None).await.1
}

/// `/metrics` in the format `accept` asks for: its content type and its text.
pub async fn scrape_as(gateway: &GatewayClient, accept: Option<&str>) -> (String, String) {
    let mut request = gateway.request(Method::GET, "/metrics");
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.expect("/metrics");
    assert_eq!(response.status(), 200, "/metrics");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.text().await.unwrap())
}

/// The sum of every sample of `name` on `/metrics` (all label sets).
pub async fn metric(gateway: &GatewayClient, name: &str) -> f64 {
    metric_value(&scrape(gateway).await, name)
}

/// Sums the samples of `name` (with or without labels) in a Prometheus text exposition.
pub fn metric_value(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let metric = series.split('{').next()?;
            (metric == name).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// Sums the samples of `name` whose labels include `label` (e.g. `reason="timeout"`).
pub fn metric_labelled(exposition: &str, name: &str, label: &str) -> f64 {
    exposition
        .lines()
        .filter(|line| line.starts_with(&format!("{name}{{")) && line.contains(label))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}
