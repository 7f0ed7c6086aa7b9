//! One record per failed recipient, whatever the report's layout: the layouts the RFCs allow
//! (RFC 3464 delivery status, RFC 3461 `ORCPT`, RFC 6522 multipart/report) and the odd ones
//! they tolerate. No record comes from the returned message (its `To:`, its `Received: … for
//! <a@b>`), from a contact address, or from a recipient whose action is not a failure.

use hikyaku_bounce::analyse;

/// A multipart/report (RFC 6522) with `status` as its second part and `returned` as its third.
fn report(status: &str, returned: &str) -> String {
    format!(
        "From: MAILER-DAEMON@relay.example.net\n\
         To: sender@example.com\n\
         Subject: Delivery Status Notification (Failure)\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"=_b\"\n\
         \n\
         This is a MIME-encapsulated message.\n\
         \n\
         --=_b\n\
         Content-Type: text/plain; charset=us-ascii\n\
         \n\
         Delivery to the following recipients failed. For help, write to\n\
         <postmaster@relay.example.net>.\n\
         \n\
         --=_b\n\
         Content-Type: message/delivery-status\n\
         \n\
         {status}\n\
         --=_b\n\
         {returned}\n\
         --=_b--\n"
    )
}

const RETURNED: &str = "Content-Type: message/rfc822\n\n\
    Received: from app.example.com by relay.example.net with ESMTP id x1\n\tfor <other@example.org>; Mon, 7 Dec 2026 00:00:00 +0000\n\
    Return-Path: <sender@example.com>\n\
    From: Sender <sender@example.com>\n\
    To: a@example.org, b@example.org, other@example.org\n\
    Cc: cc@example.org\n\
    Reply-To: reply@example.com\n\
    Subject: hi\n\n\
    Write to help@example.com or <someone@example.org>.\n";

fn recipients(raw: &str) -> Vec<String> {
    let mut got: Vec<String> = analyse(raw.as_bytes())
        .records
        .into_iter()
        .map(|r| r.recipient)
        .collect();
    got.sort();
    got
}

fn assert_recipients(what: &str, raw: &str, want: &[&str]) {
    assert_eq!(recipients(raw), want, "{what}");
}

#[test]
fn one_record_per_failed_recipient_block() {
    // RFC 3464 §2.3: one per-recipient block each, after the per-message fields.
    let status = "Reporting-MTA: dns; relay.example.net\n\
        Arrival-Date: Mon, 7 Dec 2026 00:00:00 +0000\n\n\
        Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n\
        Diagnostic-Code: smtp; 550 5.1.1 user unknown\n\n\
        Final-Recipient: rfc822; b@example.org\nAction: failed\nStatus: 5.2.2\n\
        Diagnostic-Code: smtp; 552 5.2.2 mailbox full\n";
    assert_recipients(
        "two blocks",
        &report(status, RETURNED),
        &["a@example.org", "b@example.org"],
    );
}

#[test]
fn returned_headers_only_name_no_recipient() {
    // RFC 6522: the third part may be text/rfc822-headers instead of the whole message.
    let status = "Reporting-MTA: dns; relay.example.net\n\n\
        Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n";
    let headers = RETURNED.replace("message/rfc822", "text/rfc822-headers");
    assert_recipients(
        "rfc822-headers",
        &report(status, &headers),
        &["a@example.org"],
    );
}

#[test]
fn delivered_relayed_and_expanded_recipients_are_no_failures() {
    // RFC 3464 §2.3.3: "delivered", "relayed" and "expanded" report success; a report may
    // carry them next to a failure (RFC 3461 NOTIFY=SUCCESS,FAILURE).
    let status = "Reporting-MTA: dns; relay.example.net\n\n\
        Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n\n\
        Final-Recipient: rfc822; b@example.org\nAction: relayed\nStatus: 2.0.0\n\n\
        Final-Recipient: rfc822; other@example.org\nAction: expanded\nStatus: 2.0.0\n";
    let got = analyse(report(status, RETURNED).as_bytes()).records;
    let failed: Vec<_> = got
        .iter()
        .filter(|r| r.reason != hikyaku_bounce::Reason::Delivered)
        .map(|r| r.recipient.as_str())
        .collect();
    assert_eq!(failed, ["a@example.org"]);
}

#[test]
fn original_recipient_with_rfc3461_encoding() {
    // RFC 3461 §4.2: ORCPT's address is xtext-encoded ("+2B" is '+'); Final-Recipient is the
    // address the report is about, so one record, for it.
    let status = "Reporting-MTA: dns; relay.example.net\n\n\
        Original-Recipient: rfc822; a+2Btag@example.org\n\
        Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n";
    assert_recipients(
        "orcpt before final",
        &report(status, RETURNED),
        &["a@example.org"],
    );
}

