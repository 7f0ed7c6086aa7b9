//! DMARC (RFC 7489) as far as checking a published policy needs: the record, and whether the
//! mail we send for a domain would pass it: DKIM signed with an aligned `d=`, or an SPF pass on a
//! return path whose domain is aligned with the From domain.
//!
//! Relaxed alignment means "the same organizational domain", which needs the public suffix list;
//! without it the sender domain is taken as the organization: a name aligns when it is the sender
//! domain or below it. That errs only toward reporting a sibling return path as not aligned.

use crate::lookup::RecordData;

/// What we suggest to a domain that has no DMARC record: report-only, relaxed alignment.
pub fn suggested_dmarc() -> String {
    "v=DMARC1; p=none; adkim=r; aspf=r".to_string()
}

/// The DMARC records among a name's TXT records.
pub(crate) fn dmarc_records(txt: &[RecordData]) -> Vec<&str> {
    txt.iter()
        .filter_map(|data| match data {
            RecordData::Txt(text)
                if text
                    .trim_start()
                    .get(..8)
                    .is_some_and(|v| v.eq_ignore_ascii_case("v=DMARC1")) =>
            {
                Some(text.as_str())
            }
            _ => None,
        })
        .collect()
}

/// `adkim=` and `aspf=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alignment {
    Relaxed,
    Strict,
}

/// The parts of a record the check reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    /// `p=` (or `sp=` when the record is the parent's and has one).
    pub policy: String,
    pub adkim: Alignment,
    pub aspf: Alignment,
}

/// Reads a record; `inherited`: it is the organizational domain's, so `sp=` applies.
pub(crate) fn parse(record: &str, inherited: bool) -> Result<Policy, String> {
    let mut policy = None;
    let mut subdomain_policy = None;
    let mut adkim = Alignment::Relaxed;
    let mut aspf = Alignment::Relaxed;
    for tag in record.split(';').skip(1) {
        let Some((name, value)) = tag.split_once('=') else {
            continue;
        };
        let value = value.trim().to_ascii_lowercase();
        let alignment = |value: &str| match value {
            "s" => Ok(Alignment::Strict),
            "r" => Ok(Alignment::Relaxed),
            other => Err(format!("{}={other} is neither r nor s", name.trim())),
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "p" => policy = Some(value),
            "sp" => subdomain_policy = Some(value),
            "adkim" => adkim = alignment(&value)?,
            "aspf" => aspf = alignment(&value)?,
            _ => {}
        }
    }
    let policy = policy.ok_or("it has no p= tag, so receivers ignore it")?;
    if !["none", "quarantine", "reject"].contains(&policy.as_str()) {
        return Err(format!("p={policy} is not none, quarantine or reject"));
    }
    let policy = match subdomain_policy {
        Some(sp) if inherited => sp,
        _ => policy,
    };
    Ok(Policy {
        policy,
        adkim,
        aspf,
    })
}

/// How we send mail From a sender domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OurMail<'a> {
    pub domain: &'a str,
    /// The `d=` we sign with: the domain itself when it has a key, else the service domain.
    pub dkim_domain: Option<&'a str>,
    /// The VERP envelope sender's domain: the contract's bounce domain, else the platform's.
    pub return_path_domain: Option<&'a str>,
}

