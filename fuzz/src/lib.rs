//! The fuzz harness, shared with `tests/reliability_fuzz.rs` (which includes the same file).
#[path = "harness.rs"]
pub mod harness;
