//! Scoring the analyser against a labelled corpus (`expected.tsv` beside the messages), as the
//! corpus README defines it: records of a message are paired by recipient first, then in
//! order; reason accuracy over all expected records, precision and recall per reason,
//! recipient-found rate over the records with a known recipient, status-match rate over the
//! records with a status. Pure: the caller reads the files.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// One expected record (a row of `expected.tsv`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub file: String,
    pub status: String,
    pub reply_code: String,
    pub reason: String,
    pub recipient: String,
}

/// One record the analyser produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Produced {
    pub recipient: String,
    pub status: String,
    pub reason: String,
}

impl Produced {
    pub fn from_record(r: &crate::Record) -> Produced {
        Produced {
            recipient: r.recipient.clone(),
            status: r.status.clone().unwrap_or_default(),
            reason: r.reason.as_str().to_string(),
        }
    }
}

/// The rows of an `expected.tsv` (header row skipped; malformed rows ignored).
pub fn parse_expected(tsv: &str) -> Vec<Expected> {
    tsv.lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            (cols.len() >= 6).then(|| Expected {
                file: cols[0].to_string(),
                status: cols[2].to_string(),
                reply_code: cols[3].to_string(),
                reason: cols[4].to_string(),
                recipient: cols[5].to_string(),
            })
        })
        .collect()
}

/// True positives, false positives and false negatives of one reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
}

#[derive(Debug, Clone, Default)]
pub struct Scorecard {
    pub records: usize,
    pub reasons_right: usize,
    pub per_reason: BTreeMap<String, Counts>,
    pub recipients_known: usize,
    pub recipients_found: usize,
    pub statuses_known: usize,
    pub statuses_matched: usize,
    /// One line per wrong expected record: file, expected and produced.
    pub misses: Vec<String>,
}

