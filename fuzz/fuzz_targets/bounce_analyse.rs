//! Fuzzes the bounce analyser with arbitrary bytes as a returned message: MIME flattening,
//! the DSN, feedback and auto-reply readers, the MTA recognisers, the mail-service tables and
//! the classifier all read what strangers send.
//!
//! Run (only a stable toolchain is installed, so libFuzzer's nightly flags are unlocked with
//! RUSTC_BOOTSTRAP; install the runner once with `cargo install cargo-fuzz`; seed it with the
//! bounce corpus if you have it):
//!
//! ```text
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run bounce_analyse -- -max_total_time=60
//! ```
//!
//! Every input must be analysed without a panic, and every record must name a recipient and
//! carry well-formed codes.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let analysis = hikyaku_bounce::analyse(data);
    for record in &analysis.records {
        assert!(!record.recipient.is_empty(), "a record without a recipient");
        if let Some(status) = &record.status {
            let parts: Vec<&str> = status.split('.').collect();
            assert_eq!(parts.len(), 3, "malformed status {status:?}");
            assert!(
                parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
                "malformed status {status:?}"
            );
        }
        if let Some(code) = &record.reply_code {
            assert!(
                code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()),
                "malformed reply code {code:?}"
            );
        }
    }
});