#[test]
fn fields_in_odd_case_order_and_folding() {
    // RFC 3464 §2.1: field names are case-insensitive, address types too ("RFC822"); fields
    // may be folded (RFC 5322 §2.2.3) and carry comments; CRLF line ends.
    let status = "reporting-mta: DNS; relay.example.net\r\n\r\n\
        ACTION: failed\r\nSTATUS: 5.1.1 (bad destination mailbox)\r\n\
        FINAL-RECIPIENT: RFC822;\r\n  A@Example.org\r\n\
        Diagnostic-Code: smtp;\r\n  550 5.1.1 <A@Example.org>: user unknown\r\n";
    let raw = report(status, RETURNED)
        .replace('\n', "\r\n")
        .replace("\r\r\n", "\r\n");
    let got = recipients(&raw);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].eq_ignore_ascii_case("a@example.org"), "{got:?}");
}

#[test]
fn no_blank_line_between_blocks() {
    // Lenient reading: a repeated Final-Recipient starts the next block even without the
    // blank line RFC 3464 asks for.
    let status = "Reporting-MTA: dns; relay.example.net\n\
        Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n\
        Final-Recipient: rfc822; b@example.org\nAction: failed\nStatus: 5.1.1\n";
    assert_recipients(
        "packed blocks",
        &report(status, RETURNED),
        &["a@example.org", "b@example.org"],
    );
}

#[test]
fn report_nested_in_a_mixed_message() {
    // A provider that forwards the report inside multipart/mixed (RFC 6522 §3: a report may
    // be a body part of another message).
    let inner = report(
        "Reporting-MTA: dns; relay.example.net\n\n\
         Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n",
        RETURNED,
    );
    let (_, body) = inner.split_once("\n\n").unwrap();
    let raw = format!(
        "From: postmaster@example.net\nTo: sender@example.com\nSubject: Returned mail\n\
         MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"outer\"\n\n\
         --outer\nContent-Type: text/plain\n\nSee the report below.\n\n\
         --outer\nContent-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"=_b\"\n\n\
         {body}\n--outer--\n"
    );
    assert_recipients("nested report", &raw, &["a@example.org"]);
}

#[test]
fn same_recipient_named_twice_is_one_record() {
    // Some MTAs repeat the block for one recipient (once per attempt, RFC 3464 allows one
    // block per recipient): one failed recipient, one record.
    let status = "Reporting-MTA: dns; relay.example.net\n\n\
        Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n\
        Diagnostic-Code: smtp; 550 5.1.1 user unknown\n\n\
        Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n\
        Diagnostic-Code: smtp; 550 5.1.1 user unknown\n";
    assert_recipients(
        "repeated block",
        &report(status, RETURNED),
        &["a@example.org"],
    );
}

#[test]
fn global_delivery_status() {
    // RFC 6533: message/global-delivery-status carries UTF-8 addresses in utf-8 type.
    let raw = report(
        "Reporting-MTA: dns; relay.example.net\n\n\
         Final-Recipient: utf-8; a@example.org\nAction: failed\nStatus: 5.1.1\n",
        RETURNED,
    )
    .replace("message/delivery-status", "message/global-delivery-status");
    assert_recipients("global dsn", &raw, &["a@example.org"]);
}

#[test]
fn odd_recipient_fields_still_give_the_record() {
    // RFC 3464 §2.3.2 wants `type; address`; reports are seen without the type, with angle
    // brackets, or with only Original-Recipient (§2.3.1) left.
    for (what, fields) in [
        ("no address type", "Final-Recipient: a@example.org"),
        ("angle brackets", "Final-Recipient: rfc822; <a@example.org>"),
        ("no space", "Final-Recipient: rfc822;a@example.org"),
        ("only original", "Original-Recipient: rfc822; a@example.org"),
    ] {
        let status = format!(
            "Reporting-MTA: dns; relay.example.net\n\n{fields}\nAction: failed\nStatus: 5.1.1\n"
        );
        assert_recipients(what, &report(&status, RETURNED), &["a@example.org"]);
    }
}

#[test]
fn encoded_status_part() {
    // RFC 6522 allows any transfer encoding on the parts; some gateways base64 the status.
    // "Reporting-MTA: dns; relay.example.net", a blank line, then Final-Recipient
    // a@example.org, Action: failed and Status: 5.1.1, CRLF line ends.
    let encoded = "UmVwb3J0aW5nLU1UQTogZG5zOyByZWxheS5leGFtcGxlLm5ldA0KDQpGaW5hbC1SZWNpcGllbnQ6IHJmYzgyMjsgYUBleGFtcGxlLm9yZw0KQWN0aW9uOiBmYWlsZWQNClN0YXR1czogNS4xLjENCg==";
    let raw = report("", RETURNED).replace(
        "Content-Type: message/delivery-status\n\n",
        &format!("Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n{encoded}\n"),
    );
    assert_recipients("base64 status", &raw, &["a@example.org"]);
}

