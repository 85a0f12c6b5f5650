//! The HTTP client steps that the webhook client and the JWKS fetch share: sending a request once more when a
//! pooled connection closed before any answer, and reading an answer's body up to a limit. Callers turn its errors
//! into their own messages, so what a client or a log sees stays theirs to word.

/// Why an answer's body was not read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Longer than the limit it carries: announced so by `Content-Length`, or found while reading.
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    /// The connection failed before the body ended.
    #[error("the body could not be read: {0}")]
    Read(reqwest::Error),
}

/// Whether a send failed on a connection that closed after the request went out and before any answer. That is
/// most likely a kept-alive connection whose idle timer the server ran out just as the request reached it, a race
/// no pool can rule out. A refused connect or a timeout is a real failure and does not count.
pub fn closed_before_answer(e: &reqwest::Error) -> bool {
    e.is_request() && !e.is_connect() && !e.is_timeout()
}

/// Send `request`; when that fails by [`closed_before_answer`], hand the error to `on_resend` (to log it) and send
/// it once more: the closed connection has left the pool, so the repeat goes out on another. Only for requests
/// that are harmless to repeat. A request whose body cannot be cloned (a stream) is sent once.
pub async fn send_resending_once(
    request: reqwest::RequestBuilder,
    on_resend: impl FnOnce(reqwest::Error),
) -> reqwest::Result<reqwest::Response> {
    let again = request.try_clone();
    match (request.send().await, again) {
        (Err(e), Some(again)) if closed_before_answer(&e) => {
            on_resend(e);
            again.send().await
        }
        (sent, _) => sent,
    }
}

/// The whole body of `resp`, refused unread when its `Content-Length` is over `max` and refused as soon as what has
/// arrived is, so a hostile or broken server cannot make us hold more than `max` bytes of it.
pub async fn read_body(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|l| l > max as u64) {
        return Err(BodyError::TooLarge(max));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
#[path = "net_tests.rs"]
mod tests;
