//! The lookups DANE depends on (the MX RRset and the MX hosts' TLSA records), asked so that the
//! answer says whether DNSSEC authenticated it.
//!
//! Like Postfix, Hikyaku does not validate DNSSEC itself: it asks the one resolver the operator
//! configured and trusts to validate (normally on this host), with the DO bit and the AD bit
//! set (RFC 6840 §5.7: a validating resolver then reports its verdict in the answer's AD bit),
//! and takes that bit as the verdict. hickory's `Resolver` sets DO only with its own DNSSEC
//! validation compiled in and keeps no header in its answers, so these questions go through
//! hickory's name server pool directly, without a cache of ours: the validating resolver has
//! one.

use hickory_resolver::config::{NameServerConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::xfer::{DnsHandle, FirstAnswer};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::{DnsRequest, DnsRequestOptions, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::{NameServerPool, PoolContext, TlsConfig};
use std::sync::Arc;

/// One authenticated-or-not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SecureAnswer {
    /// The records of the asked type (CNAMEs on the way left out), and whether the resolver
    /// vouched for them.
    Records {
        records: Vec<RData>,
        authenticated: bool,
    },
    /// The name does not exist.
    NoSuchName,
    /// The name exists without records of that type.
    NoRecords,
    /// SERVFAIL, REFUSED, a timeout, a network error: nothing is known.
    Failed(String),
}

/// The configured resolver, asked with DO and AD set.
#[derive(Clone)]
pub(crate) struct SecureDns {
    pool: NameServerPool<TokioRuntimeProvider>,
}

impl SecureDns {
    pub(crate) fn new(
        server: NameServerConfig,
        options: ResolverOpts,
    ) -> Result<SecureDns, NetError> {
        let context = Arc::new(PoolContext::new(options, TlsConfig::new()?));
        Ok(SecureDns {
            pool: NameServerPool::from_config([server], context, TokioRuntimeProvider::default()),
        })
    }

    pub(crate) async fn lookup(&self, name: &Name, record_type: RecordType) -> SecureAnswer {
        let mut options = DnsRequestOptions::default();
        options.edns_set_dnssec_ok = true;
        let mut request = DnsRequest::from_query(Query::query(name.clone(), record_type), options);
        request.metadata.authentic_data = true;
        let response = self
            .pool
            .send(request)
            .first_answer()
            .await
            .and_then(|response| DnsError::from_response(response).map_err(NetError::from));
        match response {
            Ok(response) if response.response_code == ResponseCode::NoError => {
                let records: Vec<RData> = response
                    .answers
                    .iter()
                    .filter(|r| r.record_type() == record_type)
                    .map(|r| r.data.clone())
                    .collect();
                if records.is_empty() {
                    return SecureAnswer::NoRecords;
                }
                SecureAnswer::Records {
                    records,
                    authenticated: response.metadata.authentic_data,
                }
            }
            Ok(response) => SecureAnswer::Failed(response.response_code.to_string()),
            Err(e) if e.is_nx_domain() => SecureAnswer::NoSuchName,
            Err(e) if e.is_no_records_found() => SecureAnswer::NoRecords,
            Err(NetError::Timeout) => SecureAnswer::Failed("timed out".to_owned()),
            Err(e) => SecureAnswer::Failed(e.to_string()),
        }
    }
}
