//! How addresses appear in answers to keys that may not see them.

/// `address` as the caller may see it: in clear when `see_addresses`, otherwise its first
/// character and the domain (`t***@example.jp`), so a person can still tell entries apart
/// without the list becoming a copy of the contract's customers. Text without an `@` (a
/// domain pattern) is shown as it is: it names no person.
pub fn shown_address(address: &str, see_addresses: bool) -> String {
    if see_addresses {
        return address.to_string();
    }
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => address.to_string(),
    }
}

/// `text` with every occurrence of `addresses` (without regard to ASCII case) masked: a remote
/// server's reply often repeats the recipient (`550 5.1.1 <taro@example.jp>: no such user`).
pub fn scrubbed(text: &str, addresses: &[&str]) -> String {
    let mut out = text.to_string();
    for address in addresses.iter().filter(|a| a.contains('@')) {
        let masked = shown_address(address, false);
        let needle = address.to_ascii_lowercase();
        let mut result = String::with_capacity(out.len());
        let lower = out.to_ascii_lowercase();
        let mut rest = 0;
        // ASCII lowercasing keeps every byte offset, so positions in `lower` are `out`'s.
        while let Some(found) = lower[rest..].find(&needle) {
            result.push_str(&out[rest..rest + found]);
            result.push_str(&masked);
            rest += found + needle.len();
        }
        result.push_str(&out[rest..]);
        out = result;
    }
    out
}

/// `text` with every run shaped like an address (`local@domain`) masked too: free text (a
/// server's reply, the sender's metadata) may name other people than the event's own.
/// Masking a masked address changes nothing.
pub fn scrubbed_free_text(text: &str, addresses: &[&str]) -> String {
    let text = scrubbed(text, addresses);
    let is_local = |c: char| c.is_alphanumeric() || "._%+-!#$&'*/=?^`{|}~".contains(c);
    let is_domain = |c: char| c.is_alphanumeric() || c == '-' || c == '.';
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let (mut emitted, mut i) = (0, 0);
    while i < chars.len() {
        if chars[i] == '@' {
            let mut start = i;
            while start > emitted && is_local(chars[start - 1]) {
                start -= 1;
            }
            let mut end = i + 1;
            while end < chars.len() && is_domain(chars[end]) {
                end += 1;
            }
            while end > i + 1 && chars[end - 1] == '.' {
                end -= 1;
            }
            if start < i && end > i + 1 {
                out.extend(&chars[emitted..start]);
                out.push(chars[start]);
                out.push_str("***@");
                out.extend(&chars[i + 1..end]);
                emitted = end;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out.extend(&chars[emitted..]);
    out
}

#[cfg(test)]
mod tests {
    use super::{scrubbed, scrubbed_free_text, shown_address};

    #[test]
    fn free_text_keeps_no_address_in_clear() {
        let table = [
            ("moved to hanako@new.example.", "moved to h***@new.example."),
            ("<Taro@Example.JP>", "<t***@example.jp>"),
            ("a@b c@d", "a***@b c***@d"),
            ("t***@example.jp", "t***@example.jp"),
            ("@example.jp, user@, @@, a@", "@example.jp, user@, @@, a@"),
            ("太郎@例え.jp です", "太***@例え.jp です"),
            (
                "x.y+tag@mail.example.com;z@q",
                "x***@mail.example.com;z***@q",
            ),
            ("no address", "no address"),
        ];
        for (text, expected) in table {
            assert_eq!(
                scrubbed_free_text(text, &["taro@example.jp"]),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn replies_that_repeat_the_address_are_scrubbed() {
        assert_eq!(
            scrubbed(
                "550 5.1.1 <Taro@Example.JP>: no such user taro@example.jp",
                &["taro@example.jp", "app@sender.example"]
            ),
            "550 5.1.1 <t***@example.jp>: no such user t***@example.jp"
        );
        assert_eq!(scrubbed("太郎 ok", &["太郎@例え.jp"]), "太郎 ok");
        assert_eq!(
            scrubbed("a 太郎@例え.jp b", &["太郎@例え.jp"]),
            "a 太***@例え.jp b"
        );
        assert_eq!(scrubbed("no address", &[""]), "no address");
    }

    #[test]
    fn addresses_are_masked_unless_allowed() {
        assert_eq!(shown_address("taro@example.jp", false), "t***@example.jp");
        assert_eq!(shown_address("taro@example.jp", true), "taro@example.jp");
        assert_eq!(shown_address("@example.jp", false), "***@example.jp");
        assert_eq!(
            shown_address("\"a@b\"@example.jp", false),
            "\"***@example.jp"
        );
        assert_eq!(shown_address("太郎@例え.jp", false), "太***@例え.jp");
        assert_eq!(shown_address("example.jp", false), "example.jp");
    }
}
