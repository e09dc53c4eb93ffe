//! Keys: the [`Signer`] abstraction, private keys from PEM files, public keys, and cosign's
//! encrypted key files.
//!
//! Accepted private keys: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`), PKCS#1
//! (`RSA PRIVATE KEY`), OpenSSL-encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`) and cosign's
//! `ENCRYPTED SIGSTORE PRIVATE KEY` / `ENCRYPTED COSIGN PRIVATE KEY`. Algorithms: ECDSA P-256 with
//! SHA-256, ECDSA P-384 with SHA-384 (cosign cannot verify P-384 signatures it made itself; prefer
//! P-256 or RSA for interoperability), RSA 2048–4096 PKCS#1 v1.5 with SHA-256.
//!
//! Private key material lives in aws-lc-rs key objects; intermediate DER buffers are zeroized.

pub mod cosign_file;
#[cfg(feature = "pkcs11")]
pub mod pkcs11;

use crate::error::KeyError;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair, RsaKeyPair};
use der::{Decode, Encode};
use serde::Serialize;
use std::fmt;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use zeroize::Zeroizing;

const OID_EC_PUBLIC_KEY: const_oid::ObjectIdentifier = const_oid::db::rfc5912::ID_EC_PUBLIC_KEY;
const OID_RSA: const_oid::ObjectIdentifier = const_oid::db::rfc5912::RSA_ENCRYPTION;
const OID_P256: const_oid::ObjectIdentifier = const_oid::db::rfc5912::SECP_256_R_1;
const OID_P384: const_oid::ObjectIdentifier = const_oid::db::rfc5912::SECP_384_R_1;

/// The signature algorithms ironsign signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on P-256, SHA-256, ASN.1 DER signatures.
    EcdsaP256,
    /// ECDSA on P-384, SHA-384 when signing; SHA-384 or SHA-256 accepted when verifying.
    EcdsaP384,
    /// RSA PKCS#1 v1.5 with SHA-256, of the given modulus size in bits.
    Rsa {
        /// Modulus size.
        bits: usize,
    },
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyAlgorithm::EcdsaP384 => f.write_str("ECDSA P-384"),
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA-{bits}"),
        }
    }
}

/// A public key: its SubjectPublicKeyInfo DER and algorithm.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    spki_der: Vec<u8>,
    /// The raw key as ring/aws-lc-rs want it: the EC point or the PKCS#1 RSAPublicKey.
    raw: Vec<u8>,
    algorithm: KeyAlgorithm,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, sha256:{})", self.algorithm, self.fingerprint())
    }
}

impl PublicKey {
    /// Parses SubjectPublicKeyInfo DER.
    pub fn from_spki_der(der: &[u8], what: &str) -> Result<Self, KeyError> {
        let spki = SubjectPublicKeyInfoOwned::from_der(der)
            .map_err(|e| KeyError::Parse { what: what.into(), reason: format!("SubjectPublicKeyInfo: {e}") })?;
        Self::from_spki(&spki, what)
    }

