//! SMTP enhanced status codes (RFC 3463) and reply codes (RFC 5321) found in free text, the
//! choice between two codes that disagree, and what a code alone says about the reason.

use crate::reason::Reason;

/// The first enhanced status code (`5.1.1`, `4.7.26`) in `text` whose class is one of
/// `classes` (`b'5'`, `b'4'`, `b'2'`), chosen as Sisimai chooses: codes that say nothing
/// (`X.0.0`, `4.4.7`) only when there is no other, and among several the preferred one.
pub fn find_status(text: &str, classes: &[u8]) -> Option<String> {
    let bytes = text.as_bytes();
    if bytes.len() < 5 {
        return None;
    }
    let mut found: Vec<String> = Vec::new();
    let mut vague: Option<String> = None;
    let mut i = 0;
    // A code's class digit stands right before a dot: only those places are looked at, found
    // with a fast search for the dots, in the order (and with the skips) of a walk over every
    // byte.
    for dot in memchr::memchr_iter(b'.', bytes) {
        if dot == 0 || dot - 1 < i {
            continue;
        }
        i = dot - 1;
        if i + 4 >= bytes.len() {
            break;
        }
        let c = bytes[i];
        if !classes.contains(&c) || bytes[i + 1] != b'.' {
            continue;
        }
        // A digit, a dot or a `v` before it means a version number or an IP address.
        if i > 0 {
            let prev = bytes[i - 1];
            if prev.is_ascii_digit() || matches!(prev, b'.' | b'/' | b'v' | b'V') {
                continue;
            }
        }
        let subject = bytes[i + 2];
        if !(b'0'..=b'7').contains(&subject) || bytes[i + 3] != b'.' {
            continue;
        }
        let mut end = i + 4;
        while end < bytes.len() && end < i + 7 && bytes[end].is_ascii_digit() {
            end += 1;
        }
        if end == i + 4 {
            continue;
        }
        // A fourth digit or a dot and digit after it: an IP address or a version, not a code.
        if end < bytes.len() && bytes[end].is_ascii_digit() {
            i = end;
            continue;
        }
        if end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit() {
            i = end;
            continue;
        }
        let code = &text[i..end];
        if code[1..].starts_with(".0.0") || code == "4.4.7" {
            vague.get_or_insert_with(|| code.to_string());
        } else {
            found.push(code.to_string());
        }
        i = end;
    }
    if let Some(v) = vague {
        found.push(v);
    }
    let mut it = found.into_iter();
    let first = it.next()?;
    Some(it.fold(first, |chosen, next| prefer(&chosen, &next, None)))
}

/// Which of two enhanced status codes to keep: `field` (the DSN's `Status:` or the one found
/// first) or `in_text` (found in the diagnostic text). A reply code whose class agrees with
/// only one of them decides; otherwise the more specific code wins, and the codes that MTAs
/// use as catch-alls (`X.0.0`, `4.4.7`, `4.7.0`, `5.3.x`, `X.5.x`) give way.
pub fn prefer(field: &str, in_text: &str, reply_code: Option<&str>) -> String {
    if field.is_empty() {
        return in_text.to_string();
    }
    if in_text.is_empty() || in_text.len() < 5 {
        return field.to_string();
    }
    if field.len() < 5 {
        return in_text.to_string();
    }
    let (f0, t0) = (field.as_bytes()[0], in_text.as_bytes()[0]);
    if let Some(r0) = reply_code.and_then(|r| r.as_bytes().first().copied())
        && f0 != t0
    {
        if r0 == f0 {
            return field.to_string();
        }
        if r0 == t0 {
            return in_text.to_string();
        }
    }
    if field == in_text {
        return field.to_string();
    }
    let field_zero = field[1..].starts_with(".0.0");
    let text_zero = in_text[1..].starts_with(".0.0");
    if field_zero {
        return if text_zero { field } else { in_text }.to_string();
    }
    let field_has_zero = field[1..].contains(".0");
    let text_has_zero = in_text[1..].contains(".0");
    if field_has_zero && !text_has_zero {
        return in_text.to_string();
    }
    if text_zero {
        return field.to_string();
    }
    if field == "4.4.7" || field == "4.7.0" || field.starts_with("5.3.") {
        return in_text.to_string();
    }
    if [".5.1", ".5.2", ".5.4", ".5.5"]
        .iter()
        .any(|p| field[1..].starts_with(p))
    {
        return in_text.to_string();
    }
    if field == "5.1.1" {
        if text_has_zero || in_text.starts_with("5.5.") {
            return field.to_string();
        }
        return in_text.to_string();
    }
    if field == "5.1.3" && in_text.starts_with("5.7.") {
        return in_text.to_string();
    }
    field.to_string()
}

