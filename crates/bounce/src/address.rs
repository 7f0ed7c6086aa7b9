//! E-mail addresses as bounces write them: in angle brackets, after `rfc822;`, quoted, with a
//! trailing dot or comment.

/// The address in `text` (the first one), cleaned: `rfc822; <A@B.example>.` → `A@B.example`.
pub(crate) fn find(text: &str) -> Option<String> {
    let text = text.trim();
    let text = match text.split_once(';') {
        Some((kind, rest)) if !kind.contains('@') && kind.len() < 16 => rest,
        _ => text,
    };
    // Prefer what is in angle brackets.
    if let Some(start) = text.find('<')
        && let Some(len) = text[start + 1..].find('>')
    {
        let inner = &text[start + 1..start + 1 + len];
        if let Some(a) = clean(inner) {
            return Some(a);
        }
    }
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | '<' | '>' | '(' | ')' | '[' | ']'))
        .find_map(clean)
}

/// `word` as an address if it is one.
fn clean(word: &str) -> Option<String> {
    // Most words of a text are no addresses: one byte search answers for them.
    if !word.contains('@') {
        return None;
    }
    // A quoted local part (`"a..b"@example.org`) keeps its quotes.
    let word = word.trim();
    if let Some(rest) = word.strip_prefix('"')
        && let Some(close) = rest.find("\"@")
        && !rest[..close].contains('"')
    {
        let quoted = word[..close + 2].to_string()
            + rest[close + 1..].trim_end_matches(['"', '\'', ':', ';', ',', '.', '>']);
        return is_address(&quoted).then_some(quoted);
    }
    let mut word = word
        .trim_matches(|c: char| matches!(c, '"' | '\'' | '`' | ':' | ';' | ',' | '.' | '<' | '>'));
    while let Some(rest) = word.strip_prefix("mailto:") {
        word = rest;
    }
    // A field name or an address type glued to the address (`To:a@b.example` in returned
    // headers, `[SMTP:a@b]` as Exchange and MailEnable write proxy addresses,
    // `Recipient:a@b`): a colon is no part of an unquoted local part (RFC 5322 `atext`), so the
    // address begins after it.
    if let Some(at) = word.rfind('@')
        && let Some(colon) = word[..at].rfind(':')
    {
        word = word[colon + 1..].trim_start_matches(['<', '"', '\'']);
    }
    is_address(word).then(|| word.to_string())
}

/// Whether `s` looks like `local@domain.tld`.
pub(crate) fn is_address(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 128
        && domain.len() >= 3
        && domain.len() <= 255
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'.' | b'-' | b'_' | b'[' | b']' | b':')
                || b >= 0x80
        })
        // An internationalised domain (RFC 6531/6533: `utf-8; a@例え.jp`) has UTF-8 labels, but
        // its last one is ASCII here: text glued to an address ("a@example.jpへご連絡") is not
        // a domain.
        && domain.rsplit('.').next().is_some_and(|tld| tld.is_ascii())
        && !local.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '(' | ')' | ',' | ';')
        })
}

/// Every address in `text`, in order, without repeats (compared case-insensitively).
///
/// The words are those between separators (white space, brackets, quotes, commas); only the
/// words around an `@` can be addresses, so the text is read from its `@` signs outwards
/// instead of word by word.
pub(crate) fn find_all(text: &str) -> Vec<String> {
    let separates = |c: char| {
        c.is_whitespace() || matches!(c, ',' | '<' | '>' | '(' | ')' | '[' | ']' | '"' | '\'')
    };
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // Where the last word read ends: a later `@` before it is in that word.
    let mut done = 0;
    for at in memchr::memchr_iter(b'@', text.as_bytes()) {
        if at < done {
            continue;
        }
        let start = text[..at]
            .char_indices()
            .rev()
            .find(|&(_, c)| separates(c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let end = text[at..]
            .char_indices()
            .find(|&(_, c)| separates(c))
            .map_or(text.len(), |(i, _)| at + i);
        done = end;
        if let Some(a) = clean(&text[start..end])
            && seen.insert(a.to_ascii_lowercase())
        {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_bounces_write_them() {
        let table: &[(&str, Option<&str>)] = &[
            ("rfc822; kijitora@example.jp", Some("kijitora@example.jp")),
            ("rfc822;<Neko@Example.JP>", Some("Neko@Example.JP")),
            ("  <a@b.example>:", Some("a@b.example")),
            ("\"a@b.example\".", Some("a@b.example")),
            ("Kijitora <k@example.org> (cat)", Some("k@example.org")),
            ("mailto:x@example.net", Some("x@example.net")),
            ("Recipient: [SMTP:x@example.net]", Some("x@example.net")),
            ("dda:SMTP:x@example.net;", Some("x@example.net")),
            (
                "rfc822; \"neko....nyaan....\"@libsisimai.org",
                Some("\"neko....nyaan....\"@libsisimai.org"),
            ),
            ("<\"a..b\"@example.org>...", Some("\"a..b\"@example.org")),
            ("To:user@example.com", Some("user@example.com")),
            (" Cc:other@example.org", Some("other@example.org")),
            ("no address here", None),
            ("rfc822; postmaster", None),
            ("user@localhost", None),
        ];
        for (text, want) in table {
            assert_eq!(find(text).as_deref(), *want, "{text}");
        }
        assert_eq!(
            find_all("To: a@b.example, \"C\" <c@d.example>, A@B.example"),
            vec!["a@b.example", "c@d.example"]
        );
        // Words end at any white space (the ideographic space too) and at brackets; a word
        // with two `@` is read once, as a whole.
        assert_eq!(
            find_all("宛先\u{3000}x@y.example\u{3000}不明 (a@b@c.example) [k@l.example]."),
            vec!["x@y.example", "a@b@c.example", "k@l.example"]
        );
    }
}
