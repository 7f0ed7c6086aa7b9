//! Every string of the console's pages, in Japanese and English. A page takes one [`Texts`];
//! a string missing from either language does not compile.

/// The languages of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Ja => &JA,
            Lang::En => &EN,
        }
    }

    /// The browser's preferred one of ours by `Accept-Language` (highest `q` first, the order
    /// given among equals); Japanese when it names neither: the service is Japanese first.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        let Some(header) = header else {
            return Lang::Ja;
        };
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .filter(|q| q.is_finite() && (0.0..=1.0).contains(q))
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let Some(lang) = Lang::parse(primary) else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::Ja, |(_, lang)| lang)
    }
}

/// The strings of one language.
#[derive(Debug)]
pub struct Texts {
    pub product: &'static str,
    pub skip_to_content: &'static str,
    pub nav_label: &'static str,
    pub nav_dashboard: &'static str,
    pub nav_log: &'static str,
    pub nav_graph: &'static str,
    pub nav_suppressions: &'static str,
    pub nav_errors: &'static str,
    pub errors_title: &'static str,
    pub by_reason: &'static str,
    pub by_domain: &'static str,
    pub count: &'static str,
    pub no_failures: &'static str,
    pub nav_settings: &'static str,
    pub logout: &'static str,
    pub signed_in_as: &'static str,
    pub role: &'static str,
    pub contract: &'static str,

    pub login_title: &'static str,
    pub login_customer_id: &'static str,
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

    pub dashboard_title: &'static str,
    pub today: &'static str,
    pub this_month: &'static str,
    pub kind_accepted: &'static str,
    pub kind_delivered: &'static str,
    pub kind_deferred: &'static str,
    pub kind_bounced: &'static str,
    pub kind_expired: &'static str,
    pub kind_suppressed: &'static str,
    pub kind_complaint: &'static str,
    pub kind_inbound: &'static str,
    pub kind_deleted: &'static str,
    pub kind_unsubscribed: &'static str,
    pub dkim_active: &'static str,
    pub dkim_pending: &'static str,
    pub dkim_retired: &'static str,
    pub usage_title: &'static str,
    pub usage_sent: &'static str,
    pub usage_plan: &'static str,
    pub usage_volume: &'static str,
    pub usage_unlimited: &'static str,
    pub usage_excess: &'static str,
    pub domains_title: &'static str,
    pub domain: &'static str,
    pub dkim_selector: &'static str,
    pub dkim_state: &'static str,
    pub dkim_none: &'static str,
    pub no_domains: &'static str,
    pub not_for_your_role: &'static str,

    pub log_title: &'static str,
    pub search: &'static str,
    pub since: &'static str,
    pub until: &'static str,
    pub recipient: &'static str,
    pub sender: &'static str,
    pub message_id: &'static str,
    pub outcome: &'static str,
    pub any: &'static str,
    pub reason: &'static str,
    pub tag: &'static str,
    pub time: &'static str,
    pub details: &'static str,
    pub next_page: &'static str,
    pub no_events: &'static str,

    pub message_title: &'static str,
    pub tags: &'static str,
    pub remote_host: &'static str,
    pub tls: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub code: &'static str,
    pub remote_text: &'static str,
    pub attempt: &'static str,

    pub graph_title: &'static str,
    pub range: &'static str,
    pub last_24_hours: &'static str,
    pub last_7_days: &'static str,
    pub last_30_days: &'static str,
    pub granularity: &'static str,
    pub per_minute: &'static str,
    pub per_hour: &'static str,
    pub per_day: &'static str,
    pub show: &'static str,
    pub graph_needs_script: &'static str,
    pub graph_table: &'static str,
    pub bucket_start: &'static str,
    pub graph_custom_range: &'static str,
    pub granularity_auto: &'static str,
    pub recipient_domain: &'static str,
    pub all_domains: &'static str,
    pub graph_range_help: &'static str,
    pub graph_shown: &'static str,
    pub errors_shown: &'static str,
    pub graph_bad_from: &'static str,
    pub graph_bad_to: &'static str,
    pub graph_reversed: &'static str,
    pub graph_beyond_retention: &'static str,
    pub graph_too_many_points: &'static str,
    pub graph_bad_domain: &'static str,
    pub graph_domain_minutes: &'static str,
    pub chart: &'static str,
    pub chart_bars: &'static str,
    pub chart_pie: &'static str,
    pub pie_of: &'static str,
    pub other: &'static str,

