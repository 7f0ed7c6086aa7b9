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
}
