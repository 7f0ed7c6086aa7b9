//! Bounces whose text the generic reader gets wrong, recognised by their headers and body
//! markers. Each recogniser returns `None` when the message is not its kind.

use crate::mime::Mail;
use crate::{Action, Finding, Reason, SmtpCommand, address, text};

/// The findings of the first recogniser that knows the message.
pub(crate) fn run(mail: &Mail, region: &str) -> Option<Vec<Finding>> {
    google_groups(mail, region)
        .or_else(|| v5_sendmail(mail, region))
        .or_else(|| google_workspace(mail, region))
        .or_else(|| mailmarshal(mail, region))
        .or_else(|| postfix_smtpd(mail, region))
        .or_else(|| notes(mail, region))
        .or_else(|| exchange2003(mail, region))
        .or_else(|| message_details(mail))
}

/// The layout of Verizon's and Apache James' bounces: "Error message below:" with the
/// server's reply, then "Message details:" with the envelope (`RCPT TO: a@b`). Their MIME
/// structure is often broken (a boundary parameter on a line of its own), so the undecoded
/// body is read when the parsed one lacks the text.
fn message_details(mail: &Mail) -> Option<Vec<Finding>> {
    let text = [mail.body.as_str(), mail.raw_body.as_str()]
        .into_iter()
        .find(|t| t.contains("Error message below:") && t.contains("Message details:"))?;
    let start = text.find("Error message below:")?;
    let details = text.find("Message details:")?;
    let words = text
        .get(start + "Error message below:".len()..details)?
        .trim();
    let lead = text[..start]
        .lines()
        .rev()
        .find(|l| l.starts_with("Error: "))
        .unwrap_or("");
    let recipients: Vec<String> = text[details..]
        .lines()
        .take(20)
        .filter_map(|l| l.trim().strip_prefix("RCPT TO:"))
        .filter_map(address::find)
        .collect();
    if recipients.is_empty() {
        return None;
    }
    // Verizon's own sentence for an unknown address (its `Error:` lead-in).
    let hint = (mail.from().to_ascii_lowercase().contains("@vtext.com")
        && lead.contains("Invalid user address"))
    .then_some(Reason::UserUnknown);
    let diagnostic = words.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(
        recipients
            .into_iter()
            .map(|recipient| Finding {
                recipient,
                command: SmtpCommand::find(&diagnostic),
                diagnostic: diagnostic.clone(),
                hint,
                ..Finding::default()
            })
            .collect(),
    )
}

/// Google Workspace refusing to send at all (a misconfigured "Send mail as" account, an
/// address that cannot be found): no DSN fields, a "** Message not delivered **" notice whose
/// paragraphs (and "The response was:") are the words. The recipients are the
/// `X-Failed-Recipients`, else the returned message's `To`.
fn google_workspace(mail: &Mail, region: &str) -> Option<Vec<Finding>> {
    // Google's own domain, whatever the author's name: the subject is the notice's.
    if !mail.from().contains("@googlemail.com>")
        || !mail.subject().contains("Delivery Status Notification")
        || text::contains(region, "\nFinal-Recipient:")
        || text::contains(region, "\nDiagnostic-Code:")
    {
        return None;
    }
    let start = region
        .lines()
        .find(|l| l.starts_with("** ") && l.trim_end().ends_with(" **"))?;
    let at = text::find(region, start)?;
    let mut words = String::new();
    for line in region[at..].lines().take(60) {
        if line.starts_with("Content-Type:") || line.starts_with("--") {
            break;
        }
        if !line.trim().is_empty() {
            words.push_str(line.trim());
            words.push(' ');
        }
    }
    let words = words.trim_end().to_string();
    // Its own sentence for an address Google could not find (Sisimai's lhost googleworkspace
    // table); the rest of its notices are read from their words.
    let hint = words
        .contains("because the address couldn't be found. Check for typos")
        .then_some(Reason::UserUnknown);
    let mut recipients: Vec<String> = mail
        .header("x-failed-recipients")
        .map(address::find_all)
        .unwrap_or_default();
    if recipients.is_empty() {
        recipients.extend(
            mail.original_headers()
                .iter()
                .find(|(n, _)| n == "to")
                .and_then(|(_, v)| address::find(v)),
        );
    }
    let found: Vec<Finding> = recipients
        .into_iter()
        .take(super::MAX_RECIPIENTS)
        .map(|recipient| Finding {
            recipient,
            command: SmtpCommand::find(&words),
            diagnostic: words.clone(),
            hint,
            ..Finding::default()
        })
        .collect();
    (!found.is_empty()).then_some(found)
}

/// Trustwave MailMarshal (SMTP): `Undeliverable Mail: "subject"`, then "Could not be
/// delivered because of" with the reply, and "The following recipients were affected:" with
/// the addresses indented below it. The "Additional Information" block after them is the
/// envelope, not the error.
fn mailmarshal(mail: &Mail, region: &str) -> Option<Vec<Finding>> {
    const ERROR: &str = "Could not be delivered because of";
    const RECIPIENTS: &str = "The following recipients were affected:";
    if !mail.subject().starts_with("Undeliverable Mail: \"") {
        return None;
    }
    let error = text::find(region, ERROR)?;
    let listed = error + region[error..].find(RECIPIENTS)?;
    let words = region
        .get(error + ERROR.len()..listed)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let remote_mta = region
        .lines()
        .find_map(|l| l.strip_prefix("Remote-MTA:"))
        .map(|v| v.trim().trim_matches(['<', '>']).to_string())
        .filter(|v| !v.is_empty());
    let mut found = Vec::new();
    for line in region[listed + RECIPIENTS.len()..].lines().skip(1) {
        if !line.starts_with([' ', '\t']) || line.trim().is_empty() {
            break;
        }
        let Some(recipient) = address::find(line) else {
            continue;
        };
        if found.len() >= super::MAX_RECIPIENTS {
            break;
        }
        found.push(Finding {
            recipient,
            command: SmtpCommand::find(&words),
            diagnostic: words.clone(),
            remote_mta: remote_mta.clone(),
            ..Finding::default()
        });
    }
    (!found.is_empty()).then_some(found)
}

/// Postfix's notice to the postmaster about a session its SMTP server refused ("Postfix SMTP
/// server: errors from host[addr]", smtpd_chat.c): a transcript of `In:` commands and `Out:`
/// replies. Each `RCPT TO` opens a record; a record's words are the first refusal (4xx/5xx)
/// it met, and the command of every record is the first one refused.
fn postfix_smtpd(mail: &Mail, region: &str) -> Option<Vec<Finding>> {
    if mail
        .subject()
        .find("SMTP server: errors from ")
        .is_none_or(|at| at == 0)
    {
        return None;
    }
    // (command sent, its argument, the reply lines)
    let mut session: Vec<(String, String, Vec<&str>)> = Vec::new();
    for line in region.lines().take(2000) {
        let line = line.trim();
        if let Some(sent) = line.strip_prefix("In:") {
            let sent = sent.trim();
            let (verb, argument) = sent.split_once(' ').unwrap_or((sent, ""));
            session.push((verb.to_ascii_uppercase(), argument.to_string(), Vec::new()));
        } else if let Some(reply) = line.strip_prefix("Out:")
            && let Some((_, _, replies)) = session.last_mut()
        {
            replies.push(reply.trim());
        }
    }
    let mut out: Vec<Finding> = Vec::new();
    let mut first_refused = None;
    for (verb, argument, replies) in &session {
        let command = SmtpCommand::find(verb);
        if command == Some(SmtpCommand::Rcpt)
            && let Some(recipient) = address::find(argument)
        {
            if out.len() >= super::MAX_RECIPIENTS {
                break;
            }
            out.push(Finding {
                recipient,
                ..Finding::default()
            });
        }
        // The final reply: its code on the last line, the lines that carry that code.
        let Some(last) = replies.last() else { continue };
        let code = last
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()));
        let Some(code) = code.filter(|c| c.starts_with(['4', '5'])) else {
            continue;
        };
        first_refused = first_refused.or(command);
        let words = replies
            .iter()
            .filter(|r| r.starts_with(code))
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(f) = out.last_mut()
            && f.diagnostic.is_empty()
        {
            f.diagnostic = words;
            // The command whose reply refused this recipient: a recipient accepted at RCPT
            // and refused after the data was refused for its content.
            f.command = command;
        }
    }
    for f in out.iter_mut().filter(|f| f.command.is_none()) {
        f.command = first_refused;
    }
    (!out.is_empty()).then_some(out)
}

