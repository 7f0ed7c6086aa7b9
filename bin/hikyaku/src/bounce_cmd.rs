//! `hikyaku bounce ...`: the bounce analyser on files, for operators and for scoring.

use anyhow::{Context, bail};
use hikyaku_bounce::score::{Produced, parse_expected, score};
use hikyaku_bounce::{Analysis, MessageKind, Record};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand)]
pub enum BounceCommand {
    /// Analyse messages: one line per recipient a message reports on (`-` reads standard
    /// input); a message that is no bounce prints one line with reason null.
    Parse {
        /// Message files (RFC 5322, as received); `-` for standard input.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Score the analyser against a labelled corpus directory (its `expected.tsv` and
    /// messages): reason accuracy, per-reason precision and recall, recipient and status rates.
    Score {
        /// The corpus directory: `expected.tsv` and the message files it names.
        dir: PathBuf,
        /// Also list every record that came out wrong.
        #[arg(short, long)]
        verbose: bool,
    },
}

pub fn run(cmd: BounceCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        BounceCommand::Parse { files } => parse(&files, json),
        BounceCommand::Score { dir, verbose } => score_dir(&dir, verbose, json),
    }
}

fn parse(files: &[PathBuf], json: bool) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = 0usize;
    for file in files {
        let name = file.to_string_lossy();
        let raw = match read(file) {
            Ok(raw) => raw,
            Err(e) => {
                out.flush()?;
                eprintln!("hikyaku bounce parse: {name}: {e:#}");
                failed += 1;
                continue;
            }
        };
        let analysis = hikyaku_bounce::analyse(&raw);
        if json {
            write_json(&mut out, &name, &analysis)?;
        } else {
            write_text(&mut out, &name, &analysis)?;
        }
    }
    out.flush()?;
    if failed > 0 {
        bail!("{failed} of {} files could not be read", files.len());
    }
    Ok(())
}

fn read(file: &Path) -> anyhow::Result<Vec<u8>> {
    let mut raw = Vec::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .read_to_end(&mut raw)
            .context("reading standard input")?;
    } else {
        raw = std::fs::read(file)?;
    }
    Ok(raw)
}

/// One line per record, every line with the same keys (`null` where a field does not apply,
/// all but `file` for a message that is no bounce); the reply code is a number.
fn write_json(out: &mut impl Write, file: &str, analysis: &Analysis) -> anyhow::Result<()> {
    if analysis.records.is_empty() {
        let line = serde_json::json!({
            "file": file,
            "recipient": null,
            "status": null,
            "reply_code": null,
            "reason": null,
            "action": null,
            "diagnostic": null,
            "hard": null,
            "remote_mta": null,
            "feedback_type": null,
        });
        writeln!(out, "{line}")?;
        return Ok(());
    }
    for r in &analysis.records {
        let line = serde_json::json!({
            "file": file,
            "recipient": (!r.recipient.is_empty()).then_some(&r.recipient),
            "status": r.status,
            "reply_code": r.reply_code.as_deref().and_then(|code| code.parse::<u16>().ok()),
            "reason": r.reason.as_str(),
            "action": r.action.map(|a| a.as_str()),
            "diagnostic": r.diagnostic,
            "hard": r.hard,
            "remote_mta": r.remote_mta,
            "feedback_type": r.feedback_type,
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn write_text(out: &mut impl Write, file: &str, analysis: &Analysis) -> anyhow::Result<()> {
    if analysis.records.is_empty() {
        writeln!(out, "{file}: not a bounce")?;
        return Ok(());
    }
    for r in &analysis.records {
        writeln!(out, "{file}: {}", describe(analysis.kind, r))?;
    }
    Ok(())
}

fn describe(kind: MessageKind, r: &Record) -> String {
    let recipient = if r.recipient.is_empty() {
        "(recipient unknown)"
    } else {
        &r.recipient
    };
    let mut line = format!("{recipient} {}", r.reason);
    if kind == MessageKind::Bounce {
        line.push_str(if r.hard { " hard" } else { " soft" });
    }
    for part in [&r.status, &r.reply_code].into_iter().flatten() {
        line.push(' ');
        line.push_str(part);
    }
    if let Some(a) = r.action {
        line.push_str(&format!(" ({a})"));
    }
    if !r.diagnostic.is_empty() {
        line.push_str(" -- ");
        line.push_str(&r.diagnostic);
    }
    line
}

fn score_dir(dir: &Path, verbose: bool, json: bool) -> anyhow::Result<()> {
    let tsv = dir.join("expected.tsv");
    let expected = parse_expected(
        &std::fs::read_to_string(&tsv).with_context(|| format!("reading {}", tsv.display()))?,
    );
    if expected.is_empty() {
        bail!("{} has no records", tsv.display());
    }
    let mut produced: HashMap<String, Vec<Produced>> = HashMap::new();
    for e in &expected {
        if produced.contains_key(&e.file) {
            continue;
        }
        let path = dir.join(&e.file);
        let raw = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let analysis = hikyaku_bounce::analyse(&raw);
        produced.insert(
            e.file.clone(),
            analysis.records.iter().map(Produced::from_record).collect(),
        );
    }
    let card = score(&expected, &produced);
    let mut out = std::io::stdout().lock();
    if json {
        let per_reason: serde_json::Map<String, serde_json::Value> = card
            .per_reason
            .iter()
            .map(|(reason, c)| {
                (
                    reason.clone(),
                    serde_json::json!({ "tp": c.tp, "fp": c.fp, "fn": c.fn_ }),
                )
            })
            .collect();
        let summary = serde_json::json!({
            "records": card.records,
            "reason_accuracy": card.reason_accuracy(),
            "recipient_rate": card.recipient_rate(),
            "status_rate": card.status_rate(),
            "per_reason": per_reason,
            "misses": if verbose { card.misses.clone() } else { Vec::new() },
        });
        writeln!(out, "{summary}")?;
        return Ok(());
    }
    if verbose {
        for miss in &card.misses {
            writeln!(out, "{miss}")?;
        }
        writeln!(out)?;
    }
    write!(out, "{card}")?;
    Ok(())
}
