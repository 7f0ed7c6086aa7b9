//! CPU time of one S/MIME signature of a 4 KB message, for comparison with
//! `openssl speed rsa2048 ecdsap256`:
//! `cargo run --release -p hikyaku-smime --example smime_sign_cost -- CHAIN.pem KEY.pem [COUNT]`.

use hikyaku_smime::Signer;
use std::time::{Instant, SystemTime};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(chain), Some(key)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: smime_sign_cost CHAIN.pem KEY.pem [COUNT]");
        std::process::exit(2);
    };
    let count: u32 = args.get(3).and_then(|c| c.parse().ok()).unwrap_or(2000);
    let signer = Signer::from_pem(
        &std::fs::read(chain).expect("chain"),
        &std::fs::read(key).expect("key"),
    )
    .expect("a signer");
    let body = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n".repeat(70);
    let message = format!(
        "From: a@example.jp\r\nTo: b@example.net\r\nSubject: cost\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    );
    let start = Instant::now();
    let mut bytes = 0;
    for _ in 0..count {
        bytes += signer
            .sign_message(message.as_bytes(), SystemTime::now())
            .expect("signed")
            .len();
    }
    let each = start.elapsed() / count;
    println!(
        "{}: {count} signatures of a {} byte message, {:?} each ({} bytes out on average)",
        signer.certificate().key_algorithm,
        message.len(),
        each,
        bytes / count as usize
    );
}
