//! Bounce mails as a remote MTA writes them, for tests that feed the error server.

/// A delivery status notification (RFC 3464) from `mx.remote.example`: `recipient` failed
/// with `status` and the remote's `diagnostic`. With `original_id`, the returned headers carry
/// that `X-Hikyaku-Message-Id`, as a bounce of one of our messages does.
pub fn delivery_status_notification(
    recipient: &str,
    status: &str,
    diagnostic: &str,
    original_id: Option<&str>,
) -> String {
    let returned_headers = original_id.map_or(String::new(), |id| {
        format!(
            "--b1\r\n\
             Content-Type: text/rfc822-headers\r\n\
             \r\n\
             X-Hikyaku-Message-Id: {id}\r\n\
             Subject: test\r\n"
        )
    });
    format!(
        "From: MAILER-DAEMON@mx.remote.example\r\n\
         To: whoever\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: text/plain\r\n\
         \r\n\
         I'm sorry to have to inform you that your message could not be delivered.\r\n\
         --b1\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; mx.remote.example\r\n\
         \r\n\
         Final-Recipient: rfc822; {recipient}\r\n\
         Action: failed\r\n\
         Status: {status}\r\n\
         Remote-MTA: dns; mx.remote.example\r\n\
         Diagnostic-Code: smtp; {diagnostic}\r\n\
         \r\n\
         {returned_headers}\
         --b1--\r\n"
    )
}
