//! CPU time of DKIM signing a 4 KB message with each kind of key, printed next to the cost of
//! one bare signature by `openssl speed -seconds 1 rsa2048 rsa1024 ed25519` run there and then
//! (when `openssl` is on the PATH):
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

/// Seconds per signature as `openssl speed -seconds 1 ALGORITHM` reports them, or `None` when
/// openssl is missing or prints something else.
fn openssl_sign_cost(algorithm: &str) -> Option<Duration> {
    let output = std::process::Command::new("openssl")
        .args(["speed", "-seconds", "1", algorithm])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    // The summary lines: "rsa 1024 bits 0.000061s 0.000004s 16393.4 250000.0" and
    // " 253 bits EdDSA (Ed25519)   0.0000s   0.0001s  28000.0  10000.0": the sign/s column is
    // the first number after the two times, more precise than the rounded time.
    let label = match algorithm {
        "rsa2048" => "rsa 2048 bits",
        "rsa1024" => "rsa 1024 bits",
        "ed25519" => "(Ed25519)",
        _ => return None,
    };
    let line = text.lines().find(|l| l.contains(label))?;
    let after = &line[line.find(label)? + label.len()..];
    let signs_per_second: f64 = after
        .split_whitespace()
        .filter(|t| !t.ends_with('s'))
        .find_map(|t| t.parse().ok())?;
    (signs_per_second > 0.0).then(|| Duration::from_secs_f64(1.0 / signs_per_second))
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
    let setups: [(&str, &[KeyAlgorithm], Option<&str>); 4] = [
        ("rsa-2048", &[KeyAlgorithm::Rsa2048], Some("rsa2048")),
        ("rsa-1024", &[KeyAlgorithm::Rsa1024], Some("rsa1024")),
        ("ed25519", &[KeyAlgorithm::Ed25519], Some("ed25519")),
        (
            "dual",
            &[KeyAlgorithm::Rsa2048, KeyAlgorithm::Ed25519],
            None,
        ),
    ];
    for (name, algorithms, openssl) in setups {
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
        let cost = |message: &[u8]| {
            let start = cpu_time();
            for _ in 0..count {
                std::hint::black_box(signer.signature_fields(message, 1).expect("signed"));
            }
            (cpu_time() - start) / count
        };
        let each = cost(message.as_bytes());
        // A message of one short field and no body: what is left is the signature itself, plus
        // the few microseconds of its own field's canonicalisation and encoding.
        let signature = cost(b"From: a@example.jp\r\n\r\n");
        let beside = match openssl.and_then(openssl_sign_cost) {
            Some(bare) => format!(
                "; openssl speed {}: {bare:?} a bare signature ({:.2}x)",
                openssl.unwrap_or_default(),
                signature.as_secs_f64() / bare.as_secs_f64()
            ),
            None => String::new(),
        };
        println!(
            "{name}: {count} signings of a {} byte message, {each:?} of CPU each; of an empty \
             one {signature:?}{beside}",
            message.len(),
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