/// Exchange Server 2007 and later (and Exchange Online): known by two of its subjects, its
/// senders, its NDR codes (` RESOLVER.`, ` QUEUE.`), its "Diagnostic information for
/// administrators" (in the languages it is installed in) and a `Content-Language` field. Below
/// that heading each recipient stands alone on a line, followed by the replies of its attempts
/// (`#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##`, `Remote Server returned '…'`); the
/// last status among them is the record's. The NDR code names the reason.
pub(crate) fn exchange2007(mail: &Mail) -> Option<Vec<Finding>> {
    const SUBJECTS: &[&str] = &[
        "Undeliverable",
        "Non_remis_",
        "Non remis ",
        "Non recapitabile",
        "Olevererbart",
    ];
    const STARTS: &[&str] = &[
        "Error Details",
        "Diagnostic information for administrators:",
        "Informations de diagnostic pour les administrateurs",
        "Informazioni di diagnostica per gli amministratori",
        "Diagnostisk information f",
    ];
    const ENDS: &[&str] = &[
        "Original Message Headers",
        "Original message headers:",
        "tes de message d'origine :",
        "Intestazioni originali del messaggio:",
        "Ursprungshuvuden:",
    ];
    const SERVERS: &[&str] = &[
        "DSN generated by:",
        "Generating server",
        "Serveur de g",
        "Server di generazione",
        "Genererande server",
    ];
    const CODES: &[(&str, Reason)] = &[
        ("SMTPSEND.DNS.NonExistentDomain", Reason::HostUnknown),
        ("SMTPSEND.DNS.MxLoopback", Reason::NetworkError),
        ("RESOLVER.ADR.BadPrimary", Reason::SystemError),
        ("RESOLVER.ADR.RecipNotFound", Reason::UserUnknown),
        ("RESOLVER.ADR.RecipientNotFound", Reason::UserUnknown),
        ("RESOLVER.ADR.ExRecipNotFound", Reason::UserUnknown),
        ("RESOLVER.ADR.RecipLimit", Reason::TooManyConn),
        ("RESOLVER.ADR.InvalidInSmtp", Reason::SystemError),
        ("RESOLVER.ADR.Ambiguous", Reason::SystemError),
        ("RESOLVER.RST.AuthRequired", Reason::SecurityError),
        ("RESOLVER.RST.NotAuthorized", Reason::Rejected),
        ("RESOLVER.RST.RecipSizeLimit", Reason::ExceedLimit),
        ("QUEUE.Expired", Reason::Expired),
    ];
    let body = mail.body.as_str();
    let from = mail.from();
    // Two signs of five: the header's first, and the body searched only while they can
    // still make two (every bounce was searched seven times here).
    let in_header = [
        SUBJECTS.iter().any(|s| mail.subject().contains(s)),
        from.contains("postmaster@outlook.com") || from.contains(".onmicrosoft.com"),
        mail.header("content-language").is_some(),
    ];
    let mut signs = in_header.iter().filter(|s| **s).count();
    let in_body: [&dyn Fn() -> bool; 2] = [
        &|| text::contains(body, " RESOLVER.") || text::contains(body, " QUEUE."),
        &|| STARTS.iter().any(|s| text::contains(body, s)),
    ];
    for (left, sign) in in_body
        .iter()
        .enumerate()
        .map(|(n, s)| (in_body.len() - n, s))
    {
        if signs >= 2 || signs + left < 2 {
            break;
        }
        signs += usize::from(sign());
    }
    if signs < 2 {
        return None;
    }
    let end = ENDS
        .iter()
        .filter_map(|e| text::find(body, e))
        .min()
        .unwrap_or(body.len());
    let report = &body[..end];
    let start = report
        .lines()
        .find(|l| STARTS.iter().any(|s| l.starts_with(s)))
        .and_then(|l| report.find(l));
    let mut out: Vec<Finding> = Vec::new();
    let mut current = Finding::default();
    if let Some(start) = start {
        for line in report[start..].lines().skip(1).take(400) {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if !line.contains(' ') && line.find('@').is_some_and(|at| at > 1) {
                if let Some(recipient) = address::find(line) {
                    if !current.recipient.is_empty() {
                        if out.len() >= super::MAX_RECIPIENTS {
                            break;
                        }
                        let host = current.remote_mta.clone();
                        out.push(std::mem::take(&mut current));
                        current.remote_mta = host;
                    }
                    current.recipient = recipient;
                }
            } else if SERVERS.iter().any(|s| line.starts_with(s)) {
                // "Generating server: SG2APC01HT234.mail.protection.outlook.com": the reference
                // takes it for the remote host (it names Exchange Online's service).
                current.remote_mta = line
                    .split_once(':')
                    .map(|(_, host)| host.trim())
                    .and_then(|h| h.split_whitespace().next())
                    .filter(|h| h.contains('.'))
                    .map(str::to_string)
                    .or(current.remote_mta.take());
            } else {
                let status = crate::status::find_status(line, b"542");
                let reply = crate::status::find_reply_code(line, None);
                if status.is_some() || reply.is_some() || line.contains("Remote Server ") {
                    if status.is_some() {
                        current.status = status;
                    }
                    if !current.diagnostic.is_empty() {
                        current.diagnostic.push(' ');
                    }
                    current.diagnostic.push_str(line);
                }
            }
        }
    }
    if current.recipient.is_empty() {
        // "Original Message Details" with "Recipient Address: a@b".
        if out.is_empty()
            && text::contains(report, "Original Message Details")
            && let Some(recipient) = report
                .lines()
                .find_map(|l| l.trim_start().strip_prefix("Recipient Address:"))
                .and_then(address::find)
        {
            current.recipient = recipient;
            out.push(current);
        }
    } else {
        out.push(current);
    }
    for f in out.iter_mut() {
        let code = [" RESOLVER.", " QUEUE.", " SMTPSEND."]
            .iter()
            .find_map(|m| f.diagnostic.find(m))
            .and_then(|at| {
                let rest = &f.diagnostic[at + 1..];
                rest.find(';').map(|end| &rest[..end])
            });
        f.hint = code
            .and_then(|c| CODES.iter().find(|(name, _)| *name == c))
            .map(|(_, r)| *r);
        f.command = SmtpCommand::find(&f.diagnostic);
    }
    (!out.is_empty()).then_some(out)
}

/// Sendmail version 5 (and the MTAs that copied its savemail.c): no DSN, only the transcript,
/// in sessions opened by `While talking to host:`. In a session, `>>> ` lines are the
/// commands sent and `<<< ` lines the replies; `550 <a@b>... words` (or `>>> RCPT To:<a@b>`)
/// opens a recipient's record, which takes the replies read so far and the command last sent;
/// the lines about hosts (`421 host (smtp)... Deferred: ...`) belong to no one unless a record
/// has no words of its own. Without a session the generic reader does better.
fn v5_sendmail(mail: &Mail, region: &str) -> Option<Vec<Finding>> {
    const TRANSCRIPT: &str = "----- Transcript of session follows -----";
    if !mail.subject().starts_with("Returned mail: ")
        || !(text::contains(&mail.body, "----- Unsent message follows -----")
            || text::contains(&mail.body, "----- No message was collected -----"))
    {
        return None;
    }
    let start = text::find(region, TRANSCRIPT)? + TRANSCRIPT.len();
    let mut out: Vec<Finding> = Vec::new();
    let mut current = Finding::default();
    // The lines that name no recipient, by the number of records opened before them.
    let mut other: Vec<String> = vec![String::new()];
    let mut host: Option<String> = None;
    let mut sent: Option<SmtpCommand> = None;
    let append = |to: &mut String, line: &str| {
        if !to.is_empty() {
            to.push(' ');
        }
        to.push_str(line);
    };
    for line in region[start..].lines().map(str::trim_end).take(400) {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(command) = line.strip_prefix(">>> ") {
            sent = SmtpCommand::find(command);
        }
        if let Some(recipient) = v5_recipient(line) {
            if host.is_none() {
                if let Some(last) = other.last_mut() {
                    append(last, line);
                }
                continue;
            }
            let same = recipient.eq_ignore_ascii_case(&current.recipient);
            if same || (sent == Some(SmtpCommand::Mail) && line.starts_with("<<< ")) {
                append(&mut current.diagnostic, line);
                sent = None;
                continue;
            }
            if !current.recipient.is_empty() {
                if out.len() >= super::MAX_RECIPIENTS {
                    break;
                }
                out.push(std::mem::take(&mut current));
            }
            other.push(String::new());
            current.recipient = recipient;
            current.remote_mta = host.clone();
            current.command = current.command.or(sent);
            append(&mut current.diagnostic, line);
        } else if let Some(rest) = line.trim_start().strip_prefix("While talking to ") {
            host = rest
                .trim_end_matches([':', '.'])
                .split_whitespace()
                .next()
                .filter(|h| h.contains('.'))
                .map(str::to_string)
                .or(host);
        } else if line.starts_with(">>> ") || line.starts_with("<<< ") {
            append(&mut current.diagnostic, line);
        } else if let Some(last) = other.last_mut() {
            append(last, line.trim());
        }
    }
    if current.recipient.is_empty() {
        // Replies of a session that named no recipient: nobody's.
        if out.is_empty() {
            return None;
        }
    } else {
        out.push(current);
    }
    for (f, words) in out.iter_mut().zip(other) {
        if f.diagnostic.is_empty() {
            f.diagnostic = words;
        }
        if f.command.is_none() {
            f.command = SmtpCommand::find(&f.diagnostic);
        }
    }
    Some(out)
}

/// The recipient a V5 Sendmail transcript line names: `554 <a@b>... words` or
/// `>>> RCPT To:<a@b>`.
fn v5_recipient(line: &str) -> Option<String> {
    if let Some(open) = line.find(" <")
        && let Some(close) = line[open..].find(">...")
    {
        let inner = &line[open + 2..open + close];
        if inner.contains('@') {
            return address::find(inner);
        }
    }
    let upper = line.to_ascii_uppercase();
    let at = upper.find(">>> RCPT TO:")?;
    let rest = &line[at + ">>> RCPT TO:".len()..];
    let inner = rest.trim_start().strip_prefix('<')?;
    address::find(&inner[..inner.find('>')?])
}

