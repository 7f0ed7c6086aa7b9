//! Prints what the analyser reads in each message file, one line per record:
//! `cargo run -p hikyaku-bounce --release --example parse -- FILE...`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for path in std::env::args().skip(1) {
        let analysis = hikyaku_bounce::analyse(&std::fs::read(&path)?);
        println!("{path}: {:?}", analysis.kind);
        for r in &analysis.records {
            println!(
                "  {} {} {} {} cmd={:?} rmta={:?}\n    {}",
                r.recipient,
                r.reason,
                r.status.as_deref().unwrap_or("-"),
                r.reply_code.as_deref().unwrap_or("-"),
                r.command,
                r.remote_mta,
                r.diagnostic
            );
        }
    }
    Ok(())
}
