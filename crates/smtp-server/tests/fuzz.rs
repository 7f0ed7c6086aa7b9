//! The `smtp_session` fuzz target's body (`testing::check_session`) on the stable toolchain in
//! every test run: the kept crash inputs of `fuzz/regressions/smtp_session/`, then seeded
//! mutations of whole conversations for a bounded time (see `hikyaku_testkit::fuzz`).

use hikyaku_smtp_server::testing::check_session;
use hikyaku_testkit::fuzz::{Target, run};
use std::time::Duration;

/// The protocol's own words, which random bytes would hardly ever spell.
const DICTIONARY: &[&[u8]] = &[
    b"EHLO client.example\r\n",
    b"HELO client.example\r\n",
    b"MAIL FROM:<a@example.com>",
    b" SIZE=100",
    b" BODY=8BITMIME",
    b" SMTPUTF8",
    b"RCPT TO:<b@example.jp>",
    b"RCPT TO:<refuse@example.jp>\r\n",
    b"RCPT TO:<goodbye@example.jp>\r\n",
    b"DATA\r\n",
    b"BDAT 10 LAST\r\n",
    b"\r\n.\r\n",
    b"\r\n..",
    b"\n.\n",
    b"\r.\r\n",
    b"\n.\r\n",
    b"\r\n.\n",
    b"\r",
    b"AUTH PLAIN AHVzZXIAc2VjcmV0\r\n",
    b"AUTH LOGIN\r\n",
    b"dXNlcg==\r\n",
    b"*\r\n",
    b"STARTTLS\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"VRFY x\r\n",
    b"QUIT\r\n",
    b"\r\n",
    b"\n",
    b"\0",
    b"\xff\xfe",
];

fn seeds() -> Vec<Vec<u8>> {
    let conversations: [&[u8]; 5] = [
        b"EHLO client.example\r\nMAIL FROM:<a@example.com> SIZE=100\r\nRCPT TO:<b@example.jp>\r\nDATA\r\nSubject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n",
        b"EHLO client.example\r\nAUTH PLAIN AHVzZXIAc2VjcmV0\r\nMAIL FROM:<>\r\nRCPT TO:<tempfail@example.jp>\r\nRCPT TO:<b@example.jp>\r\nDATA\r\nx\r\n.\r\n",
        b"EHLO client.example\r\nSTARTTLS\r\nEHLO again.example\r\nAUTH LOGIN\r\ndXNlcg==\r\nc2VjcmV0\r\nRSET\r\n",
        b"HELO full\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.jp>\r\nDATA\r\nNOOP\r\nQUIT\r\n",
        // LF-only text with a smuggling attempt, ended properly.
        b"EHLO client.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.jp>\r\nDATA\r\nSubject: lf\n\n..x\r.\nMAIL FROM:<c@example.com>\r\n.\r\nQUIT\r\n",
    ];
    let mut seeds = Vec::new();
    for (i, conversation) in conversations.iter().enumerate() {
        // Options: each flag combination once over the seeds; reads of 1, 7 and 255 bytes.
        for read_size in [1u8, 7, 255] {
            let mut seed = vec![(i as u8) * 5 + 8 * (read_size & 1), read_size];
            seed.extend_from_slice(conversation);
            seeds.push(seed);
        }
    }
    seeds
}

#[test]
fn smtp_session() {
    run(
        Target {
            name: "smtp_session",
            seeds: seeds(),
            dictionary: DICTIONARY,
            iterations: 100_000,
            budget: Duration::from_secs(20),
        },
        check_session,
    );
}