#[test]
fn notice_without_report_names_only_its_failed_recipients() {
    // No report at all (RFC 3464 §1 allows MTAs that do not write one): the notice's own
    // recipient lines count; the contact address above them and the returned message's To:,
    // Cc: and Received: do not.
    let raw = format!(
        "From: MAILER-DAEMON@relay.example.net\nTo: sender@example.com\n\
         Subject: Undelivered Mail Returned to Sender\n\
         MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=_b\"\n\n\
         --=_b\nContent-Type: text/plain\n\n\
         This is the mail system at host relay.example.net.\n\n\
         If you do so, please include this problem report. You can write to\n\
         <postmaster@relay.example.net>.\n\n\
         <a@example.org>: host mx1.example.org[192.0.2.25] said: 550 5.1.1 user unknown (in\n    reply to RCPT TO command)\n\n\
         <b@example.org>: host mx1.example.org[192.0.2.25] said: 552 5.2.2 mailbox full (in\n    reply to RCPT TO command)\n\n\
         --=_b\n{RETURNED}\n--=_b--\n"
    );
    assert_recipients("text notice", &raw, &["a@example.org", "b@example.org"]);
}

#[test]
fn failed_recipients_header_names_them_in_an_unknown_layout() {
    // Exim's `X-Failed-Recipients:` (its spec, "Bounce messages") names the failed addresses
    // whatever language the notice is in.
    let raw = format!(
        "From: Mail Delivery System <Mailer-Daemon@relay.example.net>\n\
         To: sender@example.com\nSubject: Unzustellbar\nX-Failed-Recipients: a@example.org\n\
         Auto-Submitted: auto-replied\n\n\
         Ihre Nachricht konnte nicht zugestellt werden.\n\n\
         Der Server antwortete: 550 5.1.1 Mailbox nicht gefunden\n\n\
         ------ This is a copy of the message, including all the headers. ------\n\n\
         {}\n",
        RETURNED.trim_start_matches("Content-Type: message/rfc822\n\n")
    );
    assert_recipients("x-failed-recipients", &raw, &["a@example.org"]);
}

#[test]
fn quoted_local_part_in_final_recipient() {
    // RFC 5321 §4.1.2: a quoted local part is an address too.
    let status = "Reporting-MTA: dns; relay.example.net\n\n\
        Final-Recipient: rfc822; \"first last\"@example.org\nAction: failed\nStatus: 5.1.1\n";
    let got = recipients(&report(status, RETURNED));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].ends_with("@example.org"), "{got:?}");
}

/// A notice without a report (a `text/plain` body, the returned message after the marker the
/// MTA writes), from `MAILER-DAEMON`.
fn notice(subject: &str, body: &str) -> String {
    format!(
        "From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.net>\n\
         To: sender@example.com\nSubject: {subject}\n\
         MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n\
         {body}\n{}",
        RETURNED.trim_start_matches("Content-Type: message/rfc822\n\n")
    )
}

