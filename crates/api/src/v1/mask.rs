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

#[cfg(test)]
mod tests {
    use super::shown_address;

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
