//! `{{name}}` substitution for batch templates.
//!
//! A name is 1 to 64 characters of `A-Z a-z 0-9 _ . -`, spaces inside the braces allowed
//! (`{{ name }}`). Anything else between double braces is left as it is, so that a template
//! that also contains another engine's `{{#if}}`, or CSS, is not mangled. A well-formed name
//! that the recipient has no value for is an error: sending "Dear {{first_name}}" to a
//! thousand people is worse than refusing that one entry. Values are inserted once and never
//! scanned again, so a value cannot smuggle in another substitution.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// Where the text goes, which decides how a value must be written into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Plain text: the value as it is.
    Text,
    /// HTML: the value escaped, so a recipient's name cannot inject markup.
    Html,
}

/// The name of a substitution the text uses but the values lack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub String);

/// `template` with every `{{name}}` replaced by its value; borrowed when it uses none.
pub fn substitute<'t>(
    template: &'t str,
    values: &BTreeMap<String, String>,
    context: Context,
) -> Result<Cow<'t, str>, Missing> {
    if !template.contains("{{") {
        return Ok(Cow::Borrowed(template));
    }
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        let name = after[..end].trim_matches(' ');
        if !is_name(name) {
            // Not ours: keep the braces and look for the next opening after them.
            out.push_str(&rest[..start + 2]);
            rest = after;
            continue;
        }
        let value = values.get(name).ok_or_else(|| Missing(name.to_string()))?;
        out.push_str(&rest[..start]);
        match context {
            Context::Text => out.push_str(value),
            Context::Html => escape_html(value, &mut out),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// The names `template` uses, for checking values before they are inserted.
pub fn names(template: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        let name = after[..end].trim_matches(' ');
        if is_name(name) {
            found.push(name);
            rest = &after[end + 2..];
        } else {
            rest = after;
        }
    }
    found
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn escape_html(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> BTreeMap<String, String> {
        [
            ("name", "山田 <b>太郎</b> & \"co\""),
            ("code", "{{name}}"),
            ("first.name", "Taro"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn table() {
        let v = values();
        for (template, context, expected) in [
            ("no braces", Context::Text, Ok("no braces")),
            (
                "Hi {{name}}!",
                Context::Text,
                Ok("Hi 山田 <b>太郎</b> & \"co\"!"),
            ),
            (
                "<p>{{ name }}</p>",
                Context::Html,
                Ok("<p>山田 &lt;b&gt;太郎&lt;/b&gt; &amp; &quot;co&quot;</p>"),
            ),
            (
                "{{first.name}}{{first.name}}",
                Context::Text,
                Ok("TaroTaro"),
            ),
            // A value is never scanned again.
            ("code: {{code}}", Context::Text, Ok("code: {{name}}")),
            // Not names: left alone.
            ("{{#if x}}{{/if}}", Context::Text, Ok("{{#if x}}{{/if}}")),
            ("a {{ b c }} d", Context::Text, Ok("a {{ b c }} d")),
            ("{{}}", Context::Text, Ok("{{}}")),
            ("unclosed {{name", Context::Text, Ok("unclosed {{name")),
            ("{{{name}}}", Context::Text, Ok("{{{name}}}")),
            ("{{missing}}", Context::Text, Err(Missing("missing".into()))),
        ] {
            assert_eq!(
                substitute(template, &v, context).map(|c| c.into_owned()),
                expected.map(str::to_string).map_err(|m: Missing| m),
                "{template}"
            );
        }
    }

    #[test]
    fn names_are_listed() {
        assert_eq!(names("{{a}} {{ b }} {{#x}} {{c"), vec!["a", "b"]);
    }
}
