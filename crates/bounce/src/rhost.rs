//! What the big mail services mean by their own codes and sentences. A service is known by
//! the recipient's domain, the remote MTA (or a host named in the diagnostic), or the host that
//! wrote the bounce; its documented error codes (`AUP#CDRBL`, `RCP-P2`, `LPN007_416`,
//! `5.7.606`) and sentences then name the reason more exactly than the generic phrase tables.
//! The facts come from each service's postmaster pages (Sisimai's `rhost` modules collect
//! them); Sisimai consults them after an MTA's own verdict and before its generic tables, and
//! so do we.

use crate::reason::Reason;

/// A mail service with documented bounce codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Aol,
    Apple,
    Cloudflare,
    Cox,
    Facebook,
    FrancePtt,
    GoDaddy,
    Google,
    GoogleWorkspace,
    Iua,
    Kddi,
    MessageLabs,
    Microsoft,
    Mimecast,
    NetEase,
    NttDocomo,
    Outlook,
    SoftBank,
    Spectrum,
    Tencent,
    YahooInc,
    YahooJapan,
}

/// Host name endings of each service's MX and outbound hosts.
const HOSTS: &[(Service, &[&str])] = &[
    (Service::Aol, &[".mail.aol.com", ".mx.aol.com"]),
    (
        Service::Apple,
        &[".mail.icloud.com", ".apple.com", ".me.com"],
    ),
    (Service::Cloudflare, &[".mx.cloudflare.net"]),
    (Service::Cox, &["cox.net"]),
    (Service::Facebook, &[".facebook.com"]),
    (
        Service::FrancePtt,
        &[".laposte.net", ".orange.fr", ".wanadoo.fr"],
    ),
    (
        Service::GoDaddy,
        &["smtp.secureserver.net", "mailstore1.secureserver.net"],
    ),
    (
        Service::Google,
        &["aspmx.l.google.com", "gmail-smtp-in.l.google.com"],
    ),
    (Service::GoogleWorkspace, &["googlemail.com"]),
    (Service::Iua, &[".email.ua"]),
    (Service::Kddi, &[".ezweb.ne.jp", "msmx.au.com"]),
    (Service::MessageLabs, &[".messagelabs.com"]),
    (
        Service::Microsoft,
        &[
            ".prod.outlook.com",
            ".protection.outlook.com",
            ".onmicrosoft.com",
            ".exchangelabs.com",
        ],
    ),
    (Service::Mimecast, &[".mimecast.com"]),
    (
        Service::NetEase,
        &[".mxmail.netease.com", "163.com", "126.com", "yeah.net"],
    ),
    (Service::NttDocomo, &["mfsmax.docomo.ne.jp"]),
    (Service::Outlook, &[".hotmail.com"]),
    (Service::SoftBank, &[".i.softbank.jp", ".softbank.ne.jp"]),
    (Service::Spectrum, &["charter.net"]),
    (Service::Tencent, &[".qq.com"]),
    (Service::YahooInc, &[".yahoodns.net"]),
    (Service::YahooJapan, &[".yahoo.co.jp", ".ymail.ne.jp"]),
];

/// The service behind a bounce: first by the recipient's domain (a domain that one of the
/// service's host names ends with: `ezweb.ne.jp`, `cox.net`, `googlemail.com`), then by the remote
/// hosts, then by the local ones (the host that wrote the bounce).
pub(crate) fn service<'a>(
    destination: &str,
    remote: impl IntoIterator<Item = &'a str>,
    local: impl IntoIterator<Item = &'a str>,
) -> Option<Service> {
    let destination = destination.to_ascii_lowercase();
    if destination.len() > 3 {
        for (service, hosts) in HOSTS {
            if hosts.iter().any(|h| h.ends_with(destination.as_str())) {
                return Some(*service);
            }
        }
    }
    // The table's names are lower case: a host ends with one in any case (compared in place,
    // without a lower-case copy of every host name a diagnostic holds).
    let by_host = |host: &str| {
        let host = host.trim().trim_end_matches('.').as_bytes();
        let ends_with = |h: &str| {
            host.len() >= h.len() && host[host.len() - h.len()..].eq_ignore_ascii_case(h.as_bytes())
        };
        HOSTS
            .iter()
            .find(|(_, hosts)| hosts.iter().any(|h| ends_with(h)))
            .map(|(s, _)| *s)
    };
    remote
        .into_iter()
        .find_map(by_host)
        .or_else(|| local.into_iter().find_map(by_host))
}

/// Host names in `text`: dotted words of host-name characters (`mx.example.jp`).
pub(crate) fn host_names(text: &str) -> impl Iterator<Item = &str> {
    // A host name holds a dot: the words are read outwards from the dots (a fast search),
    // each once, in order, instead of splitting the whole text into words.
    let bytes = text.as_bytes();
    let is_host = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
    let mut done = 0;
    memchr::memchr_iter(b'.', bytes).filter_map(move |at| {
        if at < done {
            return None;
        }
        let start = bytes[..at]
            .iter()
            .rposition(|&b| !is_host(b))
            .map_or(0, |p| p + 1);
        let end = bytes[at..]
            .iter()
            .position(|&b| !is_host(b))
            .map_or(bytes.len(), |p| at + p);
        done = end;
        let w = text[start..end].trim_matches('.');
        (w.len() > 4 && w.contains('.') && w.bytes().any(|b| b.is_ascii_alphabetic())).then_some(w)
    })
}

/// What a service's reply means. `diagnostic` is lower case.
pub(crate) fn reason(
    service: Service,
    status: Option<&str>,
    reply_code: Option<&str>,
    diagnostic: &str,
) -> Option<Reason> {
    if diagnostic.is_empty() {
        return None;
    }
    let status = status.unwrap_or("");
    let reply = reply_code.unwrap_or("");
    let any = |table: &[(&str, Reason)]| {
        table
            .iter()
            .find(|(p, _)| diagnostic.contains(p))
            .map(|(_, r)| *r)
    };
    match service {
        Service::Aol => any(AOL),
        Service::Apple => any(APPLE),
        Service::Cloudflare => any(CLOUDFLARE),
        Service::Cox => labelled(diagnostic, "aup#", COX_CODES).or_else(|| any(COX)),
        Service::Facebook => facebook(diagnostic),
        Service::FrancePtt => france_ptt(diagnostic),
        Service::GoDaddy => labelled(diagnostic, " ib", GODADDY_CODES).or_else(|| any(GODADDY)),
        Service::Google => google(status, reply, diagnostic),
        Service::GoogleWorkspace => google_workspace(status, reply, diagnostic),
        Service::Iua => iua(diagnostic),
        Service::Kddi => any(KDDI),
        Service::MessageLabs => any(MESSAGELABS),
        Service::Microsoft => microsoft(status, reply, diagnostic),
        Service::Mimecast => MIMECAST
            .iter()
            .find(|(code, p, _)| *code == reply && diagnostic.contains(p))
            .map(|(_, _, r)| *r),
        Service::NetEase => any(NETEASE),
        Service::NttDocomo => ntt_docomo(status, diagnostic),
        Service::Outlook => any(OUTLOOK),
        Service::SoftBank => any(SOFTBANK),
        Service::Spectrum => spectrum(diagnostic),
        Service::Tencent => any(TENCENT),
        Service::YahooInc => any(YAHOO),
        Service::YahooJapan => any(YAHOO_JAPAN),
    }
}

