//! TLS (placeholder)
