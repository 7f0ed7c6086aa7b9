//! The two texts of MTA-STS, without I/O: the `_mta-sts` TXT record that announces a policy and
//! its id, and the policy file that says which MX hosts may receive the domain's mail and how
//! strictly (RFC 8461 sections 3.1 and 3.2).
//!
//! Both parsers refuse rather than guess: a record or policy that does not parse is, for the
//! sender, no policy at all (the RFC's rule), so a half-understood one must never narrow where
//! mail goes.

use std::time::Duration;

/// The longest `max_age` the RFC allows (a year); longer values are cut to it.
pub const MAX_MAX_AGE: Duration = Duration::from_secs(31_557_600);
/// The longest policy file read (the RFC lets senders stop at 64 KiB).
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// A valid `v=STSv1` TXT record: it says a policy exists and names its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsRecord {
    /// 1 to 32 letters and digits; a new id means the policy file changed.
    pub id: String,
}

/// Why the TXT records of `_mta-sts.<domain>` announce no usable policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("no TXT record starts with v=STSv1")]
    None,
    #[error("{0} TXT records start with v=STSv1 (exactly one is allowed)")]
    Several(usize),
    #[error("invalid v=STSv1 record: {0}")]
    Invalid(String),
}

/// Picks the STS record among a name's TXT records (each given as its strings joined): records
/// that do not start with `v=STSv1` are someone else's and ignored; exactly one must remain,
/// and it must parse.
pub fn parse_record<S: AsRef<str>>(records: &[S]) -> Result<StsRecord, RecordError> {
    let candidates: Vec<&str> = records
        .iter()
        .map(AsRef::as_ref)
        .filter(|text| starts_as_sts(text))
        .collect();
    match candidates.as_slice() {
        [] => Err(RecordError::None),
        [one] => parse_one_record(one).map_err(RecordError::Invalid),
        several => Err(RecordError::Several(several.len())),
    }
}

/// `v=STSv1` followed by the field delimiter (spaces and `;`) or nothing.
fn starts_as_sts(text: &str) -> bool {
    text.strip_prefix("v=STSv1")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([';', ' ', '\t']))
}

fn parse_one_record(text: &str) -> Result<StsRecord, String> {
    let mut fields: Vec<&str> = text
        .split(';')
        .map(|f| f.trim_matches([' ', '\t']))
        .collect();
    // The record may end with a delimiter, which leaves one empty field behind.
    if fields.len() > 1 && fields.last() == Some(&"") {
        fields.pop();
    }
    if fields.first() != Some(&"v=STSv1") {
        return Err("the first field must be v=STSv1".into());
    }
    let mut id = None;
    for field in &fields[1..] {
        if field.is_empty() {
            return Err("empty field".into());
        }
        let (name, value) = field
            .split_once('=')
            .ok_or_else(|| format!("field {field:?} has no '='"))?;
        if !is_field_name(name) {
            return Err(format!("invalid field name {name:?}"));
        }
        if value.is_empty() || !value.bytes().all(is_field_value_byte) {
            return Err(format!("invalid value of {name}"));
        }
        if name == "id" {
            if id.is_some() {
                return Err("id given twice".into());
            }
            if value.len() > 32 || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!("id {value:?} is not 1 to 32 letters and digits"));
            }
            id = Some(value.to_string());
        }
    }
    match id {
        Some(id) => Ok(StsRecord { id }),
        None => Err("no id".into()),
    }
}

/// `(ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")`
fn is_field_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 32
        && bytes[0].is_ascii_alphanumeric()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(b))
}

/// Visible ASCII except `;` and `=`.
fn is_field_value_byte(b: u8) -> bool {
    matches!(b, 0x21..=0x3a | 0x3c | 0x3e..=0x7e)
}

/// How strictly a policy is to be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deliver only to matching MX hosts, over TLS with a certificate that names them.
    Enforce,
    /// Deliver as without a policy, and report what enforcing would have refused.
    Testing,
    /// The domain withdrew its policy.
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }

    /// The mode [`Mode::as_str`] names, exactly (the policy file's values are case-sensitive).
    pub fn from_name(name: &str) -> Option<Mode> {
        match name {
            "enforce" => Some(Mode::Enforce),
            "testing" => Some(Mode::Testing),
            "none" => Some(Mode::None),
            _ => None,
        }
    }
}