    pub suppressions_title: &'static str,
    pub address: &'static str,
    pub source: &'static str,
    pub added_at: &'static str,
    pub find_address: &'static str,
    pub not_listed: &'static str,
    pub add: &'static str,
    pub add_title: &'static str,
    pub note: &'static str,
    pub remove: &'static str,
    pub export_csv: &'static str,
    pub import_title: &'static str,
    /// `{size}`: the largest file taken, as "4 MB".
    pub import_help: &'static str,
    pub import_csv: &'static str,
    pub import_file: &'static str,
    pub import_done: &'static str,
    pub import_rows: &'static str,
    pub import_added: &'static str,
    pub import_already: &'static str,
    pub import_failed: &'static str,
    pub import_state_queued: &'static str,
    pub import_state_running: &'static str,
    pub import_state_done: &'static str,
    pub import_reload: &'static str,
    pub import_errors_csv: &'static str,
    pub import_errors_truncated: &'static str,
    pub import_line: &'static str,
    pub import_value: &'static str,
    pub import_recent: &'static str,
    /// `{size}`: the largest file taken, as "4 MB".
    pub import_too_large: &'static str,
    pub problem_bad_address: &'static str,
    pub problem_too_long: &'static str,
    pub problem_bad_reason: &'static str,
    pub problem_no_address: &'static str,
    pub problem_duplicate: &'static str,
    pub added_one: &'static str,
    pub removed_one: &'static str,
    pub list_empty: &'static str,

    pub settings_title: &'static str,
    pub language: &'static str,
    pub language_auto: &'static str,
    pub time_zone: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub totp_section: &'static str,
    pub totp_on: &'static str,
    pub totp_off: &'static str,
    pub totp_enrol_help: &'static str,
    pub totp_secret: &'static str,
    pub totp_enable: &'static str,
    pub totp_disable: &'static str,

    pub error_title: &'static str,
    pub error_forbidden: &'static str,
    pub error_not_found: &'static str,
    pub error_invalid: &'static str,
    pub error_rate_limited: &'static str,
    pub error_unavailable: &'static str,
    pub error_other: &'static str,
    pub times_in: &'static str,

    pub nav_inquiry: &'static str,
    pub nav_availability: &'static str,
    pub availability_title: &'static str,
    pub inquiry_title: &'static str,
    pub inquiry_help: &'static str,
    pub inquiry_subject: &'static str,
    pub inquiry_body: &'static str,
    pub inquiry_send: &'static str,
    pub inquiry_sent: &'static str,
    pub maintenance_title: &'static str,
    pub maintenance_period: &'static str,
    pub maintenance_emergency: &'static str,
}

