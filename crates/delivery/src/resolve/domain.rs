//! The domain part of a recipient address, in the form DNS and the routes compare.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_resolver::proto::rr::Name;

/// A recipient domain: a name (U-labels converted to A-labels) or an address literal
/// (`[192.0.2.1]`, `[IPv6:2001:db8::1]`, RFC 5321 section 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MailDomain {
    Name {
        /// Lower-case A-labels without the trailing dot: what routes are matched against.
        ascii: String,
        /// The same, fully qualified, so the system's search list is never appended.
        fqdn: Name,
    },
    Literal(IpAddr),
}

impl MailDomain {
    pub(crate) fn parse(domain: &str) -> Result<MailDomain, String> {
        let trimmed = domain.strip_suffix('.').unwrap_or(domain);
        if trimmed.is_empty() {
            return Err("empty domain".to_owned());
        }
        if let Some(inner) = trimmed.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or("unterminated address literal")?;
            return parse_literal(inner).map(MailDomain::Literal);
        }
        // hickory's parser reads `\.` and `\065` escapes and would accept names no address
        // can carry; the characters below never belong in a mail domain.
        if let Some(bad) = trimmed.chars().find(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '\\' | '@' | '[' | ']' | '*')
        }) {
            return Err(format!("character {bad:?} not allowed"));
        }
        if trimmed.split('.').any(str::is_empty) {
            return Err("empty label".to_owned());
        }
        let mut fqdn = Name::from_utf8(trimmed).map_err(|e| e.to_string())?;
        fqdn.set_fqdn(true);
        fqdn = fqdn.to_lowercase();
        let ascii = fqdn.to_ascii();
        let ascii = ascii.strip_suffix('.').unwrap_or(&ascii).to_owned();
        if ascii.len() > 253 {
            return Err("longer than 253 characters".to_owned());
        }
        Ok(MailDomain::Name { ascii, fqdn })
    }

    /// The key routes are matched against: the A-label name, or the literal in its
    /// canonical bracketed form.
    pub(crate) fn route_key(&self) -> String {
        match self {
            MailDomain::Name { ascii, .. } => ascii.clone(),
            MailDomain::Literal(ip) => literal_text(*ip),
        }
    }
}

/// The canonical text of an address literal, as RFC 5321 writes it.
pub(crate) fn literal_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("[{v4}]"),
        IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    }
}

fn parse_literal(inner: &str) -> Result<IpAddr, String> {
    let tag = inner.get(..5);
    if tag.is_some_and(|tag| tag.eq_ignore_ascii_case("IPv6:")) {
        return inner[5..]
            .parse::<Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|e| format!("IPv6 literal: {e}"));
    }
    inner
        .parse::<Ipv4Addr>()
        .map(IpAddr::V4)
        .map_err(|e| format!("IPv4 literal: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ascii(domain: &str) -> Result<String, String> {
        MailDomain::parse(domain).map(|d| d.route_key())
    }

    #[test]
    fn names_become_lower_case_a_labels() {
        let table = [
            ("example.jp", "example.jp"),
            ("EXAMPLE.JP", "example.jp"),
            ("example.jp.", "example.jp"),
            ("Mail.Example.COM", "mail.example.com"),
            ("例え.jp", "xn--r8jz45g.jp"),
            ("ドメイン名例.jp", "xn--eckwd4c7cu47r2wf.jp"),
            ("xn--r8jz45g.jp", "xn--r8jz45g.jp"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("localhost", "localhost"),
            ("a-b.example", "a-b.example"),
        ];
        for (input, expected) in table {
            assert_eq!(ascii(input).as_deref(), Ok(expected), "{input}");
        }
    }

    #[test]
    fn literals_keep_their_address() {
        let table = [
            ("[127.0.0.1]", "[127.0.0.1]"),
            ("[IPv6:::1]", "[IPv6:::1]"),
            ("[ipv6:0:0:0:0:0:0:0:1]", "[IPv6:::1]"),
        ];
        for (input, expected) in table {
            assert_eq!(ascii(input).as_deref(), Ok(expected), "{input}");
        }
    }

    #[test]
    fn malformed_domains_are_refused() {
        let table = [
            "",
            ".",
            "a..b",
            ".example.jp",
            "exa mple.jp",
            "user@example.jp",
            "ex\\.ample.jp",
            "[127.0.0.1",
            "[300.0.0.1]",
            "[IPv6:127.0.0.1]",
            "[::1]",
            "*.example.jp",
            "example.jp\r\n",
        ];
        for input in table {
            assert!(ascii(input).is_err(), "{input:?} was accepted");
        }
        let long = format!("{}.jp", vec!["a".repeat(63); 4].join("."));
        assert!(ascii(&long).is_err(), "a 259-character name was accepted");
    }
}