/// Whether `code` is an enhanced status code in form (`class.subject.detail`), by the shared
/// grammar of [`EnhancedStatus`](hikyaku_model::EnhancedStatus).
pub fn is_status(code: &str) -> bool {
    hikyaku_model::EnhancedStatus::parse(code).is_some()
}

const REPLY_2XX: &[&str] = &[
    "211", "214", "220", "221", "235", "250", "251", "252", "253", "334", "354",
];
const REPLY_4XX: &[&str] = &[
    "421", "450", "451", "452", "422", "430", "432", "453", "454", "455", "458", "459",
];
const REPLY_5XX: &[&str] = &[
    "550", "552", "553", "551", "521", "525", "523", "524", "530", "533", "534", "535", "538",
    "555", "556", "554", "500", "501", "502", "503", "504",
];

/// An SMTP reply code in `text`, of the class `class` (`b'2'`, `b'4'`, `b'5'`) when given.
/// Codes are tried in the order of how often they mean a bounce (550 before 554), each
/// standing alone: not part of a longer number, a status code or an address.
pub fn find_reply_code(text: &str, class: Option<u8>) -> Option<&'static str> {
    let bytes = text.as_bytes();
    if bytes.len() < 3 || names_x_unix(text) {
        return None;
    }
    let lists: &[&[&'static str]] = match class {
        Some(b'2') => &[REPLY_2XX],
        Some(b'4') => &[REPLY_4XX],
        Some(b'5') => &[REPLY_5XX],
        _ => &[REPLY_5XX, REPLY_4XX, REPLY_2XX],
    };
    // One pass marks every three-digit number that stands alone (a bit per number), then the
    // lists pick the likeliest: searching the text once per code was a tenth of the analyser.
    // A number standing alone is a run of exactly three digits with no dot or slash on
    // either side.
    let joined = |b: u8| b.is_ascii_digit() || b == b'.' || b == b'/';
    let mut alone = [0u64; 16];
    let mut at = 0;
    while at < bytes.len() {
        if !bytes[at].is_ascii_digit() {
            at += 1;
            continue;
        }
        let end = bytes[at..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |n| at + n);
        let before = if at == 0 { b' ' } else { bytes[at - 1] };
        let after = bytes.get(end).copied().unwrap_or(b' ');
        if end - at == 3 && !joined(before) && !joined(after) {
            let n = bytes[at..end]
                .iter()
                .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
            alone[n / 64] |= 1 << (n % 64);
        }
        at = end;
    }
    let has = |code: &str| {
        let n = code
            .bytes()
            .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
        alone[n / 64] & (1 << (n % 64)) != 0
    };
    lists
        .iter()
        .flat_map(|list| list.iter())
        .find(|code| has(code))
        .copied()
}

/// Whether `text` names the `X-UNIX` diagnostic type (any case), found from its dashes.
fn names_x_unix(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'-', bytes).any(|at| {
        at > 0
            && bytes[at - 1].eq_ignore_ascii_case(&b'x')
            && bytes
                .get(at + 1..at + 5)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"unix"))
    })
}

/// Whether `code` is a reply code in form (three digits, 2xx to 5xx).
pub fn is_reply_code(code: &str) -> bool {
    code.len() == 3
        && code.bytes().all(|b| b.is_ascii_digit())
        && matches!(code.as_bytes()[0], b'2' | b'4' | b'5')
}