/// One `mx:` line: a host name, or `*.` and a domain standing for exactly one more label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxPattern {
    /// Lower case, without the `*.` and without a final dot.
    name: String,
    wildcard: bool,
}

impl MxPattern {
    fn parse(text: &str) -> Option<MxPattern> {
        let text = text.trim_end_matches('.').to_ascii_lowercase();
        let (name, wildcard) = match text.strip_prefix("*.") {
            Some(rest) => (rest.to_string(), true),
            None => (text, false),
        };
        hikyaku_config::is_domain_name(&name).then_some(MxPattern { name, wildcard })
    }

    /// Whether an MX host (as DNS gave it, any case, final dot or not) is one this pattern
    /// allows. A wildcard covers one label only: `*.example.net` allows `mx1.example.net`,
    /// neither `example.net` nor `a.mx1.example.net`.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if !self.wildcard {
            return host == self.name;
        }
        match host.split_once('.') {
            Some((first, rest)) => !first.is_empty() && rest == self.name,
            None => false,
        }
    }
}

impl std::fmt::Display for MxPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.name)
    }
}

/// A parsed policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// Empty only in mode `none`.
    pub mx: Vec<MxPattern>,
    /// How long the policy may be cached, at most [`MAX_MAX_AGE`].
    pub max_age: Duration,
}

impl Policy {
    /// Whether some `mx` pattern allows this MX host.
    pub fn allows(&self, host: &str) -> bool {
        self.mx.iter().any(|pattern| pattern.matches(host))
    }

    /// A policy from its parts as they were stored (the mode's name, the patterns as
    /// [`MxPattern`] displays them); `None` when they are not a policy [`parse_policy`] could
    /// have made.
    pub fn from_parts(mode: &str, mx: &[String], max_age: Duration) -> Option<Policy> {
        let mode = Mode::from_name(mode)?;
        let mx = mx
            .iter()
            .map(|pattern| MxPattern::parse(pattern))
            .collect::<Option<Vec<_>>>()?;
        (mode == Mode::None || !mx.is_empty()).then_some(Policy {
            mode,
            mx,
            max_age: max_age.min(MAX_MAX_AGE),
        })
    }

    /// The patterns as the policy gives them, for messages.
    pub fn mx_list(&self) -> String {
        let patterns: Vec<String> = self.mx.iter().map(ToString::to_string).collect();
        patterns.join(", ")
    }
}

/// Why a policy file is not a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the policy is larger than 64 KiB")]
    TooLarge,
    #[error("the policy is not text: {0}")]
    NotText(String),
    #[error("line {0:?} is not \"key: value\"")]
    Line(String),
    #[error("version is missing or not STSv1")]
    Version,
    #[error("mode is missing or not enforce, testing or none")]
    Mode,
    #[error("max_age is missing or not a number of seconds")]
    MaxAge,
    #[error("invalid mx pattern {0:?}")]
    Mx(String),
    #[error("mode {0} needs at least one mx pattern")]
    NoMx(&'static str),
}

