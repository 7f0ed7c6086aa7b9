//! The detached CMS `SignedData` (RFC 5652 §5) of an S/MIME signature: one signer identified
//! by issuer and serial number (version 1, what every S/MIME client reads), SHA-256, signed
//! attributes (content type, signing time, message digest), and the signer's chain.

use crate::SignError;
use crate::signer::{Signer, SigningKey};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::Encode;
use der::asn1::{Any, GeneralizedTime, Null, ObjectIdentifier, OctetString, SetOfVec, UtcTime};
use spki::AlgorithmIdentifierOwned;
use std::time::{Duration, SystemTime};
use x509_cert::attr::Attribute;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// Signing times from 2050 on are GeneralizedTime, before that UTCTime (RFC 5652 §11.3).
const UTC_TIME_END: Duration = Duration::from_secs(2_524_608_000);

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, SignError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// The DER `ContentInfo` of a detached signature by `signer` over content whose SHA-256 is
/// `digest`, made at `at`.
pub(crate) fn detached_signature(
    signer: &Signer,
    digest: &[u8],
    at: SystemTime,
) -> Result<Vec<u8>, SignError> {
    let since_epoch = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    // DER times have whole seconds.
    let since_epoch = Duration::from_secs(since_epoch.as_secs());
    let signing_time = if since_epoch < UTC_TIME_END {
        Any::encode_from(&UtcTime::from_unix_duration(since_epoch)?)?
    } else {
        Any::encode_from(&GeneralizedTime::from_unix_duration(since_epoch)?)?
    };
    let signed_attrs = SetOfVec::try_from(vec![
        attribute(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA)?)?,
        attribute(ID_SIGNING_TIME, signing_time)?,
        attribute(
            ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(digest)?)?,
        )?,
    ])?;
    // The signature covers the attributes' DER as an explicit SET OF (RFC 5652 §5.4), not the
    // [0] IMPLICIT form they have inside the SignerInfo.
    let to_sign = signed_attrs.to_der()?;
    let (signature, signature_algorithm) = match &signer.key {
        SigningKey::Rsa(key) => {
            let mut signature = vec![0; key.public_modulus_len()];
            key.sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                &to_sign,
                &mut signature,
            )
            .map_err(|_| SignError::Crypto)?;
            (
                signature,
                AlgorithmIdentifierOwned {
                    oid: RSA_ENCRYPTION,
                    parameters: Some(Any::encode_from(&Null)?),
                },
            )
        }
        SigningKey::EcdsaP256(key) => {
            let signature = key
                .sign(&SystemRandom::new(), &to_sign)
                .map_err(|_| SignError::Crypto)?;
            (
                signature.as_ref().to_vec(),
                AlgorithmIdentifierOwned {
                    oid: ECDSA_WITH_SHA256,
                    parameters: None,
                },
            )
        }
    };
    let sha256 = AlgorithmIdentifierOwned {
        oid: ID_SHA256,
        parameters: None,
    };
    let leaf = signer.chain[0].tbs_certificate();
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: leaf.issuer().clone(),
            serial_number: leaf.serial_number().clone(),
        }),
        digest_alg: sha256.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm,
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };
    let certificates = CertificateSet::try_from(
        signer
            .chain
            .iter()
            .cloned()
            .map(CertificateChoices::Certificate)
            .collect::<Vec<_>>(),
    )?;
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(certificates),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info])?,
    };
    Ok(ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data)?,
    }
    .to_der()?)
}