/// Why mail we send would fail the policy, and the fix; `None` when it passes.
pub(crate) fn failure(policy: &Policy, mail: &OurMail) -> Option<(String, String)> {
    let domain = crate::bare(mail.domain);
    let aligned = |name: Option<&str>, mode: Alignment, from: &str| {
        name.is_some_and(|name| match mode {
            Alignment::Strict => crate::bare(name) == from,
            Alignment::Relaxed => crate::within(name, &domain),
        })
    };
    let dkim = |from: &str| aligned(mail.dkim_domain, policy.adkim, from);
    let spf = |from: &str| aligned(mail.return_path_domain, policy.aspf, from);
    if !dkim(&domain) && !spf(&domain) {
        let mut why = Vec::new();
        let mut fixes = Vec::new();
        match mail.dkim_domain {
            Some(d) if crate::within(d, &domain) => {
                why.push(format!("adkim=s but DKIM signs as {d}"));
                fixes.push("adkim=r".to_string());
            }
            Some(d) => {
                why.push(format!("DKIM signs as {d}, not {domain}"));
                fixes.push(format!(
                    "register {domain} as a sender domain, so DKIM signs as it"
                ));
            }
            None => {
                why.push(format!("{domain} has no DKIM key of ours"));
                fixes.push(format!(
                    "register {domain} as a sender domain, so DKIM signs as it"
                ));
            }
        }
        match mail.return_path_domain {
            Some(rp) if crate::within(rp, &domain) => {
                why.push(format!("aspf=s but the return path is {rp}"));
                fixes.push("aspf=r".to_string());
            }
            Some(rp) => {
                why.push(format!("the return path {rp} is not under {domain}"));
                fixes.push(format!(
                    "set a bounce domain under {domain} (hikyaku contract bounce-domain set)"
                ));
            }
            None => why.push("there is no return path domain".to_string()),
        }
        return Some((
            format!(
                "mail from {domain} would fail DMARC (p={}): {}",
                policy.policy,
                why.join("; ")
            ),
            fixes.join(", or "),
        ));
    }
    // Mail From a subdomain is signed as the parent: only relaxed alignment takes that.
    let subdomain = format!("sub.{domain}");
    if policy.adkim == Alignment::Strict
        && mail.dkim_domain.is_some_and(|d| crate::bare(d) == domain)
        && !dkim(&subdomain)
        && !spf(&subdomain)
    {
        return Some((
            format!(
                "adkim=s: mail From a subdomain of {domain} is signed as {domain} and would fail DMARC"
            ),
            "adkim=r".to_string(),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use Alignment::{Relaxed, Strict};

    fn policy(record: &str) -> Policy {
        parse(record, false).unwrap()
    }

    #[test]
    fn records_are_read_with_their_defaults() {
        assert_eq!(
            policy("v=DMARC1; p=reject"),
            Policy {
                policy: "reject".into(),
                adkim: Relaxed,
                aspf: Relaxed
            }
        );
        assert_eq!(
            policy("v=DMARC1;p=Quarantine;adkim=s; aspf = s ;rua=mailto:d@example.com"),
            Policy {
                policy: "quarantine".into(),
                adkim: Strict,
                aspf: Strict
            }
        );
        assert_eq!(
            parse("v=DMARC1; p=reject; sp=none", true).unwrap().policy,
            "none"
        );
        for (bad, needle) in [
            ("v=DMARC1; rua=mailto:d@example.com", "no p= tag"),
            ("v=DMARC1; p=block", "p=block"),
            ("v=DMARC1; p=none; adkim=x", "adkim=x"),
        ] {
            let err = parse(bad, false).unwrap_err();
            assert!(err.contains(needle), "{bad}: {err}");
        }
        let txt = [
            RecordData::Txt("v=DMARC1; p=none".into()),
            RecordData::Txt("v=spf1 -all".into()),
            RecordData::Txt("v=dmarc1; p=reject".into()),
        ];
        assert_eq!(dmarc_records(&txt).len(), 2);
    }

    #[test]
    fn our_mail_against_published_policies() {
        let keyed = |rp| OurMail {
            domain: "example.com",
            dkim_domain: Some("example.com"),
            return_path_domain: rp,
        };
        let unkeyed = |rp| OurMail {
            domain: "example.com",
            dkim_domain: Some("mail.example.net"),
            return_path_domain: rp,
        };
        let platform_rp = Some("bounce.mail.example.net");
        let own_rp = Some("bounce.example.com");
        /// Part of the problem's text and part of the fix's, when the mail fails.
        type Failing = Option<(&'static str, &'static str)>;
        let cases: [(&str, OurMail, Failing); 9] = [
            ("v=DMARC1; p=reject", keyed(platform_rp), None),
            ("v=DMARC1; p=reject; aspf=s", keyed(platform_rp), None),
            ("v=DMARC1; p=reject", unkeyed(own_rp), None),
            (
                "v=DMARC1; p=reject",
                unkeyed(platform_rp),
                Some(("DKIM signs as mail.example.net", "register example.com")),
            ),
            (
                "v=DMARC1; p=reject; aspf=s",
                unkeyed(own_rp),
                Some(("aspf=s but the return path is bounce.example.com", "aspf=r")),
            ),
            (
                "v=DMARC1; p=quarantine",
                unkeyed(platform_rp),
                Some(("not under example.com", "contract bounce-domain set")),
            ),
            // Signed as the parent for a subdomain's mail, and SPF does not save it.
            (
                "v=DMARC1; p=reject; adkim=s; aspf=s",
                keyed(own_rp),
                Some(("adkim=s: mail From a subdomain", "adkim=r")),
            ),
            (
                "v=DMARC1; p=reject; adkim=s",
                keyed(platform_rp),
                Some(("adkim=s: mail From a subdomain", "adkim=r")),
            ),
            // The return path aligns relaxed for the subdomain too.
            ("v=DMARC1; p=reject; adkim=s", keyed(own_rp), None),
        ];
        for (record, mail, expected) in cases {
            let found = failure(&policy(record), &mail);
            match (expected, &found) {
                (None, None) => {}
                (Some((why, fix)), Some((found_why, found_fix))) => {
                    assert!(found_why.contains(why), "{record} {mail:?}: {found_why}");
                    assert!(found_fix.contains(fix), "{record} {mail:?}: {found_fix}");
                }
                _ => panic!("{record} {mail:?}: expected {expected:?}, found {found:?}"),
            }
        }
    }
}