/// Exchange Server 2003 (and its Internet Mail Service): "did not reach the following
/// recipient(s):", then `address on date` and the `MSEXCH:` line whose error code in
/// parentheses names the reason (Microsoft's NDR code list).
fn exchange2003(mail: &Mail, region: &str) -> Option<Vec<Finding>> {
    const CODES: &[(&str, Reason)] = &[
        ("000C05A6", Reason::UserUnknown),
        ("000C0595", Reason::Filtered),
        ("00010256", Reason::SystemError),
        ("000D06B5", Reason::SystemError),
        ("00120270", Reason::NetworkError),
        ("00050311", Reason::ContentError),
        ("000502CC", Reason::ContentError),
        ("000B0981", Reason::SecurityError),
        ("000B099C", Reason::OnHold),
        ("000B09AA", Reason::OnHold),
        ("000B09B6", Reason::OnHold),
    ];
    let header_starts = |name: &str, prefix: &str| {
        mail.header(name)
            .is_some_and(|v| v.trim_start().starts_with(prefix))
    };
    let exchange = mail.header("x-ms-embedded-report").is_some()
        || header_starts("x-mailer", "Internet Mail Service (")
        || header_starts(
            "x-mailer",
            "Microsoft Exchange Server Internet Mail Connector",
        )
        || header_starts("x-mimeole", "Produced By Microsoft Exchange")
        || mail
            .headers
            .iter()
            .any(|(n, v)| n == "received" && v.contains(" with Internet Mail Service ("));
    if !exchange {
        return None;
    }
    let start = text::find(region, "did not reach the following recipient(s):")?;
    let mut out: Vec<(Finding, String)> = Vec::new();
    for line in region[start..].lines().skip(1) {
        if line.starts_with("Content-Type:") {
            break;
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(at) = trimmed.find(" on ")
            && trimmed[..at].contains('@')
        {
            // `a@b on date`, or `c=US;a= ;p=x;o=y;cat:SMTP=A@B; on date`
            let lower = trimmed.to_ascii_lowercase();
            let named = match lower.find(":smtp=") {
                Some(p) => &trimmed[p + 6..lower.find("; on ").unwrap_or(at)],
                None => &trimmed[..at],
            };
            if let Some(recipient) = address::find(named) {
                out.push((
                    Finding {
                        recipient,
                        ..Finding::default()
                    },
                    String::new(),
                ));
                continue;
            }
        }
        let Some((f, other)) = out.last_mut() else {
            continue;
        };
        if trimmed.contains("MSEXCH:") || f.diagnostic.starts_with("MSEXCH:") {
            if f.diagnostic.is_empty() {
                f.diagnostic = trimmed.to_string();
            } else {
                f.diagnostic.push(' ');
                f.diagnostic.push_str(trimmed);
            }
        } else {
            other.push(' ');
            other.push_str(trimmed);
        }
    }
    let mut found = Vec::new();
    for (mut f, other) in out {
        let code = f
            .diagnostic
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(')'));
        if let Some((code, words)) = code {
            f.hint = CODES.iter().find(|(c, _)| *c == code).map(|(_, r)| *r);
            if let Some(hint) = f.hint {
                f.status = crate::status::pseudo_status(hint, false);
            }
            f.diagnostic = words.trim().to_string();
        }
        if f.hint.is_none() && !other.is_empty() {
            f.diagnostic = format!("{} {}", other.trim(), f.diagnostic);
        }
        found.push(f);
    }
    (!found.is_empty()).then_some(found)
}

/// Lotus/HCL Notes: "------- Failure Reasons --------", then the reason and the address on
/// lines of their own. Its two known sentences name their reason; other words are left open.
fn notes(mail: &Mail, region: &str) -> Option<Vec<Finding>> {
    const SENTENCES: &[(&str, Reason)] = &[
        (
            "Message has exceeded maximum hop count",
            Reason::NetworkError,
        ),
        (
            "User not listed in public Name & Address Book",
            Reason::UserUnknown,
        ),
    ];
    // Its Japanese edition's "ディレクトリのリストにありません" (not in the directory) is left
    // open too: the reference implementation does not decode those ISO-2022-JP bounces, and
    // the operators' data follows it.
    if !mail.subject().starts_with("Undeliverable message") {
        return None;
    }
    let start = text::find(region, "------- Failure Reasons")?;
    let mut out: Vec<Finding> = Vec::new();
    let mut words = String::new();
    for line in region[start..].lines().skip(1) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('-') {
            continue;
        }
        if line.contains('@') && !line.contains(' ') && address::is_address(line) {
            out.push(Finding {
                recipient: line.to_string(),
                ..Finding::default()
            });
        } else {
            words.push(' ');
            words.push_str(line);
        }
    }
    if out.is_empty() {
        out.push(Finding::default());
    }
    let words = words.trim().to_string();
    let hint = SENTENCES
        .iter()
        .find(|(p, _)| words.contains(p))
        .map(|(_, r)| *r);
    for f in out.iter_mut() {
        f.diagnostic = words.clone();
        f.hint = hint;
    }
    Some(out)
}

/// Bounces whose own text is read in place of the DSN they carry: the reference
/// implementation reads OpenSMTPD's notice and Exchange 2007's report, never their
/// `message/delivery-status` part, so verdicts and status codes come from the text alone.
pub(crate) fn preempt(mail: &Mail) -> Option<Vec<Finding>> {
    opensmtpd(mail).or_else(|| exchange2007(mail))
}

/// OpenSMTPD's notice (smtpd/bounce.c): `addr: error` lines between "This is the
/// MAILER-DAEMON" and "Below is a copy of the original message"; its own errors (mta.c,
/// queue.c) name their reason.
fn opensmtpd(mail: &Mail) -> Option<Vec<Finding>> {
    const OWN: &[(&str, Reason)] = &[
        ("Envelope expired", Reason::Expired),
        ("Could not retrieve credentials", Reason::SecurityError),
        ("Invalid domain name", Reason::HostUnknown),
        ("Domain does not exist", Reason::HostUnknown),
        (
            "Address family mismatch on destination MXs",
            Reason::NetworkError,
        ),
        ("All routes to destination blocked", Reason::NetworkError),
        ("bad DNS lookup error code", Reason::NetworkError),
        ("Could not retrieve source address", Reason::NetworkError),
        ("Loop detected", Reason::NetworkError),
        ("Network error on destination MXs", Reason::NetworkError),
        ("No valid route to remote MX", Reason::NetworkError),
        ("No valid route to destination", Reason::NetworkError),
        ("Temporary failure in MX lookup", Reason::NetworkError),
        ("Destination seem to reject all mails", Reason::NotAccept),
        ("No MX found for domain", Reason::NotAccept),
        ("No MX found for destination", Reason::NotAccept),
    ];
    let opensmtpd = mail.subject().contains("Delivery status notification")
        || mail.from().contains("Mailer Daemon <")
        || mail
            .headers
            .iter()
            .any(|(n, v)| n == "received" && v.contains(" (OpenSMTPD) with "));
    if !opensmtpd {
        return None;
    }
    let start = mail
        .body
        .find("    This is the MAILER-DAEMON, please DO NOT REPLY to this")?;
    let notice = &mail.body[start..];
    let notice = &notice[..notice
        .find("    Below is a copy of the original message:")
        .unwrap_or(notice.len())];
    // bounce.c words a delay warning "A message is delayed for more than …" — and, in 6.8, the
    // report of an envelope that expired too, whose line then says "Envelope expired": only
    // the other lines are of messages still queued.
    let delay_notice = text::contains(notice, "A message is delayed for more than");
    let mut out = Vec::new();
    for line in notice.lines() {
        let Some((recipient, words)) = line.split_once(": ") else {
            continue;
        };
        if line.starts_with(' ') || !address::is_address(recipient) {
            continue;
        }
        let words = words.trim();
        let hint = OWN.iter().find(|(p, _)| words.contains(p)).map(|(_, r)| *r);
        out.push(Finding {
            recipient: recipient.to_string(),
            diagnostic: words.to_string(),
            command: SmtpCommand::find(words),
            hint,
            action: (delay_notice && hint != Some(Reason::Expired)).then_some(Action::Delayed),
            ..Finding::default()
        });
    }
    (!out.is_empty()).then_some(out)
}

/// What an MTA's own words mean, applied to the findings of the generic reader.
pub(crate) fn refine(mail: &Mail, findings: &mut [Finding]) {
    if is_mfilter(mail) {
        mfilter(mail, findings);
    } else if is_qmail(mail) {
        for f in findings.iter_mut() {
            f.hint = qmail_reason(&f.diagnostic, f.command);
        }
    }
}

/// Exim's bounces (and MXLogic's, which is Exim): the `Mail Delivery System` sender, its
/// subjects, its message IDs (`<E1P1YNN-0003AD-Ga@host>`), or MXLogic's headers.
pub(crate) fn is_exim(mail: &Mail) -> bool {
    const SUBJECTS: &[&str] = &[
        "Delivery Status Notification",
        "Mail delivery failed",
        "Mail failure",
        "Message frozen",
        "Warning: message ",
        "error(s) in forwarding or filtering",
    ];
    let id = mail.header("message-id").unwrap_or("").trim();
    // `<E` + Exim's message ID + `@`: `1P1YNN-0003AD-Ga` up to Exim 4.96, the longer
    // `1vq5lU-00000000Ult-3GOa` since 4.97.
    let exim_id = id.find('<') == Some(0)
        && id.find('-') == Some(8)
        && matches!(
            (id[9..].find('-').map(|d| d + 9), id.find('@')),
            (_, Some(18)) | (Some(20), Some(25))
        );
    let mxlogic = ["x-mx-bounce", "x-mxl-hash", "x-mxl-notehash"]
        .iter()
        .any(|h| mail.header(h).is_some())
        || id.contains("<mxl~");
    let signs = [
        mail.from().contains("Mail Delivery System"),
        SUBJECTS.iter().any(|s| mail.subject().contains(s)),
        exim_id,
    ];
    mxlogic || signs.iter().filter(|s| **s).count() >= 2
}

