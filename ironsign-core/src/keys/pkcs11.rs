//! Keys in a PKCS#11 token (an HSM, a smart card, SoftHSM), addressed by RFC 7512 URIs as cosign
//! accepts them: `pkcs11:token=T;slot-id=N;object=LABEL;id=%01?module-path=/lib.so&pin-value=1234`.
//!
//! The private key never leaves the token: [`Pkcs11Signer`] asks it to sign. ECDSA keys (P-256,
//! P-384) sign the message's SHA-256 or SHA-384 with `CKM_ECDSA` (the token's raw `r‖s` is
//! re-encoded as the DER `ECDSA-Sig-Value` cosign stores); RSA keys sign with
//! `CKM_SHA256_RSA_PKCS`. The public key is read from the token's public-key object (or its
//! certificate) with the same `id`/label, and the certificate, when the token holds one, is read
//! too. The module path and PIN are given by the caller (the CLI reads cosign's environment
//! variables); the library never reads the environment.

use super::{KeyKind, PublicKey, Signer};
use crate::error::KeyError;
use crate::pki::Certificate;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use der::{Decode, Encode};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use zeroize::Zeroizing;

/// A parsed `pkcs11:` URI (RFC 7512), with the attributes cosign uses.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token`: the token label.
    pub token: Option<String>,
    /// `slot-id`.
    pub slot_id: Option<u64>,
    /// `object`: the key's label.
    pub object: Option<String>,
    /// `id`: the key's CKA_ID bytes.
    pub id: Option<Vec<u8>>,
    /// `module-path` (query).
    pub module_path: Option<PathBuf>,
    /// `pin-value` (query).
    pub pin: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the PIN.
        f.write_str(&self.to_uri_string())
    }
}

