//! The OpenTelemetry settings, read from the standard `OTEL_*` variables and `--otlp-endpoint`. Tracing is off
//! unless an endpoint is named; a value that cannot be read is an error (a typo must not silently turn sampling or
//! the protocol into something else).

/// How spans travel to the collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP over gRPC.
    Grpc,
    /// OTLP over HTTP with protobuf bodies (the specification's default).
    HttpProtobuf,
}

/// Which decisions are sampled.
#[derive(Clone, Debug, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    /// A fraction of trace ids, 0.0..=1.0.
    Ratio(f64),
    /// Follow the caller's sampled flag; a root decision is judged by the inner sampler.
    ParentBased(Box<Sampler>),
}

/// A header format of the incoming (and outgoing) trace context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagator {
    /// W3C `traceparent` / `tracestate`.
    TraceContext,
    /// Zipkin's single `b3` header.
    B3Single,
    /// Zipkin's `x-b3-*` headers.
    B3Multi,
}

/// Everything the exporter and the tracer need.
#[derive(Clone, Debug, PartialEq)]
pub struct OtelSettings {
    /// Where trace batches are sent: for HTTP the full `/v1/traces` URL, for gRPC the collector's address.
    pub endpoint: String,
    pub protocol: Protocol,
    pub service_name: String,
    pub sampler: Sampler,
    pub propagators: Vec<Propagator>,
}

/// The settings from `flag` (`--otlp-endpoint`, which wins over the variables) and the variables `env` reads;
/// `Ok(None)` when tracing is off.
pub fn from_env(
    flag: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<OtelSettings>, String> {
    let var = |k: &str| {
        env(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v == "none")
    {
        return Ok(None);
    }
    let protocol = match var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .as_deref()
    {
        None | Some("http/protobuf") => Protocol::HttpProtobuf,
        Some("grpc") => Protocol::Grpc,
        Some(other) => {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL: {other:?} is not supported (grpc or http/protobuf)"
            ));
        }
    };
    let flag = flag.map(str::trim).filter(|f| !f.is_empty());
    let endpoint = match (flag, var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) {
        (Some(base), _) => signal_url(base, protocol),
        (None, Some(full)) => full,
        (None, None) => match var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Some(base) => signal_url(&base, protocol),
            None => return Ok(None),
        },
    };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(format!(
            "the OTLP endpoint {endpoint:?} must be an http:// or https:// URL"
        ));
    }
    Ok(Some(OtelSettings {
        endpoint,
        protocol,
        service_name: var("OTEL_SERVICE_NAME").unwrap_or_else(|| "authgate".into()),
        sampler: sampler(
            var("OTEL_TRACES_SAMPLER").as_deref(),
            var("OTEL_TRACES_SAMPLER_ARG").as_deref(),
        )?,
        propagators: propagators(var("OTEL_PROPAGATORS").as_deref())?,
    }))
}

/// The traces URL of a base endpoint: HTTP appends `/v1/traces`; gRPC routes by service name, so the base is used.
fn signal_url(base: &str, protocol: Protocol) -> String {
    match protocol {
        Protocol::Grpc => base.to_owned(),
        Protocol::HttpProtobuf => format!("{}/v1/traces", base.trim_end_matches('/')),
    }
}

fn sampler(name: Option<&str>, arg: Option<&str>) -> Result<Sampler, String> {
    let ratio = || -> Result<f64, String> {
        match arg {
            None => Ok(1.0),
            Some(a) => a
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| format!("OTEL_TRACES_SAMPLER_ARG: {a:?} is not a ratio in 0..1")),
        }
    };
    Ok(match name.unwrap_or("parentbased_always_on") {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::Ratio(ratio()?),
        "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => Sampler::ParentBased(Box::new(Sampler::Ratio(ratio()?))),
        other => return Err(format!("OTEL_TRACES_SAMPLER: {other:?} is not supported")),
    })
}

fn propagators(list: Option<&str>) -> Result<Vec<Propagator>, String> {
    let mut out = Vec::new();
    for p in list.unwrap_or("tracecontext").split(',').map(str::trim) {
        let p = match p {
            "tracecontext" => Propagator::TraceContext,
            "b3" => Propagator::B3Single,
            "b3multi" => Propagator::B3Multi,
            // Baggage is read by no one here and never passed on: accepted so a mesh-wide setting still starts.
            "baggage" | "none" | "" => continue,
            other => return Err(format!("OTEL_PROPAGATORS: {other:?} is not supported")),
        };
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(flag: Option<&str>, vars: &[(&str, &str)]) -> Result<Option<OtelSettings>, String> {
        from_env(flag, |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn off_without_an_endpoint() {
        assert_eq!(read(None, &[("OTEL_SERVICE_NAME", "x")]), Ok(None));
        let disabled = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ];
        assert_eq!(read(None, &disabled), Ok(None));
    }

    #[test]
    fn defaults_and_endpoint_precedence() {
        let s = read(None, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")])
            .expect("valid")
            .expect("on");
        assert_eq!(s.endpoint, "http://c:4318/v1/traces");
        assert_eq!(s.protocol, Protocol::HttpProtobuf);
        assert_eq!(s.service_name, "authgate");
        assert_eq!(s.sampler, Sampler::ParentBased(Box::new(Sampler::AlwaysOn)));
        assert_eq!(s.propagators, vec![Propagator::TraceContext]);
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4317"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:4317/x"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ];
        let s = read(None, &vars).expect("valid").expect("on");
        assert_eq!(
            (s.endpoint.as_str(), s.protocol),
            ("http://b:4317/x", Protocol::Grpc)
        );
        let s = read(Some("http://flag:4317"), &vars)
            .expect("valid")
            .expect("on");
        assert_eq!(s.endpoint, "http://flag:4317");
    }

    #[test]
    fn sampler_and_propagators() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.01"),
            ("OTEL_PROPAGATORS", "tracecontext,baggage,b3multi,b3"),
        ];
        let s = read(None, &vars).expect("valid").expect("on");
        assert_eq!(
            s.sampler,
            Sampler::ParentBased(Box::new(Sampler::Ratio(0.01)))
        );
        let want = vec![
            Propagator::TraceContext,
            Propagator::B3Multi,
            Propagator::B3Single,
        ];
        assert_eq!(s.propagators, want);
    }

    #[test]
    fn unreadable_values_are_errors() {
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        for bad in [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
            ("OTEL_PROPAGATORS", "jaeger"),
        ] {
            let mut vars = vec![base, bad];
            if bad.0 == "OTEL_TRACES_SAMPLER_ARG" {
                vars.push(("OTEL_TRACES_SAMPLER", "traceidratio"));
            }
            assert!(read(None, &vars).is_err(), "{bad:?}");
        }
        assert!(read(Some("collector:4317"), &[]).is_err());
    }
}