impl Scorecard {
    pub fn reason_accuracy(&self) -> f64 {
        ratio(self.reasons_right, self.records)
    }
    pub fn recipient_rate(&self) -> f64 {
        ratio(self.recipients_found, self.recipients_known)
    }
    pub fn status_rate(&self) -> f64 {
        ratio(self.statuses_matched, self.statuses_known)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Score `produced` (per file name) against `expected`.
pub fn score(expected: &[Expected], produced: &HashMap<String, Vec<Produced>>) -> Scorecard {
    let mut card = Scorecard::default();
    let mut by_file: BTreeMap<&str, Vec<&Expected>> = BTreeMap::new();
    for e in expected {
        by_file.entry(e.file.as_str()).or_default().push(e);
    }
    let none: Vec<Produced> = Vec::new();
    for (file, wants) in by_file {
        let got = produced.get(file).unwrap_or(&none);
        let mut used = vec![false; got.len()];
        let mut pairs: Vec<Option<usize>> = vec![None; wants.len()];
        for (i, w) in wants.iter().enumerate() {
            if w.recipient.is_empty() {
                continue;
            }
            if let Some(j) = (0..got.len())
                .find(|&j| !used[j] && got[j].recipient.eq_ignore_ascii_case(&w.recipient))
            {
                used[j] = true;
                pairs[i] = Some(j);
            }
        }
        for pair in pairs.iter_mut().filter(|p| p.is_none()) {
            if let Some(j) = (0..got.len()).find(|&j| !used[j]) {
                used[j] = true;
                *pair = Some(j);
            }
        }
        for (i, w) in wants.iter().enumerate() {
            card.records += 1;
            let g = pairs[i].map(|j| &got[j]);
            let right = g.is_some_and(|g| g.reason == w.reason);
            if right {
                card.reasons_right += 1;
                card.per_reason.entry(w.reason.clone()).or_default().tp += 1;
            } else {
                card.per_reason.entry(w.reason.clone()).or_default().fn_ += 1;
                if let Some(g) = g {
                    card.per_reason.entry(g.reason.clone()).or_default().fp += 1;
                }
            }
            if !w.recipient.is_empty() {
                card.recipients_known += 1;
                if got
                    .iter()
                    .any(|g| g.recipient.eq_ignore_ascii_case(&w.recipient))
                {
                    card.recipients_found += 1;
                }
            }
            let status_ok = g.is_some_and(|g| g.status == w.status);
            if !w.status.is_empty() {
                card.statuses_known += 1;
                if status_ok {
                    card.statuses_matched += 1;
                }
            }
            if !right || (!w.status.is_empty() && !status_ok) {
                card.misses.push(match g {
                    Some(g) => format!(
                        "{file}\twant {} {} <{}>\tgot {} {} <{}>",
                        w.reason, w.status, w.recipient, g.reason, g.status, g.recipient
                    ),
                    None => format!(
                        "{file}\twant {} {} <{}>\tgot nothing",
                        w.reason, w.status, w.recipient
                    ),
                });
            }
        }
        for (j, g) in got.iter().enumerate() {
            if !used[j] {
                card.per_reason.entry(g.reason.clone()).or_default().fp += 1;
                card.misses.push(format!(
                    "{file}\textra {} {} <{}>",
                    g.reason, g.status, g.recipient
                ));
            }
        }
    }
    card
}

impl fmt::Display for Scorecard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "reason accuracy   {:.4} ({}/{})",
            self.reason_accuracy(),
            self.reasons_right,
            self.records
        )?;
        writeln!(
            f,
            "recipient found   {:.4} ({}/{})",
            self.recipient_rate(),
            self.recipients_found,
            self.recipients_known
        )?;
        writeln!(
            f,
            "status match      {:.4} ({}/{})",
            self.status_rate(),
            self.statuses_matched,
            self.statuses_known
        )?;
        writeln!(
            f,
            "{:<16} {:>9} {:>9} {:>5} {:>5} {:>5}",
            "reason", "precision", "recall", "tp", "fp", "fn"
        )?;
        for (reason, c) in &self.per_reason {
            writeln!(
                f,
                "{:<16} {:>9.3} {:>9.3} {:>5} {:>5} {:>5}",
                reason,
                ratio(c.tp, c.tp + c.fp),
                ratio(c.tp, c.tp + c.fn_),
                c.tp,
                c.fp,
                c.fn_
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn produced(recipient: &str, status: &str, reason: &str) -> Produced {
        Produced {
            recipient: recipient.into(),
            status: status.into(),
            reason: reason.into(),
        }
    }

    #[test]
    fn pairs_by_recipient_then_order() {
        let expected = parse_expected(
            "file\tindex\tstatus\treplycode\treason\trecipient\tsource\n\
a.eml\t1\t5.1.1\t550\tuserunknown\tx@example.jp\tgo\n\
a.eml\t2\t5.2.2\t552\tmailboxfull\ty@example.jp\tgo\n\
b.eml\t1\t\t\tfeedback\t\tgo\n\
c.eml\t1\t4.4.7\t\texpired\tz@example.jp\tgo\n",
        );
        assert_eq!(expected.len(), 4);
        let mut got = HashMap::new();
        got.insert(
            "a.eml".to_string(),
            vec![
                produced("Y@example.jp", "5.2.2", "mailboxfull"),
                produced("x@example.jp", "5.1.1", "filtered"),
                produced("w@example.jp", "5.1.1", "userunknown"),
            ],
        );
        got.insert("b.eml".to_string(), vec![produced("", "", "feedback")]);
        let card = score(&expected, &got);
        assert_eq!(card.records, 4);
        assert_eq!(card.reasons_right, 2);
        assert_eq!(card.recipients_known, 3);
        assert_eq!(card.recipients_found, 2);
        assert_eq!(card.statuses_known, 3);
        assert_eq!(card.statuses_matched, 2);
        assert_eq!(
            card.per_reason["userunknown"],
            Counts {
                tp: 0,
                fp: 1,
                fn_: 1
            }
        );
        assert_eq!(
            card.per_reason["filtered"],
            Counts {
                tp: 0,
                fp: 1,
                fn_: 0
            }
        );
        assert_eq!(
            card.per_reason["expired"],
            Counts {
                tp: 0,
                fp: 0,
                fn_: 1
            }
        );
        assert!(card.to_string().contains("reason accuracy   0.5000 (2/4)"));
    }
}
