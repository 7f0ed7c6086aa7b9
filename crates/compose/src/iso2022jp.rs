//! ISO-2022-JP (RFC 1468) for Japanese mail clients that expect it: the body as 7-bit JIS, and
//! header text as RFC 2047 "B" encoded words of it. mail-builder knows only UTF-8, so this part
//! is ours; the encoder itself is `encoding_rs`'s (the WHATWG one, which writes half-width
//! katakana as their full-width forms, as Japanese mailers always have).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use encoding_rs::ISO_2022_JP;

/// The longest encoded word RFC 2047 allows is 75 characters; less `=?ISO-2022-JP?B?` and
/// `?=` that leaves 57 characters of base64, so 14 groups of 3 bytes.
const MAX_WORD_BYTES: usize = 42;

/// The text in ISO-2022-JP, or the first character it cannot carry (emoji, Hangul, most
/// characters outside JIS X 0208): the caller refuses rather than send
/// a `?` or a numeric character reference in its place. (NEC's row 13, such as `①`, is in
/// the WHATWG table and goes through.)
pub fn encode(text: &str) -> Result<Vec<u8>, char> {
    let (bytes, _, unmappable) = ISO_2022_JP.encode(text);
    if unmappable {
        let bad = text
            .chars()
            .find(|c| ISO_2022_JP.encode(c.encode_utf8(&mut [0; 4])).2)
            .unwrap_or(char::REPLACEMENT_CHARACTER);
        return Err(bad);
    }
    Ok(bytes.into_owned())
}

/// `text` as encoded words separated by spaces (a folder may break the line at them). Each
/// word is a whole ISO-2022-JP sequence that starts and ends in ASCII, as RFC 1468 asks, and
/// never splits a character.
pub fn encoded_words(text: &str) -> Result<String, char> {
    encode(text)?;
    let mut words: Vec<String> = Vec::new();
    let mut start = 0;
    let mut fitting: Option<(usize, Vec<u8>)> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        let end = chars.peek().map_or(text.len(), |&(i, _)| i);
        let candidate = encode(&text[start..end])?;
        if candidate.len() <= MAX_WORD_BYTES || fitting.is_none() {
            fitting = Some((end, candidate));
            continue;
        }
        let (fit_end, bytes) = fitting.take().expect("checked above");
        words.push(word(&bytes));
        start = fit_end;
        let single = encode(&text[start..end])?;
        debug_assert!(
            single.len() <= MAX_WORD_BYTES,
            "one character {c:?} fits a word"
        );
        fitting = Some((end, single));
    }
    if let Some((_, bytes)) = fitting {
        words.push(word(&bytes));
    }
    Ok(words.join(" "))
}

fn word(bytes: &[u8]) -> String {
    format!("=?ISO-2022-JP?B?{}?=", STANDARD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> String {
        let (text, had_errors) = ISO_2022_JP.decode_without_bom_handling(bytes);
        assert!(!had_errors);
        text.into_owned()
    }

    #[test]
    fn body_text_is_seven_bit_jis() {
        let bytes = encode("こんにちは、世界。ｶﾀｶﾅ ABC").unwrap();
        assert!(bytes.iter().all(|b| *b < 0x80));
        assert!(bytes.starts_with(b"\x1b$B"));
        assert!(bytes.ends_with(b"ABC"));
        // Half-width katakana come back full-width.
        assert_eq!(decode(&bytes), "こんにちは、世界。カタカナ ABC");
    }

    #[test]
    fn characters_outside_jis_are_named() {
        assert_eq!(encode("ok 🍣"), Err('🍣'));
        assert_eq!(encode("안녕"), Err('안'));
        // NEC's circled digits are in the WHATWG table, as every Japanese client reads them.
        assert!(encode("①").is_ok());
        assert_eq!(encoded_words("件名😀"), Err('😀'));
    }

    #[test]
    fn words_are_short_whole_and_decode_back() {
        let subject = "【重要】お客様のアカウント情報の更新について（2026年12月分のご請求とお支払い方法の変更に関するお知らせ）";
        let words = encoded_words(subject).unwrap();
        let mut decoded = String::new();
        for w in words.split(' ') {
            assert!(w.len() <= 75, "{w}");
            let b64 = w
                .strip_prefix("=?ISO-2022-JP?B?")
                .and_then(|w| w.strip_suffix("?="))
                .unwrap();
            let bytes = STANDARD.decode(b64).unwrap();
            // Each word returns to ASCII at its end.
            assert!(bytes.ends_with(b"\x1b(B") || bytes.iter().all(|b| *b != 0x1b));
            decoded.push_str(&decode(&bytes));
        }
        assert_eq!(decoded, subject);
        assert!(words.split(' ').count() > 3);
    }
}
