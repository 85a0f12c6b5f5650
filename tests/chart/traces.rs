//! Issue 16: the chart's `tracing` values become the standard OpenTelemetry variables, and only when an endpoint is
//! set (no endpoint: no tracing variable at all, so authgate starts no exporter).

use serde_json::{Value, json};

use super::{container, helm_or_skip, render, render_err};

fn otel_env(docs: &[Value]) -> Vec<(String, String)> {
    container(docs)["env"]
        .as_array()
        .expect("the container's env")
        .iter()
        .filter_map(|e| {
            let name = e["name"].as_str()?;
            name.starts_with("OTEL_").then(|| {
                (
                    name.to_owned(),
                    e["value"].as_str().unwrap_or("").to_owned(),
                )
            })
        })
        .collect()
}

#[test]
fn tracing_values_become_the_otel_variables_only_with_an_endpoint() {
    if !helm_or_skip("tracing_values_become_the_otel_variables_only_with_an_endpoint") {
        return;
    }
    assert_eq!(
        otel_env(&render(&[])),
        Vec::new(),
        "no endpoint, no tracing"
    );
    let docs = render(&[
        "tracing.endpoint=http://otel-collector.observability:4317",
        "tracing.protocol=grpc",
        "tracing.samplerArg=0.01",
        "tracing.propagators=tracecontext\\,b3multi",
    ]);
    let got: Value = otel_env(&docs)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    assert_eq!(
        got,
        json!({
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4317",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_SERVICE_NAME": "authgate",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.01",
            "OTEL_PROPAGATORS": "tracecontext,b3multi",
        })
    );
    for bad in [
        "tracing.protocol=http/json",
        "tracing.sampler=sometimes",
        "tracing.samplerArg=2",
        "tracing.endpoint=otel-collector:4317",
        "tracing.propagators=jaeger",
    ] {
        let err = render_err(&["tracing.endpoint=http://c:4318", bad]);
        assert!(err.contains("tracing"), "{bad}: {err}");
    }
}
