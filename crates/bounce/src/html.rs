//! The text of an HTML part as its reader sees it. Some providers send their notices as HTML
//! only, with a style sheet in the body; the converter we use (mail-parser's) knows a
//! `<style>` element only when the tag has no attributes, so `<style type="text/css">` came
//! through as text and a notice's first words, the diagnostic, were CSS. Elements a browser
//! never shows (style sheets, scripts, comments) are removed here before the conversion.

use std::borrow::Cow;

/// Elements whose contents are code, not text (HTML's raw-text elements).
const HIDDEN_ELEMENTS: [&[u8]; 2] = [b"style", b"script"];

/// The readable text of `html`.
pub(crate) fn to_text(html: &str) -> String {
    mail_parser::decoders::html::html_to_text(&without_hidden(html))
}

/// `html` without its comments and the elements of [`HIDDEN_ELEMENTS`], each with its
/// contents, and a space before a tag that ends a word where whitespace follows
/// ([`ends_word_before_space`]). Like a browser, an element or comment left open runs to the
/// end of the input.
fn without_hidden(html: &str) -> Cow<'_, str> {
    let bytes = html.as_bytes();
    let mut shown = String::new();
    let mut copied_to = 0;
    let mut at = 0;
    while let Some(n) = memchr::memchr(b'<', &bytes[at..]) {
        let open = at + n;
        let end = if bytes[open..].starts_with(b"<!--") {
            Some(comment_end(bytes, open))
        } else {
            HIDDEN_ELEMENTS
                .iter()
                .find(|name| tag_named(bytes, open + 1, name))
                .map(|name| element_end(bytes, open, name))
        };
        match end {
            Some(end) => {
                shown.push_str(&html[copied_to..open]);
                copied_to = end;
                at = end;
            }
            None => {
                if ends_word_before_space(bytes, open) {
                    shown.push_str(&html[copied_to..open]);
                    shown.push(' ');
                    copied_to = open;
                }
                at = open + 1;
            }
        }
    }
    if copied_to == 0 && shown.is_empty() {
        return Cow::Borrowed(html);
    }
    shown.push_str(&html[copied_to..]);
    Cow::Owned(shown)
}

/// Whether the tag at `open` ends a word and whitespace follows it and the tags after it
/// (`…example.org</a> </td> because`). The converter loses that whitespace when the word
/// stands at the start of a line (after `</p>` or `<br>`): it clears its line-start state only
/// for a word ended by whitespace, and glued the address to the next word. A space before the
/// tag is shown as the whitespace after it is, so the text reads as a browser shows it.
fn ends_word_before_space(bytes: &[u8], open: usize) -> bool {
    if open == 0
        || matches!(
            bytes[open - 1],
            b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'
        )
    {
        return false;
    }
    let mut at = open;
    loop {
        let Some(n) = memchr::memchr(b'>', &bytes[at..]) else {
            return false;
        };
        let after = at + n + 1;
        match bytes.get(after) {
            Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') => return true,
            // Another tag, unless it opens a comment or an element that is removed (what
            // follows those decides nothing here).
            Some(b'<')
                if !bytes[after..].starts_with(b"<!--")
                    && !HIDDEN_ELEMENTS
                        .iter()
                        .any(|name| tag_named(bytes, after + 1, name)) =>
            {
                at = after
            }
            _ => return false,
        }
    }
}

/// Whether the tag name starting at `at` is `name` (any case), ended as a tag name ends.
fn tag_named(bytes: &[u8], at: usize, name: &[u8]) -> bool {
    bytes
        .get(at..at + name.len())
        .is_some_and(|word| word.eq_ignore_ascii_case(name))
        && bytes
            .get(at + name.len())
            .is_none_or(|b| matches!(b, b'>' | b'/' | b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'))
}

/// Where the comment opened at `open` (`<!--`) ends: after `-->`, or at once for the
/// abrupt `<!-->` and `<!--->`.
fn comment_end(bytes: &[u8], open: usize) -> usize {
    let inside = open + 4;
    for abrupt in [&b">"[..], b"->"] {
        if bytes[inside..].starts_with(abrupt) {
            return inside + abrupt.len();
        }
    }
    memchr::memmem::find(&bytes[inside..], b"-->").map_or(bytes.len(), |n| inside + n + 3)
}

/// Where the element `name` opened at `open` ends: after its end tag's `>`.
fn element_end(bytes: &[u8], open: usize, name: &[u8]) -> usize {
    let mut at = open + 1 + name.len();
    while let Some(n) = memchr::memmem::find(&bytes[at..], b"</") {
        let close = at + n;
        if tag_named(bytes, close + 2, name) {
            return memchr::memchr(b'>', &bytes[close..]).map_or(bytes.len(), |n| close + n + 1);
        }
        at = close + 2;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::to_text;

    #[test]
    fn style_sheets_scripts_and_comments_are_not_text() {
        let cases = [
            // A style element with attributes, as HTML-only notices put in their body.
            (
                "<body><style type=\"text/css\">body { color: red; }</style>\
                 <p>Delivery failed</p></body>",
                "Delivery failed\n",
            ),
            // Any case, an attribute without quotes, a line break inside the tag.
            ("<STYLE media=screen\n>p{margin:0}</Style >Hello", "Hello"),
            ("<script>var a = '<b>x</b>';</script>Hello", "Hello"),
            (
                "<script type=\"text/javascript\">if (a < b) {}</script>Hello",
                "Hello",
            ),
            ("Hello<!-- a <b>comment</b> -->there", "Hellothere"),
            ("Hello <!-- one --> <!-- two --> there", "Hello there"),
            // Abrupt comments end at once.
            ("<!-->Hello", "Hello"),
            ("<!--->Hello", "Hello"),
            // Left open: the rest is hidden, as a browser hides it.
            ("Hello<style>p{}", "Hello"),
            ("Hello<!-- never closed <p>there</p>", "Hello"),
            // A tag that only starts like one of them is text's markup.
            ("<styles>Hello</styles>", "Hello"),
            ("<scripted>Hello</scripted>", "Hello"),
            // Its end tag must be its own: a script's `</b>` does not end it.
            ("<script>document.write('</b>')</script>Hi", "Hi"),
            // Nothing to remove: the converter's own reading, unchanged.
            (
                "<p>550 5.1.1 &lt;a@example.org&gt;... User unknown</p>",
                "550 5.1.1 <a@example.org>... User unknown\n",
            ),
            ("a &amp; b<br>c", "a & b\nc"),
            // A word ended by a tag at the start of a line keeps the whitespace after the tag.
            (
                "<p>address</p><a href=x>a@example.org</a>\n </td> <p>because: unknown</p>",
                "address\na@example.org because: unknown\n",
            ),
            ("us<b>er</b> unknown", "user unknown"),
            // Markup inside a word is no space.
            ("mailbox us<b>er</b>", "mailbox user"),
            ("<p>x</p>us<b>er</b>", "x\nuser"),
        ];
        for (html, text) in cases {
            assert_eq!(to_text(html), text, "{html:?}");
        }
    }

    #[test]
    fn the_words_around_a_hidden_element_keep_their_order() {
        let html = "<html><head><title>t</title></head><body>\
                    <p>We were unable to deliver</p>\
                    <style type=\"text/css\">.x { display: none; }</style>\
                    <p>550 5.1.1 User unknown</p></body></html>";
        assert_eq!(
            to_text(html),
            "We were unable to deliver\n550 5.1.1 User unknown\n"
        );
    }
}
