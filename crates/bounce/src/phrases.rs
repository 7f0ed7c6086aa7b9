//! What remote servers write when they mean a reason: one table per reason, matched against
//! the lower-cased diagnostic text. Most of the accuracy of the analyser lives here. The
//! phrases are the ones real servers send (Sisimai's tables were the first source; each entry
//! is a fact about some MTA's wording). Add to a table, then add a line to its test.

use crate::reason::Reason;
use aho_corasick::{AhoCorasick, MatchKind};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A reason's phrases: any one of `any` as a substring, or all pieces of one of `ordered` in
/// that order; never when one of `unless` is present.
pub(crate) struct Phrases {
    pub any: &'static [&'static str],
    pub ordered: &'static [&'static [&'static str]],
    pub unless: &'static [&'static str],
}

impl Phrases {
    /// `text` must be lower case. The plain search, one phrase after another: what [`says`]
    /// must agree with.
    #[cfg(test)]
    pub fn matches(&self, text: &str) -> bool {
        if text.is_empty() || self.unless.iter().any(|p| text.contains(p)) {
            return false;
        }
        self.any.iter().any(|p| text.contains(p)) || self.ordered.iter().any(|ps| ordered(text, ps))
    }
}

/// Whether the pieces occur in `text` one after another.
pub(crate) fn ordered(text: &str, pieces: &[&str]) -> bool {
    let mut rest = text;
    for piece in pieces {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// The table of `reason`, if it has one.
pub(crate) fn of(reason: Reason) -> Option<&'static Phrases> {
    use Reason::*;
    Some(match reason {
        AuthFailure => &AUTH_FAILURE,
        BadReputation => &BAD_REPUTATION,
        Blocked => &BLOCKED,
        ContentError => &CONTENT_ERROR,
        ExceedLimit => &EXCEED_LIMIT,
        Expired => &EXPIRED,
        FailedStartTls => &FAILED_STARTTLS,
        Filtered => &FILTERED,
        HasMoved => &HAS_MOVED,
        HostUnknown => &HOST_UNKNOWN,
        MailboxFull => &MAILBOX_FULL,
        MailerError => &MAILER_ERROR,
        MesgTooBig => &MESG_TOO_BIG,
        NetworkError => &NETWORK_ERROR,
        NoRelaying => &NO_RELAYING,
        NotAccept => &NOT_ACCEPT,
        NotCompliantRfc => &NOT_COMPLIANT_RFC,
        PolicyViolation => &POLICY_VIOLATION,
        Rejected => &REJECTED,
        RequirePtr => &REQUIRE_PTR,
        SecurityError => &SECURITY_ERROR,
        SpamDetected => &SPAM_DETECTED,
        Speeding => &SPEEDING,
        Suppressed => &SUPPRESSED,
        Suspend => &SUSPEND,
        SyntaxError => &SYNTAX_ERROR,
        SystemError => &SYSTEM_ERROR,
        SystemFull => &SYSTEM_FULL,
        TooManyConn => &TOO_MANY_CONN,
        UserUnknown => &USER_UNKNOWN,
        Vacation => &VACATION,
        VirusDetected => &VIRUS_DETECTED,
        Delivered | Feedback | OnHold | Undefined => return None,
    })
}

/// `text` (lower case) matches the table of `reason`.
///
/// One classification asks this of the same diagnostic for up to thirty reasons, and each table
/// holds dozens of phrases: searching them one by one was a fifth of the analyser's time. So
/// every phrase of every table is searched at once, in one pass of an Aho-Corasick automaton,
/// and the set of phrases found is kept for the last texts asked about (see [`Hits`]).
pub(crate) fn says(reason: Reason, text: &str) -> bool {
    if text.is_empty() {
        return false;
    }
    let index = index();
    let Some(table) = &index.tables[reason as usize] else {
        return false;
    };
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        let hits = recent.hits(index, text);
        if table.unless.iter().any(|&id| hits.has(id)) {
            return false;
        }
        table.any.iter().any(|&id| hits.has(id))
            || table
                .ordered
                .iter()
                .any(|(ids, pieces)| ids.iter().all(|&id| hits.has(id)) && ordered(text, pieces))
    })
}

/// The tables as pattern numbers of one automaton.
struct Index {
    automaton: AhoCorasick,
    patterns: usize,
    /// By `Reason as usize`; `None` for a reason without a table.
    tables: Vec<Option<TableIds>>,
}

struct TableIds {
    any: Vec<usize>,
    unless: Vec<usize>,
    /// The pieces' numbers (all must be present) with the pieces, whose order is checked then.
    ordered: Vec<(Vec<usize>, &'static [&'static str])>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut numbers: HashMap<&'static str, usize> = HashMap::new();
        let mut patterns: Vec<&'static str> = Vec::new();
        let mut number = |p: &'static str| {
            *numbers.entry(p).or_insert_with(|| {
                patterns.push(p);
                patterns.len() - 1
            })
        };
        let tables = Reason::ALL
            .iter()
            .map(|&reason| {
                of(reason).map(|t| TableIds {
                    any: t.any.iter().map(|&p| number(p)).collect(),
                    unless: t.unless.iter().map(|&p| number(p)).collect(),
                    ordered: t
                        .ordered
                        .iter()
                        .map(|&pieces| (pieces.iter().map(|&p| number(p)).collect(), pieces))
                        .collect(),
                })
            })
            .collect();
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .expect("the phrase tables build an automaton");
        Index {
            automaton,
            patterns: patterns.len(),
            tables,
        }
    })
}

/// Which phrases occur in one text: a bit per pattern number.
struct Hits {
    text: String,
    bits: Vec<u64>,
}

impl Hits {
    fn has(&self, id: usize) -> bool {
        self.bits[id / 64] & (1 << (id % 64)) != 0
    }
}

/// The hits of the last two texts asked about (a record's diagnostic, and now and then a
/// second text between two questions about it), reused while the same text comes back.
#[derive(Default)]
struct Recent {
    slots: [Option<Hits>; 2],
    next: usize,
}

impl Recent {
    fn hits(&mut self, index: &Index, text: &str) -> &Hits {
        if let Some(at) = self
            .slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|h| h.text == text))
        {
            return self.slots[at].as_ref().unwrap();
        }
        let at = self.next;
        self.next = (self.next + 1) % self.slots.len();
        // Reuse the slot's allocations: most diagnostics are short, and this runs per record.
        let mut hits = self.slots[at].take().unwrap_or_else(|| Hits {
            text: String::new(),
            bits: Vec::new(),
        });
        hits.text.clear();
        hits.text.push_str(text);
        hits.bits.clear();
        hits.bits.resize(index.patterns.div_ceil(64), 0);
        for m in index.automaton.find_overlapping_iter(text) {
            let id = m.pattern().as_usize();
            hits.bits[id / 64] |= 1 << (id % 64);
        }
        self.slots[at].insert(hits)
    }
}

thread_local! {
    static RECENT: RefCell<Recent> = RefCell::default();
}

