//! Hostile input: mutated corpus messages and hand-made monsters (deep nesting, huge headers,
//! wrong charsets, endless boundaries) never panic and finish in bounded time. Mutation is
//! seeded, so a failure reproduces.

use hikyaku_testkit::fuzz::{Rng, mutate};
use std::time::{Duration, Instant};

/// A guard against hangs and blow-ups, not a speed target (that is the bench example's job):
/// generous enough for a debug build on 2 shared cores under a parallel test run (2 s flaked
/// there at 2.7 s for the 100,000-block monster), while a quadratic parser would need minutes.
const PER_MESSAGE: Duration = Duration::from_secs(15);

fn analyse_in_time(raw: &[u8], what: &str) {
    // The tables the analyser builds on first use (its phrase automaton) are not the input's
    // cost: build them before the clock starts.
    static WARM: std::sync::Once = std::sync::Once::new();
    WARM.call_once(|| {
        hikyaku_bounce::analyse(
            b"From: MAILER-DAEMON@example.org\n\n550 5.1.1 <a@example.org>: user unknown\n",
        );
    });
    let start = Instant::now();
    let analysis = hikyaku_bounce::analyse(raw);
    let took = start.elapsed();
    assert!(took < PER_MESSAGE, "{what} took {took:?}");
    for r in &analysis.records {
        assert!(
            r.diagnostic.len() <= 8 << 10,
            "{what}: diagnostic of {} bytes",
            r.diagnostic.len()
        );
    }
}

/// MIME and DSN fragments the mutations splice in.
const JUNK: &[&[u8]] = &[
    b"\n--",
    b"\nContent-Type: multipart/mixed; boundary=\"x\"\n\n--x\n",
    b"\nContent-Type: message/rfc822\n\n",
    b"\nContent-Transfer-Encoding: base64\n\n",
    b"=?utf-8?b?",
    b"\nFinal-Recipient: rfc822; ",
    b"\xff\xfe\x00",
    b"\nStatus: 5.",
    b"<@>",
];

#[test]
fn mutated_corpus_messages() {
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/bounces");
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        {
            seeds.push(std::fs::read(p).unwrap());
        }
    }
    if seeds.is_empty() {
        eprintln!(
            "no corpus at {}: mutating the built-in samples only",
            dir.display()
        );
    }
    seeds.push(b"From: MAILER-DAEMON@example.org\nContent-Type: multipart/report; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@example.org\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n--b--\n".to_vec());
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let rounds = if cfg!(debug_assertions) { 4 } else { 20 };
    for (n, seed) in seeds.iter().enumerate() {
        for round in 0..rounds {
            let raw = mutate(&mut rng, seed, JUNK);
            analyse_in_time(&raw, &format!("seed {n} round {round}"));
        }
    }
}

#[test]
fn monsters() {
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut nested = b"Content-Type: multipart/mixed; boundary=\"b0\"\n\n".to_vec();
    for i in 1..2000 {
        nested.extend(
            format!(
                "--b{}\nContent-Type: multipart/mixed; boundary=\"b{i}\"\n\n",
                i - 1
            )
            .bytes(),
        );
    }
    cases.push(("deep multipart nesting", nested));
    let mut rfc822 = Vec::new();
    for _ in 0..2000 {
        rfc822.extend(b"Content-Type: message/rfc822\n\n");
    }
    cases.push(("deep message/rfc822 nesting", rfc822));
    let mut header = b"Subject: ".to_vec();
    header.extend(std::iter::repeat_n(b'a', 3 << 20));
    header.extend(b"\n\nbody\n");
    cases.push(("a 3 MB header", header));
    let mut folded = b"X-Long: a".to_vec();
    for _ in 0..200_000 {
        folded.extend(b"\n b");
    }
    folded.extend(b"\n\nbody\n");
    cases.push(("200,000 folded lines", folded));
    cases.push((
        "wrong charsets",
        b"Subject: =?iso-2022-jp?b?GyRCJEgbKEI=?= =?x-unknown?q?=FF?=\nContent-Type: text/plain; charset=shift_jis\nContent-Transfer-Encoding: base64\n\n////////\n".to_vec(),
    ));
    let mut addresses = b"From: MAILER-DAEMON@example.org\nSubject: Undelivered\n\n".to_vec();
    for i in 0..50_000 {
        addresses.extend(format!("<user{i}@example.org>: 550 5.1.1 user unknown\n").bytes());
    }
    cases.push(("50,000 recipients", addresses));
    let mut contacts = b"From: MAILER-DAEMON@example.org\nSubject: Undelivered\n\n".to_vec();
    for i in 0..50_000 {
        contacts.extend(format!("please contact <user{i}@example.org>\n").bytes());
    }
    cases.push(("50,000 contact addresses", contacts));
    let mut folded_for = b"From: MAILER-DAEMON@example.org\nSubject: Undelivered\n\n".to_vec();
    for i in 0..50_000 {
        folded_for.extend(format!("Received: from x\n\tfor <user{i}@example.org>;\n").bytes());
    }
    cases.push(("50,000 folded Received fields", folded_for));
    let mut v5 = b"From: MAILER-DAEMON@example.org\nSubject: Returned mail: x\n\n   ----- Transcript of session follows -----\nWhile talking to mx.example.org:\n".to_vec();
    for i in 0..50_000 {
        v5.extend(
            format!(
                ">>> RCPT To:<user{i}@example.org>\n<<< 550 no\n554 <user{i}@example.org>... no\n"
            )
            .bytes(),
        );
    }
    v5.extend(b"\n   ----- Unsent message follows -----\nTo: a@example.org\n");
    cases.push(("a V5 Sendmail transcript of 50,000 recipients", v5));
    let mut smtpd = b"Subject: Postfix SMTP server: errors from x[192.0.2.1]\n\n".to_vec();
    for i in 0..50_000 {
        smtpd.extend(format!(" In:  RCPT TO:<user{i}@example.org>\n Out: 550 5.1.1 no\n").bytes());
    }
    cases.push(("a Postfix smtpd transcript of 50,000 recipients", smtpd));
    let mut exchange = b"From: postmaster@outlook.com\nSubject: Undeliverable: x\n\nDiagnostic information for administrators:\n\n".to_vec();
    for i in 0..50_000 {
        exchange.extend(
            format!("user{i}@example.org\n#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##\n")
                .bytes(),
        );
    }
    cases.push(("an Exchange report of 50,000 recipients", exchange));
    let mut fields = b"Content-Type: message/delivery-status\n\n".to_vec();
    for _ in 0..100_000 {
        fields.extend(b"Final-Recipient: rfc822; a@example.org\nStatus: 5.1.1\n");
    }
    cases.push(("100,000 DSN blocks", fields));
    cases.push(("empty", Vec::new()));
    cases.push(("binary", (0..=255u8).cycle().take(1 << 20).collect()));
    for (what, raw) in &cases {
        analyse_in_time(raw, what);
    }
}