/// Parses a policy file: `key: value` lines ending in LF or CRLF, in any order. Unknown keys are
/// ignored (future extensions); of a key given twice the first counts, except `mx`, which may
/// repeat. `max_age` is up to ten digits, cut to [`MAX_MAX_AGE`].
pub fn parse_policy(body: &[u8]) -> Result<Policy, PolicyError> {
    if body.len() > MAX_POLICY_BYTES {
        return Err(PolicyError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|e| PolicyError::NotText(e.to_string()))?;
    let mut version = None;
    let mut mode = None;
    let mut max_age = None;
    let mut mx = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim_matches([' ', '\t']).is_empty() {
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| PolicyError::Line(shorten(line)))?;
        let value = value.trim_matches([' ', '\t']);
        if !is_field_name(key) || value.bytes().any(|b| b.is_ascii_control()) {
            return Err(PolicyError::Line(shorten(line)));
        }
        match key {
            "version" => {
                version.get_or_insert(value);
            }
            "mode" => {
                mode.get_or_insert(value);
            }
            "max_age" => {
                max_age.get_or_insert(value);
            }
            "mx" => {
                mx.push(MxPattern::parse(value).ok_or_else(|| PolicyError::Mx(shorten(value)))?)
            }
            _ => {}
        }
    }
    if version != Some("STSv1") {
        return Err(PolicyError::Version);
    }
    let mode = mode.and_then(Mode::from_name).ok_or(PolicyError::Mode)?;
    let max_age = max_age
        .filter(|v| !v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or(PolicyError::MaxAge)?;
    if mx.is_empty() && mode != Mode::None {
        return Err(PolicyError::NoMx(mode.as_str()));
    }
    Ok(Policy {
        mode,
        mx,
        max_age: Duration::from_secs(max_age).min(MAX_MAX_AGE),
    })
}

/// A hostile line is quoted in errors, but not all of it.
fn shorten(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_records_table() {
        let ok = |id: &str| Ok(StsRecord { id: id.into() });
        let invalid = |why: &str| Err(RecordError::Invalid(why.into()));
        let table: Vec<(Vec<&str>, Result<StsRecord, RecordError>)> = vec![
            (vec!["v=STSv1; id=20160831085700Z;"], ok("20160831085700Z")),
            (vec!["v=STSv1;id=abc"], ok("abc")),
            (vec!["v=STSv1 ; id=abc ;  "], ok("abc")),
            (vec!["v=STSv1; id=abc; ext_x=1.2"], ok("abc")),
            (vec!["v=spf1 -all", "v=STSv1; id=a1;"], ok("a1")),
            (vec!["v=STSv1; ext=1; id=Z9"], ok("Z9")),
            (vec![], Err(RecordError::None)),
            (vec!["v=spf1 -all"], Err(RecordError::None)),
            // Not a prefix match on a longer version.
            (vec!["v=STSv10; id=a"], Err(RecordError::None)),
            (vec!["V=STSv1; id=a"], Err(RecordError::None)),
            (vec![" v=STSv1; id=a"], Err(RecordError::None)),
            (
                vec!["v=STSv1; id=a", "v=STSv1; id=b"],
                Err(RecordError::Several(2)),
            ),
            (vec!["v=STSv1"], invalid("no id")),
            (vec!["v=STSv1;"], invalid("no id")),
            (vec!["v=STSv1; id="], invalid("invalid value of id")),
            (
                vec!["v=STSv1; id=has-dash"],
                invalid("id \"has-dash\" is not 1 to 32 letters and digits"),
            ),
            (
                vec!["v=STSv1; id=123456789012345678901234567890123"],
                invalid(
                    "id \"123456789012345678901234567890123\" is not 1 to 32 letters and digits",
                ),
            ),
            (vec!["v=STSv1; id=a; id=b"], invalid("id given twice")),
            (vec!["v=STSv1;; id=a"], invalid("empty field")),
            (vec!["v=STSv1; id=a;;"], invalid("empty field")),
            (vec!["v=STSv1; id"], invalid("field \"id\" has no '='")),
            (
                vec!["v=STSv1; -x=1; id=a"],
                invalid("invalid field name \"-x\""),
            ),
            (vec!["v=STSv1; id=a b"], invalid("invalid value of id")),
            (vec!["v=STSv1; id=a\u{0}"], invalid("invalid value of id")),
            (vec!["v=STSv1; id=\u{e9}"], invalid("invalid value of id")),
            (vec!["v=STSv1; x=a=b; id=a"], invalid("invalid value of x")),
        ];
        for (records, expected) in table {
            assert_eq!(parse_record(&records), expected, "{records:?}");
        }
    }

    fn policy(mode: Mode, mx: &[&str], max_age: u64) -> Result<Policy, PolicyError> {
        Ok(Policy {
            mode,
            mx: mx.iter().map(|m| MxPattern::parse(m).unwrap()).collect(),
            max_age: Duration::from_secs(max_age),
        })
    }

    #[test]
    fn policy_files_table() {
        let long_line = format!("mx: {}", "a".repeat(300));
        let huge = "x".repeat(MAX_POLICY_BYTES + 1);
        let table: Vec<(&[u8], Result<Policy, PolicyError>)> = vec![
            (
                b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 86400\r\n",
                policy(Mode::Enforce, &["mail.example.com", "*.example.net"], 86400),
            ),
            // LF endings, any order, no final newline, spaces around values.
            (
                b"max_age:604800\nmx:  MX.Example.COM. \nmode: testing\nversion: STSv1",
                policy(Mode::Testing, &["mx.example.com"], 604800),
            ),
            // Unknown keys are ignored; the first of a repeated key counts.
            (
                b"version: STSv1\nmode: enforce\nmode: none\nfoo_bar: anything at all\nmx: a.test\nmax_age: 5\nmax_age: 9",
                policy(Mode::Enforce, &["a.test"], 5),
            ),
            // Blank lines are skipped; none needs no mx.
            (b"version: STSv1\n\nmode: none\nmax_age: 0\n", policy(Mode::None, &[], 0)),
            // max_age is cut to a year.
            (
                b"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 9999999999",
                policy(Mode::Enforce, &["a.test"], MAX_MAX_AGE.as_secs()),
            ),
            (b"", Err(PolicyError::Version)),
            (b"version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1", Err(PolicyError::Version)),
            (b"version: stsv1\nmode: enforce\nmx: a.test\nmax_age: 1", Err(PolicyError::Version)),
            (b"version: STSv1\nmode: Enforce\nmx: a.test\nmax_age: 1", Err(PolicyError::Mode)),
            (b"version: STSv1\nmx: a.test\nmax_age: 1", Err(PolicyError::Mode)),
            (b"version: STSv1\nmode: enforce\nmx: a.test", Err(PolicyError::MaxAge)),
            (b"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1", Err(PolicyError::MaxAge)),
            (b"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 12345678901", Err(PolicyError::MaxAge)),
            (b"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1e5", Err(PolicyError::MaxAge)),
            (b"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: ", Err(PolicyError::MaxAge)),
            (b"version: STSv1\nmode: enforce\nmax_age: 1", Err(PolicyError::NoMx("enforce"))),
            (b"version: STSv1\nmode: testing\nmax_age: 1", Err(PolicyError::NoMx("testing"))),
            (b"version: STSv1\nmode: enforce\nmx: *\nmax_age: 1", Err(PolicyError::Mx("*".into()))),
            (b"version: STSv1\nmode: enforce\nmx: a.*.test\nmax_age: 1", Err(PolicyError::Mx("a.*.test".into()))),
            (b"version: STSv1\nmode: enforce\nmx: **.test\nmax_age: 1", Err(PolicyError::Mx("**.test".into()))),
            (b"version: STSv1\nmode: enforce\nmx: a..test\nmax_age: 1", Err(PolicyError::Mx("a..test".into()))),
            (b"version: STSv1\nmode: enforce\nmx: -a.test\nmax_age: 1", Err(PolicyError::Mx("-a.test".into()))),
            (b"version: STSv1\nmode: enforce\nmx: a.test:25\nmax_age: 1", Err(PolicyError::Mx("a.test:25".into()))),
            (b"version: STSv1\nmode: enforce\nmx: \nmax_age: 1", Err(PolicyError::Mx("".into()))),
            (long_line.as_bytes(), Err(PolicyError::Mx("a".repeat(80)))),
            (b"version STSv1", Err(PolicyError::Line("version STSv1".into()))),
            (b"version: STSv1\nmode: enforce\x00\n", Err(PolicyError::Line("mode: enforce\x00".into()))),
            (b" version: STSv1", Err(PolicyError::Line(" version: STSv1".into()))),
            (b"<html>\n<body>", Err(PolicyError::Line("<html>".into()))),
            (b"version: STSv1\xff", Err(PolicyError::NotText("invalid utf-8 sequence of 1 bytes from index 14".into()))),
            (huge.as_bytes(), Err(PolicyError::TooLarge)),
        ];
        for (body, expected) in table {
            assert_eq!(
                parse_policy(body),
                expected,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn mx_patterns_match_one_label_under_a_wildcard() {
        let table = [
            ("mail.example.com", "mail.example.com", true),
            ("mail.example.com", "MAIL.example.com.", true),
            ("mail.example.com", "other.example.com", false),
            ("mail.example.com", "a.mail.example.com", false),
            ("*.example.net", "mx1.example.net", true),
            ("*.example.net", "MX1.EXAMPLE.NET.", true),
            ("*.example.net", "example.net", false),
            ("*.example.net", "a.mx1.example.net", false),
            ("*.example.net", "mx1.example.net.evil.test", false),
            ("*.example.net", "mx1example.net", false),
            ("*.example.net", ".example.net", false),
            ("*.example.net", "127.0.0.1", false),
        ];
        for (pattern, host, expected) in table {
            let pattern = MxPattern::parse(pattern).unwrap();
            assert_eq!(pattern.matches(host), expected, "{pattern} {host}");
        }
    }
}
