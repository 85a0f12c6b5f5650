//! Webhook mode, as the Hasura engine does it, in three jobs: what goes to the hook (`request`: which client
//! headers, as headers and in a POST body, and the answer cache's key) and how its answer becomes an identity or a
//! denial (`answer`), both pure; and the network client that carries the one and brings back the other (`client`).

use std::sync::Arc;

use super::reason::{Deny, Reason};

mod answer;
mod client;
mod request;

pub use answer::{HookAnswer, identity_from_answer};
pub use client::{ClientError, MAX_BODY, WebhookClient};
pub use request::{HookRequest, build_request};

fn unavailable(msg: impl Into<Arc<str>>) -> Deny {
    Deny::new(Reason::WebhookUnavailable, msg)
}