    /// Builds from a parsed SubjectPublicKeyInfo.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned, what: &str) -> Result<Self, KeyError> {
        let unsupported = |algorithm: String| KeyError::Unsupported { what: what.into(), algorithm };
        let raw = spki.subject_public_key.raw_bytes().to_vec();
        let algorithm = if spki.algorithm.oid == OID_EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok())
                .ok_or_else(|| unsupported("EC key without a named curve".into()))?;
            match curve {
                c if c == OID_P256 => KeyAlgorithm::EcdsaP256,
                c if c == OID_P384 => KeyAlgorithm::EcdsaP384,
                c => {
                    return Err(unsupported(format!("EC curve {c} (P-256 and P-384 are supported)")));
                }
            }
        } else if spki.algorithm.oid == OID_RSA {
            let bits = rsa_modulus_bits(&raw).ok_or_else(|| unsupported("malformed RSA public key".into()))?;
            if !(2048..=4096).contains(&bits) {
                return Err(unsupported(format!("RSA-{bits} (2048 to 4096 bits are supported)")));
            }
            KeyAlgorithm::Rsa { bits }
        } else {
            return Err(unsupported(format!("key algorithm {}", spki.algorithm.oid)));
        };
        let spki_der = spki.to_der().map_err(|e| KeyError::Parse { what: what.into(), reason: e.to_string() })?;
        Ok(PublicKey { spki_der, raw, algorithm })
    }

    /// Parses a `PUBLIC KEY` PEM (PKIX), as `cosign.pub` holds.
    pub fn from_pem(pem_text: &[u8], what: &str) -> Result<Self, KeyError> {
        let block = pem::parse(pem_text).map_err(|e| KeyError::Parse { what: what.into(), reason: e.to_string() })?;
        if block.tag() != "PUBLIC KEY" {
            return Err(KeyError::Parse {
                what: what.into(),
                reason: format!("expected a PUBLIC KEY PEM block, found {}", block.tag()),
            });
        }
        Self::from_spki_der(block.contents(), what)
    }

    /// The key as a `PUBLIC KEY` PEM, with LF line endings as cosign writes it (the `pem` crate's
    /// default is CRLF).
    pub fn to_pem(&self) -> String {
        pem::encode_config(
            &pem::Pem::new("PUBLIC KEY", self.spki_der.clone()),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    }

    /// SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    /// The raw key: the EC point, or the PKCS#1 RSAPublicKey.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Hex SHA-256 of the SubjectPublicKeyInfo DER (what `openssl pkey -pubin -outform DER | sha256sum` prints).
    pub fn fingerprint(&self) -> String {
        hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &self.spki_der).as_ref())
    }

    /// Whether `signature` over `message` verifies with this key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let algs: &[&'static dyn sig::VerificationAlgorithm] = match self.algorithm {
            KeyAlgorithm::EcdsaP256 => &[&sig::ECDSA_P256_SHA256_ASN1],
            // cosign signs P-384 with SHA-384; other tools (and hard-coded SHA-256 verifiers) use SHA-256.
            KeyAlgorithm::EcdsaP384 => &[&sig::ECDSA_P384_SHA384_ASN1, &sig::ECDSA_P384_SHA256_ASN1],
            KeyAlgorithm::Rsa { .. } => &[&sig::RSA_PKCS1_2048_8192_SHA256],
        };
        algs.iter().any(|alg| sig::UnparsedPublicKey::new(*alg, &self.raw).verify(message, signature).is_ok())
    }

    /// Whether a certificate signature of algorithm `alg` (the certificate's signatureAlgorithm
    /// OID) over `tbs` verifies with this key.
    pub(crate) fn verify_certificate_signature(
        &self,
        alg: &const_oid::ObjectIdentifier,
        tbs: &[u8],
        signature: &[u8],
    ) -> bool {
        use const_oid::db::rfc5912 as oid;
        let algorithm: &'static dyn sig::VerificationAlgorithm = match (self.algorithm, *alg) {
            (KeyAlgorithm::EcdsaP256, a) if a == oid::ECDSA_WITH_SHA_256 => &sig::ECDSA_P256_SHA256_ASN1,
            (KeyAlgorithm::EcdsaP256, a) if a == oid::ECDSA_WITH_SHA_384 => &sig::ECDSA_P256_SHA384_ASN1,
            (KeyAlgorithm::EcdsaP384, a) if a == oid::ECDSA_WITH_SHA_256 => &sig::ECDSA_P384_SHA256_ASN1,
            (KeyAlgorithm::EcdsaP384, a) if a == oid::ECDSA_WITH_SHA_384 => &sig::ECDSA_P384_SHA384_ASN1,
            (KeyAlgorithm::Rsa { .. }, a) if a == oid::SHA_256_WITH_RSA_ENCRYPTION => &sig::RSA_PKCS1_2048_8192_SHA256,
            (KeyAlgorithm::Rsa { .. }, a) if a == oid::SHA_384_WITH_RSA_ENCRYPTION => &sig::RSA_PKCS1_2048_8192_SHA384,
            (KeyAlgorithm::Rsa { .. }, a) if a == oid::SHA_512_WITH_RSA_ENCRYPTION => &sig::RSA_PKCS1_2048_8192_SHA512,
            _ => return false,
        };
        sig::UnparsedPublicKey::new(algorithm, &self.raw).verify(tbs, signature).is_ok()
    }
}

/// The modulus size of a PKCS#1 RSAPublicKey.
pub(crate) fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    #[derive(der::Sequence)]
    struct RsaPublicKey<'a> {
        modulus: der::asn1::UintRef<'a>,
        #[allow(dead_code)]
        public_exponent: der::asn1::UintRef<'a>,
    }
    let key = RsaPublicKey::from_der(pkcs1).ok()?;
    let bytes = key.modulus.as_bytes();
    let first = *bytes.first()?;
    Some(bytes.len() * 8 - first.leading_zeros() as usize)
}