pub(crate) static USER_UNKNOWN: Phrases = Phrases {
    any: &[
        // HCL Domino's and Notes' own sentences for a name its directory does not hold (in the
        // languages it is installed in), and iMail's for a local user it cannot deliver to
        // (Sisimai's lhost domino, notes and imailserver tables).
        "not listed in domino directory",
        "not listed in public name & address book",
        "no se encuentra en el directorio de domino",
        "non répertorié dans l'annuaire domino",
        "invalid final delivery userid",
        "#5.1.1 bad address",
        "550 address invalid",
        "5.1.0 address rejected.",
        "address does not exist",
        "address not present in directory",
        "address unknown",
        // AT&T's "<a@b>... Addressee unknown" (smtp.codes/550), Sendmail's older wording.
        "addressee unknown",
        // A gateway's recipient callout that found no such mailbox behind it (Baruwa's
        // "Recipient verification failed", and the shorter wording).
        "recipient verification failed",
        "recipient verify failed",
        "can't accept user",
        "does not exist.",
        "destination addresses were unknown",
        "destination server rejected recipients",
        "email address does not exist",
        "email address could not be found",
        "invalid address",
        "invalid mailbox",
        "invalid recipient",
        "is not a known user",
        "is not a valid mailbox",
        "is not an active address at this host",
        "mailbox does not exist",
        "mailbox invalid",
        "mailbox is inactive",
        "mailbox is unavailable",
        "mailbox not present",
        "mailbox not found",
        "mailbox unavaiable",
        "nessun utente simile in questo indirizzo",
        "no account by that name here",
        "no existe dicha persona",
        "no existe ese usuario ",
        "no mail box available for this user",
        "no mailbox by that name is currently available",
        "no mailbox found",
        "no such address here",
        "no such mailbox",
        "no such person at this address",
        "no such recipient",
        "no such user",
        "no thank you rejected: account unavailable",
        "no valid recipients, bye",
        "not a valid recipient",
        "not a valid user here",
        "not a local address",
        "not email addresses",
        "recipient address rejected. (in reply to rcpt to command)",
        "recipient address rejected: access denied",
        "recipient address rejected: invalid user",
        "recipient address rejected: invalid-recipient",
        "recipient address rejected: unknown user",
        "recipient address rejected: userunknown",
        "recipient does not exist",
        "recipient is not accepted",
        "recipient is not local",
        "recipient not exist",
        "recipient not found",
        "recipient not ok",
        "recipient refuses to accept your mail",
        "recipient unknown",
        "requested action not taken: mailbox unavailable",
        "resolver.adr.recipient notfound",
        "sorry, user unknown",
        "sorry, badrcptto",
        "sorry, no mailbox here by that name",
        "sorry, your envelope recipient has been denied",
        "that domain or user isn't in my list of allowed rcpthosts",
        "the email account that you tried to reach does not exist",
        "the following recipients was undeliverable",
        "the user's email name is not found",
        "there is no one at this address",
        "this address no longer accepts mail",
        "this email address is wrong or no longer valid",
        "this recipient is in my badrecipientto list",
        "this recipient is not in my validrcptto list",
        "this spectator does not exist",
        "unknown mailbox",
        "unknown recipient",
        "unknown user",
        "user does not exist",
        "user missing home directory",
        "user not active",
        "user not exist",
        "user not found",
        "user not known",
        "user unknown",
        "utilisateur inconnu !",
        "vdeliver: invalid or unknown virtual user",
        "weil die adresse nicht gefunden wurde oder keine e-mails empfangen kann",
        "your envelope recipient is in my badrcptto list",
    ],
    ordered: &[
        &["<", "> not found"],
        &["<", ">... blocked by "],
        &["account ", " does not exist at the organization"],
        &[
            "adresse d au moins un destinataire invalide. invalid recipient.",
            "416",
        ],
        &[
            "adresse d au moins un destinataire invalide. invalid recipient.",
            "418",
        ],
        &["bad", "recipient"],
        &["mailbox ", "does not exist"],
        &["mailbox ", "unavailable or access denied"],
        &["no ", " in name directory"],
        &["non", "existent user"],
        &["rcpt <", " does not exist"],
        &["rcpt (", "t exist "],
        &["recipient ", " was not found in"],
        &["recipient address rejected: user ", "  does not exist"],
        &["recipient address rejected: user unknown in ", "  table"],
        &["said: 550", "5.1.1 ", " user unknown "],
        &["this user doesn't have a ", " account"],
        &["unknown e", "mail address"],
        &["unknown local", "part"],
        &["user ", " was not found"],
        &["user ", " does not exist"],
        &["user (", ") unknown"],
    ],
    unless: &[],
};

pub(crate) static FILTERED: Phrases = Phrases {
    any: &[
        "account is protected by",
        "bounced address",
        "has restricted sms e-mail",
        "is not accepting any mail",
        "message filtered",
        "message rejected due to user rules",
        "not found recipient account",
        "recipient id refuse to receive mail",
        "recipient is only accepting mail from specific email addresses",
        "refused due to recipient preferences",
        "user not found",
        "user refuses to receive this mail",
        "user reject",
        "you have been blocked by the recipient",
    ],
    ordered: &[],
    unless: &[],
};

pub(crate) static MAILBOX_FULL: Phrases = Phrases {
    any: &[
        "error writing message: file too large",
        "inbox is full",
        "out of storage space",
        // GNU Mailutils' mda ("Mailbox Quotas" in its manual), a message that would not fit.
        "exceed maximum mailbox size",
        // GoDaddy's documented wording, relayed or not.
        "account storage limit",
        "452 insufficient disk space",
        "account disabled temporarly for exceeding receiving limits",
        "boite du destinataire pleine",
        "exceeded storage allocation",
        "full mailbox",
        "mailbox exceeds allowed size",
        "mailbox size limit exceeded",
        "mailbox would exceed maximum allowed storage",
        "mailfolder is full",
        "no space left on device",
        "not sufficient disk space",
        "quota violation for",
        "too much mail data",
        "user has exceeded quota, bouncing mail",
        "user has too many messages on the server",
        "user's space has been used up",
        "mailbox is full",
        // Yandex's help lists "Account is full" among the full-mailbox replies.
        "account is full",
        // FTGate's "Allocated mailbox storage exceeded (#1.02)"; SmarterMail's notice for a
        // domain over its disk allocation, "The domain size limit has been exceeded".
        "mailbox storage exceeded",
        "domain size limit has been exceeded",
        "over quota",
        "quota exceeded",
    ],
    ordered: &[
        &["account is ", " quota"],
        &["disk", "quota"],
        &["enough ", " space"],
        &["mailbox ", "exceeded", " limit"],
        &["mailbox ", "full"],
        &["mailbox ", "quota"],
        &["maildir ", "quota"],
        &["over ", "quota"],
        &["quota ", "exceeded"],
        &["exceeded ", " quota"],
        // "552 <a@b> is full" (a diagnosis guide's list of full-mailbox replies, juduo.cc).
        &["@", " is full"],
    ],
    // A sender's quota (Gmail's "Daily sending quota exceeded", 5.4.5) is a sending rate, not
    // the recipient's storage.
    unless: &["sending quota", "sending limit"],
};

