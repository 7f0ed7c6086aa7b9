//! The hosted API's failures: `{"errors":[{"code":"NN-NNN","field","message"}]}`, with the
//! message in English or Japanese as `Accept-Language` asks. Every code is in [`CODES`], which
//! the README lists (a test holds the two together); a code once published keeps its meaning.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hikyaku_api_types::hosted::{HostedError, HostedErrors};

/// The language of the error messages: `ja` when `Accept-Language` names Japanese first,
/// English otherwise (as the hosted service does for anything but `ja`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    En,
    Ja,
}

impl Language {
    pub fn of(headers: &HeaderMap) -> Language {
        let first = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|tag| {
                tag.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        if first == "ja" || first.starts_with("ja-") {
            Language::Ja
        } else {
            Language::En
        }
    }
}

/// One kind of failure: its stable code, its HTTP status and its message in both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    pub code: &'static str,
    pub status: StatusCode,
    pub en: &'static str,
    pub ja: &'static str,
}

macro_rules! codes {
    ($($name:ident = $code:literal, $status:ident, $en:literal, $ja:literal;)*) => {
        $(pub const $name: Code = Code {
            code: $code,
            status: StatusCode::$status,
            en: $en,
            ja: $ja,
        };)*
        /// Every code, in order: the README's table.
        pub const CODES: &[Code] = &[$($name),*];
    };
}

codes! {
    API_USER_MISSING = "01-001", UNAUTHORIZED, "api_user is required", "api_user を指定してください";
    API_KEY_MISSING = "01-002", UNAUTHORIZED, "api_key is required", "api_key を指定してください";
    AUTHENTICATION_FAILED = "01-003", UNAUTHORIZED,
        "api_user and api_key do not name a valid API key", "api_user または api_key が正しくありません";
    NOT_PERMITTED = "01-004", FORBIDDEN,
        "this API user may not use this operation", "この API ユーザにはこの操作の権限がありません";
    OTHER_CONTRACT = "01-005", FORBIDDEN,
        "server_composition is not this API user's contract",
        "server_composition はこの API ユーザの契約ではありません";
    SERVER_COMPOSITION_MISSING = "01-006", BAD_REQUEST,
        "server_composition is required", "server_composition を指定してください";
    RATE_LIMITED = "01-007", TOO_MANY_REQUESTS,
        "too many requests for this API user; try again shortly",
        "リクエストが多すぎます。しばらくしてから再度お試しください";
    MALFORMED_BODY = "02-001", BAD_REQUEST,
        "the request body could not be read", "リクエストの本文を解釈できません";
    UNSUPPORTED_CONTENT_TYPE = "02-002", UNSUPPORTED_MEDIA_TYPE,
        "the body must be application/json, application/x-www-form-urlencoded or multipart/form-data",
        "本文は application/json、application/x-www-form-urlencoded、multipart/form-data のいずれかにしてください";
    BODY_TOO_LARGE = "02-003", PAYLOAD_TOO_LARGE,
        "the request body is too large", "リクエストの本文が大きすぎます";
    METHOD_NOT_ALLOWED = "02-004", METHOD_NOT_ALLOWED,
        "only POST is accepted", "POST メソッドのみ受け付けます";
    UNKNOWN_ENDPOINT = "02-005", NOT_FOUND, "no such endpoint", "そのエンドポイントはありません";
    FROM_INVALID = "13-001", BAD_REQUEST,
        "from must be one address {name, address}", "from には差出人アドレスを1つ指定してください";
    RECIPIENT_INVALID = "13-002", BAD_REQUEST,
        "a recipient address is missing or invalid", "宛先アドレスが指定されていないか正しくありません";
    TOO_MANY_RECIPIENTS = "13-003", BAD_REQUEST,
        "too many recipients", "宛先が多すぎます";
    SUBJECT_INVALID = "13-004", BAD_REQUEST,
        "subject is missing or invalid", "subject が指定されていないか正しくありません";
    BODY_INVALID = "13-005", BAD_REQUEST,
        "text or html is required and must be valid", "text または html を正しく指定してください";
    NO_DKIM = "13-006", BAD_REQUEST,
        "the From domain has no DKIM key of this contract",
        "差出人アドレスのドメインに DKIM 署名の設定がありません";
    CHARSET_INVALID = "13-007", BAD_REQUEST,
        "charset must be UTF-8 or ISO-2022-JP", "charset には UTF-8 または ISO-2022-JP を指定してください";
    HEADERS_INVALID = "13-008", BAD_REQUEST,
        "headers is invalid", "headers が正しくありません";
    ATTACHMENTS_INVALID = "13-009", BAD_REQUEST,
        "the attachments are invalid", "添付ファイルの指定が正しくありません";
    ENVFROM_INVALID = "13-010", BAD_REQUEST,
        "envfrom is not a valid address", "envfrom のアドレスが正しくありません";
    PROPERTIES_INVALID = "13-011", BAD_REQUEST,
        "a recipient's properties are invalid", "宛先の差し込み項目が正しくありません";
    API_DATA_INVALID = "13-012", BAD_REQUEST,
        "X-Api-Data is invalid", "X-Api-Data が正しくありません";
    MESSAGE_TOO_LARGE = "13-013", PAYLOAD_TOO_LARGE,
        "the message would be too large", "メールのサイズが大きすぎます";
    REPLYTO_INVALID = "13-014", BAD_REQUEST,
        "replyto is invalid", "replyto が正しくありません";
    FIELD_INVALID = "13-099", BAD_REQUEST,
        "a field is invalid", "パラメータが正しくありません";
    CONTRACT_CANNOT_SEND = "14-001", FORBIDDEN,
        "this contract cannot send now", "この契約は現在メールを送信できません";
    SENDING_PAUSED = "14-002", TOO_MANY_REQUESTS,
        "sending is paused for this contract", "この契約の送信は一時停止されています";
    UNAVAILABLE = "14-003", SERVICE_UNAVAILABLE,
        "the service cannot take mail now; try again later",
        "現在メールを受け付けられません。しばらくしてから再度お試しください";
    DATE_INVALID = "21-001", BAD_REQUEST,
        "date must be a day yyyy-mm-dd", "date には yyyy-mm-dd 形式の日付を指定してください";
    TIME_INVALID = "21-002", BAD_REQUEST,
        "hour must be 0 to 23 and minute 0 to 59, minute only with hour",
        "hour には 0〜23、minute には 0〜59 を指定してください(minute は hour と共に指定します)";
    STATUS_INVALID = "21-003", BAD_REQUEST, "status is invalid", "status が正しくありません";
    PAGING_INVALID = "21-004", BAD_REQUEST,
        "p must be 0 or more and r 1 to 100", "p には 0 以上、r には 1〜100 を指定してください";
    PERIOD_INVALID = "21-005", BAD_REQUEST,
        "start_date and end_date must be days yyyy-mm-dd, start_date not after end_date",
        "start_date と end_date には yyyy-mm-dd 形式の日付を指定してください(start_date は end_date 以前)";
    MONTH_INVALID = "21-006", BAD_REQUEST,
        "year and month are required: yyyy and 1 to 12",
        "year と month を指定してください(yyyy 形式と 1〜12)";
    BOOLEAN_INVALID = "21-007", BAD_REQUEST,
        "must be true or false", "true または false を指定してください";
    INTERNAL = "99-001", INTERNAL_SERVER_ERROR,
        "internal error; try again later", "内部エラーが発生しました。しばらくしてから再度お試しください";
}

