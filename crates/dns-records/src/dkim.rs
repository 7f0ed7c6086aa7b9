//! DKIM key records (RFC 6376 section 3.6.1): whether the one published is the key we sign with.

/// How a published key record compares with ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyMatch {
    Same,
    /// `p=` is empty: the key was revoked.
    Revoked,
    /// Another key, or another key type; the text says which.
    Different(String),
}

/// A record's tags, names in lower case, values with their folding whitespace removed.
fn tags(record: &str) -> Vec<(String, String)> {
    record
        .split(';')
        .filter_map(|tag| {
            let (name, value) = tag.split_once('=')?;
            let value: String = value.split_whitespace().collect();
            Some((name.trim().to_ascii_lowercase(), value))
        })
        .collect()
}

fn tag<'a>(tags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Compares the published record with ours: the key (`p=`) and its type (`k=`, RSA when
/// absent) must be the same; other tags may differ.
pub(crate) fn compare(published: &str, ours: &str) -> KeyMatch {
    let published = tags(published);
    let ours = tags(ours);
    let key_type = |tags: &[(String, String)]| tag(tags, "k").unwrap_or("rsa").to_ascii_lowercase();
    match tag(&published, "p") {
        None => return KeyMatch::Different("it has no p= tag".into()),
        Some("") => return KeyMatch::Revoked,
        Some(_) => {}
    }
    if key_type(&published) != key_type(&ours) {
        return KeyMatch::Different(format!(
            "its key type is k={}, ours is k={}",
            key_type(&published),
            key_type(&ours)
        ));
    }
    if tag(&published, "p") != tag(&ours, "p") {
        return KeyMatch::Different("its public key (p=) is not ours".into());
    }
    KeyMatch::Same
}

/// Whether a TXT record is meant as a DKIM key record (the version tag is optional).
pub(crate) fn is_key_record(text: &str) -> bool {
    let tags = tags(text);
    tag(&tags, "v").is_none_or(|v| v == "DKIM1") && tag(&tags, "p").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_by_key_and_type_only() {
        let ours = "v=DKIM1; k=rsa; p=MIIBIjANBgkq";
        for (published, expected) in [
            ("v=DKIM1; k=rsa; p=MIIBIjANBgkq", KeyMatch::Same),
            ("v=DKIM1;k=rsa;p=MIIB IjAN\tBgkq", KeyMatch::Same),
            ("v=DKIM1; p=MIIBIjANBgkq; t=s", KeyMatch::Same),
            ("v=DKIM1; K=RSA; P=MIIBIjANBgkq", KeyMatch::Same),
            ("v=DKIM1; k=rsa; p=", KeyMatch::Revoked),
            (
                "v=DKIM1; k=rsa; p=MIIBOTHERKEY",
                KeyMatch::Different("its public key (p=) is not ours".into()),
            ),
            (
                "v=DKIM1; k=ed25519; p=MIIBIjANBgkq",
                KeyMatch::Different("its key type is k=ed25519, ours is k=rsa".into()),
            ),
            (
                "v=DKIM1; k=rsa",
                KeyMatch::Different("it has no p= tag".into()),
            ),
        ] {
            assert_eq!(compare(published, ours), expected, "{published}");
        }
        assert!(is_key_record("p=abc"));
        assert!(!is_key_record("v=spf1 -all"));
    }
}
