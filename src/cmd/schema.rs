//! `authgate schema`: print the JSON Schema of an AuthConfig document.

use std::io::Write;

/// `authgate schema`: write the rendered schema to `out` and return 0, or, when it could not be rendered or
/// written, say why on `err` and return 1.
pub fn schema(
    rendered: Result<String, serde_json::Error>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> i32 {
    let result = rendered
        .map_err(|e| format!("cannot render the schema: {e}"))
        .and_then(|text| {
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write output: {e}"))
        });
    match result {
        Ok(()) => 0,
        Err(message) => {
            // Nothing is left to report to if stderr itself fails; the exit code still says it.
            let _ = writeln!(err, "authgate: {message}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_that_cannot_be_rendered_is_an_error_exit() {
        let err = serde_json::from_str::<serde_json::Value>("not json")
            .expect_err("not JSON does not parse");
        let (mut out, mut errout) = (Vec::new(), Vec::new());
        assert_eq!(schema(Err(err), &mut out, &mut errout), 1);
        assert!(out.is_empty());
        let message = String::from_utf8(errout).expect("UTF-8");
        assert!(
            message.starts_with("authgate: cannot render the schema"),
            "{message}"
        );

        let (mut out, mut errout) = (Vec::new(), Vec::new());
        assert_eq!(schema(Ok("{}\n".into()), &mut out, &mut errout), 0);
        assert_eq!(out, b"{}\n");
        assert!(errout.is_empty());
    }
}