pub(crate) static REJECTED: Phrases = Phrases {
    any: &[
        "access denied (in reply to mail from command)",
        "access denied (sender blacklisted)",
        // RFC 3463 X.1.7 and X.1.8 in its own words, and the refusal that names the sender
        // (Postfix's smtpd restrictions). A recipient's refusal ("Recipient address rejected:
        // <words>") may still say the sender was refused in its words.
        "bad sender's mailbox address syntax",
        "bad sender's system address",
        "sender address rejected",
        "administrative prohibition",
        // qmail-smtpd's refusal of a sender in control/badmailfrom (qmail-smtpd.c), and the
        // senders a gateway was told to refuse (Symantec MessageLabs, Mimecast, Microsoft 365's
        // restricted groups): the sender, not the recipient, was refused.
        "your envelope sender is in my badmailfrom list",
        // qmail-smtpd patches' "sorry, your envelope sender has been denied" and "sorry, your
        // envelope sender domain must exist": whatever follows, the sender is what was refused.
        "your envelope sender ",
        "your email address has been blocked",
        "your domain has been blocked",
        "your domain has been blacklisted",
        "sender envelope domain not allowed for sender ip address",
        "block policy for envelope from address",
        "header-based blocked senders",
        "header-based manually blocked senders",
        "sender was not authenticated",
        "sender not authenticated for ",
        "sender not in allowed-senders list",
        "sender denied",
        "unknown sender address",
        "batv failed to verify",
        "batv validation failure",
        "backscatter protection detected an invalid or expired email address",
        "because the sender isn't on the recipient's list of senders to accept mail from",
        "bogus mail from",
        "can't determine purported responsible address",
        "connections not accepted from servers without a valid sender domain",
        "denied [bouncedeny]",
        "denied by secumail valid-address-filter",
        "delivery not authorized, message refused",
        // Sendmail's srvrsmtp.c for a sender address without a domain.
        "domain name required for sender address",
        "does not exist e2110",
        "domain of sender address ",
        "email address is on senderfilterconfig list",
        "emetteur invalide",
        "empty envelope senders not allowed",
        "envelope blocked - ",
        "error: no third-party dsns",
        "from: domain is invalid. please provide a valid from:",
        "fully qualified email address required",
        "invalid domain, see <url:",
        "invalid sender",
        "is not a registered gateway user",
        "mail from not owned by user",
        "message rejected: email address is not verified",
        // Gmail ("Gmail SMTP errors and codes", 550 5.7.0): the sender's own account.
        "mail sending denied",
        "mx records for ",
        "null sender is not allowed",
        "recipient addresses rejected : access denied",
        "recipient not accepted. (batv: no tag",
        "returned mail not accepted here",
        "rfc 1035 violation: recursive cname records for",
        "rule imposed mailbox access for",
        "sending this from a different address or alias using the ",
        "sender address has been blacklisted",
        // A Czech provider's "550 5.1.1 <a@b> sender is blacklisted" (the recipient's own list,
        // support.grhosting.cz).
        "sender is blacklisted",
        // qmail's chkuser patch: "can't find a valid MX for sender domain" (under 5.1.1 in its
        // older strings).
        "for sender domain",
        "sender email address rejected",
        "sender is in my black list",
        "sender is spammer",
        "sender not pre-approved",
        "sender rejected",
        "sender domain is empty",
        "sender verify failed",
        "sender was rejected",
        "spam reporting address",
        "syntax error: empty email address",
        "the message has been rejected by batv defense",
        "this server does not accept mail from",
        "transaction failed unsigned dsn for",
        "unroutable sender address",
        // Yahoo ("SMTP Error Codes"): the sender's domain does not resolve.
        "unresolvable rfc.5321",
        "you are not allowed to post to this mailing list",
        "you are sending to/from an address that has been blacklisted",
        "your access to submit messages to this e-mail system has been rejected",
        // Seed Net's "550 illegal sender." (help.url.com.tw: the sender refused); Haraka's
        // access plugin, a listed sender ("<a@b> That sender cannot send mail here") and a
        // listed From: domain ("Email from that domain is not accepted here.").
        "illegal sender",
        // PHPMailer-BMH's sample of a sender that failed verification: "550 Verify mailfrom
        // failed,blocked".
        "verify mailfrom failed",
        // Exim's deferred sender verification (acl.c): "Could not complete sender verify" and
        // "... callout", the sender's address could not be verified.
        "complete sender verify",
        "sender cannot send mail",
        "from that domain is not accepted",
        "your email address has been blacklisted",
    ],
    // The smtpf proxy's "550 5.7.1 sender <a@b> black listed #127" (its "SMTP Replies"); a
    // gateway's "551 Sender is on domain's blacklist" (Broadcom's list of external refusals).
    ordered: &[
        &["sender <", "> black listed"],
        &["sender is on ", "blacklist"],
        // chkuser's "sender address has invalid format"; Haraka's "No MX for your FROM
        // address" (mail_from.is_resolvable).
        &["sender address ", " invalid"],
        &["no mx ", "from address"],
        // The MailDomainDotMX milter's "Mail from <a@b> domain invalid (has dot-MX record)":
        // the sender's domain publishes a null MX.
        &["mail from ", " domain invalid"],
    ],
    unless: &["sender ip address rejected"],
};

pub(crate) static BLOCKED: Phrases = Phrases {
    any: &[
        " said: 550 blocked",
        "//www.spamcop.net/bl.",
        "bad sender ip address",
        "banned sending ip",
        "blacklisted by",
        // iRedAPD's wblist_rdns plugin: "Blacklisted reverse DNS name of server IP address".
        "blacklisted reverse dns",
        "blocked using ",
        "blocked - see http",
        "dnsbl:attrbl",
        // Postfix smtpd's words for every client restriction (access(5): "Access denied"
        // when the table gives no text); a missing PTR is told apart before this.
        "client host rejected: ",
        "confirm this mail server",
        "connection dropped",
        "connection refused by",
        "connection reset by peer",
        "connection was dropped by remote host",
        "connections not accepted from ip addresses on spamhaus xbl",
        "currently sending spam see: ",
        "domain does not exist:",
        "dynamic/zombied/spam ips blocked",
        "error: no valid recipients from ",
        "esmtp not accepting connections",
        "extreme bad ip profile",
        // Gmail's 421 4.7.0 (documented), which reaches senders through relays too.
        "from your ip address has been temporarily blocked",
        "go away",
        "helo command rejected:",
        "host network not allowed",
        "hosts with dynamic ip",
        "invalid ip for sending mail of domain",
        "is in a black list",
        "is not allowed to send mail from",
        "mailfrom domain is listed in spamhaus",
        "no access from mail server",
        "no matches to nameserver query",
        "not currently accepting mail from your ip",
        "part of their network is on our block list",
        "please use the smtp server of your isp",
        "refused - see http",
        "rejected - multi-blacklist",
        // GMX's greeting "554-No SMTP service 554-IP address is block listed." (postmaster.gmx.com)
        // and a Coremail-style "550 black ip" / "554 rbl deny".
        "is block listed",
        "black ip",
        "rbl deny",
        // Trend Micro's reputation service ("550 Mail from <ip> refused by rbl-plus.mail-abuse.org",
        // "Permanent denial of connection (550) for RBL+ matches (ERS)").
        "refused by rbl",
        "denial of connection",
        // Coremail's "Requested mail action not taken: Invalid IP", "IP is rejected".
        "not taken: invalid ip",
        "ip is rejected",
        "rejected because the sending mta or the sender has not passed validation",
        "rejecting open proxy",
        "sender ip address rejected",
        "server access forbidden by your ip ",
        "service not available, closing transmission channel",
        "smtp error from remote mail server after initial connection:",
        "sorry, that domain isn't in my list of allowed rcpthosts",
        "sorry, your remotehost looks suspiciously like spammer",
        "temporarily deferred due to unexpected volume or user complaints",
        "to submit messages to this e-mail system has been rejected",
        "too many spams from your ip",
        "too many unwanted messages have been sent from the following ip address above",
        "was blocked by ",
        "we do not accept mail from dynamic ips",
        "you are not allowed to connect",
        "you are sending spam",
        "your ip address is listed in the rbl",
        "your network is temporary blacklisted",
        "your server requires confirmation",
    ],
    ordered: &[
        &["(", "@", ":blocked)"],
        &["access from ip address ", " blocked"],
        &["client host ", " blocked using"],
        &[
            "connections will not be accepted from ",
            " because the ip is in spamhaus's list",
        ],
        &["dnsbl:rbl ", ">_is_blocked"],
        &["email blocked by ", ".barracudacentral.org"],
        &["email blocked by ", "spamhaus"],
        &["host ", " refused to talk to me: ", " blocked"],
        // A qmail-smtpd patch's "sorry, your HELO host name has been denied": the client's
        // greeting name is refused.
        &["your helo ", " denied"],
        // maddy's "Client identity is listed in the used DNSBL" (its dnsbl check).
        &["listed in ", "dnsbl"],
        // Apache James's DNSRBLHandler: "Rejected: unauthenticated e-mail from <ip> is
        // restricted."
        &["unauthenticated e-mail from ", " is restricted"],
        // smtpf's "550 5.7.1 host <name> [<ip>] black listed #120" (its "SMTP Replies").
        &["host ", "] black listed"],
        &["ip ", " is blocked by earthlink"],
        &["is in an ", "rbl on "],
        &["mail server at ", " is blocked"],
        // "550 5.7.1 Rejected: <host> listed at relays.ordb.org" (the same list's example).
        &["rejected: ", " listed at "],
        &["mail from ", " refused:"],
        &["mail from ", " refused, see ", "orbs"],
        &["message from ", " rejected based on blacklist"],
        &[
            "messages from ",
            " temporarily deferred due to user complaints",
        ],
        &["server ip ", " listed as abusive"],
        &["sorry! your ip address", " is blocked by rbl"],
        &["the domain ", " is blacklisted"],
        &["the email ", " is blacklisted"],
        &["the ip", " is blacklisted"],
        &[
            "veuillez essayer plus tard. service refused, please try later. ",
            "103",
        ],
        &[
            "veuillez essayer plus tard. service refused, please try later. ",
            "510",
        ],
        &["your access ip", " has been rejected"],
        // "5.7.1 Recipient not authorized, your IP has been found on a block list" (Broadcom's
        // list of external refusals).
        &["your ip ", " block list"],
        &["your sender's ip address is listed at ", ".abuseat.org"],
    ],
    unless: &[],
};

