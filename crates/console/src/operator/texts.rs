//! Every string of the operator area, in Japanese and English (the contract's pages have
//! theirs in [`crate::i18n`]). A string missing from either language does not compile.

use crate::i18n::Lang;

/// The operator area's strings of one language.
#[derive(Debug)]
pub struct OpTexts {
    pub area: &'static str,
    pub skip_to_content: &'static str,
    pub nav_label: &'static str,
    pub nav_contracts: &'static str,
    pub nav_usage: &'static str,
    pub nav_availability: &'static str,
    pub availability_title: &'static str,
    pub nav_inquiries: &'static str,
    pub nav_maintenance: &'static str,
    pub nav_nodes: &'static str,
    pub signed_in_as: &'static str,
    pub logout: &'static str,
    pub times_in: &'static str,

    pub login_title: &'static str,
    pub login_email: &'static str,
    pub login_password: &'static str,
    pub login_submit: &'static str,
    pub login_failed: &'static str,
    pub login_rate_limited: &'static str,
    pub totp_title: &'static str,
    pub totp_code: &'static str,
    pub totp_submit: &'static str,
    pub totp_failed: &'static str,
    pub csrf_refused: &'static str,

    pub contracts_title: &'static str,
    pub customer_id: &'static str,
    pub name: &'static str,
    pub plan: &'static str,
    pub state: &'static str,
    pub created_at: &'static str,
    pub last_used_at: &'static str,
    pub actions: &'static str,
    pub change_plan: &'static str,
    pub suspend: &'static str,
    pub resume: &'static str,
    pub terminate: &'static str,
    pub terminate_warning: &'static str,
    pub new_contract: &'static str,
    pub create: &'static str,
    pub no_contracts: &'static str,
    pub next_page: &'static str,
    pub created: &'static str,
    pub changed: &'static str,
    pub state_trial: &'static str,
    pub state_active: &'static str,
    pub state_suspended: &'static str,
    pub state_terminated: &'static str,

    pub usage_title: &'static str,
    pub month: &'static str,
    pub show: &'static str,
    pub sent: &'static str,
    pub monthly_volume: &'static str,
    pub unlimited: &'static str,
    pub excess_units: &'static str,

    pub inquiries_title: &'static str,
    pub from: &'static str,
    pub subject: &'static str,
    pub body: &'static str,
    pub received_at: &'static str,
    pub handled: &'static str,
    pub open: &'static str,
    pub mark_handled: &'static str,
    pub reopen: &'static str,
    pub no_inquiries: &'static str,

    pub maintenance_title: &'static str,
    pub new_maintenance: &'static str,
    pub title: &'static str,
    pub starts_at: &'static str,
    pub ends_at: &'static str,
    pub emergency: &'static str,
    pub emergency_help: &'static str,
    pub announce: &'static str,
    pub announced: &'static str,
    pub no_maintenance: &'static str,
    pub bad_time: &'static str,

    pub nodes_title: &'static str,
    pub node: &'static str,
    pub version: &'static str,
    pub listeners: &'static str,
    pub queue_size: &'static str,
    pub started_at: &'static str,
    pub last_seen: &'static str,
    pub health: &'static str,
    pub healthy: &'static str,
    pub unhealthy: &'static str,
    pub no_nodes: &'static str,
    pub heartbeat_help: &'static str,

    pub error_forbidden: &'static str,
    pub error_not_found: &'static str,
    pub error_invalid: &'static str,
    pub error_conflict: &'static str,
    pub error_rate_limited: &'static str,
    pub error_other: &'static str,
}

impl OpTexts {
    pub fn of(lang: Lang) -> &'static OpTexts {
        match lang {
            Lang::Ja => &JA,
            Lang::En => &EN,
        }
    }

    /// A contract state's name in this language.
    pub fn state_name(&self, state: &str) -> &'static str {
        match state {
            "trial" => self.state_trial,
            "active" => self.state_active,
            "suspended" => self.state_suspended,
            _ => self.state_terminated,
        }
    }
}

