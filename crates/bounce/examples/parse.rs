//! Prints what the analyser reads in each message file, one line per record:
//! `cargo run -p hikyaku-bounce --release --example parse -- FILE...`.
//! With `--json` first, one line per file instead: the path, a tab, and the whole analysis as
//! JSON, for comparing every field of a corpus's results before and after a change (`diff`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut paths: Vec<String> = std::env::args().skip(1).collect();
    let json = paths.first().is_some_and(|a| a == "--json");
    if json {
        paths.remove(0);
    }
    for path in paths {
        let analysis = hikyaku_bounce::analyse(&std::fs::read(&path)?);
        if json {
            println!("{path}\t{}", serde_json::to_string(&analysis)?);
            continue;
        }
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
