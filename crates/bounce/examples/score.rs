//! Scores the analyser on a labelled corpus directory (`expected.tsv` beside the messages)
//! without building the whole binary:
//! `cargo run -p hikyaku-bounce --release --example score -- /work/shared/corpus/bounces [-v]`.
//! `-v` lists every wrong record with the produced diagnostic.

use hikyaku_bounce::score::{Produced, parse_expected, score};
use std::collections::HashMap;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut dir = None;
    let mut verbose = false;
    for arg in std::env::args().skip(1) {
        if arg == "-v" {
            verbose = true;
        } else {
            dir = Some(PathBuf::from(arg));
        }
    }
    let dir = dir.ok_or("usage: score CORPUS_DIR [-v]")?;
    let expected = parse_expected(&std::fs::read_to_string(dir.join("expected.tsv"))?);
    let mut produced: HashMap<String, Vec<Produced>> = HashMap::new();
    let mut diagnostics: HashMap<String, Vec<String>> = HashMap::new();
    for e in &expected {
        if produced.contains_key(&e.file) {
            continue;
        }
        let analysis = hikyaku_bounce::analyse(&std::fs::read(dir.join(&e.file))?);
        produced.insert(
            e.file.clone(),
            analysis.records.iter().map(Produced::from_record).collect(),
        );
        diagnostics.insert(
            e.file.clone(),
            analysis
                .records
                .iter()
                .map(|r| {
                    format!(
                        "    <{}> cmd={:?} rmta={:?} diag={}",
                        r.recipient,
                        r.command.map(|c| c.as_str()),
                        r.remote_mta,
                        r.diagnostic.chars().take(300).collect::<String>()
                    )
                })
                .collect(),
        );
    }
    let card = score(&expected, &produced);
    if verbose {
        let mut last = String::new();
        for miss in &card.misses {
            println!("{miss}");
            let file = miss.split('\t').next().unwrap_or("").to_string();
            if file != last {
                for d in diagnostics.get(&file).into_iter().flatten() {
                    println!("{d}");
                }
                last = file;
            }
        }
    }
    print!("{card}");
    Ok(())
}