pub(crate) static EXPIRED: Phrases = Phrases {
    any: &[
        "connection timed out",
        "could not find a gateway for",
        "delivery attempts will continue to be",
        "delivery expired",
        "delivery time expired",
        // "554 5.4.7 [internal] exceeded max time without delivery" (Broadcom's list).
        "max time without delivery",
        "failed to deliver to domain ",
        "giving up on",
        "have been failing for a long time",
        "has been delayed",
        "it has not been collected after",
        // Exchange's NDR 5.4.300 / QUEUE.Expired ("Message expired"), qmail-style notices
        // ("Message expired for domain ..."), and the longer forms of either.
        "message expired",
        "message timed out",
        "retry time not reached for any host after a long failure period",
        "server did not respond",
        "this message has been in the queue too long",
        "unable to deliver message after multiple retries",
        "retry timeout exceeded",
        "the recipient server did not accept our requests to connect",
        "was not reachable within the allowed queue period",
        "your message could not be delivered for more than",
    ],
    ordered: &[&["could not be delivered for", " days"]],
    // qmail-remote.c writes "Giving up on <host>." after a permanent refusal ('D') of every
    // recipient, not at the end of the queue's lifetime: with the remote's 5xx reply before it,
    // it is no expiry.
    unless: &["does not like recipient. remote host said: 5"],
};

pub(crate) static AUTH_FAILURE: Phrases = Phrases {
    any: &[
        "//spf.pobox.com",
        // Yahoo's and Gmail's documented 5.7.x texts; Tencent's SPF and DMARC refusals.
        "authenticate with either spf or dkim",
        "spf check failed",
        // Cisco AsyncOS's default "#5.7.1 SPF unauthorized mail is prohibited.", a Czech
        // provider's "550 5.1.0 <id> blocked by SPF" (support.grhosting.cz).
        "spf unauthorized",
        "blocked by spf",
        // GMX/WEB.DE: "Reject due to SPF policy. The originating IP of the message is not
        // permitted by the domain owner" (smtp.codes/unitedinternet).
        "spf policy",
        "dmarc check failed",
        "bad spf records for",
        "dmarc policy",
        "doesn't meet the required authentication level",
        "please inspect your spf settings",
        "sender policy framework (spf) fail",
        "sender policy framework violation",
        "spf (sender policy framework) domain authentication fail",
        "spf check: fail",
        "the 5322.from address doesn't meet the authentication requirements defined for the sender",
    ],
    ordered: &[
        &[" is not allowed to send mail.", "_401"],
        &["is not allowed to send from <", " per it's spf record"],
        // Interia's and a Czech host's "[SPF] <ip> is not allowed to send mail from <domain>".
        &["[spf] ", " is not allowed to send mail from "],
    ],
    unless: &[],
};

pub(crate) static SUSPEND: Phrases = Phrases {
    any: &[
        // The qmail-ldap patch's "Mailaddress is administratively disabled" (5.2.1), in each of
        // its spellings (Sisimai's lhost qmail table).
        "mailaddress is administrativ",
        // GoDaddy's documented "account disabled", and its plain synonym (a sender's own
        // account is excluded below).
        "account disabled",
        "account suspended",
        "account has been disabled",
        "account is disabled",
        "account is inactive",
        // The same states without the verb, as short replies put them ("550 Account inactive",
        // "550 Mailbox inactive"), and a locked account.
        "account inactive",
        "mailbox inactive",
        "account has been locked",
        "account has been deactivated",
        "mailbox is disabled",
        "mailbox is inactive",
        " is currently suspended",
        " temporary locked",
        "archived recipient",
        "boite du destinataire archivee",
        "email account that you tried to reach is disabled",
        "has been suspended",
        "inactive account",
        "invalid/inactive user",
        "is a deactivated mailbox",
        "is unavailable: user is terminated",
        "mailbox currently suspended",
        "mailbox disabled",
        "mailbox is frozen",
        "mailbox unavailable or access denied",
        "recipient rejected: temporarily inactive",
        "recipient suspend the service",
        "the email account that you tried to reach is inactive",
        "this account has been disabled or discontinued",
        "this account has been temporarily suspended",
        "this address no longer accepts mail",
        "this mailbox is disabled",
        "user or domain is disabled",
        "user suspended",
        // A Coremail-style "550 user is locked".
        "user is locked",
        // Stalwart's delivery to an account without the permission to receive mail: "This
        // account is not authorized to receive email."
        "account is not authorized to receive",
        // Yandex: "Policy rejection on the target address" is its refusal of an account blocked
        // for breaking the user agreement (yandex.com/support/mail/bounces).
        "policy rejection on the target address",
        // 21cn's "<a@b> is now disabled with SMTP service" (help.szhot.com, an account
        // frozen when unpaid or for abuse).
        "disabled with smtp service",
        "vdelivermail: account is locked email bounced",
        // PHPMailer-BMH's `inactive` samples: an account closed for inactivity, never activated,
        // expired or locked ("<a@b>: inactive user", "Account closed due to inactivity", "User
        // account not activated", "account expired", "User status is locked.").
        "inactive user",
        "closed due to inactivity",
        "account not activated",
        "account expired",
        "account has expired",
        "status is locked",
    ],
    // 21cn's "User <a@b> is disabled".
    ordered: &[&["user ", " is disabled"]],
    // Gmail's "Mail sending denied ... the sender account is disabled": the sender's account,
    // not the recipient's.
    unless: &["sender account", "your account"],
};

pub(crate) static REQUIRE_PTR: Phrases = Phrases {
    any: &[
        "access denied. ip name lookup failed",
        "all mail servers must have a ptr record with a valid reverse dns entry",
        "bad dns ptr resource record",
        "cannot find your hostname",
        // Postfix's reject_unknown_reverse_client_hostname (smtpd_check.c).
        "cannot find your reverse hostname",
        "cannot resolve your address.",
        "client host rejected: cannot find your hostname",
        "fix reverse dns for ",
        "ips with missing ptr records",
        "no ptr record found.",
        // Rackspace's "Client host <ip> has no PTR record (G1F)", Comcast's "421 Reverse DNS
        // failure : Try again later".
        "has no ptr record",
        "reverse dns failure",
        // A hosting provider's list of the replies its customers meet: "553 bad reverse dns".
        "bad reverse dns",
        "please get a custom reverse dns name from your isp for your host",
        "ptr record setup",
        "reverse dns failed",
        "reverse dns required",
        "sender ip reverse lookup rejected",
        "the ip address sending this message does not have a ptr record setup",
        "the corresponding forward dns entry does not point to the sending ip",
        "this system will not accept messages from servers/devices with no reverse dns",
        "unresolvable relay host name",
        "we do not accept mail from hosts with dynamic ip or generic dns ptr-records",
    ],
    ordered: &[
        &["domain ", " mismatches client ip"],
        &["dns lookup failure: ", " try again later"],
        &["reverse dns lookup for host ", " failed permanently"],
        &[
            "server access ",
            " forbidden by invalid rdns record of your mail server",
        ],
        &["service permits ", " unverifyable sending ips"],
    ],
    unless: &[],
};