/// The code after `label` (`AUP#CXBL`, ` IB401`) looked up in `codes`.
fn labelled(diagnostic: &str, label: &str, codes: &[(&str, Reason)]) -> Option<Reason> {
    let at = diagnostic.find(label)? + label.len();
    let code: String = diagnostic[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let code = if label == " ib" {
        format!("ib{code}")
    } else {
        code
    };
    codes.iter().find(|(c, _)| *c == code).map(|(_, r)| *r)
}

use Reason::*;

const AOL: &[(&str, Reason)] = &[
    ("host or domain name not found", HostUnknown),
    (
        "type=mx: malformed or unexpected name server reply",
        NotAccept,
    ),
];

const APPLE: &[(&str, Reason)] = &[
    ("s dmarc policy", AuthFailure),
    (
        "blocked for failing both spf and dkim autentication checks",
        AuthFailure,
    ),
    (
        "rejected due to having a domain present in the spamhaus",
        Blocked,
    ),
    ("rejected due to listing in spamhaus", Blocked),
    (
        "blocked - see https://support.proofpoint.com/dnsbl-lookup",
        Blocked,
    ),
    ("not accepting connections", Blocked),
    ("recipient no longer on server", HasMoved),
    ("user is over quota", MailboxFull),
    ("relay access denied", NoRelaying),
    ("host/domain does not accept mail", NotAccept),
    ("due to local policy", PolicyViolation),
    ("sender address rejected", Rejected),
    ("due to excessive volume", Speeding),
    ("inactive email address", UserUnknown),
    ("user does not exist", UserUnknown),
    ("unknown or illegal alias", UserUnknown),
];

/// Cloudflare Email Routing (developers.cloudflare.com/email-routing/postmaster).
const CLOUDFLARE: &[(&str, Reason)] = &[
    ("found on one or more dnsbls", Blocked),
    ("upstream error", SystemError),
];

/// I.UA's error pages (`https://mail.i.ua/err/2/`): the number names the reason.
fn iua(diagnostic: &str) -> Option<Reason> {
    const CODES: &[(&str, Reason)] = &[
        ("1", NoRelaying),
        ("2", UserUnknown),
        ("3", Suspend),
        ("4", MailboxFull),
        ("5", TooManyConn),
        ("6", NoRelaying),
        ("7", Blocked),
        ("8", Rejected),
        ("9", Blocked),
        ("10", Filtered),
    ];
    let at = diagnostic.find(".i.ua/err/")? + ".i.ua/err/".len();
    let (code, _) = diagnostic[at..].split_once('/')?;
    CODES.iter().find(|(c, _)| *c == code).map(|(_, r)| *r)
}

/// Cox's `AUP#` codes (cox.com, "email error codes").
const COX_CODES: &[(&str, Reason)] = &[
    ("cxbl", Blocked),
    ("cxdns", RequirePtr),
    ("cxsndr", AuthFailure),
    ("cxsmtp", Rejected),
    ("cxcnct", TooManyConn),
    ("cxmxrt", TooManyConn),
    ("cdrbl", Blocked),
    ("cxthrt", SecurityError),
    ("cxmj", SecurityError),
    ("ipbl0001", Blocked),
    ("ipbl0010", Blocked),
    ("ipbl0100", Blocked),
    ("ipbl0011", Blocked),
    ("ipbl0101", Blocked),
    ("ipbl0110", Blocked),
    ("ipbl0111", Blocked),
    ("ipbl1000", Blocked),
    ("ipbl1001", Blocked),
    ("ipbl1010", Blocked),
    ("ipbl1011", Blocked),
    ("ipbl1100", Blocked),
    ("ipbl1101", Blocked),
    ("ipbl1110", Blocked),
    ("ipbl1111", Blocked),
    ("ipbl00001", Blocked),
    ("urlbl011", SpamDetected),
    ("urlbl101", SpamDetected),
    ("urlbl110", SpamDetected),
    ("urlbl1001", SpamDetected),
];

const COX: &[(&str, Reason)] = &[
    ("cox too many bad commands from", Blocked),
    ("too many invalid recipients", Blocked),
    ("dns check failure - try again later", RequirePtr),
    ("rejected - no rdns", RequirePtr),
    ("esmtp no data before greeting", PolicyViolation),
    ("attachment extension is forbidden", PolicyViolation),
    ("sender rejected", Rejected),
    ("esmtp server temporarily not available", SystemError),
    ("too many sessions from", TooManyConn),
    ("requested action aborted: try again later", TooManyConn),
    ("message threshold exceeded", TooManyConn),
    ("recipient rejected", UserUnknown),
];

/// Facebook's response codes (`RCP-P2`), postmaster.facebook.com/response_codes.
fn facebook(diagnostic: &str) -> Option<Reason> {
    const CODES: &[(&str, Reason)] = &[
        ("pol-p7", AuthFailure),
        ("pol-p1", Blocked),
        ("pol-p2", Blocked),
        ("pol-p3", Blocked),
        ("pol-p4", Blocked),
        ("pol-t1", Blocked),
        ("pol-t2", Blocked),
        ("pol-t3", Blocked),
        ("msg-p2", ContentError),
        ("rcp-p2", Filtered),
        ("rcp-p3", Filtered),
        ("msg-p1", MesgTooBig),
        ("int-p2", MesgTooBig),
        ("msg-p3", NotCompliantRfc),
        ("dns-p1", Rejected),
        ("dns-p2", Rejected),
        ("dns-t1", Rejected),
        ("dns-p3", RequirePtr),
        ("dns-t2", RequirePtr),
        ("pol-p6", SpamDetected),
        ("rcp-t4", Suspend),
        ("rcp-t1", SystemError),
        ("con-t1", TooManyConn),
        ("con-t2", TooManyConn),
        ("con-t3", TooManyConn),
        ("con-t4", TooManyConn),
        ("msg-t1", TooManyConn),
        ("rcp-p1", UserUnknown),
        ("int-p1", UserUnknown),
        ("int-p3", UserUnknown),
        ("int-p4", UserUnknown),
        ("pol-p5", VirusDetected),
    ];
    // The first hyphenated label: three letters, a hyphen, a letter and a digit.
    let at = diagnostic.find('-')?;
    let label = diagnostic.get(at.checked_sub(3)?..at + 3)?;
    CODES.iter().find(|(c, _)| *c == label).map(|(_, r)| *r)
}

/// Orange and La Poste: the number after `LPN`/`OFR`/`OUK` (`LPN007_416`, `OFR_417`).
fn france_ptt(diagnostic: &str) -> Option<Reason> {
    const CODES: &[(&str, Reason)] = &[
        ("101", Blocked),
        ("102", Blocked),
        ("103", Blocked),
        ("104", TooManyConn),
        ("305", SecurityError),
        ("401", AuthFailure),
        ("402", SecurityError),
        ("403", Rejected),
        ("405", Rejected),
        ("415", Rejected),
        ("416", UserUnknown),
        ("417", MailboxFull),
        ("420", Suspend),
        ("421", Rejected),
        ("426", Suspend),
        ("505", SystemError),
        ("506", SpamDetected),
        ("510", Blocked),
        ("514", MesgTooBig),
        ("517", AuthFailure),
        ("630", PolicyViolation),
        ("999", Blocked),
    ];
    let text = diagnostic.replace('_', "-");
    for label in ["lpn", "ofr", "ouk"] {
        let Some(at) = text.rfind(label) else {
            continue;
        };
        let word = text[at..].split_whitespace().next().unwrap_or("");
        let digits: String = word
            .trim_end_matches(|c: char| !c.is_ascii_digit())
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return CODES
            .iter()
            .find(|(c, _)| digits.ends_with(c))
            .map(|(_, r)| *r);
    }
    text.contains("spf/dns de votre nom de domaine")
        .then_some(AuthFailure)
}

const GODADDY_CODES: &[(&str, Reason)] = &[
    ("ib401", SecurityError),
    ("ib501", NotCompliantRfc),
    ("ib502", NotCompliantRfc),
    ("ib506", Rejected),
    ("ib508", AuthFailure),
    ("ib108", RequirePtr),
    ("ib212", SpamDetected),
    ("ib705", VirusDetected),
    ("ib605", TooManyConn),
    ("ib007", TooManyConn),
    ("ib101", Speeding),
    ("ib110", Blocked),
    ("ib111", Blocked),
    ("ib112", Blocked),
    ("ib113", Blocked),
    ("ib504", Speeding),
    ("ib510", Speeding),
    ("ib607", Speeding),
    ("ib103", BadReputation),
    ("ib104", Blocked),
    ("ib105", Blocked),
    ("ib106", Blocked),
];

const GODADDY: &[(&str, Reason)] = &[
    ("rbl reject", Blocked),
    ("www.spamhaus.org/query/bl?ip=", Blocked),
    ("has been in the queue too long", Expired),
    ("delivery timeout", Expired),
    ("account storage limit", MailboxFull),
    ("message rejected for spam or virus content", SpamDetected),
    ("account disabled", Suspend),
    ("message is looping", SystemError),
    ("recipient not found", UserUnknown),
    ("account does not exist", UserUnknown),
];

/// Gmail's documented replies: the reply code and status code (class aside) must match too.
fn google(status: &str, reply: &str, diagnostic: &str) -> Option<Reason> {
    #[rustfmt::skip]
    const TABLE: &[(&str, &str, &str, Reason)] = &[
        ("451", "4.7.24", "the spf record of the sending domain", AuthFailure),
        ("550", "5.7.24", "the spf record of the sending domain", AuthFailure),
        ("421", "4.7.26", "senders to authenticate with either spf or dkim", AuthFailure),
        ("550", "5.7.26", "senders to authenticate with either spf or dkim", AuthFailure),
        ("550", "5.7.26", "fails to pass spf checks for an spf record with a hard fail", AuthFailure),
        ("550", "5.7.26", "has an spf record with a hard fail policy", AuthFailure),
        ("451", "4.7.26", "is not accepted due to domain's dmarc policy", AuthFailure),
        ("550", "5.7.26", "is not accepted due to domain's dmarc policy", AuthFailure),
        ("550", "5.7.1", "fails to pass authentication checks", AuthFailure),
        ("550", "5.7.26", "fails to pass authentication checks", AuthFailure),
        ("421", "4.7.27", "senders to authenticate with spf", AuthFailure),
        ("421", "4.7.27", "senders to authenticate their email with spf", AuthFailure),
        ("550", "5.7.27", "senders to authenticate with spf", AuthFailure),
        ("421", "4.7.30", "senders to authenticate their email with dkim", AuthFailure),
        ("550", "5.7.30", "senders to authenticate with dkim", AuthFailure),
        ("421", "4.7.32", "aligned with either the authenticated spf or dkim", AuthFailure),
        ("421", "4.7.40", "to add a dmarc record to ", AuthFailure),
        ("421", "4.7.0", "very low reputation of the sending ip address", BadReputation),
        ("421", "4.7.0", "very low reputation of the sending domain", BadReputation),
        ("550", "5.7.1", "due to the very low reputation of the sending ip address", BadReputation),
        ("550", "5.7.1", "due to the very low reputation of the sending domain", BadReputation),
        ("421", "4.7.0", "ip not in whitelist for rcpt domain", Blocked),
        ("421", "4.7.0", "try again later, closing connection.", Blocked),
        ("501", "5.5.4", "empty helo/ehlo argument not allowed", Blocked),
        ("501", "5.5.4", "helo/ehlo argument is invalid", Blocked),
        ("421", "4.7.0", "an unusual rate of unsolicited mail", Blocked),
        ("421", "4.7.28", "an unusual rate of mail", Blocked),
        ("550", "5.7.1", "an unusual rate of unsolicited mail", Blocked),
        ("550", "5.7.28", "an unusual rate of unsolicited mail", Blocked),
        ("552", "5.2.3", "exceeded google's message size limits", ExceedLimit),
        ("552", "5.3.4", "exceeds google's limit of limit attachments.", ExceedLimit),
        ("552", "5.3.4", "your message exceeded google's message header size limits", ExceedLimit),
        ("552", "5.3.4", "bytes per individual header size", ExceedLimit),
        ("552", "5.3.4", "exceeds google's header name limit of", ExceedLimit),
        ("552", "5.3.4", "exceeds google's message header size limit", ExceedLimit),
        ("421", "4.7.0", "connection expired", Expired),
        ("451", "4.4.2", "timeout - closing connection", Expired),
        ("530", "5.7.0", "must issue a starttls command first", FailedStartTls),
        ("454", "5.5.1", "starttls may not be repeated", FailedStartTls),
        ("421", "4.7.0", "tls required for rcpt domain", FailedStartTls),
        ("421", "4.7.29", "senders to use tls/ssl for smtp", FailedStartTls),
        ("550", "5.7.29", "senders to use tls/ssl for smtp", FailedStartTls),
        ("452", "4.2.2", "inbox is out of storage space", MailboxFull),
        ("552", "5.2.2", "inbox is out of storage space and inactive", MailboxFull),
        ("452", "4.2.2", "is over quota", MailboxFull),
        ("552", "5.2.2", "is over quota", MailboxFull),
        ("550", "5.7.1", "email quota exceeded", MailboxFull),
        ("552", "5.3.4", "exceeded google's message size limits", MesgTooBig),
        ("552", "5.3.4", "exceeds google's message size limit of", MesgTooBig),
        ("554", "5.4.6", "message exceeded 50 hops", NetworkError),
        ("554", "5.6.0", "message exceeded 50 hops", NetworkError),
        ("550", "5.7.0", "mail relay denied", NoRelaying),
        ("550", "5.7.1", "invalid credentials for relay", NoRelaying),
        ("550", "5.7.1", "is not authorized to send email directly to our servers", NoRelaying),
        ("550", "5.7.1", "missing a valid address in the from: header", NotCompliantRfc),
        ("550", "5.7.1", "multiple addresses in from: header are not accepted", NotCompliantRfc),
        ("550", "5.7.1", "is not rfc 5322 compliant", NotCompliantRfc),
        ("550", "5.7.1", "missing a valid message-id: header", NotCompliantRfc),
        ("550", "5.7.1", "contains a unicode character in a disallowed header", NotCompliantRfc),
        ("550", "5.7.1", "encoded-word syntax is not permitted", NotCompliantRfc),
        ("553", "5.1.7", "is not a valid rfc 5321 address", NotCompliantRfc),
        ("554", "5.6.0", "mail message is malformed", NotCompliantRfc),
        ("552", "5.7.0", "illegal attachment on your message", PolicyViolation),
        ("552", "5.7.0", "blocked because its content presents a potential security issue", PolicyViolation),
        ("550", "5.7.1", "you are sending to (or from) has a policy that prohibited", PolicyViolation),
        ("421", "4.7.28", "sending messages with the same message-id:", PolicyViolation),
        ("550", "5.7.0", "mail sending denied", Rejected),
        ("550", "5.7.1", "unauthenticated email is not accepted", Rejected),
        ("421", "4.7.0", "does not have a ptr record", RequirePtr),
        ("421", "4.7.23", " have a ptr record, or the ptr record", RequirePtr),
        ("550", "5.7.1", "does not meet ipv6 sending guidelines regarding ptr records and authentication", RequirePtr),
        ("550", "5.7.25", "does not have a ptr record", RequirePtr),
        ("550", "5.7.25", "does not match the ip address of the hostname", RequirePtr),
        ("454", "4.7.0", "too many login attempts", SecurityError),
        ("501", "5.5.2", "cannot decode response", SecurityError),
        ("503", "5.7.0", "no identity changes permitted", SecurityError),
        ("530", "5.5.1", "authentication required.", SecurityError),
        ("530", "5.7.0", "authentication required.", SecurityError),
        ("535", "5.7.1", "application-specific password required", SecurityError),
        ("535", "5.7.9", "application-specific password required", SecurityError),
        ("535", "5.7.1", "please log in with your web browser", SecurityError),
        ("534", "5.7.9", "please log in with your web browser", SecurityError),
        ("534", "5.7.14", "please log in through your web browser", SecurityError),
        ("535", "5.7.1", "username and password not accepted", SecurityError),
        ("535", "5.7.8", "username and password not accepted", SecurityError),
        ("421", "4.7.0", "due to the nature of the content or the links within", SpamDetected),
        ("550", "5.7.1", "likely unsolicited mail", SpamDetected),
        ("450", "4.2.1", "is receiving mail too quickly", Speeding),
        ("450", "4.2.1", "peak smtp relay limit exceeded for customer", Speeding),
        ("450", "4.2.1", "rate that prevents additional messages from being delivered", Speeding),
        ("550", "5.2.1", "rate that prevents additional messages from being delivered", Speeding),
        ("550", "5.4.5", "daily sending quota exceeded", Speeding),
        ("550", "5.4.5", "daily user sending limit exceeded", Speeding),
        ("550", "5.4.5", "daily smtp relay limit exceeded for", Speeding),
        ("550", "5.7.1", "daily smtp relay limit exceeded for", Speeding),
        ("550", "5.7.1", "daily smtp relay sending limit exceeded for", Speeding),
        ("550", "5.7.1", "this mail has been rate limited", Speeding),
        ("550", "5.2.1", "account that you tried to reach is disabled", Suspend),
        ("550", "5.2.1", "account that you tried to reach is inactive", Suspend),
        ("451", "4.5.0", "smtp protocol violation", SyntaxError),
        ("454", "4.5.0", "smtp protocol violation", SyntaxError),
        ("525", "5.7.10", "smtp protocol violation", SyntaxError),
        ("535", "5.5.4", "optional argument not permitted", SyntaxError),
        ("501", "5.7.11", "syntax error", SyntaxError),
        ("501", "5.5.2", "syntax error", SyntaxError),
        ("555", "5.5.2", "syntax error", SyntaxError),
        ("502", "5.5.1", "too many unrecognized commands, goodbye", SyntaxError),
        ("502", "5.5.1", "unimplemented command", SyntaxError),
        ("502", "5.5.1", "unrecognized command", SyntaxError),
        ("503", "5.5.1", "bad sequence of commands", SyntaxError),
        ("503", "5.5.1", "ehlo/helo first", SyntaxError),
        ("503", "5.5.1", "mail first", SyntaxError),
        ("503", "5.5.1", "rcpt first", SyntaxError),
        ("503", "5.5.1", "no data after bdat", SyntaxError),
        ("504", "5.7.4", "unrecognized authentication type", SyntaxError),
        ("504", "5.7.4", "xoauth is no longer supported", SyntaxError),
        ("554", "5.7.0", "too many unauthenticated commands", SyntaxError),
        ("421", "4.3.0", "temporary system problem", SystemError),
        ("421", "4.7.0", "temporary system problem", SystemError),
        ("421", "4.4.5", "server busy", SystemError),
        ("451", "4.3.0", "multiple destination domains per transaction is unsupported", SystemError),
        ("451", "4.3.0", "mail server has temporarily rejected this message", SystemError),
        ("451", "4.3.0", "mail server temporarily rejected message", SystemError),
        ("452", "4.5.3", "domain policy size per transaction exceeded", SystemError),
        ("454", "4.7.0", "cannot authenticate due to temporary system problem", SystemError),
        ("452", "4.5.3", "your message has too many recipients", TooManyConn),
        ("550", "5.5.3", "too many recipients for this sender", TooManyConn),
        ("550", "5.1.1", "the email account that you tried to reach does not exist", UserUnknown),
        ("553", "5.1.2", "we weren't able to find the recipient domain", UserUnknown),
        ("553", "5.1.3", "is not a valid rfc 5321 address", UserUnknown),
    ];
    if status.len() < 5 || reply.len() != 3 {
        return None;
    }
    TABLE
        .iter()
        .find(|(r, s, p, _)| {
            r[1..] == reply[1..] && s.get(2..) == status.get(2..) && diagnostic.contains(p)
        })
        .map(|(_, _, _, reason)| *reason)
}

/// Google Workspace's own DSNs (`Reporting-MTA: dns; googlemail.com`): DNS failures, Null MX,
/// and the address that "couldn't be found".
fn google_workspace(status: &str, reply: &str, diagnostic: &str) -> Option<Reason> {
    let class = status.bytes().next();
    let reply_class = reply.bytes().next();
    let nxdomain = diagnostic.contains(" responded with code nxdomain")
        || diagnostic.contains("domain name not found");
    if nxdomain && class == Some(b'5') && reply_class == Some(b'5') {
        return Some(HostUnknown);
    }
    if nxdomain && class != Some(b'5') && reply_class != Some(b'5') {
        return Some(NetworkError);
    }
    if diagnostic.contains(" had no relevant answers.")
        && class != Some(b'5')
        && reply_class != Some(b'5')
    {
        return Some(NetworkError);
    }
    if diagnostic.contains("null mx") {
        return Some(NotAccept);
    }
    diagnostic
        .contains("because the address couldn't be found. check for typos")
        .then_some(UserUnknown)
}

const KDDI: &[(&str, Reason)] = &[
    ("550 : user unknown", Filtered),
    (">: user unknown", UserUnknown),
];

const MESSAGELABS: &[(&str, Reason)] = &[
    ("domain authentication fail", AuthFailure),
    ("connection rejected by policy", BadReputation),
    ("mail rejected because your ip is in the pbl", Blocked),
    ("your ip address has been ", Blocked),
    ("your email address (addr) has been blocked", Blocked),
    ("stray linefeeds in message", ContentError),
    ("tls/sslv3 connection required", FailedStartTls),
    (" as a relay, ", NoRelaying),
    ("550 requested action aborted [4]", NotCompliantRfc),
    (
        "has detected that this message is not rfc 5322",
        NotCompliantRfc,
    ),
    (
        "sender envelope domain not allowed for sender ip address",
        Rejected,
    ),
    ("your domain has been blocked", Rejected),
    ("your email address has been blocked", Rejected),
    ("your envelope sender is in my badmailfrom list", Rejected),
    ("your email address has been blacklisted", Rejected),
    ("your domain has been blacklisted", Rejected),
    (
        "please turn on smtp authentication in your mail client",
        SecurityError,
    ),
    ("message filtered", SpamDetected),
    ("filtered by outbound scanning", SpamDetected),
    ("too many recipients received this hour", TooManyConn),
    ("too many messages", TooManyConn),
    ("no such user", UserUnknown),
    ("invalid recipient", UserUnknown),
    ("mailbox is not allowed", UserUnknown),
];

/// Exchange Server and Exchange Online status codes with their sentences. A code with a range
/// (`5.7.` 606 to 649) matches the third number in that range.
fn microsoft(status: &str, reply: &str, diagnostic: &str) -> Option<Reason> {
    #[rustfmt::skip]
    const TABLE: &[(&str, u16, u16, &str, Reason)] = &[
        ("4.7.26", 0, 0, "must pass either spf or dkim validation, this message is not signed", AuthFailure),
        ("5.7.23", 0, 0, "the message was rejected because of sender policy framework violation", AuthFailure),
        ("5.7.509", 0, 0, "does not pass dmarc verification", AuthFailure),
        ("5.7.515", 0, 0, "doesn't meet the required authentication level", AuthFailure),
        ("4.7.650", 0, 0, "has been temporarily rate limited due to ip reputation", BadReputation),
        ("4.4.2", 0, 0, "connection dropped", Blocked),
        ("4.7.", 850, 899, "access denied, please try again later", Blocked),
        ("5.7.25", 0, 0, "must have a reverse dns record", Blocked),
        ("5.7.506", 0, 0, "access denied, bad helo", Blocked),
        ("5.7.507", 0, 0, "access denied, rejected by recipient", Blocked),
        ("5.7.510", 0, 0, "does not accept email over ipv6", Blocked),
        ("5.7.511", 0, 0, "access denied, banned sender", Blocked),
        ("5.7.513", 0, 0, "using customer block list", Blocked),
        ("5.7.", 606, 649, "access denied, banned sending ip ", Blocked),
        ("4.7.", 500, 699, "access denied, please try again later", Blocked),
        ("5.5.4", 0, 0, "invalid domain name", Blocked),
        ("5.7.1", 0, 0, "part of their network is on our block list (s3150)", Blocked),
        ("5.3.0", 0, 0, "too many related errors", ContentError),
        ("5.6.11", 0, 0, "invalid characters", ContentError),
        ("5.4.11", 0, 0, "agent generated message depth exceeded", ContentError),
        ("5.5.6", 0, 0, "invalid message content", ContentError),
        ("5.2.3", 0, 0, "resolver.rst.recipsizelimit; message too large for this recipient", MesgTooBig),
        ("5.3.4", 0, 0, "message size exceeds fixed maximum message size", MesgTooBig),
        ("5.3.4", 0, 0, "message too big for system", MesgTooBig),
        ("4.4.1", 0, 0, "connection timed out", Expired),
        ("4.4.7", 0, 0, "message delayed", Expired),
        ("4.4.7", 0, 0, "queue expired; message expired", Expired),
        ("4.4.7", 0, 0, "message expired", Expired),
        ("5.4.300", 0, 0, "message expired", Expired),
        ("5.4.316", 0, 0, "message expired", Expired),
        ("4.4.8", 0, 0, " failed mta-sts validation", FailedStartTls),
        ("5.4.8", 0, 0, " failed mta-sts validation", FailedStartTls),
        ("4.4.317", 0, 0, "starttls is required to send mail", FailedStartTls),
        ("5.4.317", 0, 0, "starttls is required to send mail", FailedStartTls),
        ("4.7.5", 0, 0, "remote certificate failed mta-sts validation", FailedStartTls),
        ("5.7.5", 0, 0, "remote certificate failed mta-sts validation", FailedStartTls),
        ("5.7.51", 0, 0, "restrictdomainstoipaddresses or restrictdomainstocertificate", FailedStartTls),
        ("4.7.321", 0, 0, "starttls-not-supported:", FailedStartTls),
        ("5.7.321", 0, 0, "starttls-not-supported:", FailedStartTls),
        ("5.7.322", 0, 0, "certificate-expired:", FailedStartTls),
        ("4.7.323", 0, 0, "tlsa-invalid:", FailedStartTls),
        ("5.7.323", 0, 0, "tlsa-invalid:", FailedStartTls),
        ("4.7.324", 0, 0, "dnssec-invalid:", FailedStartTls),
        ("5.7.324", 0, 0, "dnssec-invalid:", FailedStartTls),
        ("4.7.325", 0, 0, "certificate-host-mismatch:", FailedStartTls),
        ("5.7.325", 0, 0, "certificate-host-mismatch:", FailedStartTls),
        ("5.2.2", 0, 0, "mailbox full", MailboxFull),
        ("5.4.4", 0, 0, "smtpsend.dns.nonexistentdomain; nonexistent domain", NetworkError),
        ("5.4.6", 0, 0, "hop count exceeded - possible mail loop", NetworkError),
        ("4.4.312", 0, 0, "dns query failed", NetworkError),
        ("5.4.312", 0, 0, "dns query failed", NetworkError),
        ("4.4.316", 0, 0, "connection refused", NetworkError),
        ("5.4.316", 0, 0, "connection refused", NetworkError),
        ("5.4.4", 0, 0, "invalid arguments", NetworkError),
        ("5.4.6", 0, 0, "routing loop detected", NetworkError),
        ("5.4.14", 0, 0, "routing loop detected", NetworkError),
        ("5.7.1", 0, 0, "unable to relay", NoRelaying),
        ("5.7.1", 0, 0, "client was not authenticated", NoRelaying),
        ("5.4.1", 0, 0, "relay access denied", NoRelaying),
        ("5.7.64", 0, 0, "tenantattribution; relay access denied", NoRelaying),
        ("5.4.310", 0, 0, "does not exist", NoRelaying),
        ("4.3.2", 0, 0, "system not accepting network messages", NotAccept),
        ("4.4.4", 0, 0, "hosted tenant which has no mail-enabled subscriptions", NotAccept),
        ("5.3.2", 0, 0, "storedrv.deliver: missing or bad storedriver mdb properties", NotAccept),
        ("5.0.350", 0, 0, "x-dg-ref header is too long", PolicyViolation),
        ("5.0.350", 0, 0, "requested action not taken: policy violation detected (as345)", PolicyViolation),
        ("5.7.", 900, 999, "delivery not authorized, message refused", PolicyViolation),
        ("5.1.7", 0, 0, "invalid address", Rejected),
        ("5.1.7", 0, 0, "unknown sender address", Rejected),
        ("5.1.0", 0, 0, "sender denied", Rejected),
        ("5.1.8", 0, 0, "access denied, bad outbound sender", Rejected),
        ("5.7.1", 0, 0, "delivery not authorized", Rejected),
        ("5.7.12", 0, 0, "sender was not authenticated by organization", Rejected),
        ("5.7.124", 0, 0, "sender not in allowed-senders list", Rejected),
        ("5.7.133", 0, 0, "sender not authenticated for group", Rejected),
        ("5.7.134", 0, 0, "sender was not authenticated for mailbox", Rejected),
        ("5.7.13", 0, 0, "sender was not authenticated for public folder", Rejected),
        ("5.7.135", 0, 0, "sender was not authenticated for public folder", Rejected),
        ("5.7.136", 0, 0, "sender was not authenticated", Rejected),
        ("5.7.", 501, 503, "access denied, spam abuse detected", Rejected),
        ("5.7.512", 0, 0, "access denied, message must be rfc 5322 section 3.6.2 compliant", Rejected),
        ("5.7.750", 0, 0, "service unavailable. client blocked from sending from unregistered domains", Rejected),
        ("5.7.", 501, 503, "access denied, banned sender", Rejected),
        ("5.7.3", 0, 0, "cannot achieve exchange server authentication", SecurityError),
        ("5.7.3", 0, 0, "not authorized", SecurityError),
        ("5.7.57", 0, 0, "client was not authenticated to send anonymous mail during mail from", SecurityError),
        ("5.2.1", 0, 0, "content filter agent quarantined this message", SpamDetected),
        ("5.5.3", 0, 0, "too many recipients", Speeding),
        ("4.3.2", 0, 0, "storedrv.deliver; recipient thread limit exceeded", Speeding),
        ("4.5.3", 0, 0, "too many recipients", Speeding),
        ("4.7.652", 0, 0, "has exceeded the maximum number of connections", Speeding),
        ("5.1.90", 0, 0, "reached your daily limit for message recipients", Speeding),
        ("5.2.2", 0, 0, "submission quota exceeded", Speeding),
        ("5.2.121", 0, 0, "recipient's per hour message receive limit", Speeding),
        ("5.2.122", 0, 0, "recipient's per hour message receive limit", Speeding),
        ("5.2.122", 0, 0, "the recipient has exceeded their limit for", Speeding),
        ("5.7.508", 0, 0, "has exceeded permitted limits within", Speeding),
        ("5.7.", 700, 749, "tenant has exceeded threshold", Speeding),
        ("5.7.", 700, 749, "traffic not accepted from this ip", Speeding),
        ("5.7.504", 0, 0, "recipient address rejected: access denied", Suspend),
        ("5.7.505", 0, 0, "access denied, banned recipient", Suspend),
        ("5.2.1", 0, 0, "mailbox cannot be accessed", Suspend),
        ("5.3.3", 0, 0, "unrecognized command", SyntaxError),
        ("5.5.2", 0, 0, "send hello first", SyntaxError),
        ("4.3.2", 0, 0, "service not available", SystemError),
        ("4.3.2", 0, 0, "service not active", SystemError),
        ("5.3.5", 0, 0, "system incorrectly configured", SystemError),
        ("5.3.190", 0, 0, "when journaling archive is disabled", SystemError),
        ("5.0.0", 0, 0, "helo / ehlo requires domain address", SystemError),
        ("5.1.4", 0, 0, "destination mailbox address ambiguous", SystemError),
        ("5.2.4", 0, 0, "mailing list expansion problem", SystemError),
        ("5.2.14", 0, 0, "misconfigured forwarding address", SystemError),
        ("4.4.", 22, 28, "message failed to be replicated:", SystemError),
        ("4.4.3", 0, 0, "temporary server error. please try again later attr18", SystemError),
        ("4.7.0", 0, 0, "temporary server error. please try again later. prx4 nexthop:", SystemError),
        ("4.4.318", 0, 0, "(suspiciousremoteservererror)", SystemError),
        ("5.4.318", 0, 0, "(suspiciousremoteservererror)", SystemError),
        ("4.7.500", 0, 0, "server busy. please try again later from ", SystemError),
        ("4.7.700", 0, 0, "pfa agent busy, please try again.", SystemError),
        ("4.3.1", 0, 0, "insufficient system resources", SystemFull),
        ("5.1.1", 0, 0, "resolver.adr.exrecipnotfound; not found", UserUnknown),
        ("5.1.1", 0, 0, "user unknown", UserUnknown),
        ("5.1.3", 0, 0, "storedrv.submit; invalid recipient address", UserUnknown),
        ("5.1.", 4, 5, "recipient address reserved by rfc 2606", UserUnknown),
        ("5.1.6", 0, 0, "recipient addresses in single label domains not accepted", UserUnknown),
        ("5.1.1", 0, 0, "bad destination mailbox address", UserUnknown),
        ("5.1.10", 0, 0, "recipient not found", UserUnknown),
        ("5.4.1", 0, 0, "recipient address rejected: access denied", UserUnknown),
        ("5.5.0", 0, 0, "requested action not taken: mailbox unavailable", UserUnknown),
        ("5.1.2", 0, 0, "invalid x.400 address", UserUnknown),
        ("5.1.351", 0, 0, "remote server returned unknown recipient or mailbox unavailable", UserUnknown),
    ];
    /// Outlook.com's postmaster codes with the reply code they come with.
    const CODES: &[(&str, &str, Reason)] = &[
        ("rp-001", "421", BadReputation),
        ("rp-002", "421", BadReputation),
        ("rp-003", "421", BadReputation),
        ("sc-001", "550", BadReputation),
        ("sc-002", "550", PolicyViolation),
        ("sc-003", "550", Blocked),
        ("sc-004", "550", Blocked),
        ("dy-001", "550", Blocked),
        ("dy-002", "550", SecurityError),
        ("ou-001", "550", Blocked),
        ("ou-002", "550", BadReputation),
    ];
    if !crate::status::is_status(status) {
        return None;
    }
    let third: u16 = status.rsplit('.').next()?.parse().ok()?;
    let by_table = TABLE.iter().find(|(code, lo, hi, phrase, _)| {
        let code_matches = if lo == hi {
            status == *code
        } else {
            status.starts_with(code) && (*lo..=*hi).contains(&third)
        };
        code_matches && diagnostic.contains(phrase)
    });
    if let Some((.., reason)) = by_table {
        return Some(*reason);
    }
    CODES
        .iter()
        .find(|(label, code, _)| *code == reply && diagnostic.contains(label))
        .map(|(.., reason)| *reason)
}

/// Mimecast's replies: the reply code and the sentence.
#[rustfmt::skip]
const MIMECAST: &[(&str, &str, Reason)] = &[
    ("550", "spf sender invalid - envelope rejected", AuthFailure),
    ("550", "dkim sender invalid - envelope rejected", AuthFailure),
    ("550", "dmarc sender invalid - envelope rejected", AuthFailure),
    ("451", "internal resources are temporarily unavailable", BadReputation),
    ("550", "local ct ip reputation - (reject)", BadReputation),
    ("421", "sender address blocked", Blocked),
    ("451", "recipient temporarily unavailable", Blocked),
    ("451", "ip temporarily blacklisted", Blocked),
    ("550", "journal messages past the expiration", Expired),
    ("553", "this route requires encryption (tls)", FailedStartTls),
    ("553", "this route requires tls version 1.2 or greater", FailedStartTls),
    ("553", "this route requires high-strength ciphers", FailedStartTls),
    ("554", "configuration is invalid for this certificate", FailedStartTls),
    ("554", "maximum email size exceeded", MesgTooBig),
    ("451", "the incorrect hostname used for inbounds", NetworkError),
    ("550", "the incorrect hostname used for inbounds", NetworkError),
    ("554", "mail loop detected", NetworkError),
    ("451", "open relay not allowed", NoRelaying),
    ("451", "open relay is not allowed", NoRelaying),
    ("451", "account inbounds disabled", NotAccept),
    ("550", "anti-spoofing policy - inbound not allowed", PolicyViolation),
    ("550", "rejected by header-based anti-spoofing policy", PolicyViolation),
    ("550", "message bounced due to content examination policy", PolicyViolation),
    ("554", "host network not allowed", PolicyViolation),
    ("554", "host network, not allowed", PolicyViolation),
    ("550", "administrative prohibition envelope blocked", Rejected),
    ("550", "envelope blocked - user entry", Rejected),
    ("550", "envelope blocked - user domain entry", Rejected),
    ("550", "rejected by header-based manually blocked senders - block for manual block", Rejected),
    ("550", "rejected by header-based blocked senders - block policy for header from", Rejected),
    ("550", "envelope rejected - block policy for envelope from address", Rejected),
    ("535", "incorrect authentication data", SecurityError),
    ("550", "submitter failed to disabled", SecurityError),
    ("550", "submitter failed to authenticate", SecurityError),
    ("451", "unable to process connection at this time", SystemError),
    ("451", "message ended early", SystemError),
    ("451", "unable to process command", SystemError),
    ("451", "unable to process an email at this time", SystemError),
    ("451", "account service is temporarily unavailable", TooManyConn),
    ("452", "too many recipients", TooManyConn),
    ("550", "exceeding outbound thread limit", TooManyConn),
    ("501", "invalid address", UserUnknown),
    ("503", "user unknown", UserUnknown),
    ("550", "invalid recipient", UserUnknown),
    ("554", "email rejected due to security policies", VirusDetected),
];

/// NetEase (163.com, 126.com, yeah.net): each refusal carries a code of two letters, a colon
/// and three letters ("554 DT:SPM 163mx01,…, please see http://mail.163.com/help/…"), which
/// its postmaster help ("退信代码说明") explains.
const NETEASE: &[(&str, Reason)] = &[
    // The client's IP: its behaviour (many unknown recipients), its concurrent connections,
    // its volume in a short time, forged sender domains; listed in a DNSBL, or not on the
    // list of allowed senders, or suspended for breaking the terms of service.
    ("hl:rep", BadReputation),
    ("hl:icc", TooManyConn),
    ("hl:ifc", Speeding),
    ("hl:mep", Blocked),
    ("hl:ihu", Blocked),
    ("hl:ipb", Blocked),
    ("dt:rbl", Blocked),
    ("wm:bli", Blocked),
    // The sender is not on the list of allowed senders.
    ("wm:blu", Rejected),
    // Too many recipients in one connection; a sender's volume in 15 minutes.
    ("rp:drc", TooManyConn),
    ("mi:sfq", Speeding),
    // The content looks like spam.
    ("dt:spm", SpamDetected),
];

/// NTT DOCOMO (mfsmax.docomo.ne.jp): since 2025 "550 Unknown user" is always an unknown
/// user; before, a refusal after DATA meant the recipient's filter.
fn ntt_docomo(status: &str, diagnostic: &str) -> Option<Reason> {
    const PHRASES: &[(&str, Reason)] = &[
        ("552 too much mail data", MailboxFull),
        ("503 bad sequence of commands", SyntaxError),
        ("504 command parameter not implemented", SyntaxError),
        ("552 too many recipients", TooManyConn),
        ("550 unknown user", UserUnknown),
    ];
    match status {
        "5.1.1" | "5.0.911" => Some(UserUnknown),
        "5.2.0" => Some(Filtered),
        _ => PHRASES
            .iter()
            .find(|(p, _)| diagnostic.contains(p))
            .map(|(_, r)| *r),
    }
}

const OUTLOOK: &[(&str, Reason)] = &[
    (
        "the mail could not be delivered to the recipient because the domain is not reachable",
        HostUnknown,
    ),
    (
        "requested action not taken: mailbox unavailable",
        UserUnknown,
    ),
];

/// Spectrum's `AUP#I1310` / `AUP#O1000` codes: four digits, by range.
fn spectrum(diagnostic: &str) -> Option<Reason> {
    const RANGES: &[(u16, u16, Reason)] = &[
        (1000, 1000, Blocked),
        (1010, 1010, Rejected),
        (1020, 1080, Rejected),
        (1090, 1090, SystemError),
        (1100, 1150, RequirePtr),
        (1160, 1190, PolicyViolation),
        (1200, 1210, Blocked),
        (1220, 1250, Blocked),
        (1260, 1260, NetworkError),
        (1300, 1340, TooManyConn),
        (1350, 1490, Speeding),
        (1500, 1500, Rejected),
        (1520, 1520, Rejected),
        (1530, 1530, MesgTooBig),
        (1540, 1540, Speeding),
        (1550, 1550, Speeding),
        (1560, 1560, PolicyViolation),
        (1580, 1580, Speeding),
    ];
    let rest = &diagnostic[diagnostic.find("aup#")? + 4..];
    // The first run of four digits after the label (`In-1310`).
    let mut digits = String::new();
    for c in rest.chars() {
        if digits.len() == 4 {
            break;
        }
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            digits.clear();
        }
    }
    let code: u16 = (digits.len() == 4).then(|| digits.parse().ok()).flatten()?;
    RANGES
        .iter()
        .find(|(lo, hi, _)| (*lo..=*hi).contains(&code))
        .map(|(.., r)| *r)
}