pub static EN: Texts = Texts {
    product: "Hikyaku console",
    skip_to_content: "Skip to content",
    nav_label: "Main menu",
    nav_dashboard: "Dashboard",
    nav_log: "Send log",
    nav_graph: "Delivery graph",
    nav_suppressions: "Suppression list",
    nav_errors: "Errors",
    errors_title: "Bounces and failures",
    by_reason: "By reason",
    by_domain: "By recipient domain",
    count: "Count",
    no_failures: "No failures in this range.",
    nav_settings: "Settings",
    logout: "Log out",
    signed_in_as: "Signed in as",
    role: "Role",
    contract: "Contract",

    login_title: "Log in",
    login_customer_id: "Customer ID",
    login_email: "E-mail address",
    login_password: "Password",
    login_submit: "Log in",
    login_failed: "The customer ID, e-mail address or password is wrong.",
    login_rate_limited: "Too many attempts. Wait a minute and try again.",
    totp_title: "Two-step verification",
    totp_code: "6-digit code from your authenticator app",
    totp_submit: "Verify",
    totp_failed: "The code is wrong or was used already.",
    csrf_refused: "The form had expired or did not come from this console. Reload the page and try again.",

    dashboard_title: "Dashboard",
    today: "Today",
    this_month: "This month",
    kind_accepted: "Accepted",
    kind_delivered: "Delivered",
    kind_deferred: "Deferred",
    kind_bounced: "Bounced",
    kind_expired: "Expired",
    kind_suppressed: "Suppressed",
    kind_complaint: "Complaint",
    kind_inbound: "Inbound",
    kind_deleted: "Deleted",
    kind_unsubscribed: "Unsubscribed",
    dkim_active: "active: signs mail",
    dkim_pending: "pending: waiting for its DNS record",
    dkim_retired: "retired",
    usage_title: "Usage against plan",
    usage_sent: "Sent this month",
    usage_plan: "Plan",
    usage_volume: "Monthly volume",
    usage_unlimited: "not limited",
    usage_excess: "Excess (units of 1,000)",
    domains_title: "Sender domains",
    domain: "Domain",
    dkim_selector: "DKIM selector",
    dkim_state: "Key state",
    dkim_none: "no key",
    no_domains: "No sender domain is registered: mail is signed with the service's domain.",
    not_for_your_role: "Your role cannot see this.",

    log_title: "Send log",
    search: "Search",
    since: "From",
    until: "Until",
    recipient: "Recipient",
    sender: "Sender",
    message_id: "Message ID",
    outcome: "Outcome",
    any: "Any",
    reason: "Reason",
    tag: "Tag",
    time: "Time",
    details: "Details",
    next_page: "Next page",
    no_events: "No events match.",

    message_title: "Message",
    tags: "Tags",
    remote_host: "Remote host",
    tls: "TLS",
    yes: "yes",
    no: "no",
    code: "Code",
    remote_text: "Server's reply",
    attempt: "Attempt",

    graph_title: "Delivery graph",
    range: "Range",
    last_24_hours: "Last 24 hours",
    last_7_days: "Last 7 days",
    last_30_days: "Last 30 days",
    granularity: "One point per",
    per_minute: "minute",
    per_hour: "hour",
    per_day: "day",
    show: "Show",
    graph_needs_script: "The graph needs JavaScript; the table below has the same figures.",
    graph_table: "Figures",
    bucket_start: "From",
    graph_custom_range: "Dates below",
    granularity_auto: "automatic",
    recipient_domain: "Recipient domain",
    all_domains: "all domains",
    graph_range_help: "Choose a range, or “Dates below” with a start and an end in your time zone. Statistics are kept for the retention period only. Leave the domain empty for every recipient domain.",
    graph_shown: "{from} – {to}, one point per {step}, {domain}",
    errors_shown: "{from} – {to}",
    graph_bad_from: "The start is not a date and time.",
    graph_bad_to: "The end is not a date and time.",
    graph_reversed: "The start must be before the end.",
    graph_beyond_retention: "Statistics are kept for {days} days: the start must be {earliest} or later.",
    graph_too_many_points: "That is {points} points, more than one graph shows (at most {max}): choose a shorter range or a coarser unit.",
    graph_bad_domain: "The domain is not a domain name: type one such as example.co.jp, with letters, digits, hyphens and dots only (no address).",
    graph_domain_minutes: "Per minute, one domain's graph covers at most {hours} hours: choose a shorter range, or per hour or per day.",
    chart: "Chart",
    chart_bars: "Bars",
    chart_pie: "Pie",
    pie_of: "Share of the failures",
    other: "Other",

    suppressions_title: "Suppression list",
    address: "Address",
    source: "Source",
    added_at: "Added",
    find_address: "Look up an address",
    not_listed: "This address is not on the list.",
    add: "Add",
    add_title: "Add an address",
    note: "Note",
    remove: "Remove",
    export_csv: "Export as CSV",
    import_title: "Import CSV",
    import_help: "One address a line, with a header line naming an address column and an optional reason column; UTF-8, at most {size}. The import runs in the background: bad rows are skipped and listed when it is done.",
    import_csv: "CSV text",
    import_file: "CSV file",
    import_done: "Imported",
    import_rows: "rows",
    import_added: "Added",
    import_already: "Already listed",
    import_failed: "Refused rows",
    import_state_queued: "Waiting to start",
    import_state_running: "Importing…",
    import_state_done: "Finished",
    import_reload: "Reload to see the progress",
    import_errors_csv: "Download the refused rows (CSV)",
    import_errors_truncated: "Only the first 1,000 refused rows are kept; the count above is complete.",
    import_line: "Line",
    import_value: "Value",
    import_recent: "Recent imports",
    import_too_large: "The file is larger than {size}, the most one import takes. Split it into smaller files and import each of them.",
    problem_bad_address: "Not an e-mail address",
    problem_too_long: "Longer than an address can be (254 bytes)",
    problem_bad_reason: "Reason over 1,000 bytes or with control characters",
    problem_no_address: "No field in the address column",
    problem_duplicate: "The same address as an earlier line (skipped)",
    added_one: "Added to the list.",
    removed_one: "Removed from the list.",
    list_empty: "The list is empty.",

    settings_title: "Settings",
    language: "Language",
    language_auto: "As the browser asks",
    time_zone: "Time zone",
    save: "Save",
    saved: "Saved.",
    totp_section: "Two-step verification (TOTP)",
    totp_on: "On: logging in asks for a code from your authenticator app.",
    totp_off: "Off.",
    totp_enrol_help: "Add this secret to your authenticator app, then enter the code it shows to turn two-step verification on.",
    totp_secret: "Secret",
    totp_enable: "Turn on",
    totp_disable: "Turn off",

    error_title: "Something went wrong",
    error_forbidden: "Your role may not do this.",
    error_not_found: "Not found.",
    error_invalid: "The input was not accepted.",
    error_rate_limited: "Too many requests. Wait a moment and try again.",
    error_unavailable: "The service is unavailable right now. Try again later.",
    error_other: "The request failed.",
    times_in: "Times are shown in",

    nav_inquiry: "Contact us",
    nav_availability: "Availability",
    availability_title: "Availability of the platform",
    inquiry_title: "Inquiry to the operator",
    inquiry_help: "Your message is sent to the operator of the platform by e-mail; the reply comes to your address.",
    inquiry_subject: "Subject",
    inquiry_body: "Message",
    inquiry_send: "Send",
    inquiry_sent: "Your inquiry was sent.",
    maintenance_title: "Planned maintenance",
    maintenance_period: "Period",
    maintenance_emergency: "Emergency maintenance",
};

