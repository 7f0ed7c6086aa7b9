//! The SMTP server session: a state machine over smtp-proto's parser, limits, STARTTLS and AUTH, driving a handler trait.