fn percent_decode(s: &str, what: &str) -> Result<Vec<u8>, KeyError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            out.push(hex.ok_or_else(|| uri_error(what, format!("bad percent-encoding in {s:?}")))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn percent_encode(bytes: &[u8], all: bool) -> String {
    bytes
        .iter()
        .map(|&b| {
            if !all && (b.is_ascii_alphanumeric() || b"-._~/".contains(&b)) {
                (b as char).to_string()
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

fn uri_error(what: &str, reason: impl Into<String>) -> KeyError {
    KeyError::Parse { what: what.into(), reason: reason.into() }
}

impl Pkcs11Uri {
    /// Whether `s` is a PKCS#11 URI rather than a file name.
    pub fn is_pkcs11(s: &str) -> bool {
        s.starts_with("pkcs11:")
    }

    /// Parses `pkcs11:path-attributes?query-attributes`. Other RFC 7512 attributes
    /// (manufacturer, model, serial, type, library-*) are accepted and ignored.
    pub fn parse(uri: &str) -> Result<Self, KeyError> {
        let what = "PKCS#11 URI";
        let rest = uri.strip_prefix("pkcs11:").ok_or_else(|| uri_error(what, "does not start with pkcs11:"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut out = Pkcs11Uri::default();
        let text = |v: &str| -> Result<String, KeyError> {
            String::from_utf8(percent_decode(v, what)?).map_err(|_| uri_error(what, "a value is not UTF-8"))
        };
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (k, v) = attr.split_once('=').ok_or_else(|| uri_error(what, format!("{attr:?} is not name=value")))?;
            match k {
                "token" => out.token = Some(text(v)?),
                "object" => out.object = Some(text(v)?),
                "id" => out.id = Some(percent_decode(v, what)?),
                "slot-id" => {
                    out.slot_id =
                        Some(v.parse().map_err(|_| uri_error(what, format!("slot-id {v:?} is not a number")))?)
                }
                "manufacturer"
                | "model"
                | "serial"
                | "type"
                | "library-manufacturer"
                | "library-description"
                | "library-version"
                | "slot-description"
                | "slot-manufacturer" => {}
                other => return Err(uri_error(what, format!("unknown attribute {other:?}"))),
            }
        }
        for attr in query.split('&').filter(|a| !a.is_empty()) {
            let (k, v) = attr.split_once('=').ok_or_else(|| uri_error(what, "a query attribute is not name=value"))?;
            match k {
                "module-path" => out.module_path = Some(PathBuf::from(text(v)?)),
                "pin-value" => out.pin = Some(Zeroizing::new(text(v)?)),
                "module-name" | "pin-source" => {
                    return Err(uri_error(what, format!("{k} is not supported; use module-path and pin-value")));
                }
                _ => {}
            }
        }
        if out.object.is_none() && out.id.is_none() {
            return Err(uri_error(what, "name the key with object= (label) or id="));
        }
        Ok(out)
    }

    /// The URI as text, without the PIN.
    pub fn to_uri_string(&self) -> String {
        let mut path = Vec::new();
        if let Some(t) = &self.token {
            path.push(format!("token={}", percent_encode(t.as_bytes(), false)));
        }
        if let Some(s) = self.slot_id {
            path.push(format!("slot-id={s}"));
        }
        if let Some(id) = &self.id {
            path.push(format!("id={}", percent_encode(id, true)));
        }
        if let Some(o) = &self.object {
            path.push(format!("object={}", percent_encode(o.as_bytes(), false)));
        }
        let mut s = format!("pkcs11:{}", path.join(";"));
        if let Some(m) = &self.module_path {
            s.push_str(&format!("?module-path={}", percent_encode(m.to_string_lossy().as_bytes(), false)));
        }
        s
    }
}

/// Module contexts, one per library, initialised once and kept for the process: finalizing a
/// module while another signer uses it would close that signer's sessions.
fn context(module: &Path) -> Result<Pkcs11, KeyError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut map = CONTEXTS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(ctx) = map.get(module) {
        return Ok(ctx.clone());
    }
    let failed = |reason: String| KeyError::Parse { what: format!("PKCS#11 module {}", module.display()), reason };
    let ctx = Pkcs11::new(module).map_err(|e| failed(e.to_string()))?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => {}
        Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(failed(e.to_string())),
    }
    map.insert(module.to_owned(), ctx.clone());
    Ok(ctx)
}

fn token_error(reason: impl std::fmt::Display) -> KeyError {
    KeyError::SigningFailed { reason: format!("PKCS#11: {reason}") }
}

/// Finds the slot the URI names (by `slot-id`, else by token label).
fn find_slot(ctx: &Pkcs11, uri: &Pkcs11Uri) -> Result<Slot, KeyError> {
    let slots = ctx.get_slots_with_token().map_err(token_error)?;
    let mut matching = Vec::new();
    for slot in slots {
        if uri.slot_id.is_some_and(|id| id != slot.id()) {
            continue;
        }
        if let Some(label) = &uri.token {
            let info = ctx.get_token_info(slot).map_err(token_error)?;
            if info.label().trim_end() != label {
                continue;
            }
        }
        matching.push(slot);
    }
    match matching.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(token_error(format!("no token matches {uri:?}"))),
        _ => Err(token_error(format!("{} tokens match {uri:?}; add token= or slot-id=", matching.len()))),
    }
}

fn key_template(uri: &Pkcs11Uri, class: ObjectClass) -> Vec<Attribute> {
    let mut t = vec![Attribute::Class(class)];
    if let Some(id) = &uri.id {
        t.push(Attribute::Id(id.clone()));
    }
    if let Some(label) = &uri.object {
        t.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    t
}

fn open_session(ctx: &Pkcs11, slot: Slot, pin: Option<&str>, rw: bool) -> Result<Session, KeyError> {
    let session = if rw { ctx.open_rw_session(slot) } else { ctx.open_ro_session(slot) }.map_err(token_error)?;
    if let Some(pin) = pin {
        match session.login(UserType::User, Some(&AuthPin::from(pin.to_owned()))) {
            Ok(()) | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {}
            Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::PinIncorrect, _)) => {
                return Err(KeyError::WrongPassword { what: "PKCS#11 token (PIN)".into() });
            }
            Err(e) => return Err(token_error(format!("login: {e}"))),
        }
    }
    Ok(session)
}

fn value_of(session: &Session, object: ObjectHandle, kind: AttributeType) -> Result<Option<Vec<u8>>, KeyError> {
    let attrs = session.get_attributes(object, &[kind]).map_err(token_error)?;
    Ok(attrs.into_iter().find_map(|a| match a {
        Attribute::Value(v) | Attribute::EcPoint(v) | Attribute::EcParams(v) => Some(v),
        Attribute::Modulus(v) | Attribute::PublicExponent(v) => Some(v),
        _ => None,
    }))
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// SubjectPublicKeyInfo DER of a token public-key object.
fn public_key_spki(session: &Session, object: ObjectHandle) -> Result<Vec<u8>, KeyError> {
    let key_type = session
        .get_attributes(object, &[AttributeType::KeyType])
        .map_err(token_error)?
        .into_iter()
        .find_map(|a| if let Attribute::KeyType(k) = a { Some(k) } else { None })
        .ok_or_else(|| token_error("the public key has no CKA_KEY_TYPE"))?;
    let missing = |what: &str| token_error(format!("the public key has no {what}"));
    if key_type == KeyType::EC {
        let params = value_of(session, object, AttributeType::EcParams)?.ok_or_else(|| missing("CKA_EC_PARAMS"))?;
        let point = value_of(session, object, AttributeType::EcPoint)?.ok_or_else(|| missing("CKA_EC_POINT"))?;
        // CKA_EC_POINT is a DER OCTET STRING wrapping the point (some modules give it raw).
        let point = der::asn1::OctetString::from_der(&point).map(|o| o.as_bytes().to_vec()).unwrap_or(point);
        let algorithm =
            der_tlv(0x30, &[const_oid::db::rfc5912::ID_EC_PUBLIC_KEY.to_der().expect("OID"), params].concat());
        Ok(der_tlv(0x30, &[algorithm, der_tlv(0x03, &[&[0u8][..], &point].concat())].concat()))
    } else if key_type == KeyType::RSA {
        let n = value_of(session, object, AttributeType::Modulus)?.ok_or_else(|| missing("CKA_MODULUS"))?;
        let e =
            value_of(session, object, AttributeType::PublicExponent)?.ok_or_else(|| missing("CKA_PUBLIC_EXPONENT"))?;
        let int = |v: &[u8]| {
            let v = &v[v.iter().position(|&b| b != 0).unwrap_or(v.len())..];
            let mut c = Vec::with_capacity(v.len() + 1);
            if v.first().is_some_and(|&b| b & 0x80 != 0) {
                c.push(0);
            }
            c.extend_from_slice(v);
            der_tlv(0x02, &c)
        };
        let rsa_key = der_tlv(0x30, &[int(&n), int(&e)].concat());
        let algorithm =
            der_tlv(0x30, &[const_oid::db::rfc5912::RSA_ENCRYPTION.to_der().expect("OID"), vec![0x05, 0x00]].concat());
        Ok(der_tlv(0x30, &[algorithm, der_tlv(0x03, &[&[0u8][..], &rsa_key].concat())].concat()))
    } else {
        Err(KeyError::Unsupported { what: "PKCS#11 key".into(), algorithm: format!("key type {key_type}") })
    }
}

/// A signer whose private key stays in a PKCS#11 token.
pub struct Pkcs11Signer {
    session: Mutex<Session>,
    key: ObjectHandle,
    public: PublicKey,
    certificate: Option<Certificate>,
    uri: Pkcs11Uri,
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pkcs11Signer({:?}, {:?})", self.uri, self.public)
    }
}

impl Pkcs11Signer {
    /// Opens the key `uri` names. The module path and PIN in the URI win; `module_path` and `pin`
    /// are used when the URI has none (the CLI passes cosign's environment variables here).
    pub fn open(uri: &Pkcs11Uri, module_path: Option<&Path>, pin: Option<&str>) -> Result<Self, KeyError> {
        let module = uri.module_path.as_deref().or(module_path).ok_or_else(|| {
            uri_error("PKCS#11 URI", "no module-path in the URI and no module path given (IRONSIGN_PKCS11_MODULE_PATH)")
        })?;
        let pin = uri.pin.as_deref().map(String::as_str).or(pin);
        let ctx = context(module)?;
        let slot = find_slot(&ctx, uri)?;
        let session = open_session(&ctx, slot, pin, false)?;
        let keys = session.find_objects(&key_template(uri, ObjectClass::PRIVATE_KEY)).map_err(token_error)?;
        let key = match keys.as_slice() {
            [k] => *k,
            [] => return Err(token_error(format!("no private key matches {uri:?} (is the PIN given?)"))),
            _ => return Err(token_error(format!("{} private keys match {uri:?}; add id=", keys.len()))),
        };
        // The key's own id and label locate its public key and certificate.
        let attrs = session.get_attributes(key, &[AttributeType::Id, AttributeType::Label]).map_err(token_error)?;
        let mut located = Pkcs11Uri::default();
        for a in attrs {
            match a {
                Attribute::Id(id) if !id.is_empty() => located.id = Some(id),
                Attribute::Label(l) if located.id.is_none() => located.object = String::from_utf8(l).ok(),
                _ => {}
            }
        }
        let certificate = session
            .find_objects(&key_template(&located, ObjectClass::CERTIFICATE))
            .map_err(token_error)?
            .first()
            .map(|c| value_of(&session, *c, AttributeType::Value))
            .transpose()?
            .flatten()
            .map(|der| Certificate::from_der(&der, "token certificate"))
            .transpose()
            .map_err(|e| token_error(e.to_string()))?;
        let public = match session
            .find_objects(&key_template(&located, ObjectClass::PUBLIC_KEY))
            .map_err(token_error)?
            .first()
        {
            Some(p) => PublicKey::from_spki_der(&public_key_spki(&session, *p)?, "token public key")?,
            None => match &certificate {
                Some(c) => c.public_key().map_err(|e| token_error(e.to_string()))?,
                None => return Err(token_error("the token has neither a public key nor a certificate for the key")),
            },
        };
        Ok(Pkcs11Signer { session: Mutex::new(session), key, public, certificate, uri: uri.clone() })
    }

    /// Generates a key pair in the token under the URI's label and id, and opens it.
    pub fn generate(
        uri: &Pkcs11Uri,
        kind: KeyKind,
        module_path: Option<&Path>,
        pin: Option<&str>,
    ) -> Result<Self, KeyError> {
        let module = uri.module_path.as_deref().or(module_path).ok_or_else(|| {
            uri_error("PKCS#11 URI", "no module-path in the URI and no module path given (IRONSIGN_PKCS11_MODULE_PATH)")
        })?;
        let pin_value = uri.pin.as_deref().map(String::as_str).or(pin);
        let ctx = context(module)?;
        let slot = find_slot(&ctx, uri)?;
        let session = open_session(&ctx, slot, pin_value, true)?;
        if !session.find_objects(&key_template(uri, ObjectClass::PRIVATE_KEY)).map_err(token_error)?.is_empty() {
            return Err(token_error(format!("a private key matching {uri:?} already exists")));
        }
        let mut common = vec![Attribute::Token(true)];
        if let Some(id) = &uri.id {
            common.push(Attribute::Id(id.clone()));
        }
        if let Some(label) = &uri.object {
            common.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        let mut public = common.clone();
        public.push(Attribute::Verify(true));
        let mut private = common;
        private.extend([Attribute::Sign(true), Attribute::Private(true), Attribute::Sensitive(true)]);
        private.push(Attribute::Extractable(false));
        let mechanism = match kind {
            KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => {
                let curve = if kind == KeyKind::EcdsaP256 {
                    const_oid::db::rfc5912::SECP_256_R_1
                } else {
                    const_oid::db::rfc5912::SECP_384_R_1
                };
                public.push(Attribute::EcParams(curve.to_der().expect("OID")));
                Mechanism::EccKeyPairGen
            }
            KeyKind::Rsa3072 | KeyKind::Rsa4096 => {
                let bits: u64 = if kind == KeyKind::Rsa3072 { 3072 } else { 4096 };
                public.push(Attribute::ModulusBits(bits.into()));
                public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
                Mechanism::RsaPkcsKeyPairGen
            }
        };
        session.generate_key_pair(&mechanism, &public, &private).map_err(token_error)?;
        drop(session);
        Self::open(uri, Some(module), pin_value)
    }

    /// The certificate stored in the token beside the key, if any.
    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_ref()
    }

    /// The URI (without the PIN).
    pub fn uri(&self) -> &Pkcs11Uri {
        &self.uri
    }
}

impl Signer for Pkcs11Signer {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        use aws_lc_rs::digest;
        let session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        match self.public.algorithm() {
            super::KeyAlgorithm::EcdsaP256 | super::KeyAlgorithm::EcdsaP384 => {
                let (alg, width) = if self.public.algorithm() == super::KeyAlgorithm::EcdsaP256 {
                    (&digest::SHA256, 32)
                } else {
                    (&digest::SHA384, 48)
                };
                let hash = digest::digest(alg, message);
                let raw = session.sign(&Mechanism::Ecdsa, self.key, hash.as_ref()).map_err(token_error)?;
                if raw.len() != 2 * width {
                    return Err(token_error(format!("ECDSA signature of {} bytes, expected {}", raw.len(), 2 * width)));
                }
                let int = |v: &[u8]| {
                    let v = &v[v.iter().position(|&b| b != 0).unwrap_or(v.len() - 1)..];
                    let mut c = Vec::with_capacity(v.len() + 1);
                    if v[0] & 0x80 != 0 {
                        c.push(0);
                    }
                    c.extend_from_slice(v);
                    der_tlv(0x02, &c)
                };
                Ok(der_tlv(0x30, &[int(&raw[..width]), int(&raw[width..])].concat()))
            }
            super::KeyAlgorithm::Rsa { .. } => {
                session.sign(&Mechanism::Sha256RsaPkcs, self.key, message).map_err(token_error)
            }
        }
    }
}

/// The URIs of every private key in the token(s) `selector` names (its `token`/`slot-id`;
/// object and id are ignored), as cosign's `pkcs11-tool list-keys-uris` prints them (without the
/// PIN).
pub fn list_key_uris(
    module_path: &Path,
    slot_id: Option<u64>,
    token: Option<&str>,
    pin: Option<&str>,
) -> Result<Vec<Pkcs11Uri>, KeyError> {
    let ctx = context(module_path)?;
    let selector = Pkcs11Uri { slot_id, token: token.map(str::to_owned), ..Default::default() };
    let slot = find_slot(&ctx, &selector)?;
    let label = ctx.get_token_info(slot).map_err(token_error)?.label().trim_end().to_owned();
    let session = open_session(&ctx, slot, pin, false)?;
    let mut out = Vec::new();
    for key in session.find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)]).map_err(token_error)? {
        let mut uri = Pkcs11Uri {
            token: Some(label.clone()),
            slot_id: Some(slot.id()),
            module_path: Some(module_path.to_owned()),
            ..Default::default()
        };
        for a in session.get_attributes(key, &[AttributeType::Id, AttributeType::Label]).map_err(token_error)? {
            match a {
                Attribute::Id(id) if !id.is_empty() => uri.id = Some(id),
                Attribute::Label(l) if !l.is_empty() => uri.object = String::from_utf8(l).ok(),
                _ => {}
            }
        }
        out.push(uri);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cosign_style_uris() {
        let u = Pkcs11Uri::parse(
            "pkcs11:token=my%20token;slot-id=3;object=signer;id=%01%ab?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("my token"));
        assert_eq!(u.slot_id, Some(3));
        assert_eq!(u.object.as_deref(), Some("signer"));
        assert_eq!(u.id.as_deref(), Some(&[0x01, 0xab][..]));
        assert_eq!(u.module_path.as_deref(), Some(Path::new("/usr/lib/softhsm/libsofthsm2.so")));
        assert_eq!(u.pin.as_deref().map(String::as_str), Some("1234"));
        let text = format!("{u:?}");
        assert!(!text.contains("1234"), "{text}");
        assert_eq!(Pkcs11Uri::parse(&u.to_uri_string()).unwrap().id, u.id);
        assert!(Pkcs11Uri::parse("pkcs11:token=t").is_err(), "no key named");
        assert!(Pkcs11Uri::parse("pkcs11:object=k;bogus=1").is_err());
        assert!(Pkcs11Uri::parse("pkcs11:id=%zz").is_err());
        assert!(Pkcs11Uri::parse("file:x").is_err());
    }
}
