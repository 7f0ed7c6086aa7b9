//! The golden files read the same after changes that must not change a bounce's verdict
//! (`testing::PERTURBATIONS`: CR LF line ends, a delivering MTA's header fields on top, an mbox
//! line, the diagnostic refolded, the recipients renamed, field names in lower case, the MIME
//! boundaries renamed and padded, plain text quoted-printable, an extension field in each
//! report). The `perturb` example runs the same changes over any corpus.

use hikyaku_bounce::testing::{PERTURBATIONS, try_every_change};
use std::path::Path;

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
    let mut altered = vec![0; PERTURBATIONS.len()];
    for path in &files {
        let raw = std::fs::read(path).unwrap();
        for (i, (change, outcome)) in try_every_change(&raw).enumerate() {
            altered[i] += usize::from(outcome.altered);
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
}
