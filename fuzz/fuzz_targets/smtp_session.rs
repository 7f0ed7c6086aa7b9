//! Fuzzes the SMTP session state machine: framing, command parsing, AUTH exchanges, DATA
//! unstuffing and limits, STARTTLS input discarding, fed in arbitrary read sizes.
//!
//! Run (only a stable toolchain is installed, so libFuzzer's nightly flags are unlocked with
//! RUSTC_BOOTSTRAP; install the runner once with `cargo install cargo-fuzz`):
//!
//! ```text
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run smtp_session -- -max_total_time=60
//! ```
//!
//! The first input byte chooses the options (STARTTLS offered, plaintext AUTH allowed, error
//! limit), the second the read size; the rest is what the client sends. Every input must leave
//! well-formed replies and a session that answers its way out (see `recover_and_check`).

#![no_main]

use hikyaku_smtp_server::ServerConfig;
use hikyaku_smtp_server::testing::{Conversation, recover_and_check};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [options, read_size, input @ ..] = data else {
        return;
    };
    let mut config = ServerConfig::new("fuzz.test");
    config.max_message_size = 4096;
    config.max_recipients = 4;
    config.auth.allow_plaintext_on_loopback = options & 1 != 0;
    config.max_errors = [0, 1, 5, 20][usize::from(options >> 1 & 3)];
    let mut conversation = Conversation::new(config);
    if options & 8 != 0 {
        conversation.offer_starttls();
    }
    for chunk in input.chunks(usize::from(*read_size).max(1)) {
        conversation.feed(chunk);
    }
    if let Err(error) = recover_and_check(&mut conversation) {
        panic!("{error}");
    }
});
