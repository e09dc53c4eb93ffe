//! cosign's encrypted private key file (`ENCRYPTED SIGSTORE PRIVATE KEY`, formerly
//! `ENCRYPTED COSIGN PRIVATE KEY`): a PEM block whose body is JSON naming an scrypt KDF and a NaCl
//! secretbox holding the PKCS#8 DER of the key (go-securesystemslib `encrypted`).

use crate::error::KeyError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The PEM label cosign writes today.
pub const SIGSTORE_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The PEM label of cosign before v2.
pub const LEGACY_COSIGN_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";

/// scrypt cost cosign writes (N = 2^16); decryption accepts 2^15 (legacy), 2^16 and 2^17 only, as
/// cosign does, so a hostile file cannot demand unbounded work.
const WRITE_LOG_N: u8 = 16;
const ACCEPTED_LOG_N: [u8; 3] = [15, 16, 17];

#[derive(Serialize, Deserialize)]
struct EncryptedKey {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
#[allow(non_snake_case)]
struct ScryptParams {
    N: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
struct Cipher {
    name: String,
    nonce: String,
}

fn derive_key(password: &[u8], salt: &[u8], log_n: u8, what: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let params = scrypt::Params::new(log_n, 8, 1, 32)
        .map_err(|e| KeyError::Parse { what: what.into(), reason: format!("scrypt parameters: {e}") })?;
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password, salt, &params, key.as_mut())
        .map_err(|e| KeyError::Parse { what: what.into(), reason: format!("scrypt: {e}") })?;
    Ok(key)
}

/// Decrypts the JSON body of a cosign key file, returning the PKCS#8 DER.
pub fn decrypt(body: &[u8], password: &[u8], what: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let parse = |reason: String| KeyError::Parse { what: what.into(), reason };
    let enc: EncryptedKey = serde_json::from_slice(body).map_err(|e| parse(format!("not a cosign key file: {e}")))?;
    if enc.kdf.name != "scrypt" {
        return Err(KeyError::Unsupported { what: what.into(), algorithm: format!("KDF {}", enc.kdf.name) });
    }
    if enc.cipher.name != "nacl/secretbox" {
        return Err(KeyError::Unsupported { what: what.into(), algorithm: format!("cipher {}", enc.cipher.name) });
    }
    let p = &enc.kdf.params;
    let log_n = ACCEPTED_LOG_N.iter().copied().find(|&l| 1u64 << l == p.N).filter(|_| p.r == 8 && p.p == 1);
    let Some(log_n) = log_n else {
        return Err(KeyError::Unsupported {
            what: what.into(),
            algorithm: format!("scrypt N={} r={} p={} (accepted: N in 32768, 65536, 131072; r=8; p=1)", p.N, p.r, p.p),
        });
    };
    let salt = B64.decode(&enc.kdf.salt).map_err(|e| parse(format!("salt: {e}")))?;
    let nonce = B64.decode(&enc.cipher.nonce).map_err(|e| parse(format!("nonce: {e}")))?;
    if nonce.len() != 24 {
        return Err(parse(format!("nonce is {} bytes, expected 24", nonce.len())));
    }
    let ciphertext = B64.decode(&enc.ciphertext).map_err(|e| parse(format!("ciphertext: {e}")))?;
    let key = derive_key(password, &salt, log_n, what)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    let plain = cipher
        .decrypt(Nonce::from_slice(&nonce), ciphertext.as_ref())
        .map_err(|_| KeyError::WrongPassword { what: what.into() })?;
    Ok(Zeroizing::new(plain))
}

/// Encrypts PKCS#8 DER into a complete `ENCRYPTED SIGSTORE PRIVATE KEY` PEM, as cosign writes it.
pub fn encrypt(pkcs8_der: &[u8], password: &[u8]) -> Result<String, KeyError> {
    let mut salt = [0u8; 32];
    let mut nonce = [0u8; 24];
    let rng_failed = |_| KeyError::SigningFailed { reason: "system random number generator failed".into() };
    aws_lc_rs::rand::fill(&mut salt).map_err(rng_failed)?;
    aws_lc_rs::rand::fill(&mut nonce).map_err(rng_failed)?;
    let key = derive_key(password, &salt, WRITE_LOG_N, "new key")?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(&nonce), pkcs8_der)
        .map_err(|_| KeyError::SigningFailed { reason: "secretbox encryption failed".into() })?;
    let body = EncryptedKey {
        kdf: Kdf {
            name: "scrypt".into(),
            params: ScryptParams { N: 1 << WRITE_LOG_N, r: 8, p: 1 },
            salt: B64.encode(salt),
        },
        cipher: Cipher { name: "nacl/secretbox".into(), nonce: B64.encode(nonce) },
        ciphertext: B64.encode(ciphertext),
    };
    let json = serde_json::to_vec(&body).expect("serialising a fixed struct");
    // LF line endings, as cosign writes its key files.
    Ok(pem::encode_config(
        &pem::Pem::new(SIGSTORE_LABEL, json),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_password() {
        let secret = b"0\x81\x87not-really-der".to_vec();
        let pem_text = encrypt(&secret, b"pw").unwrap();
        let block = pem::parse(&pem_text).unwrap();
        assert_eq!(block.tag(), SIGSTORE_LABEL);
        assert_eq!(&*decrypt(block.contents(), b"pw", "k").unwrap(), &secret);
        assert!(matches!(decrypt(block.contents(), b"nope", "k"), Err(KeyError::WrongPassword { .. })));
    }

    #[test]
    fn refuses_unbounded_kdf_cost() {
        let body = br#"{"kdf":{"name":"scrypt","params":{"N":1073741824,"r":8,"p":1},"salt":"AA=="},"cipher":{"name":"nacl/secretbox","nonce":"AA=="},"ciphertext":"AA=="}"#;
        assert!(matches!(decrypt(body, b"", "k"), Err(KeyError::Unsupported { .. })));
    }
}
