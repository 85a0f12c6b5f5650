//! The authentication domain: plain data in (`AuthRequest`), plain data out (an identity, a session or a `Deny`).
//! No HTTP framework and no Kubernetes client here. A JWT mode's pipeline is one call
//! ([`authenticator::JwtAuthenticator`]), which asks `jwks` for keys; the gate around it holds the caches.

pub mod authenticator;
pub mod claims;
pub mod jwt;
pub mod reason;
pub mod request;
pub mod session;
pub mod token;
pub mod webhook;
