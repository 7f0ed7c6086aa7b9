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