#[test]
fn each_mta_layout_names_its_recipients() {
    // Each MTA's own notice without a report, as its source or documentation prints it; every
    // failed address gives one record, the returned message's addresses none.
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            // Exim (its spec, "Bounce messages"): the addresses indented under the lead-in,
            // each followed by its error, and `X-Failed-Recipients:` in the header (below).
            "exim",
            "Mail delivery failed: returning message to sender",
            "This message was created automatically by mail delivery software.\n\n\
             A message that you sent could not be delivered to one or more of its\n\
             recipients. This is a permanent error. The following address(es) failed:\n\n  \
             a@example.org\n    host mx1.example.org [192.0.2.25]\n    \
             SMTP error from remote mail server after RCPT TO:<a@example.org>:\n    \
             550 5.1.1 User unknown\n  \
             b@example.org\n    host mx1.example.org [192.0.2.25]\n    \
             SMTP error from remote mail server after RCPT TO:<b@example.org>:\n    \
             552 5.2.2 Mailbox full\n\n\
             ------ This is a copy of the message, including all the headers. ------\n",
            &["a@example.org", "b@example.org"],
        ),
        (
            // qmail-send.c: "<addr>:" paragraphs, the reason below each.
            "qmail",
            "failure notice",
            "Hi. This is the qmail-send program at relay.example.net.\n\
             I'm afraid I wasn't able to deliver your message to the following addresses.\n\
             This is a permanent error; I've given up. Sorry it didn't work out.\n\n\
             <a@example.org>:\n\
             192.0.2.25 does not like recipient.\n\
             Remote host said: 550 5.1.1 User unknown\n\
             Giving up on 192.0.2.25.\n\n\
             <b@example.org>:\n\
             Sorry, no mailbox here by that name. (#5.1.1)\n\n\
             --- Below this line is a copy of the message.\n",
            &["a@example.org", "b@example.org"],
        ),
        (
            // Sendmail (deliver.c/savemail.c): the addresses under its heading, then the
            // transcript, which names them again.
            "sendmail",
            "Returned mail: see transcript for details",
            "The original message was received at Mon, 7 Dec 2026 00:00:00 +0000\n\
             from app.example.com [192.0.2.10]\n\n   \
             ----- The following addresses had permanent fatal errors -----\n\
             <a@example.org>\n    (reason: 550 5.1.1 <a@example.org>... User unknown)\n\n   \
             ----- Transcript of session follows -----\n\
             ... while talking to mx1.example.org.:\n\
             >>> DATA\n\
             <<< 550 5.1.1 <a@example.org>... User unknown\n\
             550 5.1.1 <a@example.org>... User unknown\n\
             <<< 503 5.0.0 Need RCPT (recipient)\n\n   \
             ----- Original message follows -----\n",
            &["a@example.org"],
        ),
        (
            // Exchange (its NDR page): the recipients under "Delivery has failed to these
            // recipients or groups:", here with a display name around the address.
            "exchange",
            "Undeliverable: hi",
            "Delivery has failed to these recipients or groups:\n\n\
             A User (a@example.org)\n\
             The email address you entered couldn't be found. Please check the recipient's \
             email address and try to resend the message.\n\n\
             Diagnostic information for administrators:\n\n\
             Generating server: relay.example.net\n\n\
             a@example.org\n\
             Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found'\n\n\
             Original message headers:\n",
            &["a@example.org"],
        ),
        (
            // HCL Domino: "was not delivered to:" and the address, "because:" and the reason.
            "domino",
            "DELIVERY FAILURE: User a (a@example.org) not listed in Domino Directory",
            "Your message\n\n  Subject: hi\n\nwas not delivered to:\n\n  a@example.org\n\n\
             because:\n\n  User a (a@example.org) not listed in Domino Directory\n\n",
            &["a@example.org"],
        ),
        (
            // A notice that names the address only in angle brackets after "to".
            "to <addr>",
            "Delivery failure",
            "Your message to <a@example.org> could not be delivered.\n\
             The server said: 550 5.1.1 Mailbox unavailable\n\n\
             ----- Original message -----\n",
            &["a@example.org"],
        ),
        (
            // And after "for".
            "for <addr>",
            "Undeliverable mail",
            "Could not deliver mail for <a@example.org>: 550 5.1.1 No such user.\n\n\
             ----- Original message -----\n",
            &["a@example.org"],
        ),
    ];
    let mut wrong = Vec::new();
    for (what, subject, body, want) in cases {
        let got = recipients(&notice(subject, body));
        if got != *want {
            wrong.push(format!("{what}: want {want:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn recipient_only_in_unusual_places() {
    // Exim's `X-Failed-Recipients:` naming two addresses, the notice naming none.
    let raw = format!(
        "From: Mail Delivery System <Mailer-Daemon@relay.example.net>\n\
         To: sender@example.com\nSubject: Mail delivery failed\n\
         X-Failed-Recipients: a@example.org, b@example.org\n\
         Auto-Submitted: auto-replied\n\n\
         Your message could not be delivered.\n\n\
         ------ This is a copy of the message, including all the headers. ------\n\n{}\n",
        RETURNED.trim_start_matches("Content-Type: message/rfc822\n\n")
    );
    assert_recipients(
        "two failed recipients",
        &raw,
        &["a@example.org", "b@example.org"],
    );

    // The header and the report both name the same address: one record.
    let status = "Reporting-MTA: dns; relay.example.net\n\n\
        Final-Recipient: rfc822; A@example.org\nAction: failed\nStatus: 5.1.1\n";
    let raw = report(status, RETURNED).replacen(
        "Subject: Delivery",
        "X-Failed-Recipients: a@example.org\nSubject: Delivery",
        1,
    );
    let got = recipients(&raw);
    assert_eq!(got.len(), 1, "{got:?}");

    // Only `Original-Recipient` with RFC 3461's xtext (`+2B` is `+`), no Final-Recipient.
    let status = "Reporting-MTA: dns; relay.example.net\n\n\
        Original-Recipient: rfc822;a+tag@example.org\nAction: failed\nStatus: 5.2.2\n";
    assert_recipients(
        "only original",
        &report(status, RETURNED),
        &["a+tag@example.org"],
    );

    // Final-Recipient of a type other than rfc822 (RFC 3464 allows any address type; X.400
    // gateways write `x400`), the address in Original-Recipient.
    let status = "Reporting-MTA: dns; relay.example.net\n\n\
        Original-Recipient: rfc822; a@example.org\n\
        Final-Recipient: x400; /C=US/ADMD= /PRMD=example/O=Example/S=User/\n\
        Action: failed\nStatus: 5.1.1\n";
    assert_recipients("x400 final", &report(status, RETURNED), &["a@example.org"]);
}

#[test]
fn returned_header_without_a_marker_names_no_recipient() {
    // A notice that appends the returned message after a blank line with no words of its own
    // (Domino's, some gateways'), its header opening with Return-Path: rather than Received:.
    let body = "Your message\n\n  Subject: hi\n\nwas not delivered to:\n\n  a@example.org\n\n\
                because:\n\n  User a (a@example.org) not listed in Domino Directory\n\n\
                Return-Path: <sender@example.com>\n\
                From: Sender <sender@example.com>\n\
                To: a@example.org, b@example.org\nCc: cc@example.org\nSubject: hi\n\n\
                Write to <someone@example.org>.\n";
    let raw = format!(
        "From: Postmaster <postmaster@relay.example.net>\nTo: sender@example.com\n\
         Subject: DELIVERY FAILURE\n\n{body}"
    );
    assert_recipients("return-path first", &raw, &["a@example.org"]);
}

/// Recipient fields as RFC 3464/6533 allow them and as gateways bend them, notice layouts of
/// Exchange 2003, Gmail, Courier and MDaemon (each as its documentation or source prints it),
/// and the places an address appears a second time in one report: each gives one record.
#[test]
fn odd_fields_and_layouts_give_one_record() {
    let mut wrong = Vec::new();
    for (what, fields, want) in [
        (
            "utf-8 type",
            "Final-Recipient: utf-8; a@example.org",
            "a@example.org",
        ),
        (
            "comment",
            "Final-Recipient: rfc822; a@example.org (A User)",
            "a@example.org",
        ),
        (
            "display name",
            "Final-Recipient: rfc822; A User <a@example.org>",
            "a@example.org",
        ),
        (
            "folded",
            "Final-Recipient: rfc822;\n a@example.org",
            "a@example.org",
        ),
        (
            "upper",
            "FINAL-RECIPIENT: RFC822; A@EXAMPLE.ORG",
            "a@example.org",
        ),
        (
            "x-actual",
            "X-Actual-Recipient: rfc822; a@example.org",
            "a@example.org",
        ),
        (
            "empty final + original",
            "Final-Recipient: rfc822; <>\nOriginal-Recipient: rfc822; a@example.org",
            "a@example.org",
        ),
    ] {
        let status = format!(
            "Reporting-MTA: dns; relay.example.net\n\n{fields}\nAction: failed\nStatus: 5.1.1\n"
        );
        let got = recipients(&report(&status, RETURNED));
        if got.len() != 1 || !got[0].eq_ignore_ascii_case(want) {
            wrong.push(format!("{what}: {got:?}"));
        }
    }
    for (what, body) in [
        (
            "exchange2003 display name",
            "Your message did not reach some or all of the intended recipients.\n\n      Subject:\thi\n      Sent:\t12/7/2026 1:00 AM\n\nThe following recipient(s) cannot be reached:\n\n      'a@example.org' on 12/7/2026 1:00 AM\n            There was a SMTP communication problem with the recipient's email server.\n            <relay.example.net #5.5.0 smtp;550 5.1.1 User unknown>\n\n",
        ),
        (
            "gmail style",
            "** Address not found **\n\nYour message wasn't delivered to a@example.org because the address couldn't be found, or is unable to receive mail.\n\nThe response from the remote server was:\n550 5.1.1 The email account that you tried to reach does not exist.\n\n----- Original message -----\n",
        ),
        (
            "courier",
            "This is a delivery status notification from relay.example.net,\nrunning the Courier mail server, version 1.0.\n\nThe original message was received on Mon, 7 Dec 2026\nfrom app.example.com [192.0.2.10]\n\n---------------------------------------------------------------------------\n\n                           UNDELIVERABLE MAIL\n\nYour message to the following recipients cannot be delivered:\n\n<a@example.org>:\n    mx1.example.org [192.0.2.25]:\n>>> RCPT TO:<a@example.org>\n<<< 550 5.1.1 User unknown\n\n---------------------------------------------------------------------------\n\n",
        ),
        (
            "mdaemon",
            "The attached message had PERMANENT fatal delivery errors!\n\nAfter one or more unsuccessful delivery attempts the attached message\nhas been removed from the mail queue on this server.  The number and\nfrequency of delivery attempts are determined by local configuration\nparameters.\n\nYOU DO NOT NEED TO RESEND YOUR MESSAGE.\n\n--- Session Transcript ---\n Mon 2026-12-07 00:00:00: Parsing message <pd50000000001.msg>\n Mon 2026-12-07 00:00:00: *  To: a@example.org\n Mon 2026-12-07 00:00:00: Attempting SMTP connection to [mx1.example.org]\n Mon 2026-12-07 00:00:00: --> RCPT To:<a@example.org>\n Mon 2026-12-07 00:00:00: <-- 550 5.1.1 User unknown\n--- End Transcript ---\n\n",
        ),
        (
            "x-failed only, html-ish",
            "<p>We could not deliver your message.</p>\n\n",
        ),
    ] {
        let mut raw = notice("Undeliverable: hi", body);
        if what.starts_with("x-failed") {
            raw = raw.replacen(
                "Subject:",
                "X-Failed-Recipients: a@example.org\nSubject:",
                1,
            );
        }
        let got = recipients(&raw);
        if got != ["a@example.org"] {
            wrong.push(format!("{what}: {got:?}"));
        }
    }
    // A second record must not come from: the address the message was expanded from
    // (Postfix's "(expanded from <a@b>)" beside Original-Recipient), the same address in
    // another case or with a display name, the address without its "+tag", addresses in the
    // reply's words, a delayed block after the failed one for the same recipient.
    let status = "Reporting-MTA: dns; relay.example.net\n\n\
        Final-Recipient: rfc822; final@example.net\nOriginal-Recipient: rfc822; a@example.org\n\
        Action: failed\nStatus: 5.2.2\nDiagnostic-Code: smtp; 552 5.2.2 <final@example.net>: mailbox full\n";
    let named_twice = [
        (
            "expanded",
            report(status, RETURNED).replace(
                "Delivery to the following recipients failed. For help, write to\n<postmaster@relay.example.net>.",
                "<final@example.net> (expanded from <a@example.org>): host mx1.example.net[192.0.2.25]\n    said: 552 5.2.2 <final@example.net>: mailbox full (in reply to RCPT TO\n    command)",
            ),
        ),
        (
            "case+display",
            report("Reporting-MTA: dns; relay.example.net\n\nFinal-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n", RETURNED)
                .replace("Delivery to the following recipients failed.", "Delivery to the following recipients failed: \"A User\" <A@Example.ORG>, user a@example.org."),
        ),
        (
            "tag",
            report("Reporting-MTA: dns; relay.example.net\n\nFinal-Recipient: rfc822; a+tag@example.org\nAction: failed\nStatus: 5.1.1\n", RETURNED)
                .replace("Delivery to the following recipients failed.", "Delivery to the following recipients failed: a+tag@example.org (a@example.org)."),
        ),
        (
            "diag addrs",
            report(
                "Reporting-MTA: dns; relay.example.net\n\nFinal-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <a@example.org>: unknown; mail for this domain goes to <b@example.org> now, contact postmaster@example.org\n",
                RETURNED,
            ),
        ),
        (
            "failed+delayed",
            report(
                "Reporting-MTA: dns; relay.example.net\n\nFinal-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n\nFinal-Recipient: rfc822; a@example.org\nAction: delayed\nStatus: 4.2.2\n",
                RETURNED,
            ),
        ),
    ];
    for (what, raw) in named_twice {
        let got = recipients(&raw);
        if got.len() != 1 {
            wrong.push(format!("{what}: {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Addresses a notice names that are not failed recipients: the address a redirect started
/// from (Exim's "(generated from …)" as the oracles' Exim 4.96 writes it, "(ultimately
/// generated from …)", Postfix's "(expanded from <…>)"), a `mailto:` link beside the address,
/// a trailing full stop, contacts in the remote's words; and a pipe that failed, whose only
/// address is the one it was expanded from (Sendmail).
#[test]
fn redirects_and_links_name_no_second_recipient() {
    let mut wrong = Vec::new();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "trailing dot",
            "Delivery to the following recipient failed permanently:\n\n     a@example.org.\n\nTechnical details of permanent failure:\n550 5.1.1 The email account that you tried to reach does not exist.\n\n----- Original message -----\n",
            &["a@example.org"],
        ),
        (
            "mailto",
            "Delivery has failed to these recipients or groups:\n\na@example.org<mailto:a@example.org>\nThe recipient's mailbox is full.\n\nDiagnostic information for administrators:\n\nGenerating server: relay.example.net\nPlease contact your administrator <mailto:admin@example.net>.\n\na@example.org\nRemote Server returned '554 5.2.2 mailbox full'\n\nOriginal message headers:\n",
            &["a@example.org"],
        ),
        (
            "sendmail pipe",
            "   ----- The following addresses had permanent fatal errors -----\n\"|/usr/local/bin/filter\"\n    (reason: Service unavailable)\n    (expanded from: <a@example.org>)\n\n   ----- Transcript of session follows -----\nsh: /usr/local/bin/filter: not found\n554 5.3.0 unknown mailer error 127\n\n   ----- Original message follows -----\n",
            &["a@example.org"],
        ),
        (
            "exim generated from",
            "This message was created automatically by mail delivery software.\n\nA message that you sent could not be delivered to one or more of its\nrecipients. This is a permanent error. The following address(es) failed:\n\n  a@example.org\n    (generated from alias@example.org)\n    host mx1.example.org [192.0.2.25]\n    SMTP error from remote mail server after RCPT TO:<a@example.org>:\n    550 5.1.1 <a@example.org>: user unknown\n\n------ This is a copy of the message, including all the headers. ------\n",
            &["a@example.org"],
        ),
        (
            "exim ultimately generated from",
            "This message was created automatically by mail delivery software.\n\nA message that you sent could not be delivered to one or more of its\nrecipients. This is a permanent error. The following address(es) failed:\n\n  a@example.org\n    (ultimately generated from alias@example.org)\n    SMTP error from remote mail server after end of data:\n    host mx1.example.org [192.0.2.25]: 552 5.2.2 Mailbox full\n\n------ This is a copy of the message, including all the headers. ------\n",
            &["a@example.org"],
        ),
        (
            "postfix expanded from",
            "This is the mail system at host relay.example.net.\n\n<a@example.org> (expanded from <alias@example.org>): host mx1.example.org[192.0.2.25]\n    said: 550 5.1.1 <a@example.org>: Recipient address rejected: User unknown\n    (in reply to RCPT TO command)\n\n--- Below this line is a copy of the message.\n",
            &["a@example.org"],
        ),
        (
            "reply names postmaster",
            "<a@example.org>: host mx1.example.org[192.0.2.25] said: 550 5.7.1 Rejected,\n    write to postmaster@example.org or abuse@example.org to be whitelisted (in\n    reply to RCPT TO command)\n\n--- Below this line is a copy of the message.\n",
            &["a@example.org"],
        ),
    ];
    for (what, body, want) in cases {
        let got = recipients(&notice("Undeliverable: hi", body));
        if got != *want {
            wrong.push(format!("{what}: {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_envelope_sender_in_a_transcript_is_no_recipient() {
    // A platform sends with VERP (a return path per message and recipient), so the MAIL
    // command's sender in a transcript differs from the bounce's `To:`: Exim's "after MAIL
    // FROM:<…>", Sendmail's ">>> MAIL From:<…>" and the reply that names it again.
    let exim = "This message was created automatically by mail delivery software.\n\n\
        A message that you sent could not be delivered to one or more of its\n\
        recipients. This is a permanent error. The following address(es) failed:\n\n  \
        a@example.org\n    host mx1.example.org [192.0.2.25]\n    \
        SMTP error from remote mail server after MAIL FROM:<bounce-123-a=example.org@mailer.example.com> SIZE=1234:\n    \
        550 5.7.1 Sender rejected\n\n\
        ------ This is a copy of the message, including all the headers. ------\n";
    let sendmail = "The original message was received at Mon, 7 Dec 2026 00:00:00 +0000\n\
        from app.example.com [192.0.2.10]\n\n   \
        ----- The following addresses had permanent fatal errors -----\n\
        <a@example.org>\n    (reason: 553 5.1.8 Sender domain does not exist)\n\n   \
        ----- Transcript of session follows -----\n\
        ... while talking to mx1.example.org.:\n\
        >>> MAIL From:<bounce-123@mailer.example.com> SIZE=1234\n\
        <<< 553 5.1.8 <bounce-123@mailer.example.com>... Sender domain does not exist\n\
        554 5.0.0 Service unavailable\n\n   \
        ----- Original message follows -----\n";
    // Postfix's smtpd names the refused sender at the head of its reply ("<%s>: Sender address
    // rejected: …", smtpd_check.c), which the notice wraps under the failed recipient.
    let postfix = "This is the mail system at host relay.example.net.\n\n\
        I'm sorry to have to inform you that your message could not\n\
        be delivered to one or more recipients.\n\n\
        <a@example.org>: host mx1.example.org[192.0.2.25] said: 553 5.1.8\n    \
        <bounce-123@mailer.example.com>: Sender address rejected: Domain not found (in reply\n    \
        to RCPT TO command)\n";
    for (what, body) in [("exim", exim), ("sendmail", sendmail), ("postfix", postfix)] {
        assert_recipients(what, &notice("Undelivered mail", body), &["a@example.org"]);
    }
}

/// Fields as gateways bend them (`Action:` in other cases and words, or missing; no `Status:`;
/// tabs), addresses as RFC 6531/6533 allow them (an IDN domain, `utf-8;` with UTF-8 labels),
/// and notices whose address is split by quoted-printable or written as an HTML entity: each
/// still gives its one record.
#[test]
fn bent_fields_and_encoded_addresses_still_give_the_record() {
    let mut wrong = Vec::new();
    for (what, fields) in [
        (
            "Failed",
            "Final-Recipient: rfc822; a@example.org\nAction: Failed\nStatus: 5.1.1\n",
        ),
        (
            "failure",
            "Final-Recipient: rfc822; a@example.org\nAction: failure\nStatus: 5.1.1\n",
        ),
        (
            "failed comment",
            "Final-Recipient: rfc822; a@example.org\nAction: failed (bad destination)\nStatus: 5.1.1\n",
        ),
        (
            "no action",
            "Final-Recipient: rfc822; a@example.org\nStatus: 5.1.1\n",
        ),
        (
            "no status",
            "Final-Recipient: rfc822; a@example.org\nAction: failed\n",
        ),
        (
            "only diag",
            "Final-Recipient: rfc822; a@example.org\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\n",
        ),
        (
            "idn",
            "Final-Recipient: rfc822; a@xn--r8jz45g.jp\nAction: failed\nStatus: 5.1.1\n",
        ),
        (
            "utf8 domain",
            "Final-Recipient: utf-8; a@例え.jp\nAction: failed\nStatus: 5.1.1\n",
        ),
        (
            "leading blank lines",
            "\n\nFinal-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n",
        ),
        (
            "tab after colon",
            "Final-Recipient:\trfc822;\ta@example.org\nAction:\tfailed\nStatus:\t5.1.1\n",
        ),
    ] {
        let status = format!("Reporting-MTA: dns; relay.example.net\n\n{fields}");
        let got = recipients(&report(&status, RETURNED));
        if got.len() != 1 {
            wrong.push(format!("{what}: {got:?}"));
        }
    }
    let qp = "Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: quoted-printable\n\n<a@exa=\nmple.org>: host mx1.example.org[192.0.2.25] said: 550 5.1.1 user unknown (in=\n reply to RCPT TO command)\n";
    let raw = format!(
        "From: MAILER-DAEMON@relay.example.net\nTo: sender@example.com\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n{qp}"
    );
    let got = recipients(&raw);
    if got != ["a@example.org"] {
        wrong.push(format!("qp: {got:?}"));
    }
    let html = "Content-Type: text/html; charset=us-ascii\n\n<html><body><p>Delivery to the following recipient failed permanently:</p><p><b>a&#64;example.org</b></p><p>550 5.1.1 The email account that you tried to reach does not exist.</p></body></html>\n";
    let raw = format!(
        "From: MAILER-DAEMON@relay.example.net\nTo: sender@example.com\nSubject: Delivery Status Notification (Failure)\nMIME-Version: 1.0\n{html}"
    );
    let got = recipients(&raw);
    if got != ["a@example.org"] {
        wrong.push(format!("html entity: {got:?}"));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_notice_naming_no_address_takes_the_returned_messages_one_recipient() {
    // Exchange 2003 names a display name ("'A User' on <date>"), Domino a Notes name: the
    // notice names no address, but the message it returns was for one address alone.
    let exchange = "From: System Administrator <postmaster@relay.example.net>\n\
        To: sender@example.com\nSubject: Undeliverable: hi\nMIME-Version: 1.0\n\
        Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\n\
        Your message did not reach some or all of the intended recipients.\n\n      \
        Subject:\thi\n\nThe following recipient(s) cannot be reached:\n\n      \
        'A User' on 12/7/2026 1:00 AM\n            \
        The e-mail account does not exist at the organization this message was sent to.\n            \
        <relay.example.net #5.1.1>\n\n\
        --b\nContent-Type: message/rfc822\n\n\
        From: Sender <sender@example.com>\nTo: A User <a@example.org>\nSubject: hi\n\nhello\n--b--\n";
    let domino = "From: Postmaster <postmaster@relay.example.net>\nTo: sender@example.com\n\
        Subject: DELIVERY FAILURE: User A User/Org not listed in Domino Directory\n\n\
        Your message\n\n  Subject: hi\n\nwas not delivered to:\n\n  A User/Org\n\n\
        because:\n\n  User A User/Org not listed in Domino Directory\n\n\
        ------ Original message ------\n\n\
        From: Sender <sender@example.com>\nTo: A User <a@example.org>\nSubject: hi\n\nhello\n";
    for (what, raw) in [("exchange 2003", exchange), ("domino", domino)] {
        let analysis = analyse(raw.as_bytes());
        let got: Vec<_> = analysis
            .records
            .iter()
            .map(|r| (r.recipient.as_str(), r.reason.as_str()))
            .collect();
        assert_eq!(got, [("a@example.org", "userunknown")], "{what}");
    }
    // Not when the returned message was for two addresses (which one failed is unknown), nor
    // for a message that is no delivery notice (a person forwarding a message).
    let two = domino.replace(
        "To: A User <a@example.org>",
        "To: a@example.org, b@example.org",
    );
    assert_recipients("two recipients", &two, &[]);
    let forwarded = "From: Someone <someone@example.net>\nTo: sender@example.com\n\
        Subject: Fwd: hi\n\nSee below.\n\n------ Original message ------\n\n\
        From: Sender <sender@example.com>\nTo: A User <a@example.org>\nSubject: hi\n\nhello\n";
    assert_recipients("forwarded", forwarded, &[]);
}

#[test]
fn a_notice_in_japanese_only_is_read_and_a_persons_reply_is_not() {
    // A notice that holds no English word and comes from no daemon's address (a carrier's
    // gateway writing in Japanese, UTF-8 here) still names its failed recipient: its words
    // speak of a delivery ("配信できませんでした", could not be delivered).
    let notice = "From: =?UTF-8?B?44K144O844OQ44O8?= <info@gw.example.jp>\n\
        To: sender@example.com\n\
        Subject: =?UTF-8?B?44GK55+l44KJ44Gb?=\n\
        MIME-Version: 1.0\n\
        Content-Type: text/plain; charset=UTF-8\n\
        Content-Transfer-Encoding: 8bit\n\
        \n\
        以下の宛先へのメールは配信できませんでした。\n\
        \n\
        user@example.jp\n";
    assert_recipients("Japanese notice", notice, &["user@example.jp"]);
    // A person's reply to the bounce address that names an address is no notice.
    let reply = "From: =?UTF-8?B?5bGx55Sw?= <yamada@example.jp>\n\
        To: sender@example.com\n\
        Subject: =?UTF-8?B?44GK55+l44KJ44Gb?=\n\
        MIME-Version: 1.0\n\
        Content-Type: text/plain; charset=UTF-8\n\
        Content-Transfer-Encoding: 8bit\n\
        \n\
        いつもお世話になっております。今後は tanaka@example.jp までご連絡ください。\n";
    assert_recipients("a person's reply", reply, &[]);
}
