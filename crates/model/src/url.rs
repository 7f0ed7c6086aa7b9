//! URLs as they may be shown in logs, errors and answers.

/// The URL with the secret of its user information replaced by `****`
/// (`https://user:****@host/path`); a user name alone, often a token in a webhook or endpoint
/// URL, is masked whole. Only the authority is looked at, so an `@` in the path or query stays.
pub fn masked_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else {
        return url.to_string();
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| scheme_end + at);
    let Some(at) = url[scheme_end..authority_end]
        .rfind('@')
        .map(|at| scheme_end + at)
    else {
        return url.to_string();
    };
    let masked = match url[scheme_end..at].split_once(':') {
        Some((user, _)) => format!("{user}:****"),
        None => "****".to_string(),
    };
    format!("{}{masked}{}", &url[..scheme_end], &url[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_masked() {
        for (url, shown) in [
            (
                "https://hooks.example.com/in",
                "https://hooks.example.com/in",
            ),
            ("https://user:s3cret@host/p", "https://user:****@host/p"),
            (
                "http://user:p@ss:w@rd@host:8080/p?q=a@b",
                "http://user:****@host:8080/p?q=a@b",
            ),
            ("https://tok3n@host/", "https://****@host/"),
            ("https://host/path@x", "https://host/path@x"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(masked_url(url), shown, "{url}");
        }
    }

    #[test]
    fn database_urls_show_no_password() {
        for (url, shown) in [
            ("postgres://u:secret@h/db", "postgres://u:****@h/db"),
            ("postgres://u@h/db", "postgres://****@h/db"),
            ("mysql://h/db", "mysql://h/db"),
        ] {
            assert_eq!(masked_url(url), shown);
        }
    }
}
