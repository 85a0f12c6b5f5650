//! Zipkin B3 trace context, for meshes older than W3C trace context: the single `b3` header
//! (`{trace}-{span}[-{sampled}[-{parent}]]`) or the `x-b3-*` headers. Only the ids and the sampled flag are carried;
//! a 64-bit trace id is widened to 128 bits with leading zeros, as Zipkin does.

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

/// The B3 propagator, in one of its two header layouts.
#[derive(Debug)]
pub struct B3 {
    single: bool,
    fields: Vec<String>,
}

impl B3 {
    /// The single `b3` header.
    pub fn single() -> Self {
        Self {
            single: true,
            fields: vec!["b3".into()],
        }
    }

    /// The `x-b3-traceid`, `x-b3-spanid` and `x-b3-sampled` headers.
    pub fn multi() -> Self {
        Self {
            single: false,
            fields: ["x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags"]
                .map(String::from)
                .to_vec(),
        }
    }
}

fn trace_id(hex: &str) -> Option<TraceId> {
    if hex.len() != 16 && hex.len() != 32 {
        return None;
    }
    let id = TraceId::from_hex(hex).ok()?;
    (id != TraceId::INVALID).then_some(id)
}

fn span_id(hex: &str) -> Option<SpanId> {
    let id = (hex.len() == 16).then(|| SpanId::from_hex(hex).ok())??;
    (id != SpanId::INVALID).then_some(id)
}

/// The sampled flag: `1`/`0` (and the deprecated `true`/`false`); `d` is debug, which implies sampled.
fn sampled(v: &str) -> Option<bool> {
    match v {
        "1" | "d" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

fn remote(trace: TraceId, span: SpanId, sampled: bool) -> SpanContext {
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    SpanContext::new(trace, span, flags, true, TraceState::default())
}

impl B3 {
    fn read(&self, ex: &dyn Extractor) -> Option<SpanContext> {
        if self.single {
            let v = ex.get("b3")?.trim();
            let mut parts = v.split('-');
            let trace = trace_id(parts.next()?)?;
            let span = span_id(parts.next()?)?;
            // No flag: the receiver decides; with parent-based sampling that means "as a root".
            let s = parts.next().map(sampled).unwrap_or(Some(true))?;
            return Some(remote(trace, span, s));
        }
        let trace = trace_id(ex.get("x-b3-traceid")?.trim())?;
        let span = span_id(ex.get("x-b3-spanid")?.trim())?;
        let debug = ex.get("x-b3-flags").is_some_and(|f| f.trim() == "1");
        let s = match ex.get("x-b3-sampled") {
            Some(v) => sampled(v.trim())?,
            None => true,
        };
        Some(remote(trace, span, s || debug))
    }
}

impl TextMapPropagator for B3 {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let sc = span.span_context();
        if !sc.is_valid() {
            return;
        }
        let flag = if sc.is_sampled() { "1" } else { "0" };
        if self.single {
            injector.set("b3", format!("{}-{}-{flag}", sc.trace_id(), sc.span_id()));
        } else {
            injector.set("x-b3-traceid", sc.trace_id().to_string());
            injector.set("x-b3-spanid", sc.span_id().to_string());
            injector.set("x-b3-sampled", flag.to_owned());
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match self.read(extractor) {
            Some(sc) => cx.with_remote_span_context(sc),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn extract(p: &B3, headers: &[(&str, &str)]) -> SpanContext {
        let map: HashMap<String, String> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        p.extract(&map).span().span_context().clone()
    }

    #[test]
    fn single_and_multi_round_trip() {
        let t = "463ac35c9f6413ad48485a3953bb6124";
        let s = "0020000000000001";
        let sc = extract(&B3::single(), &[("b3", &format!("{t}-{s}-1"))]);
        assert_eq!(
            (sc.trace_id().to_string(), sc.span_id().to_string()),
            (t.into(), s.into())
        );
        assert!(sc.is_sampled() && sc.is_remote());
        let sc = extract(
            &B3::multi(),
            &[
                ("x-b3-traceid", "48485a3953bb6124"),
                ("x-b3-spanid", s),
                ("x-b3-sampled", "0"),
            ],
        );
        assert_eq!(
            sc.trace_id().to_string(),
            "000000000000000048485a3953bb6124"
        );
        assert!(!sc.is_sampled());
        let mut out: HashMap<String, String> = HashMap::new();
        B3::single().inject_context(&Context::new().with_remote_span_context(sc), &mut out);
        assert_eq!(out["b3"], format!("000000000000000048485a3953bb6124-{s}-0"));
    }

    #[test]
    fn malformed_headers_give_no_parent() {
        for v in [
            "0",
            "zz-0020000000000001",
            "463ac35c9f6413ad-short",
            "463ac35c9f6413ad-0020000000000001-x",
        ] {
            assert!(!extract(&B3::single(), &[("b3", v)]).is_valid(), "{v}");
        }
    }
}
