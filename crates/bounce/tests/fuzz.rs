//! The `bounce_analyse` fuzz target's body (`testing::check_analysis`) on the stable toolchain
//! in every test run: the kept crash inputs of `fuzz/regressions/bounce_analyse/`, then seeded
//! mutations of the bounce corpus (when it is beside the repository) and built-in samples for
//! a bounded time (see `hikyaku_testkit::fuzz`). Memory is bounded too: the process's peak
//! resident size is read after every input, and an input that raised it by more than
//! [`memory_bound`] of its length fails like a crash.

use hikyaku_bounce::testing::check_analysis;
use hikyaku_testkit::fuzz::{Target, run};
use std::time::Duration;

/// The peak resident size of this process so far (`VmHWM`), in bytes; `None` where the
/// system does not say (not Linux).
fn peak_resident() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The most one analysis of `len` input bytes may raise the peak: a few copies of the input
/// (decoded parts, lower-cased texts, the undecoded body) and an allowance for the
/// allocator's own caching and the tables built on first use. Linear in the input, so a hostile
/// message cannot make the analyser take memory out of proportion to what it was given.
fn memory_bound(len: usize) -> usize {
    64 * len + (48 << 20)
}

/// The whole run (the harness keeps some inputs as parents) stays under this.
const RUN_BOUND: usize = 1 << 30;

/// `check_analysis`, and what the input raised the peak resident size by within its bound.
fn check_analysis_and_memory(input: &[u8]) -> Result<(), String> {
    let before = peak_resident();
    check_analysis(input)?;
    if let (Some(before), Some(after)) = (before, peak_resident()) {
        let bound = memory_bound(input.len());
        // The kernel updates the recorded peak lazily and reports the larger of it and the
        // current size, so a read can come out below the one before: no rise, not a wrap.
        let rise = after.saturating_sub(before);
        if rise > bound {
            return Err(format!(
                "the analysis of {} bytes raised the peak resident size by {rise} bytes (bound {bound})",
                input.len(),
            ));
        }
        if after > RUN_BOUND {
            return Err(format!(
                "the run's peak resident size reached {after} bytes"
            ));
        }
    }
    Ok(())
}

/// The formats' own words, which random bytes would hardly ever spell.
const DICTIONARY: &[&[u8]] = &[
    b"\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n--b\n",
    b"\nContent-Type: message/delivery-status\n\n",
    b"\nContent-Type: message/feedback-report\n\n",
    b"\nContent-Type: message/rfc822\n\n",
    b"\nContent-Type: text/rfc822-headers\n\n",
    b"\nContent-Transfer-Encoding: base64\n\n",
    b"\nContent-Transfer-Encoding: quoted-printable\n\n",
    b"\n--b--\n",
    b"\nFinal-Recipient: rfc822; a@example.org\n",
    b"\nOriginal-Recipient: rfc822;",
    b"\nAction: failed\n",
    b"\nStatus: 5.1.1\n",
    b"\nStatus: 4.",
    b"\nDiagnostic-Code: smtp; 550 5.1.1 <a@example.org>: User unknown\n",
    b"\nRemote-MTA: dns; mx.example.org\n",
    b"\nAuto-Submitted: auto-replied\n",
    b"\nFeedback-Type: abuse\n",
    b"=?utf-8?b?",
    b"=?iso-2022-jp?B?GyRC",
    b"<@>",
    b"\xff\xfe\x00",
];

const DSN: &[u8] = b"From: MAILER-DAEMON@example.org\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\nFinal-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n--b--\n";

const PLAIN_TEXT_BOUNCE: &[u8] = b"From: MAILER-DAEMON@example.org\nSubject: Undelivered Mail Returned to Sender\n\nThis is the mail system at host mx.example.org.\n\n<a@example.org>: host mx.example.org[192.0.2.1] said: 550 5.1.1 <a@example.org>: Recipient address rejected: User unknown (in reply to RCPT TO command)\n";

fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![DSN.to_vec(), PLAIN_TEXT_BOUNCE.to_vec()];
    let corpus =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/bounces");
    if let Ok(entries) = std::fs::read_dir(&corpus) {
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        seeds.extend(
            paths
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .filter_map(|p| std::fs::read(p).ok()),
        );
    }
    seeds
}

#[test]
fn bounce_analyse() {
    // On Linux the memory check must be live, not silently skipped.
    if cfg!(target_os = "linux") {
        assert!(peak_resident().is_some(), "VmHWM not readable");
    }
    run(
        Target {
            name: "bounce_analyse",
            seeds: seeds(),
            dictionary: DICTIONARY,
            iterations: 20_000,
            budget: Duration::from_secs(20),
        },
        check_analysis_and_memory,
    );
}