/// What Exim's own words mean (exim/src: deliver.c, route.c, transports, routers), and the
/// status code it stands for when the bounce has none: a refusal of MAIL FROM is left open
/// (`onhold`, to be named from the remote's words), of HELO it is `blocked`; Exim's own errors
/// name their reason; delays and frozen messages are `expired`. The pseudo status is made
/// from that first verdict, as the reference implementation does.
pub(crate) fn exim(findings: &mut [Finding]) {
    const OWN: &[(&str, Reason)] = &[
        ("user not found", Reason::UserUnknown),
        (
            "all host address lookups failed permanently",
            Reason::HostUnknown,
        ),
        (
            "all relevant MX records point to non-existent hosts",
            Reason::HostUnknown,
        ),
        ("Unrouteable address", Reason::HostUnknown),
        ("mailbox is full", Reason::MailboxFull),
        ("error: quota exceed", Reason::MailboxFull),
        (
            "an MX or SRV record indicated no SMTP service",
            Reason::NotAccept,
        ),
        (
            "no host found for existing SMTP connection",
            Reason::NotAccept,
        ),
        ("angle-brackets nested too deep", Reason::SyntaxError),
        ("expected word or \"<\"", Reason::SyntaxError),
        (
            "domain missing in source-routed address",
            Reason::SyntaxError,
        ),
        ("malformed address:", Reason::SyntaxError),
        ("delivery to file forbidden", Reason::SystemError),
        ("delivery to pipe forbidden", Reason::SystemError),
        ("local delivery failed", Reason::SystemError),
        ("LMTP error after ", Reason::SystemError),
        ("Too many \"Received\" headers", Reason::ContentError),
    ];
    const DELAYED: &[&str] = &[
        "retry timeout exceeded",
        "No action is required on your part",
        "retry time not reached for any host after a long failure period",
        "all hosts have been failing for a long time and were last tried",
        "Delay reason: ",
        "has been frozen",
        "was frozen on arrival by ",
    ];
    for f in findings.iter_mut() {
        let d = f.diagnostic.as_str();
        let hint = match f.command {
            Some(SmtpCommand::Helo | SmtpCommand::Ehlo) => Some(Reason::Blocked),
            Some(SmtpCommand::Mail) => Some(Reason::OnHold),
            _ => OWN
                .iter()
                .find(|(p, _)| d.contains(p))
                .map(|(_, r)| *r)
                .or_else(|| {
                    DELAYED
                        .iter()
                        .any(|p| d.contains(p))
                        .then_some(Reason::Expired)
                })
                .or_else(|| d.contains("pipe to |").then_some(Reason::MailerError)),
        };
        let Some(hint) = hint else { continue };
        if f.hint.is_none() {
            f.hint = Some(hint);
        }
        if f.status.is_none() && crate::status::find_status(d, b"542").is_none() {
            let reply = crate::status::find_reply_code(d, None);
            let temporary = reply.is_some_and(|r| r.starts_with('4'))
                || matches!(hint, Reason::Expired | Reason::MailboxFull);
            f.status = crate::status::pseudo_status(hint, temporary);
        }
    }
}

/// Trend Micro InterScan MSS: its "Unable to deliver message to <a@b>" stands for an
/// address the next hop did not take.
pub(crate) fn interscan(mail: &Mail, findings: &mut [Finding]) {
    let is_interscan = mail.from().starts_with("\"InterScan")
        || mail
            .header("content-type")
            .is_some_and(|v| v.contains("InterScan"))
        || text::contains(&mail.body, " InterScan ");
    if !is_interscan {
        return;
    }
    for f in findings
        .iter_mut()
        .filter(|f| f.diagnostic.contains("Unable to deliver"))
    {
        f.hint = Some(Reason::UserUnknown);
    }
}

/// The sentences that Courier (courier/module.esmtp/esmtpclient.c), Zoho Mail, DragonFly's
/// dma, iMail, Oracle's Messaging Server, HCL Domino and au by KDDI write themselves, for the findings of their bounces.
pub(crate) fn own_sentences(mail: &Mail, findings: &mut [Finding]) {
    const COURIER: &[(&str, Reason)] = &[
        ("No such domain.", Reason::HostUnknown),
        ("This domain's DNS violates RFC 1035.", Reason::SystemError),
        ("DNS lookup failed.", Reason::NetworkError),
    ];
    const ZOHO: &[(&str, Reason)] = &[("Host not reachable", Reason::Expired)];
    // au by KDDI's relays (the dion.ne.jp and auone-net.jp senders).
    const KDDI: &[(&str, Reason)] = &[
        ("As their mailbox is full", Reason::MailboxFull),
        ("Due to the following SMTP relay error", Reason::NoRelaying),
        ("As the remote domain doesnt exist", Reason::HostUnknown),
    ];
    // The DragonFly Mail Agent (dma: dma.c, net.c).
    const DRAGONFLY: &[(&str, Reason)] = &[
        ("Could not deliver for the last ", Reason::Expired),
        ("DNS lookup failure: host ", Reason::HostUnknown),
    ];
    // Progress iMail Server (`X-Mailer: <SMTP32 vN>`, or a subject that begins "Undeliverable
    // Mail", alone or followed by more words): "Unknown user: a@b" and the like.
    const IMAIL: &[(&str, Reason)] = &[
        ("Unknown host", Reason::HostUnknown),
        ("Unknown user", Reason::UserUnknown),
        ("Invalid final delivery userid", Reason::UserUnknown),
        ("User mailbox exceeds allowed size", Reason::MailboxFull),
        (
            "Requested action not taken: virus detected",
            Reason::VirusDetected,
        ),
        ("Blacklisted URL in message", Reason::SpamDetected),
        ("Delivery failed ", Reason::Expired),
    ];
    // Oracle Communications Messaging Server ("Delivery Notification: ").
    const MESSAGING_SERVER: &[(&str, Reason)] =
        &[("Illegal host/domain name found", Reason::HostUnknown)];
    // HCL Domino ("DELIVERY FAILURE:"). Its Japanese edition's sentence is left open, as
    // for Notes (see `notes`).
    const DOMINO: &[(&str, Reason)] = &[
        ("Cannot route mail to user", Reason::Filtered),
        (
            "Several matches found in Domino Directory",
            Reason::SystemError,
        ),
        ("not listed in Domino Directory", Reason::UserUnknown),
        (
            "not listed in public Name & Address Book",
            Reason::UserUnknown,
        ),
        (
            "no se encuentra en el Directorio de Domino",
            Reason::UserUnknown,
        ),
        ("non répertorié dans l'annuaire Domino", Reason::UserUnknown),
    ];
    let subject = mail.subject();
    let courier = mail.from().contains("Courier mail server at ")
        || subject.contains("NOTICE: mail delivery status.")
        || subject.contains("WARNING: delayed mail.")
        || mail
            .header("message-id")
            .is_some_and(|v| v.trim_start().starts_with("<courier."));
    let table = if courier {
        COURIER
    } else if mail.header("x-zohomail").is_some() {
        ZOHO
    } else if subject.contains("Mail delivery failed")
        && mail
            .headers
            .iter()
            .any(|(n, v)| n == "received" && v.contains(" (DragonFly Mail Agent"))
    {
        DRAGONFLY
    } else if subject.starts_with("Undeliverable Mail ")
        || subject.trim_end() == "Undeliverable Mail"
        || mail
            .header("x-mailer")
            .is_some_and(|v| v.trim_start().starts_with("<SMTP32 v"))
    {
        IMAIL
    } else if subject.starts_with("Delivery Notification: ")
        || mail
            .header("content-type")
            .is_some_and(|v| v.contains("Boundary_(ID_"))
    {
        MESSAGING_SERVER
    } else if subject.starts_with("DELIVERY FAILURE:") || subject.contains("DELIVERY_FAILURE") {
        DOMINO
    } else if is_kddi(mail) {
        if mail.header("x-spasign").is_some_and(|v| v.trim() == "NG") {
            for f in findings.iter_mut() {
                f.hint = Some(Reason::Filtered);
            }
            return;
        }
        KDDI
    } else {
        return;
    };
    for f in findings.iter_mut().filter(|f| f.hint.is_none()) {
        f.hint = table
            .iter()
            .find(|(p, _)| f.diagnostic.contains(p))
            .map(|(_, r)| *r);
    }
}

/// au (KDDI) EZweb's bounces: known by at least two of its sender, subject, relays and message
/// ID. Its notice states the reason once, above the recipients ("The user(s) account is
/// disabled."), in English beside the Japanese; spam-filtered mail comes back with
/// `X-SPASIGN: NG`. A refusal by another domain's server behind it, with no sentence, is an
/// unknown address.
pub(crate) fn ezweb(mail: &Mail, region: &str, findings: &mut [Finding]) {
    const SENTENCES: &[(&str, Reason)] = &[
        ("The user(s) account is disabled.", Reason::Suspend),
        (
            "The user(s) account is temporarily limited.",
            Reason::Suspend,
        ),
        (
            "The user(s) account is temporarily over quota",
            Reason::MailboxFull,
        ),
        ("Your message was not delivered within ", Reason::Expired),
    ];
    let from = mail.from();
    let id = mail.header("message-id").unwrap_or("");
    let signs = [
        from.contains("Postmaster@ezweb.ne.jp") || from.contains("Postmaster@au.com"),
        mail.subject() == "Mail System Error - Returned Mail",
        mail.headers.iter().any(|(n, v)| {
            n == "received"
                && (v.contains("ezweb.ne.jp (EZweb Mail) with") || v.contains(".au.com ("))
        }),
        id.contains(".ezweb.ne.jp>") || id.contains(".au.com>"),
    ];
    if signs.iter().filter(|s| **s).count() < 2 {
        return;
    }
    let text = region.split_whitespace().collect::<Vec<_>>().join(" ");
    let sentence = SENTENCES.iter().find(|(p, _)| text.contains(p));
    let spam = mail.header("x-spasign").is_some_and(|v| v.trim() == "NG");
    let lead_in = ["The user(s) ", "Your message ", "Each of the following"]
        .iter()
        .any(|p| text.contains(p));
    for f in findings.iter_mut() {
        let own_domain = f.recipient.ends_with("@ezweb.ne.jp") || f.recipient.ends_with("@au.com");
        f.hint = if spam {
            Some(Reason::Filtered)
        } else if let Some((words, reason)) = sentence {
            if f.diagnostic.trim().is_empty() {
                f.diagnostic = words.trim().to_string();
            }
            Some(*reason)
        } else if !lead_in && !own_domain && f.diagnostic.trim_start().starts_with('<') {
            Some(Reason::UserUnknown)
        } else {
            f.hint
        };
    }
}

