//! The golden files read the same after changes that must not change a bounce's verdict
//! (`testing::PERTURBATIONS`: CR LF line ends, a delivering MTA's header fields on top, an mbox
//! line, the diagnostic refolded, the recipients renamed, field names in lower case, the MIME
//! boundaries renamed and padded, plain text quoted-printable, an extension field in each
//! report, the returned message left out, the author made a person-like one at the same domain),
//! and as they should after changes of structure (one
//! more recipient block: one more record, in the text too: the same record; the delivery report left out where the text names
//! recipient and status: the same recipients). The `perturb` example runs the same changes over
//! any corpus.

use hikyaku_bounce::testing::{PERTURBATIONS, try_every_change};
use std::path::Path;

/// Moves that are understood and left as they are: (perturbation, golden file, why). One that
/// no longer moves must be taken off the list.
const KNOWN_MOVES: &[(&str, &str, &str)] = &[
    (
        "plain-author",
        "mailman/001",
        "Exim's delay warning is read as such (recipient, reason, action stay); Exim is told by \
         two of its author's name, subject and message ID, and without the name the pseudo \
         status is 5.0.947 for 4.0.947. Exim's first line is no sign: GMX's notices share it \
         and the reference reads them otherwise (dev gmx-04's status moved with it)",
    ),
    (
        "plain-author",
        "japan/012",
        "au's notice is read as such (the recipient stays) but its own sentences are au's only \
         with two of the carrier's signs, and its postmaster's address is one of the two this \
         message has (the other its subject); a person at ezweb.ne.jp sends the other signs",
    ),
    (
        "no-delivery-status",
        "courier/019",
        "a forward: Courier's text heads the block with the forwarding address and quotes \
         RCPT TO:<the forwarded-to one>; only the report says which of the two is the recipient",
    ),
    (
        "no-delivery-status",
        "exim/019",
        "a forward: the report names the forwarding address, the text the forwarded-to one",
    ),
    (
        "no-delivery-status",
        "sendmail/019",
        "a forward: the report names the forwarding address, the text the forwarded-to one",
    ),
];

#[test]
fn golden_files_keep_their_verdicts_when_perturbed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files = Vec::new();
    for source in std::fs::read_dir(&dir).unwrap().flatten() {
        if source.path().is_dir() {
            for file in std::fs::read_dir(source.path()).unwrap().flatten() {
                if file.path().extension().is_some_and(|x| x == "eml") {
                    files.push(file.path());
                }
            }
        }
    }
    assert!(files.len() > 200, "only {} golden files", files.len());
    let mut moved = Vec::new();
    let mut known_moved = Vec::new();
    let mut altered = vec![0; PERTURBATIONS.len()];
    for path in &files {
        let raw = std::fs::read(path).unwrap();
        for (i, (change, outcome)) in try_every_change(&raw).enumerate() {
            altered[i] += usize::from(outcome.altered);
            let name = format!(
                "{}/{}",
                path.parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy(),
                path.file_stem().unwrap().to_string_lossy()
            );
            if KNOWN_MOVES
                .iter()
                .any(|(c, file, _)| *c == change.name && *file == name)
            {
                if !outcome.agrees {
                    known_moved.push((change.name, name));
                }
                continue;
            }
            if !outcome.agrees {
                moved.push(format!(
                    "{} [{}]: {:?} became {:?}",
                    path.display(),
                    change.name,
                    outcome.expected,
                    outcome.got
                ));
            }
        }
    }
    // Each change must change most files (one that changes only delivery reports, a tenth),
    // or it tests nothing.
    for (change, altered) in PERTURBATIONS.iter().zip(altered) {
        let share = if change.reports_only { 10 } else { 2 };
        assert!(
            altered * share > files.len(),
            "{} altered only {altered} of {} files",
            change.name,
            files.len()
        );
    }
    assert!(moved.is_empty(), "{}", moved.join("\n"));
    for (change, file, _) in KNOWN_MOVES {
        assert!(
            known_moved.iter().any(|(c, f)| c == change && f == file),
            "{file} [{change}] no longer moves: take it off KNOWN_MOVES"
        );
    }
}
