//! The detached CMS `SignedData` (RFC 5652 §5) of an S/MIME signature: one signer identified
//! by issuer and serial number (version 1, what every S/MIME client reads), SHA-256, signed
//! attributes (content type, signing time, message digest), and the signer's chain.

use crate::SignError;
use crate::signer::{Signer, SigningKey};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::CmsVersion;
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignerIdentifier, SignerInfo, SignerInfos,
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
    // The chain was encoded once, when the signer was loaded: the SignedData is put together
    // around it here rather than re-encoding every certificate for every message.
    let mut signed_data = Vec::with_capacity(signer.certificates_der.len() + 1024);
    signed_data.extend(CmsVersion::V1.to_der()?);
    signed_data.extend(SetOfVec::try_from(vec![sha256])?.to_der()?);
    signed_data.extend(
        EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        }
        .to_der()?,
    );
    signed_data.extend_from_slice(&signer.certificates_der);
    signed_data.extend(SignerInfos::try_from(vec![signer_info])?.to_der()?);
    let signed_data = wrap(0x30, &signed_data);
    let mut content_info = ID_SIGNED_DATA.to_der()?;
    content_info.extend(wrap(0xA0, &signed_data));
    Ok(wrap(0x30, &content_info))
}

/// The DER encoding of `tag` with `contents`: the tag, the definite length, the contents.
fn wrap(tag: u8, contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let mut out = Vec::with_capacity(len + 6);
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

/// The `certificates [0] IMPLICIT CertificateSet` field of a SignedData holding `chain`.
pub(crate) fn certificates_field(chain: &[x509_cert::Certificate]) -> Result<Vec<u8>, der::Error> {
    let set = CertificateSet::try_from(
        chain
            .iter()
            .cloned()
            .map(CertificateChoices::Certificate)
            .collect::<Vec<_>>(),
    )?;
    let mut encoded = set.to_der()?;
    // IMPLICIT tagging replaces the SET tag with [0], constructed; the length stays.
    encoded[0] = 0xA0;
    Ok(encoded)
}

#[cfg(test)]
mod tests {
    #[test]
    fn der_lengths() {
        let table: [(usize, &[u8]); 4] = [
            (0, &[0x30, 0x00]),
            (0x7f, &[0x30, 0x7f]),
            (0x80, &[0x30, 0x81, 0x80]),
            (0x1234, &[0x30, 0x82, 0x12, 0x34]),
        ];
        for (len, header) in table {
            let out = super::wrap(0x30, &vec![0; len]);
            assert_eq!(&out[..header.len()], header, "{len}");
            assert_eq!(out.len(), header.len() + len);
        }
    }
}