/// A failure answer: the code, the field at fault and, when there is one, a detail in English
/// (the native checks' own sentence, which names the limit or the character at fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: Code,
    pub field: String,
    pub detail: Option<String>,
    /// Seconds, for `429` and `503`.
    pub retry_after: Option<u64>,
}

impl Failure {
    pub fn new(code: Code, field: impl Into<String>) -> Failure {
        Failure {
            code,
            field: field.into(),
            detail: None,
            retry_after: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Failure {
        self.detail = Some(detail.into());
        self
    }

    pub fn internal() -> Failure {
        Failure::new(INTERNAL, "")
    }

    pub fn respond(self, language: Language) -> Response {
        let base = match language {
            Language::En => self.code.en,
            Language::Ja => self.code.ja,
        };
        let message = match &self.detail {
            Some(detail) => format!("{base} ({detail})"),
            None => base.to_string(),
        };
        let body = HostedErrors {
            errors: vec![HostedError {
                code: self.code.code.to_string(),
                field: self.field,
                message,
            }],
        };
        let mut response = (
            self.code.status,
            serde_json::to_vec(&body).unwrap_or_default(),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<hikyaku_store::StoreError> for Failure {
    fn from(error: hikyaku_store::StoreError) -> Failure {
        tracing::error!(%error, "a hosted-API request failed in the store");
        let mut failure = Failure::internal();
        failure.retry_after = Some(5);
        failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_shaped() {
        let mut seen = std::collections::HashSet::new();
        for code in CODES {
            let c = code.code.as_bytes();
            assert!(
                c.len() == 6
                    && c[2] == b'-'
                    && c.iter().filter(|b| b.is_ascii_digit()).count() == 5,
                "{}",
                code.code
            );
            assert!(seen.insert(code.code), "{} twice", code.code);
            assert!(!code.en.is_empty() && !code.ja.is_empty());
        }
        assert_eq!(NO_DKIM.code, "13-006", "the hosted service's own code");
    }

    #[test]
    fn the_readme_lists_every_code() {
        let readme = include_str!("../../../../README.md");
        let section = &readme[readme
            .find("## Hosted-API compatibility")
            .expect("the README has the section")..];
        for code in CODES {
            let row = format!("| `{}` | {} |", code.code, code.status.as_u16());
            assert!(section.contains(&row), "README: {row}");
        }
    }

    #[test]
    fn japanese_only_when_asked_first() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_LANGUAGE, value.parse().unwrap());
            Language::of(&headers)
        };
        assert_eq!(with("ja"), Language::Ja);
        assert_eq!(with("ja-JP,en;q=0.5"), Language::Ja);
        assert_eq!(with("en"), Language::En);
        assert_eq!(with("en-US,ja;q=0.9"), Language::En);
        assert_eq!(with("jam"), Language::En);
        assert_eq!(Language::of(&HeaderMap::new()), Language::En);
    }
}