const TENCENT: &[(&str, Reason)] = &[
    ("spf check failed", AuthFailure),
    ("dmarc check failed", AuthFailure),
    ("suspected bounce attacks", Blocked),
    ("suspected spam ip", Blocked),
    ("connection denied", Blocked),
    ("message too large", MesgTooBig),
    ("suspected spam", Rejected),
    ("mail is rejected by recipients", Rejected),
    ("spam is embedded in the email", SpamDetected),
    ("mail content denied", SpamDetected),
    ("mailbox unavailable or access denined", Speeding),
    ("frequency of receiving messages is limited", Speeding),
    ("is a deactivated mailbox", Suspend),
    ("bad address syntax", SyntaxError),
    ("ip frequency limited", TooManyConn),
    ("domain frequency limited", TooManyConn),
    ("sender frequency limited", TooManyConn),
    ("connection frequency limited", TooManyConn),
    ("mailbox not found", UserUnknown),
];

/// SoftBank (i.softbank.jp): its published replies. A sender domain without any DNS record
/// is refused at MAIL FROM with "553 <domain> does not exist", whatever the recipient.
const SOFTBANK: &[(&str, Reason)] = &[
    ("550 invalid recipient", UserUnknown),
    (" does not exist", Rejected),
];

/// Yahoo! JAPAN (yahoo.co.jp): its published replies. It refuses unknown and closed
/// accounts after the data ("554 delivery error: dd ..."), which the generic rules would read
/// as the recipient's filter; its words say which.
const YAHOO_JAPAN: &[(&str, Reason)] = &[
    ("this account has been disabled or discontinued", Suspend),
    ("dd this user doesn't have a ", UserUnknown),
    ("this user doesn't have a yahoo.co.jp account", UserUnknown),
];