pub(crate) static HOST_UNKNOWN: Phrases = Phrases {
    any: &[
        // Exim's dnslookup router and Oracle Messaging Server's own words for a domain that
        // leads nowhere (Sisimai's lhost exim and messagingserver tables).
        "all relevant mx records point to non-existent hosts",
        "illegal host/domain name found",
        "domain does not exist",
        "domain is not reachable",
        "domain must exist",
        "host or domain name not found",
        "host unknown",
        "host unreachable",
        "mail domain mentioned in email address is unknown",
        "name or service not known",
        "no such domain",
        "recipient address rejected: domain not found",
        "recipient address rejected: unknown domain name",
        "recipient domain must exist",
        "the account or domain may not exist",
        "unknown host",
        "unroutable address",
        "unrouteable address",
    ],
    ordered: &[&["553 ", " does not exist"]],
    unless: &[],
};

pub(crate) static NETWORK_ERROR: Phrases = Phrases {
    any: &[
        // qmail-remote's failed connection and its MX pointing back at itself; Notes' hop
        // limit, a loop (Sisimai's lhost qmail and notes tables).
        "sorry, i wasn't able to establish an smtp connection",
        "although i'm listed as a best-preference mx or a for that host",
        "exceeded maximum hop count",
        // The C library's words for ENETUNREACH and ENETDOWN, which MTAs print for a
        // connection that could not be made (Courier's report of its last try).
        "network is unreachable",
        "network is down",
        // Courier's words for a peer that closed the connection in the middle of the session.
        "connection shut down by the remote",
        // RFC 3463 X.4.2's words, and the plain name of the failure.
        "bad connection",
        "network error",
        // OpenSMTPD's own errors (smtpd/mta.c), when its notice is not read as its own.
        "loop detected",
        // Hornetsecurity's "554 5.5.6 Loop detection".
        "loop detection",
        "network error on destination mxs",
        "no valid route to remote mx",
        "temporary failure in mx lookup",
        // Exchange's "DNS query failed" (NDR 4.4.312/5.4.312): the destination's lookup failed.
        "dns query failed",
        // Mimecast's 554 for a message that came back to it (relayed or not).
        "mail loop detected",
        "could not connect and send the mail to",
        "dns records for the destination computer could not be found",
        "hop count exceeded - possible mail loop",
        "host is unreachable",
        "host name lookup failure",
        "host not found, try again",
        "mail forwarding loop for ",
        "malformed name server reply",
        "malformed or unexpected name server reply",
        "maximum forwarding loop count exceeded",
        "message looping",
        // A Coremail-style "552 looping message".
        "looping message",
        "message is looping",
        "message probably in a routing loop",
        "no route to host",
        "suspected mail loop",
        "too many hops",
        "unable to resolve route ",
        // A Chinese mail host's "rcpt handle timeout" (emailhost.com.cn, "网络异常": the
        // network failed while the recipient was being sent).
        "handle timeout",
        // A relay service's delivery-log guide (wanglu.net, "失败重试"): its lookup or its
        // connection to the recipient's server failed ("Temporary failure of hostname
        // lookup", "Read/Write error over network connection").
        "failure of hostname lookup",
        "error over network connection",
        "unrouteable mail domain",
    ],
    // Gmail's "Message exceeded 50 hops, this may indicate a mail loop" (5.4.6, documented).
    ordered: &[&["exceeded ", " hops"]],
    unless: &[],
};

pub(crate) static SYSTEM_ERROR: Phrases = Phrases {
    any: &[
        // The qmail-ldap patch's own failures (its directory, the home directory it makes, the
        // forwarder it runs) and Courier's for a domain whose DNS is broken (Sisimai's lhost
        // qmail and courier tables).
        "automatic homedir creator crashed",
        "error in automatic homedir creation",
        "illegal value in ldap attribute",
        "ldap attribute is not given but mandatory",
        "timeout while performing search on ldap server",
        "too many results returned but needs to be unique",
        "error while executing qmail-forward",
        "temporary failure in ldap lookup",
        "unable to contact ldap server",
        "unable to login into ldap server",
        "this domain's dns violates rfc 1035",
        "server configuration problem",
        // Exim (FAQ Q0301, the dnslookup router): routing would send the message back to this
        // host, a configuration error.
        "lowest numbered mx record points to local host",
        "remote host address is the local host",
        // RFC 3463 X.4.3's words; a system error by its name (not Sendmail's "Operating system
        // error", its mailer's EX_OSERR exit).
        "directory server failure",
        "internal system error",
        // RFC 3463 X.3.5's own words; Gmail's documented 421/451 4.3.0 and 4.7.0 texts.
        "system incorrectly configured",
        "temporary system problem",
        "mail server temporarily rejected message",
        "mail server has temporarily rejected this message",
        "multiple destination domains per transaction is unsupported",
        // Exchange's 5.2.14 for a forwarding address that points nowhere.
        "misconfigured forwarding address",
        // Exchange's "Temporary server error. Please try again later" (4.7.0, 4.4.3) and
        // "Server busy" (4.7.500), Gmail's 421 4.4.5 "Server busy": the receiver's own
        // trouble, whatever class the status says.
        "temporary server error",
        "server busy",
        // Cox's documented 421 for its servers being down.
        "esmtp server temporarily not available",
        "aliasing/forwarding loop broken",
        "can't create user output file",
        "could not load drd for domain",
        "internal error reading data",
        // Dovecot's answer for any failure it keeps to its log ("Internal error occurred. Refer
        // to server log for more information.").
        "internal error occurred",
        "internal server error: operation now in progress",
        "interrupted system call",
        "it encountered an error while being processed",
        "it would create a mail loop",
        "local configuration error",
        "local error in processing",
        "loop was found in the mail exchanger",
        "loops back to myself",
        "mail system configuration error",
        "queue file write error",
        "recipient deferred because there is no mdb",
        "remote server is misconfigured",
        "server configuration error",
        "service currently unavailable",
        "system config error",
        "temporary local problem",
        "timeout waiting for input",
        "transaction failed ",
        // Apache James's "Unexpected error for <a>" when checking a recipient failed: the
        // server's own failure, whatever the status.
        "unexpected error",
    ],
    ordered: &[&["unable to connect ", "daemon"]],
    unless: &[],
};

pub(crate) static POLICY_VIOLATION: Phrases = Phrases {
    any: &[
        "an illegal attachment on your message",
        "because the recipient is not accepting mail with ",
        "by non-member to a members-only list",
        "closed mailing list",
        // The refusal by its plain name (Exchange's "policy violation detected").
        "policy violation",
        "denied by policy",
        "email not accepted for policy reasons",
        "email rejected due to security policies",
        "header are not accepted",
        "header error",
        "local policy violation",
        "message bounced due to organizational settings",
        "message given low priority",
        "message not accepted for policy reasons",
        "message rejected due to local policy",
        "messages with multiple addresses",
        "rejected for policy reasons",
        "protocol violation",
        "the email address used to send your message is not subscribed to this group",
        "the message was rejected by organization policy",
        "this message was blocked because its content presents a potential",
        "we do not accept messages containing images or other attachments",
        "you're using a mass mailer",
    ],
    ordered: &[&[
        "you have exceeded the",
        "allowable number of posts without solving a captcha",
    ]],
    unless: &[],
};