pub static JA: Texts = Texts {
    product: "Hikyaku コンソール",
    skip_to_content: "本文へ移動",
    nav_label: "メインメニュー",
    nav_dashboard: "ダッシュボード",
    nav_log: "送信ログ",
    nav_graph: "配信グラフ",
    nav_suppressions: "配信停止リスト",
    nav_errors: "エラー分析",
    errors_title: "バウンスと配信失敗",
    by_reason: "理由別",
    by_domain: "宛先ドメイン別",
    count: "件数",
    no_failures: "この期間に配信失敗はありません。",
    nav_settings: "設定",
    logout: "ログアウト",
    signed_in_as: "ログイン中",
    role: "権限",
    contract: "契約",

    login_title: "ログイン",
    login_customer_id: "顧客ID",
    login_email: "メールアドレス",
    login_password: "パスワード",
    login_submit: "ログイン",
    login_failed: "顧客ID、メールアドレスまたはパスワードが正しくありません。",
    login_rate_limited: "試行回数が多すぎます。1分ほど待ってからやり直してください。",
    totp_title: "2段階認証",
    totp_code: "認証アプリに表示された6桁のコード",
    totp_submit: "確認",
    totp_failed: "コードが正しくないか、すでに使われています。",
    csrf_refused: "フォームの有効期限が切れたか、このコンソールから送信されたものではありません。ページを再読み込みしてやり直してください。",

    dashboard_title: "ダッシュボード",
    today: "今日",
    this_month: "今月",
    kind_accepted: "受付",
    kind_delivered: "配信成功",
    kind_deferred: "配信遅延",
    kind_bounced: "バウンス",
    kind_expired: "期限切れ",
    kind_suppressed: "配信停止",
    kind_complaint: "苦情",
    kind_inbound: "受信",
    kind_deleted: "削除",
    kind_unsubscribed: "購読解除",
    dkim_active: "有効：署名中",
    dkim_pending: "保留：DNSレコードの確認待ち",
    dkim_retired: "廃止",
    usage_title: "プランに対する利用量",
    usage_sent: "今月の送信数",
    usage_plan: "プラン",
    usage_volume: "月間通数",
    usage_unlimited: "上限なし",
    usage_excess: "超過（1,000通単位）",
    domains_title: "送信ドメイン",
    domain: "ドメイン",
    dkim_selector: "DKIMセレクタ",
    dkim_state: "鍵の状態",
    dkim_none: "鍵なし",
    no_domains: "送信ドメインは登録されていません。サービスのドメインで署名されます。",
    not_for_your_role: "この権限では表示できません。",

    log_title: "送信ログ",
    search: "検索",
    since: "開始",
    until: "終了",
    recipient: "宛先",
    sender: "差出人",
    message_id: "メッセージID",
    outcome: "結果",
    any: "すべて",
    reason: "理由",
    tag: "タグ",
    time: "日時",
    details: "詳細",
    next_page: "次のページ",
    no_events: "該当するイベントはありません。",

    message_title: "メッセージ",
    tags: "タグ",
    remote_host: "相手サーバー",
    tls: "TLS",
    yes: "あり",
    no: "なし",
    code: "コード",
    remote_text: "サーバーの応答",
    attempt: "試行",

    graph_title: "配信グラフ",
    range: "期間",
    last_24_hours: "過去24時間",
    last_7_days: "過去7日間",
    last_30_days: "過去30日間",
    granularity: "集計単位",
    per_minute: "分",
    per_hour: "時間",
    per_day: "日",
    show: "表示",
    graph_needs_script: "グラフの表示にはJavaScriptが必要です。下の表に同じ数値があります。",
    graph_table: "数値",
    bucket_start: "開始時刻",
    graph_custom_range: "下の日時で指定",
    granularity_auto: "自動",
    recipient_domain: "宛先ドメイン",
    all_domains: "すべてのドメイン",
    graph_range_help: "期間を選ぶか、「下の日時で指定」を選んで開始と終了（ご自分のタイムゾーン）を入力してください。統計は保存期間の分だけ残ります。ドメインを空欄にすると、すべての宛先ドメインが対象です。",
    graph_shown: "{from} 〜 {to}、{step}単位、{domain}",
    errors_shown: "{from} 〜 {to}",
    graph_bad_from: "開始日時が正しい日時ではありません。",
    graph_bad_to: "終了日時が正しい日時ではありません。",
    graph_reversed: "開始日時は終了日時より前にしてください。",
    graph_beyond_retention: "統計は{days}日間保存されます。開始日時は{earliest}以降にしてください。",
    graph_too_many_points: "{points}点になり、1つのグラフに表示できる上限（{max}点）を超えます。期間を短くするか、集計単位を大きくしてください。",
    graph_bad_domain: "ドメイン名として正しくありません。example.co.jp のように、文字・数字・ハイフン・ドットだけで入力してください（アドレスは入力できません）。",
    graph_domain_minutes: "ドメインを指定した分単位のグラフは最大{hours}時間です。期間を短くするか、時間単位または日単位を選んでください。",
    chart: "グラフの種類",
    chart_bars: "棒グラフ",
    chart_pie: "円グラフ",
    pie_of: "配信失敗の内訳",
    other: "その他",

    suppressions_title: "配信停止リスト",
    address: "アドレス",
    source: "登録元",
    added_at: "登録日時",
    find_address: "アドレスを検索",
    not_listed: "このアドレスはリストにありません。",
    add: "追加",
    add_title: "アドレスを追加",
    note: "メモ",
    remove: "削除",
    export_csv: "CSVでエクスポート",
    import_title: "CSVインポート",
    import_help: "1行に1アドレス。1行目は address 列（任意で reason 列）を示す見出し行です。UTF-8、{size}まで。インポートはバックグラウンドで進み、不正な行は飛ばして完了時に一覧します。",
    import_csv: "CSVテキスト",
    import_file: "CSVファイル",
    import_done: "インポートしました",
    import_rows: "行",
    import_added: "追加",
    import_already: "登録済み",
    import_failed: "取り込めなかった行",
    import_state_queued: "開始待ち",
    import_state_running: "インポート中…",
    import_state_done: "完了",
    import_reload: "再読み込みして進捗を表示",
    import_errors_csv: "取り込めなかった行をダウンロード（CSV）",
    import_errors_truncated: "取り込めなかった行は最初の1,000行だけを保存しています（上の件数はすべての行の数です）。",
    import_line: "行番号",
    import_value: "値",
    import_recent: "最近のインポート",
    import_too_large: "ファイルが1回のインポートの上限（{size}）を超えています。小さなファイルに分けて、1つずつインポートしてください。",
    problem_bad_address: "メールアドレスではありません",
    problem_too_long: "アドレスとして長すぎます（254バイトまで）",
    problem_bad_reason: "理由が1,000バイトを超えるか制御文字を含みます",
    problem_no_address: "アドレス列がありません",
    problem_duplicate: "前の行と同じアドレス（スキップしました）",
    added_one: "リストに追加しました。",
    removed_one: "リストから削除しました。",
    list_empty: "リストは空です。",

    settings_title: "設定",
    language: "言語",
    language_auto: "ブラウザの設定に従う",
    time_zone: "タイムゾーン",
    save: "保存",
    saved: "保存しました。",
    totp_section: "2段階認証（TOTP）",
    totp_on: "有効：ログイン時に認証アプリのコードを求めます。",
    totp_off: "無効。",
    totp_enrol_help: "このシークレットを認証アプリに登録し、表示されたコードを入力すると2段階認証が有効になります。",
    totp_secret: "シークレット",
    totp_enable: "有効にする",
    totp_disable: "無効にする",

    error_title: "エラーが発生しました",
    error_forbidden: "この権限ではこの操作はできません。",
    error_not_found: "見つかりません。",
    error_invalid: "入力内容を受け付けられませんでした。",
    error_rate_limited: "リクエストが多すぎます。しばらく待ってからやり直してください。",
    error_unavailable: "現在サービスを利用できません。しばらくしてからやり直してください。",
    error_other: "リクエストに失敗しました。",
    times_in: "表示タイムゾーン",

    nav_inquiry: "お問い合わせ",
    nav_availability: "稼働率",
    availability_title: "サービスの稼働率",
    inquiry_title: "運用者へのお問い合わせ",
    inquiry_help: "メッセージはメールで運用者に届きます。返信はあなたのメールアドレスに届きます。",
    inquiry_subject: "件名",
    inquiry_body: "本文",
    inquiry_send: "送信",
    inquiry_sent: "お問い合わせを送信しました。",
    maintenance_title: "メンテナンスのお知らせ",
    maintenance_period: "期間",
    maintenance_emergency: "緊急メンテナンス",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_of_ours() {
        assert_eq!(Lang::from_accept_language(None), Lang::Ja);
        assert_eq!(Lang::from_accept_language(Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("ja,en;q=0.8")), Lang::Ja);
        assert_eq!(
            Lang::from_accept_language(Some("fr, en;q=0.5, ja;q=0.7")),
            Lang::Ja
        );
        assert_eq!(Lang::from_accept_language(Some("de, fr")), Lang::Ja);
        assert_eq!(Lang::from_accept_language(Some("en;q=0, ja;q=0")), Lang::Ja);
        // Hostile headers: garbage q-values, no tags, very long lists.
        assert_eq!(Lang::from_accept_language(Some("en;q=NaN")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some(";;;,,,=")), Lang::Ja);
        let long = "x-y;q=0.1,".repeat(10_000) + "en";
        assert_eq!(Lang::from_accept_language(Some(&long)), Lang::Ja);
    }

    /// Every string exists in both languages by construction; this catches one left in
    /// English in the Japanese table (or empty in either).
    #[test]
    fn every_string_is_translated() {
        let en = format!("{EN:?}");
        let ja = format!("{JA:?}");
        let fields = |s: &str| -> Vec<(String, String)> {
            s.trim_start_matches("Texts {")
                .trim_end_matches('}')
                .split("\", ")
                .filter_map(|kv| {
                    let (k, v) = kv.split_once(": \"")?;
                    Some((k.trim().to_string(), v.trim_end_matches('"').to_string()))
                })
                .collect()
        };
        let (en, ja) = (fields(&en), fields(&ja));
        assert!(en.len() > 100, "{}", en.len());
        assert_eq!(en.len(), ja.len());
        // The same in both because they are names, not words.
        let same_in_both = ["tls"];
        for ((key, e), (_, j)) in en.iter().zip(&ja) {
            assert!(!e.is_empty() && !j.is_empty(), "{key} is empty");
            if !same_in_both.contains(&key.as_str()) {
                assert_ne!(e, j, "{key} is not translated");
            }
        }
    }
}