/// Something that signs: a key file today, a PKCS#11 token or KMS key later.
pub trait Signer: Send + Sync + fmt::Debug {
    /// The public half.
    fn public_key(&self) -> &PublicKey;
    /// Signs `message` (hashing it as the algorithm requires), returning the signature cosign
    /// stores: ASN.1 DER for ECDSA, PKCS#1 v1.5 for RSA.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
}

enum KeyPairInner {
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// A signer over an in-memory private key.
pub struct KeyPairSigner {
    inner: KeyPairInner,
    public: PublicKey,
}

impl fmt::Debug for KeyPairSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        write!(f, "KeyPairSigner({:?})", self.public)
    }
}

impl Signer for KeyPairSigner {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let failed = |_| KeyError::SigningFailed { reason: "the crypto provider refused to sign".into() };
        match &self.inner {
            KeyPairInner::Ecdsa(k) => Ok(k.sign(&rng, message).map_err(failed)?.as_ref().to_vec()),
            KeyPairInner::Rsa(k) => {
                let mut out = vec![0u8; k.public_modulus_len()];
                k.sign(&sig::RSA_PKCS1_SHA256, &rng, message, &mut out).map_err(failed)?;
                Ok(out)
            }
        }
    }
}

/// Key types [`KeyPairSigner::generate`] creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyKind {
    /// ECDSA P-256 (cosign's default).
    EcdsaP256,
    /// ECDSA P-384.
    EcdsaP384,
    /// RSA 3072.
    Rsa3072,
    /// RSA 4096.
    Rsa4096,
}

