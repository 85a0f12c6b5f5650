//! The authentication domain: plain data in (`AuthRequest`), plain data out (session or `Deny`). No HTTP
//! framework and no Kubernetes client here.

pub mod claims;
pub mod jwt;
pub mod reason;
pub mod request;
pub mod session;
pub mod token;
pub mod webhook;
