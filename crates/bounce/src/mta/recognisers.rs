//! Bounces whose text the generic reader gets wrong, recognised by their headers and body
//! markers. Each recogniser returns `None` when the message is not its kind.

use crate::mime::Mail;
use crate::{Finding, Reason, address};

/// The findings of the first recogniser that knows the message.
pub(crate) fn run(mail: &Mail, region: &str) -> Option<Vec<Finding>> {
    google_groups(mail, region)
}

/// Google Groups refusing a post (the group does not exist, or the sender may not post): the
/// text names no recipient, so the group is the returned message's `To`. Sisimai calls every
/// such refusal `rejected`.
fn google_groups(mail: &Mail, region: &str) -> Option<Vec<Finding>> {
    let from = mail.from().to_ascii_lowercase();
    if !(from.contains("mailer-daemon@googlemail.com") || from.contains("mailer-daemon@google.com"))
        || !(region.contains("Google Groups")
            || region.contains("Google グループ")
            || region.contains("groups.google.com"))
    {
        return None;
    }
    let original = &mail.body[region.len()..];
    let group = crate::mime::header_block(
        original
            .split_once("\n\n")
            .map_or(original, |(_, rest)| rest),
    )
    .0
    .iter()
    .find(|(n, _)| n == "to")
    .and_then(|(_, v)| address::find(v))
    .or_else(|| {
        original
            .lines()
            .find_map(|l| l.strip_prefix("To:").and_then(address::find))
    })?;
    let words = region
        .split("\n\n")
        .map(str::trim)
        .find(|p| p.len() > 40)
        .unwrap_or("");
    Some(vec![Finding {
        recipient: group,
        diagnostic: words.to_string(),
        hint: Some(Reason::Rejected),
        ..Finding::default()
    }])
}
