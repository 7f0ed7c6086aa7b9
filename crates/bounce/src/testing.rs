//! What must hold for any input, however hostile (`feature = "test-util"`): the body of the
//! `bounce_analyse` fuzz target, shared by `cargo fuzz` and the stable harness.

/// Analyses `data` as a returned message: it must not panic, every record must carry
/// well-formed codes and name a recipient, except a complaint's (reason `feedback`), which
/// counts even when it names nobody: the return path it came to names message and recipient.
pub fn check_analysis(data: &[u8]) -> Result<(), String> {
    let analysis = crate::analyse(data);
    for record in &analysis.records {
        if record.recipient.is_empty() && record.reason != crate::Reason::Feedback {
            return Err(format!(
                "a {} record without a recipient",
                record.reason.as_str()
            ));
        }
        if let Some(status) = &record.status {
            let parts: Vec<&str> = status.split('.').collect();
            let digits = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            if parts.len() != 3 || !parts.iter().all(digits) {
                return Err(format!("malformed status {status:?}"));
            }
        }
        if let Some(code) = &record.reply_code
            && !(code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(format!("malformed reply code {code:?}"));
        }
    }
    Ok(())
}