/// What an enhanced status code alone says (RFC 3463, RFC 7372, RFC 7505 as Sisimai reads
/// them); `None` for codes that say too little (`4.3.9`, `5.5.1`, …).
pub fn reason_of_status(code: &str) -> Option<Reason> {
    use Reason::*;
    Some(match code {
        "2.1.5" => Delivered,
        "4.1.6" | "5.1.6" => HasMoved,
        "4.1.7" | "4.1.8" | "5.1.7" | "5.1.8" => Rejected,
        "4.1.9" | "5.1.9" => SystemError,
        "4.2.1" => Blocked,
        "4.2.2" | "5.2.2" => MailboxFull,
        "4.2.3" | "5.2.3" => ExceedLimit,
        "4.2.4" | "5.2.4" | "5.1.4" | "5.2.0" | "5.2.1" => Filtered,
        "4.3.1" | "5.3.1" | "4.4.5" => SystemFull,
        "4.3.2" | "5.3.2" | "5.1.10" | "5.7.27" => NotAccept,
        "4.3.0" | "4.3.3" | "4.3.5" | "5.3.0" | "5.3.3" | "5.3.5" | "4.4.3" | "5.4.3" | "4.5.3"
        | "4.5.5" | "5.5.4" | "5.5.5" => SystemError,
        "4.4.1" | "4.4.7" => Expired,
        "4.4.2" | "4.4.4" | "4.4.6" | "4.4.8" | "5.4.0" | "5.4.6" => NetworkError,
        "5.1.0" | "5.1.1" | "5.1.3" => UserUnknown,
        "4.1.2" | "5.1.2" | "5.4.4" => HostUnknown,
        "5.3.4" | "4.7.16" | "5.7.16" => MesgTooBig,
        "5.5.2" | "5.5.6" => SyntaxError,
        "5.5.3" => TooManyConn,
        "4.6.0" | "4.6.2" | "4.6.5" | "5.6.0" | "5.6.1" | "5.6.2" | "5.6.3" | "5.6.5" | "5.6.6"
        | "5.6.7" | "5.6.8" | "5.6.9" => ContentError,
        "4.7.1" | "4.7.2" => Blocked,
        "4.7.5" | "4.7.6" | "4.7.7" | "4.7.12" | "4.7.15" => SecurityError,
        "4.7.24" | "4.7.26" | "5.7.20" | "5.7.21" | "5.7.22" | "5.7.23" | "5.7.24" | "5.7.26"
        | "5.7.29" => AuthFailure,
        "4.7.25" | "5.7.25" => RequirePtr,
        "5.7.13" => Suspend,
        "5.7.17" | "5.7.18" => HasMoved,
        "5.7.28" => SpamDetected,
        "5.7.30" => FailedStartTls,
        _ if code.starts_with("5.7.") && code.len() <= 6 => SecurityError,
        _ => return None,
    })
}