/// Gmail's old text bounces ("Delivery to the following recipient failed permanently:", the
/// address indented, then "Technical details of … failure"): Google's own note of where the
/// session failed, `(state N)` after the remote's reply, names the command and the reason; its
/// DNS and connection errors name theirs. A specific status code in the reply (`4.2.2`) says
/// more than either.
pub(crate) fn gmail(mail: &Mail, region: &str, findings: &mut [Finding]) {
    const STATES: &[(&str, SmtpCommand, Reason)] = &[
        ("6", SmtpCommand::Mail, Reason::FailedStartTls),
        ("8", SmtpCommand::Auth, Reason::SystemError),
        ("9", SmtpCommand::Auth, Reason::FailedStartTls),
        ("12", SmtpCommand::Auth, Reason::NoRelaying),
        ("13", SmtpCommand::Ehlo, Reason::Blocked),
        ("14", SmtpCommand::Rcpt, Reason::UserUnknown),
        ("15", SmtpCommand::Data, Reason::Filtered),
        ("17", SmtpCommand::Data, Reason::Filtered),
        ("18", SmtpCommand::Data, Reason::Filtered),
    ];
    const OWN: &[(&str, Reason)] = &[
        ("DNS Error: Could not contact DNS servers", Reason::Expired),
        (
            "Delivery to the following recipient has been delayed",
            Reason::Expired,
        ),
        (
            "The recipient server did not accept our requests to connect",
            Reason::Expired,
        ),
        ("DNS Error: Domain name not found", Reason::HostUnknown),
        (
            "DNS Error: DNS server returned answer with no data",
            Reason::HostUnknown,
        ),
    ];
    // Google's own domain, whatever the author's name: the subject is the notice's.
    if !mail.from().contains("@googlemail.com>")
        || !mail.subject().contains("Delivery Status Notification")
        || !text::contains(region, "Delivery to the following recipient")
    {
        return;
    }
    let lead = region.split_whitespace().collect::<Vec<_>>().join(" ");
    for f in findings.iter_mut().filter(|f| f.hint.is_none()) {
        let text = f
            .diagnostic
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let state = text
            .rfind(" (state ")
            .map(|at| &text[at + 8..])
            .and_then(|rest| rest.split_once(')'))
            .and_then(|(n, _)| STATES.iter().find(|(s, _, _)| *s == n));
        let hint = match state {
            Some((_, command, reason)) => {
                f.command = Some(*command);
                Some(*reason)
            }
            None => OWN
                .iter()
                .find(|(p, _)| text.contains(p) || lead.contains(p))
                .map(|(_, r)| *r),
        };
        let Some(hint) = hint else { continue };
        let specific = crate::status::find_status(&text, b"542")
            .filter(|s| !s.contains(".0"))
            .and_then(|s| crate::status::reason_of_status(&s));
        f.hint = Some(specific.unwrap_or(hint));
    }
}

/// au by KDDI's own notices ("Your mail sent on: … Could not be delivered to: <a@b>").
fn is_kddi(mail: &Mail) -> bool {
    let from = mail.from();
    from.contains("no-reply@.")
        || from.contains(".dion.ne.jp")
        || mail
            .header("reply-to")
            .is_some_and(|v| v.contains("no-reply@app.auone-net.jp"))
        || mail.headers.iter().any(|(n, v)| {
            n == "received" && (v.contains("ezweb.ne.jp (") || v.contains(".au.com ("))
        }) && text::contains(&mail.body, " Could not be delivered to: <")
}

/// fml, the mailing list manager (`X-MLServer`, `-admin@` sender, `.FML` message IDs): its
/// refusals of a post name their reason in the text, else in the subject.
pub(crate) fn fml(mail: &Mail, findings: &mut [Finding]) {
    const TEXT: &[(&str, Reason)] = &[
        (" header may cause mail loop", Reason::Rejected),
        ("NOT MEMBER article from ", Reason::Rejected),
        ("reject mail from ", Reason::Rejected),
        ("reject spammers:", Reason::Rejected),
        (
            "You are not a member of this mailing list",
            Reason::Rejected,
        ),
        ("Duplicated Message-ID", Reason::NotCompliantRfc),
        ("Security alert:", Reason::SecurityError),
        (
            " has detected a loop condition so that",
            Reason::SystemError,
        ),
        ("Loop Back Warning:", Reason::SystemError),
    ];
    const SUBJECT: &[(&str, Reason)] = &[
        (" are not member", Reason::Rejected),
        ("NOT MEMBER article from ", Reason::Rejected),
        ("reject mail ", Reason::Rejected),
        ("Spam mail from a spammer is rejected", Reason::Rejected),
        ("fml system error message", Reason::SystemError),
        ("Loop Alert: ", Reason::SystemError),
        ("Loop Back Warning: ", Reason::SystemError),
        ("WARNING: UNIX FROM Loop", Reason::SystemError),
        ("Security Alert", Reason::SecurityError),
    ];
    if !is_fml(mail) {
        return;
    }
    let subject = mail.subject();
    for f in findings.iter_mut() {
        f.hint = TEXT
            .iter()
            .find(|(p, _)| f.diagnostic.contains(p))
            .or_else(|| SUBJECT.iter().find(|(p, _)| subject.contains(p)))
            .map(|(_, r)| *r)
            .or(f.hint);
    }
}

/// fml's own notice: its `X-MLServer` field, an `-admin@` author and a `.FML` message ID.
pub(crate) fn is_fml(mail: &Mail) -> bool {
    mail.header("x-mlserver").is_some()
        && mail.from().find("-admin@").is_some_and(|at| at > 0)
        && mail
            .header("message-id")
            .and_then(|v| v.find(".FML"))
            .is_some_and(|at| at > 1)
}

/// Digital Arts m-FILTER: qmail's subject ("failure notice"), its own layout.
fn is_mfilter(mail: &Mail) -> bool {
    mail.subject() == "failure notice"
        && mail
            .header("x-mailer")
            .is_some_and(|v| v.trim() == "m-FILTER")
}

/// m-FILTER names the refused command under "-------SMTP command" and the reply under
/// "-------server message"; it adds no verdict of its own.
fn mfilter(mail: &Mail, findings: &mut [Finding]) {
    let mut lines = mail.body.lines().map(str::trim);
    let command = lines
        .position(|l| l == "-------SMTP command")
        .and_then(|_| lines.find(|l| !l.is_empty()))
        .and_then(SmtpCommand::find);
    for f in findings.iter_mut() {
        if let Some(words) = f.diagnostic.strip_prefix("-------server message") {
            f.diagnostic = words.trim().to_string();
        }
        f.command = command.or(f.command);
    }
}

fn is_qmail(mail: &Mail) -> bool {
    mail.subject().eq_ignore_ascii_case("failure notice")
        || mail
            .headers
            .iter()
            .any(|(n, v)| n == "received" && v.contains("(qmail "))
        || text::contains(&mail.body, "Hi. This is the qmail")
}

/// qmail-send and qmail-remote (and the qmail-ldap patch) write fixed sentences; what each
/// means is a fact of their source (qmail-remote.c, qmail-local.c, error_str.c).
fn qmail_reason(diagnostic: &str, command: Option<SmtpCommand>) -> Option<Reason> {
    const EXPIRED: &str = "this message has been in the queue too long.";
    const SENTENCES: &[(&str, Reason)] = &[
        ("Sorry, I couldn't find any host ", Reason::HostUnknown),
        ("disk quota exceeded", Reason::MailboxFull),
        (
            "Message size exceeds fixed maximum message size:",
            Reason::MesgTooBig,
        ),
        (
            "Sorry, I wasn't able to establish an SMTP connection",
            Reason::NetworkError,
        ),
        (
            "Sorry. Although I'm listed as a best-preference MX",
            Reason::NetworkError,
        ),
        (
            "Sorry, I couldn't find a mail exchanger or IP address",
            Reason::NotAccept,
        ),
        (
            "The message exeeded the maximum size the user accepts",
            Reason::ExceedLimit,
        ),
        ("Mailaddress is administrativ", Reason::Suspend),
        (
            "bad interpreter: No such file or directory",
            Reason::SystemError,
        ),
        ("system error", Reason::SystemError),
        ("Automatic homedir creator crashed", Reason::SystemError),
        ("LDAP", Reason::SystemError),
        ("qmail-forward", Reason::SystemError),
        ("homedir creation", Reason::SystemError),
        ("Unable to", Reason::SystemError),
        ("not enough free space", Reason::SystemFull),
        ("no mailbox here by that name", Reason::UserUnknown),
    ];
    if matches!(command, Some(SmtpCommand::Helo | SmtpCommand::Ehlo)) {
        return Some(Reason::Blocked);
    }
    if crate::phrases::ordered(diagnostic, &[" does not like recipient.", EXPIRED]) {
        // Left to the phrase tables: the remote's words say more than the queue's age.
        return Some(Reason::OnHold);
    }
    // The remote's reply ("Remote host said: ...") is read before qmail's own sentences.
    let said = diagnostic
        .find("Remote host said:")
        .map_or("", |at| &diagnostic[at..]);
    // "Unable to deliver message to <a@b>" is InterScan MSS's lead-in, not qmail's own error.
    let own = diagnostic.replace("Unable to deliver message to", "");
    for text in [said, own.as_str()] {
        if let Some((_, r)) = SENTENCES
            .iter()
            .find(|(p, _)| !text.is_empty() && text.contains(p))
        {
            return Some(*r);
        }
    }
    diagnostic.contains(EXPIRED).then_some(Reason::Expired)
}