pub(crate) static SPAM_DETECTED: Phrases = Phrases {
    any: &[
        " - spam",
        "//www.spamhaus.org/help/help_spam_16.htm",
        "//dsbl.org/help/help_spam_16.htm",
        "//mail.163.com/help/help_spam_16.htm",
        "554 5.7.0 reject, id=",
        "appears to be unsolicited",
        "blacklisted url in message",
        "block for spam",
        "blocked by policy: no spam please",
        "blocked by spamassassin",
        "blocked for abuse. see http://att.net/blocks",
        "cannot be forwarded because it was detected as spam",
        "considered unsolicited bulk e-mail (spam) by our mail filters",
        "content filter rejection",
        "cyberoam anti spam engine has identified this email as a bulk email",
        "denied due to spam list",
        "high probability of spam",
        "is classified as spam and is rejected",
        "listed in work.drbl.imedia.ru",
        "the mail server detected your message as spam and has prevented delivery.",
        "mail appears to be unsolicited",
        "mail content denied",
        "may consider spam",
        "message considered as spam or virus",
        "message contains spam or virus",
        "message content rejected",
        "message detected as spam",
        "message filtered",
        "message filtered. please see the faqs section on spam",
        "message filtered. refer to the troubleshooting page at ",
        "message looks like spam",
        // Yandex's help: "Message rejected under suspicion of SPAM"; a Coremail-style "552
        // message rejected by anti-spam engine".
        "suspicion of spam",
        "message rejected by anti-spam",
        // Hornetsecurity's "554 5.5.5 email rejection due to Spam".
        "rejection due to spam",
        "message is being rejected as it seems to be a spam",
        // A filter's non-delivery report (XWall-style): "The message seems to be spam and was
        // not delivered to the recipient."
        "seems to be spam",
        "message refused by mailmarshal spamprofiler",
        "message refused by trustwave seg spamprofiler",
        "message rejected as spam",
        "message rejected because of unacceptable content",
        "message rejected due to suspected spam content",
        "message rejected for policy reasons",
        "message was rejected for possible spam/virus content",
        "our email server thinks this email is spam",
        "our system has detected that this message is ",
        "probable spam",
        "reject bulk.advertising",
        "rejected: spamassassin score ",
        "rejected - bulk email",
        "rejecting banned content",
        "rejecting mail content",
        "related to content with spam-like characteristics",
        "sender domain listed at ",
        "sending address not accepted due to spam filter",
        "spam blocked",
        "spam check",
        "spam content matched",
        "spam detected",
        "spam email",
        "spam email not accepted",
        // Without Sisimai's period: rspamd's reject action says "Spam message rejected" and
        // its milter "Spam message rejected; If this is not spam contact abuse team".
        "spam message rejected",
        "spam not accepted",
        "spam refused",
        "spam rejection",
        "spam score ",
        "spambouncer identified spam",
        "spamming not allowed",
        "too many spam complaints",
        "too much spam.",
        "the email message was detected as spam",
        "the message has been rejected by spam filtering engine",
        "the message was rejected due to classification as bulk mail",
        "the content of this message looked like spam",
        "this message appears to be spam",
        "this message has been identified as spam",
        "this message has been scored as spam with a probability",
        "this message was classified as spam",
        "this message was rejected by recurrent pattern detection system",
        "transaction failed spam message not queued",
        "we dont accept spam",
        "your email appears similar to spam we have received before",
        "your email breaches local uribl policy",
        "your email had spam-like ",
        "your email is considered spam",
        "your email is probably spam",
        "your email was detected as spam",
        "your message as spam and has prevented delivery",
        "your message has been temporarily blocked by our filter",
        "your message has been rejected because it appears to be spam",
        "your message has triggered a spam block",
        "your message may contain the spam contents",
        "your message failed several antispam checks",
    ],
    ordered: &[
        &["greylisted", " please try again in"],
        &["mail score (", " over "],
        &["mail rejete. mail rejected. ", "506"],
        &[
            "our filters rate at and above ",
            " percent probability of being spam",
        ],
        &["rejected by ", " (spam)"],
        &["rejected due to spam ", "classification"],
        &["rejected due to spam ", "content"],
        &["rule imposed as ", " is blacklisted on"],
        &["spam ", " exceeded"],
        &["this message scored ", " spam points"],
        // Hornetsecurity's "554 5.6.2 spam link signature detected", "554 5.6.3 spam text
        // signature detected".
        &["spam ", " signature detected"],
    ],
    unless: &[],
};

pub(crate) static TOO_MANY_CONN: Phrases = Phrases {
    any: &[
        "all available ips are at maximum connection limit",
        "connection rate limit exceeded",
        "connection frequency limited",
        "exceeds per-domain connection limit for",
        "has exceeded the max emails per hour ",
        "throttling failure: daily message quota exceeded",
        "throttling failure: maximum sending rate exceeded",
        "too many connections",
        // Rackspace's "421 Too many concurrent connections from this client (G2)", Comcast's
        // "421 Too many sessions opened".
        "too many concurrent connections",
        "too many sessions",
        // FTGate's "451 4.5.1 [<ip>] Max concurrent sessions (#1.04)".
        "concurrent sessions",
        // Postfix's smtpd_client_new_tls_session_rate_limit.
        "too many new tls sessions from",
        "too many concurrent smtp connections",
        "too many errors from your ip",
        "too many recipients",
        "too many smtp sessions for this host",
        "trop de connexions, ",
        "we have already made numerous attempts to deliver this message",
    ],
    ordered: &[],
    unless: &[],
};

pub(crate) static NOT_ACCEPT: Phrases = Phrases {
    any: &[
        // OpenSMTPD's own verdict on a destination that refused every message (smtpd/mta.c;
        // Sisimai's lhost opensmtpd table).
        "destination seem to reject all mails",
        "domain does not accept mail",
        "does not accept mail (nullmx)",
        "host/domain does not accept mail",
        "host does not accept mail",
        // RFC 3463 X.3.2's own words, and Mimecast's refusal for an account that takes no mail.
        "system not accepting network messages",
        "account inbounds disabled",
        // Exim's words for RFC 7505's null MX, RFC 5321 3.1's greeting of a host that offers
        // no mail service, and the null MX named as such.
        "indicated no smtp service",
        "no smtp service here",
        "null mx",
        "mail receiving disabled",
        "name server: .: host not found",
        "no mx record found for domain=",
        "no route for current request",
        "smtp protocol returned a permanent error",
    ],
    ordered: &[],
    unless: &[],
};

pub(crate) static MESG_TOO_BIG: Phrases = Phrases {
    any: &[
        "exceeded maximum inbound message size",
        "exceeded the maximum incoming message size",
        "line limit exceeded",
        "max message size exceeded",
        "message file too big",
        "message length exceeds administrative limit",
        "message size exceeds fixed limit",
        "message size exceeds fixed maximum message size",
        "message size exceeds maximum value",
        // iRedAPD's throttle plugin: "Message size exceed (maybe caused by big attachment
        // file)".
        "message size exceed",
        "message too big",
        // A Coremail-style "552 message is too long", "554 attachment is too long".
        "message is too long",
        // Exim's transport: "message is too big (transport limit = N)".
        "message is too big",
        "attachment is too long",
        "attachment is too large",
        // OpenSMTPD, when the peer's SIZE limit is below the message's size.
        "message too large for peer",
        "message too large for this ",
        "size limit",
        "taille limite du message atteinte",
    ],
    ordered: &[],
    unless: &[],
};

