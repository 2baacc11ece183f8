//! Docker's JSON shapes, built from the engine's records. Kept apart from the handlers so the
//! shapes are unit-testable and the handlers stay thin.

pub mod container;
pub mod image;
pub mod network;
mod shape;
pub mod stats;
pub mod volume;

/// Docker's timestamp format (RFC 3339 with nanoseconds, UTC).
pub fn rfc3339(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Docker's zero time, for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