const YAHOO: &[(&str, Reason)] = &[
    (
        "yahoo requires all senders to authenticate with either spf or dkim",
        AuthFailure,
    ),
    (" because the ip is in spamhaus's list;", Blocked),
    ("not accepted from ip addresses on spamhaus xbl", Blocked),
    ("relaying denied for ", NoRelaying),
    ("headers are not rfc compliant", NotCompliantRfc),
    ("not accepted for policy reasons", PolicyViolation),
    (
        "temporarily deferred due to unexpected volume or user complaints",
        Rejected,
    ),
    ("due to unresolvable rfc.5321 domain", Rejected),
    (" will be permanently deferred", Rejected),
    ("user is receiving mail too quickly", Speeding),
    (" is no longer valid.", Suspend),
    ("this mailbox is disabled", Suspend),
    ("syntax error in parameters or arguments", SyntaxError),
    ("max message per connection reached", TooManyConn),
    ("dd this user doesn't have a ", UserUnknown),
    ("mailbox not found", UserUnknown),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_in_a_diagnostic() {
        let text = "host MX.Example.jp.[192.0.2.1] said: 550 5.1.1 unknown. See https://support.example.com/x-y; mx2.例え.jp";
        assert_eq!(
            host_names(text).collect::<Vec<_>>(),
            ["MX.Example.jp", "support.example.com"]
        );
    }

    #[test]
    fn services_by_domain_and_host() {
        type Case = (
            &'static str,
            &'static [&'static str],
            &'static [&'static str],
            Option<Service>,
        );
        let table: &[Case] = &[
            ("ezweb.ne.jp", &[], &[], Some(Service::Kddi)),
            (
                "cox.net",
                &["cxr.mx.a.cloudfilter.net"],
                &[],
                Some(Service::Cox),
            ),
            ("googlemail.com", &[], &[], Some(Service::GoogleWorkspace)),
            ("i.softbank.jp", &[], &[], Some(Service::SoftBank)),
            ("yahoo.co.jp", &[], &[], Some(Service::YahooJapan)),
            (
                "example.com",
                &[],
                &["mta1001.mail.djm.ynwp.yahoo.co.jp"],
                Some(Service::YahooJapan),
            ),
            (
                "example.jp",
                &["mta6.am0.yahoodns.net"],
                &[],
                Some(Service::YahooInc),
            ),
            (
                "example.com",
                &[],
                &["NEKO220022.namprd22.prod.outlook.com"],
                Some(Service::Microsoft),
            ),
            (
                "example.org",
                &["mail.example.org"],
                &["server-00.bemta-0.messagelabs.com"],
                Some(Service::MessageLabs),
            ),
            ("example.jp", &["mx.example.jp"], &["mx.example.net"], None),
            ("email.ua", &[], &[], Some(Service::Iua)),
            (
                "example.com",
                &["route1.mx.cloudflare.net"],
                &[],
                Some(Service::Cloudflare),
            ),
        ];
        for (domain, remote, local, want) in table {
            assert_eq!(
                service(domain, remote.iter().copied(), local.iter().copied()),
                *want,
                "{domain}"
            );
        }
    }

    #[test]
    fn service_codes_and_sentences() {
        use Service::*;
        #[rustfmt::skip]
        type Case = (Service, Option<&'static str>, Option<&'static str>, &'static str, Option<Reason>);
        let table: &[Case] = &[
            (
                Cox,
                Some("5.1.0"),
                Some("550"),
                "550 5.1.0 <a@b> sender rejected. aup#cdrbl",
                Some(Blocked),
            ),
            (
                Spectrum,
                Some("5.1.0"),
                Some("550"),
                "sender rejected. aup#in-1310",
                Some(TooManyConn),
            ),
            (
                Facebook,
                Some("5.1.1"),
                Some("550"),
                "550 5.1.1 rcp-p2 http://postmaster.facebook.com/response_codes?ip=192.0.2.135#rcp refused due to recipient preferences",
                Some(Filtered),
            ),
            (
                FrancePtt,
                Some("5.5.0"),
                Some("550"),
                "550 5.5.0 adresse destinataire invalide. invalid recipient. lpn007_416",
                Some(UserUnknown),
            ),
            (
                Microsoft,
                Some("5.1.10"),
                Some("550"),
                "550 5.1.10 resolver.adr.recipientnotfound; recipient not found by smtp address lookup",
                Some(UserUnknown),
            ),
            (
                Microsoft,
                Some("5.7.606"),
                Some("550"),
                "550 5.7.606 access denied, banned sending ip [192.0.2.1]",
                Some(Blocked),
            ),
            (
                Google,
                Some("5.7.1"),
                Some("550"),
                "550 5.7.1 messages with multiple addresses in from: header are not accepted.",
                Some(NotCompliantRfc),
            ),
            (
                Google,
                Some("4.7.1"),
                Some("550"),
                "550 5.7.1 messages with multiple addresses in from: header are not accepted.",
                Some(NotCompliantRfc),
            ),
            (
                Google,
                Some("5.7.1"),
                None,
                "messages with multiple addresses in from: header are not accepted.",
                None,
            ),
            (
                GoogleWorkspace,
                Some("4.0.0"),
                None,
                "dns error: 1 dns type 'mx' lookup of example.jp responded with code nxdomain",
                Some(NetworkError),
            ),
            (
                GoogleWorkspace,
                Some("4.0.0"),
                None,
                "the domain example.org doesn't receive email according to the administrator: returned null mx",
                Some(NotAccept),
            ),
            (
                Kddi,
                Some("5.0.0"),
                Some("550"),
                "550 <a@ezweb.ne.jp>: user unknown",
                Some(UserUnknown),
            ),
            (
                YahooInc,
                Some("5.0.0"),
                Some("554"),
                "554 delivery error: dd this user doesn't have a yahoo.com account",
                Some(UserUnknown),
            ),
            (
                Mimecast,
                Some("5.0.0"),
                Some("554"),
                "554 email rejected due to security policies - mcspamsignature",
                Some(VirusDetected),
            ),
            (
                Mimecast,
                Some("5.0.0"),
                Some("550"),
                "554 email rejected due to security policies",
                None,
            ),
            (
                MessageLabs,
                Some("5.0.0"),
                Some("550"),
                "550 a@b... no such user",
                Some(UserUnknown),
            ),
            (
                GoDaddy,
                Some("5.0.0"),
                Some("554"),
                "554 rbl reject. ib104 see",
                Some(Blocked),
            ),
            (
                NttDocomo,
                Some("5.2.0"),
                Some("550"),
                "550 unknown user a@docomo.ne.jp",
                Some(Filtered),
            ),
            (
                Iua,
                Some("5.0.0"),
                Some("550"),
                "550 5.1.1 <a@email.ua> mailbox not found: https://mail.i.ua/err/3/",
                Some(Suspend),
            ),
            (
                Iua,
                None,
                Some("550"),
                "550 see https://mail.i.ua/err/99/",
                None,
            ),
            (
                Cloudflare,
                Some("5.7.1"),
                Some("550"),
                "550 5.7.1 192.0.2.1 found on one or more dnsbls, see https://developers.cloudflare.com/email-routing/postmaster",
                Some(Blocked),
            ),
            (
                Cloudflare,
                Some("4.3.0"),
                Some("451"),
                "451 4.3.0 upstream error",
                Some(SystemError),
            ),
            (
                Tencent,
                None,
                None,
                "550 mailbox not found",
                Some(UserUnknown),
            ),
            (
                SoftBank,
                Some("5.0.0"),
                Some("550"),
                "550 invalid recipient: <a@i.softbank.jp>",
                Some(UserUnknown),
            ),
            (
                SoftBank,
                Some("5.0.0"),
                Some("553"),
                "553 example.jp does not exist",
                Some(Rejected),
            ),
            (
                YahooJapan,
                Some("5.0.0"),
                Some("554"),
                "554 delivery error: dd this account has been disabled or discontinued [-4]",
                Some(Suspend),
            ),
            (
                YahooJapan,
                Some("5.0.0"),
                Some("554"),
                "554 delivery error: dd this user doesn't have a yahoo.co.jp account (a@yahoo.co.jp) [-5]",
                Some(UserUnknown),
            ),
            (
                YahooJapan,
                None,
                Some("421"),
                "421 resources temporarily unavailable",
                None,
            ),
        ];
        for (service, status, reply, text, want) in table {
            assert_eq!(
                reason(*service, *status, *reply, text),
                *want,
                "{service:?} {text}"
            );
        }
    }
}