impl KeyPairSigner {
    /// Loads a private key from PEM. `password` is needed for encrypted formats. `what` names the
    /// input in errors (usually the file name).
    pub fn from_pem(pem_text: &[u8], password: Option<&[u8]>, what: &str) -> Result<Self, KeyError> {
        let parse = |reason: String| KeyError::Parse { what: what.into(), reason };
        let blocks = pem::parse_many(pem_text).map_err(|e| parse(e.to_string()))?;
        // Take the key's bytes out of the PEM structure so they are zeroized when dropped; the
        // other blocks (certificates) are public.
        let (tag, contents) = blocks
            .into_iter()
            .find(|b| b.tag().contains("PRIVATE KEY"))
            .map(|b| (b.tag().to_owned(), Zeroizing::new(b.into_contents())))
            .ok_or_else(|| parse("no PRIVATE KEY PEM block found".into()))?;
        let need_password = || password.ok_or_else(|| KeyError::PasswordRequired { what: what.into() });
        match tag.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_der(&contents, what),
            "EC PRIVATE KEY" => Self::from_sec1_der(&contents, what),
            "RSA PRIVATE KEY" => {
                let key = RsaKeyPair::from_der(&contents).map_err(|e| parse(format!("PKCS#1 RSA key: {e}")))?;
                Self::from_rsa(key, what)
            }
            "ENCRYPTED PRIVATE KEY" => {
                let password = need_password()?;
                let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(contents.as_slice())
                    .map_err(|e| parse(format!("encrypted PKCS#8: {e}")))?;
                // AES-CBC has no integrity check: a wrong password passes the padding check about
                // once in 256 tries and yields garbage that is not DER, which must still read as a
                // wrong password (the envelope itself parsed above).
                let doc = info.decrypt(password).map_err(|e| match e {
                    pkcs8::Error::EncryptedPrivateKey(_) | pkcs8::Error::Asn1(_) => {
                        KeyError::WrongPassword { what: what.into() }
                    }
                    other => parse(format!("encrypted PKCS#8: {other}")),
                })?;
                if pkcs8::PrivateKeyInfoRef::try_from(doc.as_bytes()).is_err() {
                    return Err(KeyError::WrongPassword { what: what.into() });
                }
                Self::from_pkcs8_der(doc.as_bytes(), what)
            }
            cosign_file::SIGSTORE_LABEL | cosign_file::LEGACY_COSIGN_LABEL => {
                let der = cosign_file::decrypt(&contents, need_password()?, what)?;
                Self::from_pkcs8_der(&der, what)
            }
            other => Err(parse(format!("unsupported PEM block {other}"))),
        }
    }

    /// Loads from a file.
    pub fn from_file(path: &std::path::Path, password: Option<&[u8]>) -> Result<Self, crate::Error> {
        let text = Zeroizing::new(std::fs::read(path).map_err(|e| crate::error::InputError::io(path, e))?);
        Ok(Self::from_pem(&text, password, &path.display().to_string())?)
    }

    /// Loads PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8], what: &str) -> Result<Self, KeyError> {
        let parse = |reason: String| KeyError::Parse { what: what.into(), reason };
        let info = pkcs8::PrivateKeyInfoRef::try_from(der).map_err(|e| parse(format!("PKCS#8: {e}")))?;
        if info.algorithm.oid == OID_RSA {
            let key = RsaKeyPair::from_pkcs8(der).map_err(|e| parse(format!("RSA key: {e}")))?;
            return Self::from_rsa(key, what);
        }
        if info.algorithm.oid != OID_EC_PUBLIC_KEY {
            return Err(KeyError::Unsupported {
                what: what.into(),
                algorithm: format!("key algorithm {}", info.algorithm.oid),
            });
        }
        let curve = info.algorithm.parameters.and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok());
        let alg = match curve {
            Some(c) if c == OID_P256 => &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
            Some(c) if c == OID_P384 => &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
            other => {
                return Err(KeyError::Unsupported {
                    what: what.into(),
                    algorithm: format!(
                        "EC curve {} (P-256 and P-384 are supported)",
                        other.map(|c| c.to_string()).unwrap_or_default()
                    ),
                });
            }
        };
        let key = EcdsaKeyPair::from_private_key_der(alg, der).map_err(|e| parse(format!("EC key: {e}")))?;
        Self::from_ecdsa(key, what)
    }

    fn from_sec1_der(der: &[u8], what: &str) -> Result<Self, KeyError> {
        // SEC1 names its curve inside; try the two we support.
        for alg in [&sig::ECDSA_P256_SHA256_ASN1_SIGNING, &sig::ECDSA_P384_SHA384_ASN1_SIGNING] {
            if let Ok(key) = EcdsaKeyPair::from_private_key_der(alg, der) {
                return Self::from_ecdsa(key, what);
            }
        }
        Err(KeyError::Unsupported {
            what: what.into(),
            algorithm: "SEC1 EC key on a curve other than P-256/P-384, or malformed".into(),
        })
    }

    fn from_ecdsa(key: EcdsaKeyPair, what: &str) -> Result<Self, KeyError> {
        let spki = key
            .public_key()
            .as_der()
            .map_err(|_| KeyError::Parse { what: what.into(), reason: "public key encoding".into() })?;
        let public = PublicKey::from_spki_der(spki.as_ref(), what)?;
        Ok(KeyPairSigner { inner: KeyPairInner::Ecdsa(key), public })
    }

    fn from_rsa(key: RsaKeyPair, what: &str) -> Result<Self, KeyError> {
        let spki = key
            .public_key()
            .as_der()
            .map_err(|_| KeyError::Parse { what: what.into(), reason: "public key encoding".into() })?;
        let public = PublicKey::from_spki_der(spki.as_ref(), what)?;
        Ok(KeyPairSigner { inner: KeyPairInner::Rsa(key), public })
    }

    /// Generates a new key, returning the signer and its PKCS#8 DER (zeroized on drop) for storage.
    pub fn generate(kind: KeyKind) -> Result<(Self, Zeroizing<Vec<u8>>), KeyError> {
        let failed = |_| KeyError::SigningFailed { reason: "key generation failed".into() };
        let der: Zeroizing<Vec<u8>> = match kind {
            KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => {
                let alg = if kind == KeyKind::EcdsaP256 {
                    &sig::ECDSA_P256_SHA256_ASN1_SIGNING
                } else {
                    &sig::ECDSA_P384_SHA384_ASN1_SIGNING
                };
                let key = EcdsaKeyPair::generate(alg).map_err(failed)?;
                Zeroizing::new(key.to_pkcs8v1().map_err(failed)?.as_ref().to_vec())
            }
            KeyKind::Rsa3072 | KeyKind::Rsa4096 => {
                let size = if kind == KeyKind::Rsa3072 {
                    aws_lc_rs::rsa::KeySize::Rsa3072
                } else {
                    aws_lc_rs::rsa::KeySize::Rsa4096
                };
                let key = RsaKeyPair::generate(size).map_err(failed)?;
                let doc: aws_lc_rs::encoding::Pkcs8V1Der = key.as_der().map_err(failed)?;
                Zeroizing::new(doc.as_ref().to_vec())
            }
        };
        Ok((Self::from_pkcs8_der(&der, "generated key")?, der))
    }
}

