//! Fuzzes the bounce analyser with arbitrary bytes as a returned message: MIME flattening,
//! the DSN, feedback and auto-reply readers, the MTA recognisers, the mail-service tables and
//! the classifier all read what strangers send. The body is
//! `hikyaku_bounce::testing::check_analysis`, which the stable harness
//! (`crates/bounce/tests/fuzz.rs`) also runs in every test run.
//!
//! Run (only a stable toolchain is installed, so libFuzzer's nightly flags are unlocked with
//! RUSTC_BOOTSTRAP; install the runner once with `cargo install cargo-fuzz`; seed it with the
//! bounce corpus if you have it):
//!
//! ```text
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run bounce_analyse -- -max_total_time=60
//! ```
//!
//! A crash input goes into `fuzz/regressions/bounce_analyse/` with its fix.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(error) = hikyaku_bounce::testing::check_analysis(data) {
        panic!("{error}");
    }
});