/// Google Groups refusing a post (the group does not exist, or the sender may not post): the
/// text names no recipient, so the group is the returned message's `To`. Sisimai calls every
/// such refusal `rejected`.
fn google_groups(mail: &Mail, region: &str) -> Option<Vec<Finding>> {
    let from = mail.from().to_ascii_lowercase();
    // Google's own domains, a notice's subject or a mail-system author, and the Groups' words.
    if !(from.contains("@googlemail.com") || from.contains("@google.com"))
        || !(from.contains("mailer-daemon")
            || super::is_notice_subject(&mail.subject().to_lowercase()))
        || !(text::contains(region, "Google Groups")
            || text::contains(region, "Google グループ")
            || text::contains(region, "groups.google.com"))
    {
        return None;
    }
    let original = &mail.body[region.len()..];
    let group = crate::mime::header_block(
        original
            .split_once("\n\n")
            .map_or(original, |(_, rest)| rest),
    )
    .0
    .iter()
    .find(|(n, _)| n == "to")
    .and_then(|(_, v)| address::find(v))
    .or_else(|| {
        original
            .lines()
            .find_map(|l| l.strip_prefix("To:").and_then(address::find))
    })?;
    let words = region
        .split("\n\n")
        .map(str::trim)
        .find(|p| p.len() > 40)
        .unwrap_or("");
    Some(vec![Finding {
        recipient: group,
        diagnostic: words.to_string(),
        hint: Some(Reason::Rejected),
        ..Finding::default()
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exim_sentences_and_pseudo_codes() {
        type Case = (
            Option<SmtpCommand>,
            &'static str,
            Option<Reason>,
            Option<&'static str>,
        );
        let table: &[Case] = &[
            (
                Some(SmtpCommand::Mail),
                "SMTP error from remote mail server after MAIL FROM:<a@b.example> SIZE=1024: 551 Server access forbidden by invalid RDNS record",
                Some(Reason::OnHold),
                Some("5.0.901"),
            ),
            (
                Some(SmtpCommand::Mail),
                "Delay reason: SMTP error from remote mail server after MAIL FROM:<a@b.example>: 450 service permits 2 unverifyable sending IPs",
                Some(Reason::OnHold),
                Some("4.0.901"),
            ),
            (
                Some(SmtpCommand::Ehlo),
                "SMTP error from remote mail server after EHLO x.example: 550 go away",
                Some(Reason::Blocked),
                Some("5.0.971"),
            ),
            (
                None,
                "Unrouteable address",
                Some(Reason::HostUnknown),
                Some("5.0.912"),
            ),
            (
                None,
                "retry timeout exceeded",
                Some(Reason::Expired),
                Some("4.0.947"),
            ),
            (
                Some(SmtpCommand::Rcpt),
                "SMTP error from remote mail server after RCPT TO:<a@b.example>: 550 5.1.1 unknown",
                None,
                None,
            ),
        ];
        for (command, text, hint, status) in table {
            let mut f = vec![Finding {
                command: *command,
                diagnostic: text.to_string(),
                ..Finding::default()
            }];
            exim(&mut f);
            assert_eq!(f[0].hint, *hint, "{text}");
            assert_eq!(f[0].status.as_deref(), *status, "{text}");
        }
    }

    #[test]
    fn v5_sendmail_sessions() {
        let raw = "From: Mail Delivery Subsystem <MAILER-DAEMON@example.com>\n\
Subject: Returned mail: User unknown\n\n\
   ----- Transcript of session follows -----\n\
While talking to mx.example.edu:\n>>> MAIL From:<a@example.jp>\n<<< 550 Insecure Mail Relay\n\
554 <b@example.edu>... Remote protocol error\n\
550 example.or.jp (smtp)... 550 Host unknown\n\
554 <c@example.or.jp>... 550 Host unknown (Authoritative answer from name server)\n\
While talking to mail.example.co.jp:\n>>> RCPT To:<d@example.co.jp>\n\
<<< 550 Requested User Mailbox not found.\n550 <d@example.co.jp>... User unknown\n\
421 example.org (smtp)... Deferred: Connection timed out during user open with example.org\n\n\
   ----- Unsent message follows -----\nTo: b@example.edu\n\nx\n";
        let mail = Mail::parse(raw.as_bytes());
        let found = v5_sendmail(&mail, crate::mta::report_region(&mail)).unwrap();
        let got: Vec<_> = found
            .iter()
            .map(|f| (f.recipient.as_str(), f.command, f.diagnostic.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "b@example.edu",
                    Some(SmtpCommand::Mail),
                    ">>> MAIL From:<a@example.jp> <<< 550 Insecure Mail Relay 554 <b@example.edu>... Remote protocol error"
                ),
                (
                    "c@example.or.jp",
                    Some(SmtpCommand::Mail),
                    "554 <c@example.or.jp>... 550 Host unknown (Authoritative answer from name server)"
                ),
                (
                    "d@example.co.jp",
                    Some(SmtpCommand::Rcpt),
                    ">>> RCPT To:<d@example.co.jp> <<< 550 Requested User Mailbox not found. 550 <d@example.co.jp>... User unknown"
                ),
            ]
        );
        assert_eq!(found[0].remote_mta.as_deref(), Some("mx.example.edu"));
        // Only the mail system's own lines (no session): left to the other readers.
        let own = raw.replace("While talking to", "Talking to");
        let mail = Mail::parse(own.as_bytes());
        assert!(v5_sendmail(&mail, crate::mta::report_region(&mail)).is_none());
    }

    #[test]
    fn ezweb_sentences() {
        type Case = (&'static str, &'static str, &'static str, Option<Reason>);
        let head = "From: Postmaster@ezweb.ne.jp\nSubject: Mail System Error - Returned Mail\n";
        let table: &[Case] = &[
            (
                "",
                "The user(s) account is disabled.\n\n<a@ezweb.ne.jp>\n",
                "a@ezweb.ne.jp",
                Some(Reason::Suspend),
            ),
            (
                "",
                "The user(s) account is temporarily over quota.\n\n<a@ezweb.ne.jp>: 552 full\n",
                "a@ezweb.ne.jp",
                Some(Reason::MailboxFull),
            ),
            (
                "X-SPASIGN: NG\n",
                "The user(s) account is disabled.\n<a@ezweb.ne.jp>\n",
                "a@ezweb.ne.jp",
                Some(Reason::Filtered),
            ),
            (
                "",
                "<a@example.jp>: 550 no such user\n",
                "a@example.jp",
                Some(Reason::UserUnknown),
            ),
            (
                "",
                "<a@ezweb.ne.jp>: 550 no such user\n",
                "a@ezweb.ne.jp",
                None,
            ),
        ];
        for (extra, body, recipient, want) in table {
            let raw = format!("{head}{extra}\n{body}");
            let mail = Mail::parse(raw.as_bytes());
            let mut f = vec![Finding {
                recipient: recipient.to_string(),
                diagnostic: body.lines().last().unwrap_or("").to_string(),
                ..Finding::default()
            }];
            ezweb(&mail, &mail.body, &mut f);
            assert_eq!(f[0].hint, *want, "{body}");
        }
        // One sign alone is not EZweb.
        let mail = Mail::parse(
            b"Subject: Mail System Error - Returned Mail\n\nThe user(s) account is disabled.\n",
        );
        let mut f = vec![Finding::default()];
        ezweb(&mail, &mail.body, &mut f);
        assert_eq!(f[0].hint, None);
    }

    #[test]
    fn gmail_states() {
        let raw = "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n\
Subject: Delivery Status Notification (Failure)\n\nDelivery to the following recipient failed permanently:\n\n     a@example.jp\n";
        let mail = Mail::parse(raw.as_bytes());
        type Case = (&'static str, Option<SmtpCommand>, Option<Reason>);
        let table: &[Case] = &[
            (
                "The error that the other server returned was: 500 Remote server does not support TLS (state 6).",
                Some(SmtpCommand::Mail),
                Some(Reason::FailedStartTls),
            ),
            (
                "was: 554 554 5.7.1 Service unavailable; Client host [192.0.2.49] blocked using cbl.abuseat.org (state 13).",
                Some(SmtpCommand::Ehlo),
                Some(Reason::SecurityError),
            ),
            (
                "was: 450 450 4.2.2 <a@example.jp>... Mailbox Full (state 14).",
                Some(SmtpCommand::Rcpt),
                Some(Reason::MailboxFull),
            ),
            (
                "was: 550 550 Unknown user a@example.jp (state 18).",
                Some(SmtpCommand::Data),
                Some(Reason::Filtered),
            ),
            (
                "Technical details of permanent failure: DNS Error: Domain name not found",
                None,
                Some(Reason::HostUnknown),
            ),
            ("was: 550 nope (state 99).", None, None),
        ];
        for (text, command, want) in table {
            let mut f = vec![Finding {
                recipient: "a@example.jp".into(),
                diagnostic: text.to_string(),
                ..Finding::default()
            }];
            gmail(&mail, &mail.body, &mut f);
            assert_eq!((f[0].command, f[0].hint), (*command, *want), "{text}");
        }
    }

    #[test]
    fn google_workspace_notices() {
        let raw = "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\n\
Subject: Delivery Status Notification (Failure)\nX-Failed-Recipients: group@example.com\n\n\
** Message not delivered **\n\nYou're sending this from a different address or alias using the 'Send mail as' feature.\n\n\
The response was:\n\nUnspecified Error (SENT_SECOND_EHLO): Smtp server does not advertise AUTH capability\n";
        let mail = Mail::parse(raw.as_bytes());
        let found = google_workspace(&mail, crate::mta::report_region(&mail)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].recipient, "group@example.com");
        assert!(
            found[0]
                .diagnostic
                .starts_with("** Message not delivered ** You're sending")
        );
        assert!(
            found[0]
                .diagnostic
                .ends_with("does not advertise AUTH capability")
        );
        // With DSN fields it is an ordinary DSN.
        let dsn = raw.replace(
            "The response",
            "Final-Recipient: rfc822; a@b.example\nThe response",
        );
        let mail = Mail::parse(dsn.as_bytes());
        assert!(google_workspace(&mail, crate::mta::report_region(&mail)).is_none());
    }

    #[test]
    fn mailmarshal_layout() {
        let raw = "From: postmaster@neko.example.com\nSubject: Undeliverable Mail: \"Nyaan\"\n\n\
Your message:\n   From:    a@example.com\n   Subject: Nyaan\n\nCould not be delivered because of\n\n\
550 5.1.1 User unknown\n\nThe following recipients were affected: \n    b@nyaan.example.com\n    c@nyaan.example.com\n\n\n\
Additional Information\n======================\nOriginal Sender:    <a@example.com>\nRemote-MTA:\t\t\t<203.0.113.2>\n";
        let mail = Mail::parse(raw.as_bytes());
        let found = mailmarshal(&mail, &mail.body).unwrap();
        let got: Vec<_> = found
            .iter()
            .map(|f| (f.recipient.as_str(), f.diagnostic.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("b@nyaan.example.com", "550 5.1.1 User unknown"),
                ("c@nyaan.example.com", "550 5.1.1 User unknown")
            ]
        );
        assert_eq!(found[0].remote_mta.as_deref(), Some("203.0.113.2"));
        let other = Mail::parse(
            raw.replace("Undeliverable Mail", "Undeliverable")
                .as_bytes(),
        );
        assert!(mailmarshal(&other, &other.body).is_none());
    }

    #[test]
    fn fml_refusals() {
        let head = "From: list-admin@example.org\nX-MLServer: fml [fml 8.0]\nMessage-ID: <20100429.FML1@example.org>\n";
        let table: &[(&str, &str, Option<Reason>)] = &[
            (
                "Subject: x\n",
                "You are not a member of this mailing list <list@example.org>.",
                Some(Reason::Rejected),
            ),
            (
                "Subject: x\n",
                "Duplicated Message-ID <list@example.org>",
                Some(Reason::NotCompliantRfc),
            ),
            (
                "Subject: fml system error message\n",
                "<list@example.org> something",
                Some(Reason::SystemError),
            ),
        ];
        for (subject, text, want) in table {
            let raw = format!("{head}{subject}\nx\n");
            let mut f = vec![Finding {
                diagnostic: text.to_string(),
                ..Finding::default()
            }];
            fml(&Mail::parse(raw.as_bytes()), &mut f);
            assert_eq!(f[0].hint, *want, "{text}");
        }
        let mut f = vec![Finding {
            diagnostic: "Duplicated Message-ID".into(),
            ..Finding::default()
        }];
        fml(&Mail::parse(b"Subject: x\n\nx\n"), &mut f);
        assert_eq!(f[0].hint, None);
    }

    #[test]
    fn postfix_smtpd_transcripts() {
        let raw = "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\n\
Subject: Postfix SMTP server: errors from mx.example.jp[192.0.2.1]\n\nTranscript of session follows.\n\n\
 Out: 220 mx.example.org ESMTP Postfix\n In:  EHLO mx.example.jp\n Out: 250-mx.example.org\n Out: 250 8BITMIME\n\
 In:  MAIL FROM:<a@example.jp>\n Out: 250 2.1.0 Ok\n In:  RCPT TO:<b@example.org>\n\
 Out: 550 5.1.1 <b@example.org>: Recipient address rejected: User unknown\n\
 In:  RCPT TO:<c@example.org>\n Out: 250 2.1.5 Ok\n In:  DATA\n Out: 354 End data\n\
 Out: 554-5.7.1 Message rejected:\n Out: 554 5.7.1 spam\n In:  QUIT\n Out: 221 2.0.0 Bye\n";
        let mail = Mail::parse(raw.as_bytes());
        let found = postfix_smtpd(&mail, &mail.body).unwrap();
        let got: Vec<_> = found
            .iter()
            .map(|f| (f.recipient.as_str(), f.command, f.diagnostic.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "b@example.org",
                    Some(SmtpCommand::Rcpt),
                    "550 5.1.1 <b@example.org>: Recipient address rejected: User unknown"
                ),
                (
                    "c@example.org",
                    Some(SmtpCommand::Data),
                    "554-5.7.1 Message rejected: 554 5.7.1 spam"
                ),
            ]
        );
        let other = Mail::parse(raw.replace("SMTP server: errors", "errors").as_bytes());
        assert!(postfix_smtpd(&other, &other.body).is_none());
    }

    #[test]
    fn mfilter_command_block() {
        let raw = "X-Mailer: m-FILTER\nSubject: failure notice\n\nkijitora@example.co.jp\n\n\n\
-------server message\n452 4.3.1 Unable to accept message\n\n-------SMTP command\nMAIL FROM\n\n-------original message\n";
        let mail = Mail::parse(raw.as_bytes());
        let mut f = vec![Finding {
            recipient: "kijitora@example.co.jp".into(),
            diagnostic: "-------server message 452 4.3.1 Unable to accept message".into(),
            ..Finding::default()
        }];
        refine(&mail, &mut f);
        assert_eq!(f[0].command, Some(SmtpCommand::Mail));
        assert_eq!(f[0].diagnostic, "452 4.3.1 Unable to accept message");
        // Not read as qmail's own "Unable to" sentence.
        assert_eq!(f[0].hint, None);
    }

    #[test]
    fn exchange2007_reports() {
        let raw = "From: postmaster@example.onmicrosoft.com\nSubject: Non remis : Nyaan\nContent-Language: fr-FR\n\n\
La remise a echoue pour ces destinataires ou groupes :\n\nkijitora@example.com\nIntrouvable.\n\n\
Informations de diagnostic pour les administrateurs :\n\nServeur de generation : EX01.example.local\n\n\
kijitora@example.com\n#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##\n\n\
neko@example.com\nRemote Server at mx.example.com (10.1.1.3) returned '550 4.4.7 QUEUE.Expired; message expired'\n\
Remote Server at mx.example.com (10.1.1.3) returned '441 4.4.1 Error encountered while communicating'\n\n\
En-tetes de message d'origine :\n\nTo: kijitora@example.com\n";
        let found = exchange2007(&Mail::parse(raw.as_bytes())).unwrap();
        let got: Vec<_> = found
            .iter()
            .map(|f| (f.recipient.as_str(), f.status.as_deref(), f.hint))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "kijitora@example.com",
                    Some("5.1.1"),
                    Some(Reason::UserUnknown)
                ),
                ("neko@example.com", Some("4.4.1"), Some(Reason::Expired)),
            ]
        );
        assert_eq!(found[1].remote_mta.as_deref(), Some("EX01.example.local"));
        let details = "From: postmaster@outlook.com\nSubject: Undeliverable: x\n\n\
Diagnostic information for administrators:\n\nRemote Server returned '550 5.4.300 Message expired'\n\n\
Original Message Details\nRecipient Address:      kijitora@example.jp\n";
        let found = exchange2007(&Mail::parse(details.as_bytes())).unwrap();
        assert_eq!(found[0].recipient, "kijitora@example.jp");
        assert!(
            exchange2007(&Mail::parse(
                b"Subject: Undeliverable: x\n\nkijitora@example.jp\n"
            ))
            .is_none()
        );
    }

    #[test]
    fn notes_failure_reasons() {
        let raw = "From: Postmaster <postmaster@notes.example.jp>\nSubject: Undeliverable message\n\n\
------- Failure Reasons  --------\n\nUser not listed in public Name & Address Book\nkijitora@notes.example.jp\n\n\
------- Returned Message --------\n\nTo: kijitora@notes.example.jp\n";
        let mail = Mail::parse(raw.as_bytes());
        let found = notes(&mail, crate::mta::report_region(&mail)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].recipient, "kijitora@notes.example.jp");
        assert_eq!(
            found[0].diagnostic,
            "User not listed in public Name & Address Book"
        );
        assert_eq!(found[0].hint, Some(Reason::UserUnknown));
        let other = Mail::parse(b"Subject: Undeliverable message\n\nnothing here\n");
        assert!(notes(&other, &other.body).is_none());
    }

    #[test]
    fn opensmtpd_notices() {
        let raw = "From: Mailer Daemon <MAILER-DAEMON@mx.example.jp>\nSubject: Delivery status notification: error\n\n\
    Hi!\n\n    This is the MAILER-DAEMON, please DO NOT REPLY to this email.\n\n\
    An error has occurred while attempting to deliver a message for\n    the following list of recipients:\n\n\
neko@nyaan.example: No MX found for domain\n\
kijitora@example.jp: 550 5.2.2 <kijitora@example.jp>... Mailbox Full\n\n\
    Below is a copy of the original message:\n\nTo: x@example.org\n";
        let found = preempt(&Mail::parse(raw.as_bytes())).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].recipient, "neko@nyaan.example");
        assert_eq!(found[0].hint, Some(Reason::NotAccept));
        assert_eq!(
            found[1].diagnostic,
            "550 5.2.2 <kijitora@example.jp>... Mailbox Full"
        );
        assert_eq!(found[1].hint, None);
        assert!(preempt(&Mail::parse(b"Subject: hello\n\nkijitora@example.jp: hi\n")).is_none());
    }

    #[test]
    fn opensmtpd_delay_notices_keep_the_message_queued_unless_it_expired() {
        let notice = |line: &str| {
            format!(
                "From: Mailer Daemon <MAILER-DAEMON@mx.example.jp>\nSubject: Delivery status notification: delayed\n\n\
    Hi!\n\n    This is the MAILER-DAEMON, please DO NOT REPLY to this email.\n\n\
    A message is delayed for more than 4 hours for the following\n    list of recipients:\n\n\
{line}\n\n    Please note that this is only a temporary failure report.\n\n\
    Below is a copy of the original message:\n\nTo: x@example.org\n"
            )
        };
        let waiting = notice("a@example.jp: 452 4.2.2 <a@example.jp>: Mailbox full");
        let found = preempt(&Mail::parse(waiting.as_bytes())).unwrap();
        assert_eq!(found[0].action, Some(Action::Delayed));
        let expired = notice("a@example.jp: Envelope expired");
        let found = preempt(&Mail::parse(expired.as_bytes())).unwrap();
        assert_eq!(found[0].action, None);
        assert_eq!(found[0].hint, Some(Reason::Expired));
    }

    #[test]
    fn interscan_lead_in() {
        let mail = Mail::parse(b"From: \"InterScan MSS\" <postmaster@example.jp>\nSubject: Mail could not be delivered\n\nx\n");
        let mut found = vec![
            Finding {
                diagnostic: "Unable to deliver message to <a@example.jp>".into(),
                ..Finding::default()
            },
            Finding {
                diagnostic: "550 5.2.2 mailbox full".into(),
                ..Finding::default()
            },
        ];
        interscan(&mail, &mut found);
        assert_eq!(found[0].hint, Some(Reason::UserUnknown));
        assert_eq!(found[1].hint, None);
    }

    #[test]
    fn exchange2003_error_codes() {
        let raw = "Received: by gw.example.net with Internet Mail Service (5.5.2657.72)\nSubject: E\n\n\
Your message\n\n  To:      a@example.net\n  Subject: Message\n\n\
did not reach the following recipient(s):\n\n\
kijitora@example.jp on Thu, 29 Apr 2010 00:00:00 -0000\n    The recipient name is not recognized\n\
    MSEXCH:IMS:NNN:KIJITORACAT:NEKO 0 (000C05A6)\nUnknown Recipient\n\
c=US;a= ;p=neko;o=x;cat:SMTP=MIKE@EXAMPLE.COM; on Fri, 4 Oct 2002\n    MSEXCH:IMS:X 0 (000B09B6) Error\n";
        let mail = Mail::parse(raw.as_bytes());
        let found = exchange2003(&mail, &mail.body).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].recipient, "kijitora@example.jp");
        assert_eq!(found[0].hint, Some(Reason::UserUnknown));
        assert_eq!(found[0].status.as_deref(), Some("5.0.911"));
        assert_eq!(found[0].diagnostic, "Unknown Recipient");
        assert_eq!(found[1].recipient, "MIKE@EXAMPLE.COM");
        assert_eq!(found[1].hint, Some(Reason::OnHold));
        let plain = Mail::parse(
            b"Subject: x\n\ndid not reach the following recipient(s):\n\na@b.example on x\n",
        );
        assert!(exchange2003(&plain, &plain.body).is_none());
    }

    #[test]
    fn courier_and_zoho_sentences() {
        type Case = (&'static str, &'static str, Option<Reason>);
        let table: &[Case] = &[
            (
                "From: Courier mail server at mx.example.org <@>\nSubject: NOTICE: mail delivery status.\n\nx\n",
                "No such domain.",
                Some(Reason::HostUnknown),
            ),
            (
                "Message-ID: <courier.4D025E3A.00001792@example.org>\n\nx\n",
                "DNS lookup failed.",
                Some(Reason::NetworkError),
            ),
            (
                "X-ZohoMail: Si\nSubject: Undelivered Mail\n\nx\n",
                "[Status: Error, Address: <a@example.jp>, ResponseCode 421, , Host not reachable.]",
                Some(Reason::Expired),
            ),
            (
                "From: no-reply@.dion.ne.jp\nSubject: x\n\nx\n",
                "Could not be delivered to: <a@ezweb.ne.jp> Due to the following SMTP relay error",
                Some(Reason::NoRelaying),
            ),
            (
                "From: no-reply@.dion.ne.jp\nSubject: x\n\nx\n",
                "Could not be delivered to: <a@ezweb.ne.jp> As the remote domain doesnt exist.",
                Some(Reason::HostUnknown),
            ),
            (
                "Received: from MAILER-DAEMON id e0720 by df.example.jp (DragonFly Mail Agent v0.13);\nSubject: Mail delivery failed\n\nx\n",
                "There was an error delivering your mail to <a@b.example>. Could not deliver for the last 432000 seconds. Giving up.",
                Some(Reason::Expired),
            ),
            (
                "X-Mailer: <SMTP32 v8.22>\nSubject: Undeliverable Mail\n\nx\n",
                "Unknown user: kijitora@example.com",
                Some(Reason::UserUnknown),
            ),
            // The subject is the sign when the X-Mailer field is gone: alone, or followed by
            // more words; a subject that only begins with the letters is not.
            (
                "Subject: Undeliverable Mail\n\nx\n",
                "Delivery failed 8 attempts: user@example.com",
                Some(Reason::Expired),
            ),
            (
                "Subject: Undeliverable Mail to user@example.com\n\nx\n",
                "Delivery failed 8 attempts: user@example.com",
                Some(Reason::Expired),
            ),
            (
                "Subject: Undeliverable Mailbox report\n\nx\n",
                "Delivery failed 8 attempts: user@example.com",
                None,
            ),
            (
                "Subject: Delivery Notification: Delivery has failed\n\nx\n",
                "Reason: Illegal host/domain name found",
                Some(Reason::HostUnknown),
            ),
            (
                "Subject: DELIVERY FAILURE: User x not listed\n\nx\n",
                "because: Cannot route mail to user (a@example.net)",
                Some(Reason::Filtered),
            ),
            ("Subject: x\n\nx\n", "No such domain.", None),
        ];
        for (raw, diagnostic, want) in table {
            let mut f = vec![Finding {
                diagnostic: diagnostic.to_string(),
                ..Finding::default()
            }];
            own_sentences(&Mail::parse(raw.as_bytes()), &mut f);
            assert_eq!(f[0].hint, *want, "{raw}");
        }
    }

    #[test]
    fn message_details_layout() {
        // The boundary parameter on a line of its own hides the text from the MIME parser.
        let raw = "From: post_master@vtext.com\nSubject: Re:Nyaan\nContent-Type: multipart/mixed; boundary=\"B\"\n\n\
--B\nContent-Type: multipart/alternative;\nboundary=\"C\"\n\n--C\nContent-Type: text/plain\n\n\
Error: Invalid user address\n\nError message below:\n550 - Requested action not taken: no such user here\n\n\
Message details:\n  Subject: Test\n  MAIL FROM: a@example.org\n  RCPT TO: b@vtext.com\n  From: c@example.org\n\n--C--\n--B--\n";
        let found = message_details(&Mail::parse(raw.as_bytes())).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].recipient, "b@vtext.com");
        assert_eq!(
            found[0].diagnostic,
            "550 - Requested action not taken: no such user here"
        );
        assert_eq!(found[0].hint, Some(Reason::UserUnknown));
        let other = raw.replace("post_master@vtext.com", "post_master@james.example.com");
        let found = message_details(&Mail::parse(other.as_bytes())).unwrap();
        assert_eq!(found[0].hint, None);
    }

    #[test]
    fn qmail_sentences() {
        let table: &[(&str, Option<SmtpCommand>, Option<Reason>)] = &[
            (
                "Connected to 192.0.2.1 but my name was rejected.",
                Some(SmtpCommand::Helo),
                Some(Reason::Blocked),
            ),
            (
                "Unable to contact LDAP server. (#4.4.3)I'm not going to try again; this message has been in the queue too long.",
                None,
                Some(Reason::SystemError),
            ),
            (
                "192.0.2.1 does not like recipient. Remote host said: 550 busy I'm not going to try again; this message has been in the queue too long.",
                Some(SmtpCommand::Rcpt),
                Some(Reason::OnHold),
            ),
            (
                "Sorry, I couldn't find any host named example.invalid. (#5.1.2)",
                None,
                Some(Reason::HostUnknown),
            ),
            (
                "I'm not going to try again; this message has been in the queue too long.",
                None,
                Some(Reason::Expired),
            ),
            ("Unable to deliver message to <a@b.example>", None, None),
        ];
        for (text, command, want) in table {
            assert_eq!(qmail_reason(text, *command), *want, "{text}");
        }
    }
}
