//! Fuzzes the SMTP session state machine: framing, command parsing, AUTH exchanges, DATA
//! unstuffing, line-end normalisation (every accepted message must come out CRLF-only) and
//! limits, STARTTLS input discarding, fed in arbitrary read sizes. The body is
//! `hikyaku_smtp_server::testing::check_session`, which the stable harness
//! (`crates/smtp-server/tests/fuzz.rs`) also runs in every test run.
//!
//! Run (only a stable toolchain is installed, so libFuzzer's nightly flags are unlocked with
//! RUSTC_BOOTSTRAP; install the runner once with `cargo install cargo-fuzz`):
//!
//! ```text
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run smtp_session -- -max_total_time=60
//! ```
//!
//! A crash input goes into `fuzz/regressions/smtp_session/` with its fix.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(error) = hikyaku_smtp_server::testing::check_session(data) {
        panic!("{error}");
    }
});
