//! A robustness probe: reads each message as it is and again after each change that must not
//! change its verdict (`testing::PERTURBATIONS`), and prints every record that moved, for any
//! corpus (the golden files' test runs the same changes over the golden files).
//! `cargo run -p hikyaku-bounce --release --example perturb -- FILE_OR_DIR...`

use hikyaku_bounce::testing::{PERTURBATIONS, try_every_change};
use std::path::{Path, PathBuf};

fn files(args: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for a in args {
        let p = Path::new(a);
        if p.is_dir() {
            let mut stack = vec![p.to_path_buf()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).unwrap().flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|x| x == "eml") {
                        out.push(path);
                    }
                }
            }
        } else {
            out.push(p.to_path_buf());
        }
    }
    out.sort();
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let files = files(&args);
    let mut moved = vec![0usize; PERTURBATIONS.len()];
    // Records that moved in what a perturbation does not hold to (a second recipient's
    // reason, say): shown, not counted as moves.
    let mut detail = vec![0usize; PERTURBATIONS.len()];
    // How many messages each change altered at all: a change that alters none tests nothing.
    let mut altered = vec![0usize; PERTURBATIONS.len()];
    for path in &files {
        let raw = std::fs::read(path).unwrap();
        for (i, (change, outcome)) in try_every_change(&raw).enumerate() {
            altered[i] += usize::from(outcome.altered);
            if !outcome.exact() {
                let what = if outcome.agrees {
                    detail[i] += 1;
                    "detail"
                } else {
                    moved[i] += 1;
                    "moved"
                };
                println!(
                    "{} [{}] {what}\n  expected {:?}\n  got      {:?}",
                    path.display(),
                    change.name,
                    outcome.expected,
                    outcome.got
                );
            }
        }
    }
    println!("{} files", files.len());
    for (((change, n), a), d) in PERTURBATIONS.iter().zip(moved).zip(altered).zip(detail) {
        println!(
            "  {:<20} {a} altered, {n} moved, {d} moved only in what it does not hold to",
            change.name
        );
    }
}
