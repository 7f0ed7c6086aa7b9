//! Substring searches over whole bodies and reports: the analyser asks a message's text for a
//! few dozen fixed sentences, most of them absent. `str::contains` walks the text with the
//! two-way algorithm and sets it up anew for each call; `memchr::memmem` skips ahead with a
//! vectorised scan for a rare byte of the sentence, so an absent one costs little. The answers
//! are those of `str::find` and `str::contains`.

/// The byte offset of the first occurrence of `needle` in `haystack`, as [`str::find`].
pub(crate) fn find(haystack: &str, needle: &str) -> Option<usize> {
    memchr::memmem::find(haystack.as_bytes(), needle.as_bytes())
}

/// Whether `haystack` holds `needle`, as [`str::contains`].
pub(crate) fn contains(haystack: &str, needle: &str) -> bool {
    find(haystack, needle).is_some()
}

/// The lines of `text` with their line breaks, as `text.split_inclusive('\n')`.
pub(crate) fn lines_inclusive(text: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= text.len() {
            return None;
        }
        let end =
            memchr::memchr(b'\n', &text.as_bytes()[start..]).map_or(text.len(), |n| start + n + 1);
        let line = &text[start..end];
        start = end;
        Some(line)
    })
}

/// The lines of `text` without their line breaks (`\n` or `\r\n`), as [`str::lines`].
pub(crate) fn lines(text: &str) -> impl Iterator<Item = &str> {
    lines_inclusive(text).map(|line| match line.strip_suffix('\n') {
        Some(line) => line.strip_suffix('\r').unwrap_or(line),
        None => line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_str() {
        let hay = "Délivrance échouée: 550 5.1.1 <a@example.jp>... User unknown\n";
        for needle in [
            "",
            "é",
            "550",
            "User unknown\n",
            "unknown user",
            "a@example.jp>",
            "\n",
        ] {
            assert_eq!(find(hay, needle), hay.find(needle), "{needle:?}");
            assert_eq!(contains(hay, needle), hay.contains(needle), "{needle:?}");
        }
    }

    #[test]
    fn lines_agree_with_str() {
        for text in [
            "",
            "a",
            "a\n",
            "a\r\nb",
            "a\n\nb\r",
            "\n",
            "x\r\n\r\n",
            "é\nü\r\n",
        ] {
            assert_eq!(
                lines(text).collect::<Vec<_>>(),
                text.lines().collect::<Vec<_>>(),
                "{text:?}"
            );
            assert_eq!(
                lines_inclusive(text).collect::<Vec<_>>(),
                text.split_inclusive('\n').collect::<Vec<_>>(),
                "{text:?}"
            );
        }
    }
}