/// The pseudo status code Sisimai gives a record that came without one: `5.0.9xx` (or
/// `4.0.9xx` when the error was temporary), one number per reason.
pub fn pseudo_status(reason: Reason, temporary: bool) -> Option<String> {
    use Reason::*;
    let number = match reason {
        AuthFailure => 926,
        BadReputation => 975,
        Blocked => 971,
        ContentError => 960,
        ExceedLimit => 923,
        Expired => 947,
        FailedStartTls => 976,
        Filtered if temporary => 924,
        Filtered => 910,
        HasMoved if !temporary => 916,
        HostUnknown if !temporary => 912,
        MailboxFull => 922,
        MailerError => 939,
        MesgTooBig => 934,
        NetworkError => 944,
        NoRelaying => 909,
        NotAccept => 932,
        NotCompliantRfc => 974,
        OnHold => 901,
        PolicyViolation => 972,
        Rejected => 918,
        RequirePtr => 973,
        SecurityError => 970,
        SpamDetected => 980,
        Speeding => 946,
        Suppressed => 903,
        Suspend => 921,
        SystemError => 930,
        SystemFull => 931,
        SyntaxError => 902,
        TooManyConn => 945,
        UserUnknown if !temporary => 911,
        Undefined => 900,
        VirusDetected => 981,
        _ => return None,
    };
    Some(format!("{}.0.{number}", if temporary { 4 } else { 5 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_status_codes_in_text() {
        let table: &[(&str, Option<&str>)] = &[
            ("550 5.1.1 <a@example.jp>... User Unknown", Some("5.1.1")),
            ("smtp; 550 5.7.26 unauthenticated", Some("5.7.26")),
            ("host [192.0.2.5] said 5.2.2 full", Some("5.2.2")),
            ("192.0.2.5 refused", None),
            ("Postfix 3.4.5 said no", None),
            (
                "550-5.7.1 [192.0.2.1] blocked 550 5.7.1 more",
                Some("5.7.1"),
            ),
            ("5.0.0 generic then 5.1.1 specific", Some("5.1.1")),
            ("only vague 4.4.7 here", Some("4.4.7")),
            ("#5.1.1 bad address", Some("5.1.1")),
            ("(#5.7.1)", Some("5.7.1")),
            ("no code at all", None),
            ("v5.1.1 is a version", None),
            ("code 5.7.509 access denied", Some("5.7.509")),
        ];
        for (text, want) in table {
            assert_eq!(find_status(text, b"542").as_deref(), *want, "{text}");
        }
    }

    #[test]
    fn prefers_the_specific_code() {
        let table = [
            ("5.0.0", "5.1.1", None, "5.1.1"),
            ("5.1.1", "5.0.0", None, "5.1.1"),
            ("4.4.7", "4.2.2", None, "4.2.2"),
            ("5.1.1", "5.2.2", None, "5.2.2"),
            ("5.1.1", "5.1.0", None, "5.1.1"),
            ("5.2.2", "4.2.2", Some("452"), "4.2.2"),
            ("5.7.1", "5.1.1", None, "5.7.1"),
            ("", "5.1.1", None, "5.1.1"),
            ("5.3.0", "5.1.1", None, "5.1.1"),
        ];
        for (field, text, reply, want) in table {
            assert_eq!(prefer(field, text, reply), want, "{field} {text}");
        }
    }

    #[test]
    fn finds_reply_codes() {
        let table: &[(&str, Option<u8>, Option<&str>)] = &[
            ("host said: 554 5.7.1 rejected", None, Some("554")),
            ("550 5.1.1 user unknown", Some(b'5'), Some("550")),
            ("552-mailbox full 552 bye", None, Some("552")),
            ("5.5.0 no", None, None),
            ("192.0.2.550 oops", None, None),
            ("421 try later", Some(b'5'), None),
            ("421 try later", Some(b'4'), Some("421")),
            ("x-unix; 550 nope", None, None),
        ];
        for (text, class, want) in table {
            assert_eq!(find_reply_code(text, *class), *want, "{text}");
        }
    }

    #[test]
    fn status_names_and_pseudo_codes() {
        assert_eq!(reason_of_status("5.1.1"), Some(Reason::UserUnknown));
        assert_eq!(reason_of_status("5.7.1"), Some(Reason::SecurityError));
        assert_eq!(reason_of_status("4.7.1"), Some(Reason::Blocked));
        // X.3.0, "other or undefined mail system status" (RFC 3463), in either class.
        assert_eq!(reason_of_status("4.3.0"), Some(Reason::SystemError));
        assert_eq!(reason_of_status("4.3.9"), None);
        assert_eq!(
            pseudo_status(Reason::Suspend, false).as_deref(),
            Some("5.0.921")
        );
        assert_eq!(pseudo_status(Reason::UserUnknown, true), None);
        assert!(is_status("5.7.509") && !is_status("5.7") && !is_status("6.1.1"));
    }
}