pub static EN: OpTexts = OpTexts {
    area: "Hikyaku operator area",
    skip_to_content: "Skip to content",
    nav_label: "Operator area",
    nav_contracts: "Contracts",
    nav_usage: "Usage",
    nav_availability: "Availability",
    availability_title: "Availability of the platform",
    nav_inquiries: "Inquiries",
    nav_maintenance: "Maintenance",
    nav_nodes: "Nodes",
    signed_in_as: "Operator",
    logout: "Log out",
    times_in: "Times in",

    login_title: "Operator login",
    login_email: "E-mail address",
    login_password: "Password",
    login_submit: "Log in",
    login_failed: "The address or the password is wrong.",
    login_rate_limited: "Too many attempts. Wait a minute and try again.",
    totp_title: "Authentication code",
    totp_code: "Six-digit code from your authenticator app",
    totp_submit: "Confirm",
    totp_failed: "The code is wrong or was used already.",
    csrf_refused: "The form was refused (its security token is missing or old). Reload the page and try again.",

    contracts_title: "Contracts",
    customer_id: "Customer ID",
    name: "Name",
    plan: "Plan",
    state: "State",
    created_at: "Created",
    last_used_at: "Last used",
    actions: "Actions",
    change_plan: "Change plan",
    suspend: "Suspend",
    resume: "Resume",
    terminate: "Terminate",
    terminate_warning: "Terminating is final: the contract can never be used again and its data is deleted after the grace period.",
    new_contract: "New contract",
    create: "Create",
    no_contracts: "No contracts yet.",
    next_page: "Next page",
    created: "The contract was created.",
    changed: "The contract was changed.",
    state_trial: "trial",
    state_active: "active",
    state_suspended: "suspended",
    state_terminated: "terminated",

    usage_title: "Usage of every contract",
    month: "Month (YYYY-MM)",
    show: "Show",
    sent: "Sent",
    monthly_volume: "Monthly volume",
    unlimited: "no stated volume",
    excess_units: "Excess (units of 1,000)",

    inquiries_title: "Inquiries",
    from: "From",
    subject: "Subject",
    body: "Message",
    received_at: "Received",
    handled: "Handled",
    open: "Open",
    mark_handled: "Mark handled",
    reopen: "Reopen",
    no_inquiries: "No inquiries.",

    maintenance_title: "Maintenance notices",
    new_maintenance: "New maintenance notice",
    title: "Title",
    starts_at: "Starts",
    ends_at: "Ends",
    emergency: "Emergency",
    emergency_help: "A notice must start at least 14 days after it is saved, unless it is an emergency. Saving it mails the admins of every contract.",
    announce: "Save and announce",
    announced: "The maintenance notice was saved; its mail to every contract's admins is on its way.",
    no_maintenance: "No maintenance notices.",
    bad_time: "Give the start and the end as date and time.",

    nodes_title: "Nodes",
    node: "Node",
    version: "Version",
    listeners: "Listeners",
    queue_size: "Queue",
    started_at: "Started",
    last_seen: "Last seen",
    health: "Health",
    healthy: "healthy",
    unhealthy: "stopped or silent",
    no_nodes: "No node has sent a heartbeat yet.",
    heartbeat_help: "Each node records a heartbeat in the shared database; one that missed three is shown without one.",

    error_forbidden: "This is not allowed.",
    error_not_found: "Not found.",
    error_invalid: "The input was not accepted.",
    error_conflict: "This cannot be done in the contract's state.",
    error_rate_limited: "Too many requests. Wait a moment and try again.",
    error_other: "The request failed.",
};

