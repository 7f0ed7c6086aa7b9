//! CPU time of DKIM signing a 4 KB message with each kind of key, for comparison with
//! `openssl speed rsa2048 rsa1024 ed25519`:
//! `cargo run --release -p hikyaku-dkim --example sign_cost [COUNT]`.
//! Measured as the process's CPU time (not wall time), so a busy machine does not inflate it.

use hikyaku_dkim::{KeyAlgorithm, PrivateKey, Signer, SigningKey};
use std::time::Duration;

fn cpu_time() -> Duration {
    // /proc/self/stat: utime and stime, fields 14 and 15, in clock ticks (100 a second here).
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after = &stat[stat.rfind(')').expect("a comm field") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn main() {
    let count: u32 = std::env::args()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(2000);
    let body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n".repeat(70);
    let message = format!(
        "From: a@example.jp\r\nTo: b@example.net\r\nSubject: cost\r\nDate: Sun, 6 Dec 2026 \
         01:00:00 +0000\r\nMessage-ID: <1@example.jp>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    );
    let setups: [(&str, &[KeyAlgorithm]); 4] = [
        ("rsa-2048", &[KeyAlgorithm::Rsa2048]),
        ("rsa-1024", &[KeyAlgorithm::Rsa1024]),
        ("ed25519", &[KeyAlgorithm::Ed25519]),
        ("dual", &[KeyAlgorithm::Rsa2048, KeyAlgorithm::Ed25519]),
    ];
    for (name, algorithms) in setups {
        let signer = Signer::new(
            algorithms
                .iter()
                .map(|&a| SigningKey {
                    domain: "example.jp".into(),
                    selector: "s".into(),
                    key: PrivateKey::generate(a).expect("a key"),
                })
                .collect(),
        );
        let start = cpu_time();
        for _ in 0..count {
            std::hint::black_box(
                signer
                    .signature_fields(message.as_bytes(), 1)
                    .expect("signed"),
            );
        }
        let each = (cpu_time() - start) / count;
        println!(
            "{name}: {count} signings of a {} byte message, {:?} of CPU each",
            message.len(),
            each
        );
    }
    let start = cpu_time();
    for _ in 0..count * 10 {
        std::hint::black_box(hikyaku_dkim::relaxed_body_hash(message.as_bytes()));
    }
    println!(
        "relaxed body hash of the same message alone: {:?} of CPU each",
        (cpu_time() - start) / (count * 10)
    );
}