pub(crate) static EXCEED_LIMIT: Phrases = Phrases {
    any: &[
        "message header size exceeds limit",
        "message too large",
        // The qmail-ldap patch's refusal of a message above the user's own limit (5.2.3, its
        // spelling; Sisimai's lhost qmail table).
        "exeeded the maximum size the user accepts",
    ],
    ordered: &[],
    unless: &[],
};

pub(crate) static MAILER_ERROR: Phrases = Phrases {
    any: &[
        " || exit ",
        "procmail: ",
        "bin/procmail",
        "bin/maidrop",
        "command failed: ",
        "command died with status ",
        "command output:",
        "mailer error",
        "pipe to |/",
        "x-unix; ",
    ],
    ordered: &[],
    unless: &[],
};

pub(crate) static HAS_MOVED: Phrases = Phrases {
    any: &[
        " has been replaced by ",
        // RFC 5321's 551 reply: the user is not here, and the reply names the new address.
        "user not local; please try",
    ],
    ordered: &[],
    unless: &[],
};

pub(crate) static NO_RELAYING: Phrases = Phrases {
    any: &[
        "as a relay",
        "email address is not verified.",
        "insecure mail relay",
        "is not permitted to relay through this server without authentication",
        "mail server requires authentication when attempting to send to a non-local e-mail address",
        "no relaying",
        "not a gateway",
        "not allowed to relay through this machine",
        "not an open relay, so get lost",
        "not local host",
        "relay access denied",
        "relay denied",
        // A Coremail-style "553 host denies relay".
        "denies relay",
        // Coremail's "Requested action not taken: Local user only".
        "local user only",
        // hMailServer's refusals of a recipient it does not serve to an unauthenticated client
        // (its documentation, "Error messages").
        "delivery is not allowed to this address",
        "smtp authentication is required",
        "relay not permitted",
        // chasquid's and Stalwart's refusal of a recipient elsewhere without authentication.
        "relay not allowed",
        // John Simpson's combined qmail-smtpd patch: "553 we don't relay (#5.7.1)".
        "we don't relay",
        // A relay service's "550 Relay Prohibited" (iridis mailRelay).
        "relay prohibited",
        // Libero's and Virgilio's help: "RELAYING NOT ALLOWED (550 Relay Disabled)"; InterScan's
        // "550 Domain of forward path is not allowed" (the recipient's domain is not relayed).
        "relay disabled",
        "domain of forward path is not allowed",
        "relaying denied",
        "relaying mail to ",
        "specified domain is not allowed",
        "that domain isn't in my list of allowed rcpthost",
        "this system is not configured to relay mail",
        "unable to relay ",
        "we don't handle mail for",
    ],
    ordered: &[],
    unless: &[],
};

pub(crate) static NOT_COMPLIANT_RFC: Phrases = Phrases {
    any: &[
        "duplicate header",
        "this message is not rfc 5322 compliant",
        // A relay service's "Your message does not conform to RFC2822 standard" (iridis).
        "does not conform to rfc",
        "https://support.google.com/mail/?p=rfcmessagenoncompliant",
    ],
    ordered: &[&[" multiple ", " header"]],
    unless: &[],
};

pub(crate) static BAD_REPUTATION: Phrases = Phrases {
    any: &[
        "a poor email reputation score",
        "has been temporarily rate limited due to ip reputation",
        "ip/domain reputation problems",
        "likely suspicious due to the very low reputation",
        "none/bad reputation",
        // Hornetsecurity's "554 5.5.4 IP sender address with a negative reputation".
        "negative reputation",
        // iRedAPD's senderscore plugin: "Server IP address has bad reputation".
        "bad reputation",
        "temporarily deferred due to unexpected volume or user complaints",
        "the sending mta's poor reputation",
    ],
    ordered: &[],
    unless: &[],
};

pub(crate) static CONTENT_ERROR: Phrases = Phrases {
    any: &[
        "duplicate header",
        "header size exceeds maximum permitted",
        "improper use of 8-bit data in message header",
        "message header size, or recipient list, exceeds policy limit",
        "message mime complexity exceeds the policy maximum",
        "routing loop detected -- too many received: headers",
        "this message contain invalid mime headers",
        "this message contain improperly-formatted binary content",
        "this message contain text that uses unnecessary base64 encoding",
    ],
    ordered: &[],
    unless: &[],
};

pub(crate) static SECURITY_ERROR: Phrases = Phrases {
    any: &[
        "account not subscribed to ses",
        // Gmail's documented 534/535 replies to a client's AUTH.
        "application-specific password required",
        "username and password not accepted",
        "authentication credentials invalid",
        "authentication failure",
        "authentication required",
        "authentication turned on in your email client",
        "executable files are not allowed in compressed files",
        "insecure mail relay",
        "recipient address rejected: access denied",
        "sorry, you don't authenticate or the domain isn't in my list of allowed rcpthosts",
        "unauthenticated senders not allowed",
        "verification failure",
        "you are not authorized to send mail, authentication is required",
    ],
    ordered: &[
        &["authentication failed; server ", " said: "],
        &["authentification invalide", "305"],
        &["authentification requise", "402"],
        &["domain ", " is a dead domain"],
        &[
            "user ",
            " is not authorized to perform ses:sendrawemail on resource",
        ],
    ],
    unless: &[],
};

pub(crate) static VIRUS_DETECTED: Phrases = Phrases {
    any: &[
        "it has a potentially executable attachment",
        "the message was rejected because it contains prohibited virus or spam content",
        "this form of attachment has been used by recent viruses or other malware",
        "virus detected",
        // A Coremail-style "552 Virus found".
        "virus found",
        // Yandex's "Message infected by virus".
        "infected by virus",
        "infected with virus",
        "virus phishing/malicious_url detected",
        "your message was infected with a virus",
    ],
    // Zoho's "552 5.7.1 virus <name> detected by Zoho Mail" (smtp.codes/zoho): the name
    // between the words.
    ordered: &[&["virus ", " detected by "]],
    unless: &[],
};

pub(crate) static SPEEDING: Phrases = Phrases {
    any: &[
        "mail sent from your ip address has been temporarily rate limited",
        // Gmail's two documented 4.2.1/5.2.1 wordings ("Gmail SMTP errors and codes"), which
        // reach a sender through relays that are not Google's hosts too.
        "is receiving mail too quickly",
        // Rackspace's "Mailbox received too much email in a short period of time (G30)".
        "mail in a short period of time",
        // Postfix's smtpd_client_message_rate_limit: "Error: too much mail from <ip>".
        "too much mail from",
        // Gmail's 550 5.4.5 for a sender over its daily limit (documented).
        "sending limit exceeded",
        // A relay service's "Hourly send rate exceeded, retry later." (iridis mailRelay).
        "send rate exceeded",
        // Exchange's "421 4.4.2 Message submission rate for this client has exceeded the
        // configured limit" (Mailprotector's common bouncebacks).
        "submission rate for this client has exceeded",
        "sending quota exceeded",
        "please try again slower",
        "receiving mail at a rate that prevents additional messages from being delivered",
    ],
    ordered: &[],
    unless: &[],
};

pub(crate) static FAILED_STARTTLS: Phrases = Phrases {
    any: &[
        "starttls is required to send mail",
        // Gmail's 421 4.7.0 (documented) for a domain whose policy requires TLS.
        "tls required for rcpt domain",
        "tls required but not supported",
        // What our own delivery engine says when a rule requires TLS the server cannot give.
        "tls is required but the server does not offer starttls",
        "tls is required but starttls was refused",
    ],
    ordered: &[],
    unless: &[],
};