pub static JA: OpTexts = OpTexts {
    area: "Hikyaku 運用者画面",
    skip_to_content: "本文へ移動",
    nav_label: "運用者メニュー",
    nav_contracts: "契約",
    nav_usage: "利用量",
    nav_availability: "稼働率",
    availability_title: "サービスの稼働率",
    nav_inquiries: "お問い合わせ",
    nav_maintenance: "メンテナンス",
    nav_nodes: "ノード",
    signed_in_as: "運用者",
    logout: "ログアウト",
    times_in: "表示タイムゾーン",

    login_title: "運用者ログイン",
    login_email: "メールアドレス",
    login_password: "パスワード",
    login_submit: "ログイン",
    login_failed: "メールアドレスまたはパスワードが違います。",
    login_rate_limited: "試行回数が多すぎます。1分ほど待ってからやり直してください。",
    totp_title: "認証コード",
    totp_code: "認証アプリに表示された6桁のコード",
    totp_submit: "確認",
    totp_failed: "コードが違うか、すでに使われています。",
    csrf_refused: "フォームを受け付けられませんでした（セキュリティトークンがないか古くなっています）。ページを再読み込みしてやり直してください。",

    contracts_title: "契約",
    customer_id: "顧客ID",
    name: "名前",
    plan: "プラン",
    state: "状態",
    created_at: "作成日時",
    last_used_at: "最終利用",
    actions: "操作",
    change_plan: "プラン変更",
    suspend: "停止",
    resume: "再開",
    terminate: "解約",
    terminate_warning: "解約は取り消せません。契約は二度と使えなくなり、猶予期間の後にデータが削除されます。",
    new_contract: "新しい契約",
    create: "作成",
    no_contracts: "契約はまだありません。",
    next_page: "次のページ",
    created: "契約を作成しました。",
    changed: "契約を変更しました。",
    state_trial: "試用中",
    state_active: "有効",
    state_suspended: "停止中",
    state_terminated: "解約済み",

    usage_title: "全契約の利用量",
    month: "月（YYYY-MM）",
    show: "表示",
    sent: "送信数",
    monthly_volume: "月間通数",
    unlimited: "通数の定めなし",
    excess_units: "超過（1,000通単位）",

    inquiries_title: "お問い合わせ",
    from: "送信者",
    subject: "件名",
    body: "本文",
    received_at: "受信日時",
    handled: "対応済み",
    open: "未対応",
    mark_handled: "対応済みにする",
    reopen: "未対応に戻す",
    no_inquiries: "お問い合わせはありません。",

    maintenance_title: "メンテナンスのお知らせ",
    new_maintenance: "新しいメンテナンスのお知らせ",
    title: "題名",
    starts_at: "開始",
    ends_at: "終了",
    emergency: "緊急",
    emergency_help: "緊急の場合を除き、開始は保存から14日以上先でなければなりません。保存すると全契約の管理者にメールで通知します。",
    announce: "保存して通知",
    announced: "メンテナンスのお知らせを保存しました。全契約の管理者へのメールを送信しています。",
    no_maintenance: "メンテナンスのお知らせはありません。",
    bad_time: "開始と終了を日付と時刻で入力してください。",

    nodes_title: "ノード",
    node: "ノード",
    version: "バージョン",
    listeners: "待ち受け",
    queue_size: "キュー",
    started_at: "起動日時",
    last_seen: "最終応答",
    health: "状態",
    healthy: "正常",
    unhealthy: "停止または応答なし",
    no_nodes: "まだハートビートを送ったノードはありません。",
    heartbeat_help: "各ノードは共有データベースにハートビートを記録します。3回続けて途絶えたノードは応答なしと表示します。",

    error_forbidden: "この操作は許可されていません。",
    error_not_found: "見つかりません。",
    error_invalid: "入力内容を受け付けられませんでした。",
    error_conflict: "契約の現在の状態ではこの操作はできません。",
    error_rate_limited: "リクエストが多すぎます。しばらく待ってからやり直してください。",
    error_other: "リクエストに失敗しました。",
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string exists in both languages by construction; this catches one left in
    /// English in the Japanese table (or empty in either).
    #[test]
    fn every_operator_string_is_translated() {
        let fields = |s: String| -> Vec<(String, String)> {
            s.trim_start_matches("OpTexts {")
                .trim_end_matches('}')
                .split("\", ")
                .filter_map(|kv| {
                    let (k, v) = kv.split_once(": \"")?;
                    Some((k.trim().to_string(), v.trim_end_matches('"').to_string()))
                })
                .collect()
        };
        let (en, ja) = (fields(format!("{EN:?}")), fields(format!("{JA:?}")));
        assert!(en.len() > 80, "{}", en.len());
        assert_eq!(en.len(), ja.len());
        for ((key, e), (_, j)) in en.iter().zip(&ja) {
            assert!(!e.is_empty() && !j.is_empty(), "{key} is empty");
            assert_ne!(e, j, "{key} is not translated");
        }
    }
}
