//! dev (placeholder)
