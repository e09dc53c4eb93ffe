//! PKCS#10 certificate requests (RFC 2986) for code-signing certificates.
//!
//! The request is signed by any [`Signer`], so a key in a file or (later) on a token never leaves
//! it. It asks for key usage digitalSignature (critical) and extended key usage codeSigning, and
//! carries the SANs (email, URI, DNS) that cosign, Kyverno and podman pin identities on. The
//! subject is an RFC 4514 string or is copied, attribute for attribute, from the current
//! certificate for a renewal.

use crate::error::{Error, InputError, KeyError};
use crate::keys::{KeyAlgorithm, Signer};
use crate::pki::Certificate;
use der::asn1::{BitString, Ia5String, SetOfVec};
use der::{Decode, Encode};
use std::str::FromStr;
use x509_cert::attr::Attribute;
use x509_cert::ext::ToExtension;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq, Version};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrRequest {
    /// The subject, in DER order.
    pub subject: Name,
    /// SAN email addresses.
    pub emails: Vec<String>,
    /// SAN URIs.
    pub uris: Vec<String>,
    /// SAN DNS names.
    pub dns_names: Vec<String>,
}

impl CsrRequest {
    /// A request for the RFC 4514 subject `subject` (e.g. `CN=Signer,OU=Pipeline,O=Org,C=US`).
    pub fn new(subject: &str) -> Result<Self, InputError> {
        let subject = Name::from_str(subject)
            .map_err(|e| InputError::arg("subject", format!("{subject:?} is not an RFC 4514 name: {e}")))?;
        Ok(CsrRequest { subject, emails: Vec::new(), uris: Vec::new(), dns_names: Vec::new() })
    }

    /// The subject and SANs of an existing certificate, for a renewal that keeps the identity.
    pub fn from_certificate(cert: &Certificate) -> Self {
        let s = cert.summary();
        CsrRequest {
            subject: cert.parsed.tbs_certificate().subject().clone(),
            emails: s.emails.clone(),
            uris: s.uris.clone(),
            dns_names: s.dns_names.clone(),
        }
    }

    fn san(&self) -> Result<Option<SubjectAltName>, InputError> {
        let ia5 = |kind: &str, v: &str| {
            Ia5String::new(v).map_err(|e| InputError::arg(kind, format!("{v:?} is not IA5 text: {e}")))
        };
        let mut names = Vec::new();
        for e in &self.emails {
            names.push(GeneralName::Rfc822Name(ia5("SAN email", e)?));
        }
        for u in &self.uris {
            names.push(GeneralName::UniformResourceIdentifier(ia5("SAN URI", u)?));
        }
        for d in &self.dns_names {
            names.push(GeneralName::DnsName(ia5("SAN DNS name", d)?));
        }
        Ok((!names.is_empty()).then_some(SubjectAltName(names)))
    }
}

fn signature_algorithm(alg: KeyAlgorithm) -> AlgorithmIdentifierOwned {
    use const_oid::db::rfc5912;
    match alg {
        KeyAlgorithm::EcdsaP256 => AlgorithmIdentifierOwned { oid: rfc5912::ECDSA_WITH_SHA_256, parameters: None },
        KeyAlgorithm::EcdsaP384 => AlgorithmIdentifierOwned { oid: rfc5912::ECDSA_WITH_SHA_384, parameters: None },
        KeyAlgorithm::Rsa { .. } => AlgorithmIdentifierOwned {
            oid: rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            parameters: Some(der::asn1::Null.into()),
        },
    }
}

/// Creates a PEM `CERTIFICATE REQUEST` for `request`, signed with `signer`.
pub fn create_csr(signer: &dyn Signer, request: &CsrRequest) -> Result<String, Error> {
    let encoding = |what: &str, e: der::Error| -> Error { InputError::arg(what, e.to_string()).into() };
    let public_key =
        SubjectPublicKeyInfoOwned::from_der(signer.public_key().spki_der()).map_err(|e| encoding("public key", e))?;
    let mut extensions = Vec::new();
    if let Some(san) = request.san()? {
        extensions.push((&san).to_extension(&request.subject, &extensions).map_err(|e| encoding("subjectAltName", e))?);
    }
    let ku = KeyUsage(KeyUsages::DigitalSignature.into());
    extensions.push((&ku).to_extension(&request.subject, &extensions).map_err(|e| encoding("keyUsage", e))?);
    let eku = ExtendedKeyUsage(vec![crate::pki::OID_CODE_SIGNING]);
    extensions.push((&eku).to_extension(&request.subject, &extensions).map_err(|e| encoding("extendedKeyUsage", e))?);
    let attribute = Attribute::try_from(ExtensionReq(extensions)).map_err(|e| encoding("extensionRequest", e))?;
    let attributes = SetOfVec::try_from(vec![attribute]).map_err(|e| encoding("attributes", e))?;
    let info = CertReqInfo { version: Version::V1, subject: request.subject.clone(), public_key, attributes };
    let tbs = info.to_der().map_err(|e| encoding("request", e))?;
    let signature = signer.sign(&tbs).map_err(Error::from)?;
    let req = CertReq {
        info,
        algorithm: signature_algorithm(signer.public_key().algorithm()),
        signature: BitString::from_bytes(&signature).map_err(|e| encoding("signature", e))?,
    };
    let der = req.to_der().map_err(|e| encoding("request", e))?;
    if der.is_empty() {
        return Err(KeyError::SigningFailed { reason: "empty request".into() }.into());
    }
    Ok(pem::encode_config(
        &pem::Pem::new("CERTIFICATE REQUEST", der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyKind, KeyPairSigner};

    #[test]
    fn request_round_trips() {
        let (signer, _) = KeyPairSigner::generate(KeyKind::EcdsaP256).unwrap();
        let mut request = CsrRequest::new("CN=Signer,OU=Pipeline,OU=Iron Bank,O=Example,C=US").unwrap();
        request.emails.push("signer@example.com".into());
        let pem_text = create_csr(&signer, &request).unwrap();
        let block = pem::parse(&pem_text).unwrap();
        let parsed = CertReq::from_der(block.contents()).unwrap();
        assert_eq!(parsed.info.subject.to_string(), "CN=Signer,OU=Pipeline,OU=Iron Bank,O=Example,C=US");
        let tbs = parsed.info.to_der().unwrap();
        assert!(signer.public_key().verify(&tbs, parsed.signature.raw_bytes()));
        assert!(CsrRequest::new("not a name").is_err());
    }
}