/// A new cosign-compatible key pair: `(cosign.key PEM, cosign.pub PEM)`. The private key is
/// ECDSA P-256 in an `ENCRYPTED SIGSTORE PRIVATE KEY` block, as `cosign generate-key-pair` writes.
pub fn generate_cosign_key_pair(password: &[u8]) -> Result<(Zeroizing<String>, String), KeyError> {
    let (signer, der) = KeyPairSigner::generate(KeyKind::EcdsaP256)?;
    let private_pem = Zeroizing::new(cosign_file::encrypt(&der, password)?);
    Ok((private_pem, signer.public_key().to_pem()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_key_files_have_lf_line_endings_as_cosign_writes_them() {
        let (private_pem, public_pem) = super::generate_cosign_key_pair(b"pw").unwrap();
        for pem in [private_pem.as_str(), public_pem.as_str()] {
            assert!(!pem.contains('\r'), "CRLF in {pem:?}");
            assert!(pem.ends_with("-----\n"), "{pem:?}");
        }
    }

    use super::*;

    #[test]
    fn generated_keys_sign_and_verify() {
        for kind in [KeyKind::EcdsaP256, KeyKind::EcdsaP384, KeyKind::Rsa3072] {
            let (signer, _) = KeyPairSigner::generate(kind).unwrap();
            let sig = signer.sign(b"payload").unwrap();
            assert!(signer.public_key().verify(b"payload", &sig), "{kind:?}");
            assert!(!signer.public_key().verify(b"payloaD", &sig), "{kind:?}");
        }
    }

    #[test]
    fn every_wrong_password_of_an_encrypted_pkcs8_key_reads_as_wrong_password() {
        use pkcs8::der::{Encode as _, pem::LineEnding};
        let (_, der) = KeyPairSigner::generate(KeyKind::EcdsaP256).unwrap();
        // One PBKDF2 iteration keeps 2,000 tries fast; the cipher is what matters here.
        let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(1, &[7; 16], [9; 16]).unwrap();
        let ciphertext = params.encrypt(b"right", &der).unwrap();
        let info = pkcs8::EncryptedPrivateKeyInfoRef {
            encryption_algorithm: pkcs8::pkcs5::EncryptionScheme::Pbes2(params),
            encrypted_data: pkcs8::der::asn1::OctetStringRef::new(&ciphertext).unwrap(),
        };
        let pem =
            pkcs8::der::pem::encode_string("ENCRYPTED PRIVATE KEY", LineEnding::LF, &info.to_der().unwrap()).unwrap();
        KeyPairSigner::from_pem(pem.as_bytes(), Some(b"right"), "k").unwrap();
        // About one wrong password in 256 decrypts to valid padding; all must say so.
        for n in 0..2000 {
            let wrong = format!("wrong-{n}");
            let result = KeyPairSigner::from_pem(pem.as_bytes(), Some(wrong.as_bytes()), "k");
            assert!(matches!(result, Err(KeyError::WrongPassword { .. })), "{wrong}: {:?}", result.err());
        }
    }

    #[test]
    fn cosign_key_pair_round_trip() {
        let (private_pem, public_pem) = generate_cosign_key_pair(b"pw").unwrap();
        let signer = KeyPairSigner::from_pem(private_pem.as_bytes(), Some(b"pw"), "cosign.key").unwrap();
        let public = PublicKey::from_pem(public_pem.as_bytes(), "cosign.pub").unwrap();
        assert_eq!(signer.public_key(), &public);
        assert!(matches!(
            KeyPairSigner::from_pem(private_pem.as_bytes(), None, "cosign.key"),
            Err(KeyError::PasswordRequired { .. })
        ));
        assert!(matches!(
            KeyPairSigner::from_pem(private_pem.as_bytes(), Some(b"bad"), "cosign.key"),
            Err(KeyError::WrongPassword { .. })
        ));
    }

    #[test]
    fn debug_never_prints_key_material() {
        let (signer, der) = KeyPairSigner::generate(KeyKind::EcdsaP256).unwrap();
        let text = format!("{signer:?}");
        assert!(text.starts_with("KeyPairSigner(PublicKey(ECDSA P-256"));
        assert!(!text.contains(&hex::encode(&der[..16])));
    }
}