pub(crate) static SYSTEM_FULL: Phrases = Phrases {
    any: &[
        // RFC 5321's 452 text (and Postfix smtpd's below queue_minfree): the server's disk.
        "insufficient system storage",
        "mail system full",
        // FTGate's "Out of disk space (#1.03)".
        "out of disk space",
        "requested mail action aborted: exceeded storage allocation",
    ],
    ordered: &[],
    unless: &[],
};

pub(crate) static SUPPRESSED: Phrases = Phrases {
    any: &[
        "address is on an amazon ses suppression list",
        "on the suppression list",
    ],
    ordered: &[],
    unless: &[],
};

pub(crate) static SYNTAX_ERROR: Phrases = Phrases {
    any: &[
        "syntax error in parameters",
        "command unrecognized",
        "bad sequence of commands",
    ],
    ordered: &[],
    unless: &[],
};

pub(crate) static VACATION: Phrases = Phrases {
    any: &[
        "i am away on vacation",
        "i am away until",
        "i am out of the office",
        "i will be traveling for work on",
    ],
    ordered: &[],
    unless: &[],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_name_their_reasons() {
        let table: &[(&str, Reason, bool)] = &[
            ("550 5.1.1 <a@b>... user unknown", Reason::UserUnknown, true),
            ("mailbox example does not exist", Reason::UserUnknown, true),
            ("mailbox is full", Reason::MailboxFull, true),
            ("user over quota", Reason::MailboxFull, true),
            (
                "sender address rejected: domain not found",
                Reason::Rejected,
                true,
            ),
            ("recipient address rejected: foo", Reason::Rejected, false),
            (
                "client host [192.0.2.1] blocked using zen.spamhaus.org",
                Reason::Blocked,
                true,
            ),
            (
                "message expired after sitting in queue for 5 days",
                Reason::Expired,
                true,
            ),
            (
                "remote server returned '550 5.4.300 message expired'",
                Reason::Expired,
                true,
            ),
            ("dmarc policy reject", Reason::AuthFailure, true),
            ("network is down", Reason::NetworkError, true),
            (
                "network connection shut down by the remote mail server",
                Reason::NetworkError,
                true,
            ),
            (
                "this account has been temporarily suspended",
                Reason::Suspend,
                true,
            ),
            ("cannot find your hostname", Reason::RequirePtr, true),
            ("host unknown", Reason::HostUnknown, true),
            ("no route to host", Reason::NetworkError, true),
            ("local configuration error", Reason::SystemError, true),
            ("message filtered", Reason::SpamDetected, true),
            ("too many connections", Reason::TooManyConn, true),
            ("message size exceeds fixed limit", Reason::MesgTooBig, true),
            ("message too large for peer", Reason::MesgTooBig, true),
            (
                "452 requested action not taken: insufficient system storage",
                Reason::SystemFull,
                true,
            ),
            (
                "551 user not local; please try <a@example.net>",
                Reason::HasMoved,
                true,
            ),
            (
                "450 4.2.1 the user you are trying to contact is receiving mail too quickly.",
                Reason::Speeding,
                true,
            ),
            ("relay access denied", Reason::NoRelaying, true),
            ("i am out of the office", Reason::Vacation, true),
            (
                "reason: delivery retry timeout exceeded",
                Reason::Expired,
                true,
            ),
            (
                "550 connection frequency limited",
                Reason::TooManyConn,
                true,
            ),
            // A sender's quota is no recipient's full mailbox, a sender's account no
            // recipient's disabled one.
            (
                "550 5.4.5 daily sending quota exceeded",
                Reason::MailboxFull,
                false,
            ),
            (
                "550 5.4.5 daily sending quota exceeded",
                Reason::Speeding,
                true,
            ),
            (
                "recipient has exceeded their quota",
                Reason::MailboxFull,
                true,
            ),
            (
                "mail sending denied. this error occurs if the sender account is disabled",
                Reason::Suspend,
                false,
            ),
            ("dns query failed", Reason::NetworkError, true),
            ("554 no smtp service here", Reason::NotAccept, true),
            (
                "remote host address is the local host",
                Reason::SystemError,
                true,
            ),
            // Words read from MTAs' and filters' source code (rspamd, iRedAPD, maddy,
            // chasquid, Postfix, qmail's chkuser, Haraka).
            (
                "554 5.7.1 spam message rejected",
                Reason::SpamDetected,
                true,
            ),
            (
                "server ip address has bad reputation",
                Reason::BadReputation,
                true,
            ),
            (
                "blacklisted reverse dns name of server ip address",
                Reason::Blocked,
                true,
            ),
            (
                "client identity is listed in the used dnsbl",
                Reason::Blocked,
                true,
            ),
            (
                "message size exceed (maybe caused by big attachment file)",
                Reason::MesgTooBig,
                true,
            ),
            ("503 5.7.1 relay not allowed", Reason::NoRelaying, true),
            (
                "client host rejected: cannot find your reverse hostname",
                Reason::RequirePtr,
                true,
            ),
            (
                "sorry, can't find a valid mx for sender domain",
                Reason::Rejected,
                true,
            ),
            (
                "sorry, sender address has invalid format",
                Reason::Rejected,
                true,
            ),
            ("no mx for your from address", Reason::Rejected, true),
            (
                "sorry, your envelope sender domain must exist (#5.7.1)",
                Reason::Rejected,
                true,
            ),
            (
                "sorry, your helo host name has been denied (#5.7.1)",
                Reason::Blocked,
                true,
            ),
            ("553 we don't relay (#5.7.1)", Reason::NoRelaying, true),
            (
                "this account is not authorized to receive email.",
                Reason::Suspend,
                true,
            ),
            (
                "rejected: unauthenticated e-mail from /192.0.2.1 is restricted.",
                Reason::Blocked,
                true,
            ),
            (
                "451 4.0.0 unexpected error for a@example.org",
                Reason::SystemError,
                true,
            ),
            ("all fine", Reason::UserUnknown, false),
        ];
        for (text, reason, want) in table {
            assert_eq!(says(*reason, text), *want, "{text} / {reason}");
        }
    }

    /// The automaton finds what a plain search of each phrase finds, for every table, on texts
    /// made of the tables' own phrases (each alone, two joined, and each with the first piece
    /// of an ordered pair missing), so that no phrase is lost to the index.
    #[test]
    fn automaton_agrees_with_plain_search() {
        let mut texts: Vec<String> = vec![String::new(), "nothing to see".into()];
        let mut all: Vec<&str> = Vec::new();
        for reason in Reason::ALL {
            let Some(p) = of(reason) else { continue };
            all.extend(p.any.iter().chain(p.unless));
            for pieces in p.ordered {
                texts.push(pieces.join(" x "));
                texts.push(pieces.iter().rev().copied().collect::<Vec<_>>().join(" "));
                texts.push(pieces[1..].join(" "));
            }
        }
        for (i, phrase) in all.iter().enumerate() {
            texts.push(format!("550 {phrase}."));
            texts.push(format!("{} and {phrase}", all[(i * 7 + 3) % all.len()]));
        }
        let mut differences = 0;
        for text in &texts {
            for reason in Reason::ALL {
                let plain = of(reason).is_some_and(|p| p.matches(text));
                if says(reason, text) != plain {
                    differences += 1;
                    eprintln!("{reason}: {text:?}: plain {plain}");
                }
            }
        }
        assert_eq!(differences, 0);
        assert!(texts.len() > 500, "only {} texts", texts.len());
    }

    #[test]
    fn tables_are_lower_case() {
        for reason in Reason::ALL {
            let Some(p) = of(reason) else { continue };
            for phrase in p
                .any
                .iter()
                .chain(p.unless)
                .chain(p.ordered.iter().flat_map(|o| o.iter()))
            {
                assert_eq!(*phrase, phrase.to_lowercase(), "{reason}: {phrase}");
            }
        }
    }
}
