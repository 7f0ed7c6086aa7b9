//! Reply texts that read wrong when the analyser was measured on an independent corpus (the
//! test corpus of the Perl module Mail::DeliveryStatus::BounceParser, see NOTES.md). Each row
//! is our own sentence with the meaning of a reply seen there, wrapped as a Postfix notice (the
//! remote's reply after end of DATA) and as an RFC 3464 report whose diagnostic type is not
//! SMTP (a filter's own report, which gives no reply code and an odd status). Both must give
//! one record for the recipient with the row's reason.

use hikyaku_bounce::{Reason, analyse};

struct Row {
    code: &'static str,
    status: &'static str,
    text: &'static str,
    reason: Reason,
}

const ROWS: &[Row] = &[
    // A filter's non-delivery report: "The message seems to be spam and was not delivered".
    Row {
        code: "554",
        status: "5.7.1",
        text: "The message seems to be spam and was not delivered to the recipient.",
        reason: Reason::SpamDetected,
    },
    Row {
        code: "550",
        status: "5.0.0",
        text: "Your mail seems to be spam, rejected",
        reason: Reason::SpamDetected,
    },
];

const RCPT: &str = "user@example.org";

fn as_text(r: &Row) -> String {
    hikyaku_bounce::testing::postfix_text_notice(&format!(
        "<{RCPT}>: host mx.example.org[192.0.2.25] said: {} {} {} (in reply to end of\n    \
         DATA command)",
        r.code, r.status, r.text
    ))
}

/// A filter's own report: the sentence in the notice, `Diagnostic-Code: X-Filter; …`.
fn as_filter_report(r: &Row) -> String {
    format!(
        "From: postmaster@example.org\n\
         To: sender@example.com\n\
         Subject: Non delivery report\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B1\"\n\
         \n\
         --B1\n\
         Content-Type: text/plain\n\
         \n\
         Your message to {RCPT} has encountered a delivery problem.\n\
         \n\
         {}\n\
         \n\
         --B1\n\
         Content-Type: message/delivery-status\n\
         \n\
         Reporting-MTA: dns; gw.example.org\n\
         \n\
         Final-Recipient: rfc822; {RCPT}\n\
         Action: failed\n\
         Status: 5.9.8\n\
         Diagnostic-Code: X-Filter; 5.9.8 filtered\n\
         \n\
         --B1--\n",
        r.text
    )
}

#[test]
fn reply_texts_seen_in_bounceparsers_corpus() {
    let mut wrong = Vec::new();
    for r in ROWS {
        for (layout, raw) in [("text", as_text(r)), ("filter report", as_filter_report(r))] {
            let got: Vec<_> = analyse(raw.as_bytes())
                .records
                .iter()
                .map(|rec| (rec.recipient.clone(), rec.reason))
                .collect();
            if got != [(RCPT.to_string(), r.reason)] {
                wrong.push(format!("{layout}: {:?} -> {got:?}", r.text));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
