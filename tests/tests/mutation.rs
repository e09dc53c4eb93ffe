//! Every single-byte change to a valid signature makes verification fail: each byte of the
//! payload, of the signature, of the leaf certificate and of the intermediate in the chain
//! annotation, each character of the signature, certificate and chain annotations and of every
//! annotation key, and the value of a required annotation; each byte of an attestation's DSSE
//! envelope, of an RFC 3161 timestamp token and of a Sigstore bundle. And moving one signature's
//! evidence (certificate, chain, timestamp token) onto another signature fails. Pure
//! verification, no registry (the tokens come once from the local TSA of `scripts/tsa`).

use base64::Engine as _;
use ironsign::cosign::{self, SignatureLayer, SignedImage};
use ironsign::{Certificate, Digest, Identity, KeyPairSigner, Policy, Signer as _, TrustRoot, Verifier};
use ironsign_e2e::{Tsa, block_on, pki};
use std::collections::BTreeMap;

struct Fixture {
    verifier: Verifier,
    policy: Policy,
    payload: Vec<u8>,
    signature: Vec<u8>,
    leaf_der: Vec<u8>,
    inter_der: Vec<u8>,
    digest: Digest,
}

fn pem(der: &[u8]) -> String {
    Certificate::from_der(der, "mutated").map(|c| c.to_pem()).unwrap_or_else(|_| {
        // Not parseable any more: still encode it, so the verifier sees the broken bytes.
        pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))
    })
}

impl Fixture {
    fn new() -> Self {
        let read = |f: &str| std::fs::read(pki().join(f)).unwrap();
        let digest = Digest::sha256(b"the image manifest");
        let payload = cosign::simple_signing_payload(
            "registry.example/team/app",
            &digest,
            &BTreeMap::from([("build".to_owned(), "1".to_owned())]),
        );
        let signer = KeyPairSigner::from_pem(&read("leaf.key"), None, "leaf.key").unwrap();
        let signature = signer.sign(&payload).unwrap();
        let leaf_der = Certificate::from_pem_or_der(&read("leaf.pem"), "leaf").unwrap().der().to_vec();
        let inter_der = Certificate::from_pem_or_der(&read("inter.pem"), "inter").unwrap().der().to_vec();
        let verifier = Verifier::new(TrustRoot::from_pem(&read("root.pem"), None).unwrap());
        let policy = Policy::identity(Identity::san("signer@example.com")).with_annotation("build", "1");
        Fixture { verifier, policy, payload, signature, leaf_der, inter_der, digest }
    }

    fn image(&self, payload: &[u8], signature_b64: String, leaf_pem: String, chain_pem: String) -> SignedImage {
        let annotations = BTreeMap::from([
            (cosign::SIGNATURE_ANNOTATION.to_owned(), signature_b64),
            (cosign::CERTIFICATE_ANNOTATION.to_owned(), leaf_pem),
            (cosign::CHAIN_ANNOTATION.to_owned(), chain_pem),
        ]);
        SignedImage {
            repository: "registry.example/team/app".into(),
            digest: self.digest.clone(),
            signatures: vec![SignatureLayer {
                media_type: cosign::SIMPLE_SIGNING_MEDIA_TYPE.into(),
                payload: payload.to_vec(),
                payload_digest: Digest::sha256(payload),
                annotations,
                referrer: None,
            }],
        }
    }

    fn verifies(&self, image: &SignedImage) -> bool {
        self.verifier.verify(image, &self.policy).is_ok()
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

fn flipped(bytes: &[u8], i: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[i] ^= 0x01;
    out
}

#[test]
fn the_unmutated_signature_verifies() {
    let f = Fixture::new();
    let image = f.image(&f.payload, Fixture::b64(&f.signature), pem(&f.leaf_der), pem(&f.inter_der));
    assert!(f.verifies(&image));
}

#[test]
fn every_payload_and_signature_byte_matters() {
    let f = Fixture::new();
    for i in 0..f.payload.len() {
        let image = f.image(&flipped(&f.payload, i), Fixture::b64(&f.signature), pem(&f.leaf_der), pem(&f.inter_der));
        assert!(!f.verifies(&image), "payload byte {i} changed and it still verified");
    }
    for i in 0..f.signature.len() {
        let image = f.image(&f.payload, Fixture::b64(&flipped(&f.signature, i)), pem(&f.leaf_der), pem(&f.inter_der));
        assert!(!f.verifies(&image), "signature byte {i} changed and it still verified");
    }
    let b64 = Fixture::b64(&f.signature);
    for (i, c) in b64.char_indices() {
        let replacement = if c == 'A' { 'B' } else { 'A' };
        let mut s = b64.clone();
        s.replace_range(i..i + 1, &replacement.to_string());
        let image = f.image(&f.payload, s, pem(&f.leaf_der), pem(&f.inter_der));
        assert!(!f.verifies(&image), "signature annotation character {i} changed and it still verified");
    }
}

#[test]
fn every_certificate_byte_matters() {
    let f = Fixture::new();
    for i in 0..f.leaf_der.len() {
        let image = f.image(&f.payload, Fixture::b64(&f.signature), pem(&flipped(&f.leaf_der, i)), pem(&f.inter_der));
        assert!(!f.verifies(&image), "leaf certificate byte {i} changed and it still verified");
    }
    for i in 0..f.inter_der.len() {
        let image = f.image(&f.payload, Fixture::b64(&f.signature), pem(&f.leaf_der), pem(&flipped(&f.inter_der, i)));
        assert!(!f.verifies(&image), "intermediate certificate byte {i} changed and it still verified");
    }
}

/// Replaces the character at byte `i` of `text` with another printable one.
fn char_changed(text: &str, i: usize) -> Option<String> {
    let c = text[i..].chars().next()?;
    let replacement = match c {
        'A' => 'B',
        '\n' => ' ',
        _ => 'A',
    };
    let mut s = text.to_owned();
    s.replace_range(i..i + c.len_utf8(), &replacement.to_string());
    Some(s)
}

/// The DER of every certificate a PEM text holds, if it parses.
fn ders(pem_text: &str) -> Option<Vec<Vec<u8>>> {
    Certificate::from_pem_many(pem_text.as_bytes(), "mutated", 10)
        .ok()
        .map(|certs| certs.iter().map(|c| c.der().to_vec()).collect())
}

#[test]
fn every_certificate_and_chain_annotation_character_matters() {
    let f = Fixture::new();
    let (leaf, chain) = (pem(&f.leaf_der), pem(&f.inter_der));
    let sig = Fixture::b64(&f.signature);
    // A change the PEM decoder ignores (say, of whitespace) leaves the same certificates: that is
    // the same signature, and it may verify. Any change that reaches the certificates must fail.
    for (i, _) in leaf.char_indices() {
        let Some(mutated) = char_changed(&leaf, i) else { continue };
        let image = f.image(&f.payload, sig.clone(), mutated.clone(), chain.clone());
        if f.verifies(&image) {
            assert_eq!(ders(&mutated), Some(vec![f.leaf_der.clone()]), "leaf annotation character {i} changed");
        }
    }
    for (i, _) in chain.char_indices() {
        let Some(mutated) = char_changed(&chain, i) else { continue };
        let image = f.image(&f.payload, sig.clone(), leaf.clone(), mutated.clone());
        if f.verifies(&image) {
            assert_eq!(ders(&mutated), Some(vec![f.inter_der.clone()]), "chain annotation character {i} changed");
        }
    }
}

#[test]
fn every_annotation_key_and_payload_annotation_matters() {
    let f = Fixture::new();
    let image = f.image(&f.payload, Fixture::b64(&f.signature), pem(&f.leaf_der), pem(&f.inter_der));
    // Renaming any layer annotation key (signature, certificate, chain) loses what the
    // verification needs: the signature, or the path to the root.
    for key in image.signatures[0].annotations.keys().cloned().collect::<Vec<_>>() {
        for (i, _) in key.char_indices() {
            let mut mutated = image.clone();
            let value = mutated.signatures[0].annotations.remove(&key).unwrap();
            mutated.signatures[0].annotations.insert(char_changed(&key, i).unwrap(), value);
            assert!(!f.verifies(&mutated), "annotation key {key:?} character {i} changed and it still verified");
        }
    }
    // The `-a` annotations the policy requires are in the signed payload: a payload re-signed
    // with another value is a different signature and fails the policy.
    let payload = cosign::simple_signing_payload(
        "registry.example/team/app",
        &f.digest,
        &BTreeMap::from([("build".to_owned(), "2".to_owned())]),
    );
    let signer = KeyPairSigner::from_pem(&std::fs::read(pki().join("leaf.key")).unwrap(), None, "leaf.key").unwrap();
    let resigned =
        f.image(&payload, Fixture::b64(&signer.sign(&payload).unwrap()), pem(&f.leaf_der), pem(&f.inter_der));
    assert!(!f.verifies(&resigned));
}

// ---------------------------------------------------------------------------------------------
// Attestations, timestamps and bundles.

const REPOSITORY: &str = "registry.example/team/app";
const PREDICATE: &str = "https://example.com/predicate/v1";

/// A signer's key and the evidence it attaches: certificate, chain, and the TSA that dates it.
struct Material {
    key: KeyPairSigner,
    cert: String,
    chain: String,
    tsa_url: String,
}

/// What an attestation's timestamp is over (cosign v2: the envelope; v3: the DSSE signature).
#[derive(Debug, Clone, Copy)]
enum Over {
    Nothing,
    Envelope,
    Signature,
}

/// Two signers whose evidence differs in every part: the test leaf under the main PKI, dated now,
/// and the lapsed leaf under its own PKI, dated 100 days ago when it was valid (without that
/// timestamp it does not verify). Both roots and the TSA are trusted.
struct Evidence {
    verifier: Verifier,
    policy: Policy,
    digest: Digest,
    current: Material,
    lapsed: Material,
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(pki().join(file)).unwrap()
}

fn timestamp(url: &str, data: &[u8]) -> Vec<u8> {
    block_on(ironsign::TimestampClient::new(url, &[]).unwrap().timestamp(data)).unwrap()
}

impl Evidence {
    /// `tsa_trust`: the PKI file of the TSA certificates trusted.
    fn new(tsa: &Tsa, tsa_trust: &str) -> Self {
        let roots = [read("root.pem"), read("lapsed-root.pem")].concat();
        let authorities = ironsign::TimestampAuthorities::from_pem(&read(tsa_trust)).unwrap();
        let trust = TrustRoot::from_pem(&roots, None).unwrap().with_timestamp_authorities(authorities);
        let material = |key: &str, cert: &str, chain: &str, faketime: Option<&str>| Material {
            key: KeyPairSigner::from_pem(&read(key), None, key).unwrap(),
            cert: String::from_utf8(read(cert)).unwrap(),
            chain: String::from_utf8(read(chain)).unwrap(),
            tsa_url: tsa.url("ecdsa", faketime),
        };
        Evidence {
            verifier: Verifier::new(trust),
            policy: Policy::identity(Identity::san("signer@example.com")),
            digest: Digest::sha256(b"the image manifest"),
            current: material("leaf.key", "leaf.pem", "chain.pem", None),
            lapsed: material("leaf-lapsed.key", "leaf-lapsed.pem", "chain-lapsed.pem", Some("-100d")),
        }
    }

    fn layer(media_type: &str, payload: Vec<u8>, annotations: BTreeMap<String, String>) -> SignatureLayer {
        SignatureLayer {
            media_type: media_type.into(),
            payload_digest: Digest::sha256(&payload),
            payload,
            annotations,
            referrer: None,
        }
    }

    fn annotations(m: &Material, signature: &[u8], token: Option<Vec<u8>>) -> BTreeMap<String, String> {
        let mut a = BTreeMap::from([
            (cosign::SIGNATURE_ANNOTATION.to_owned(), Fixture::b64(signature)),
            (cosign::CERTIFICATE_ANNOTATION.to_owned(), m.cert.clone()),
            (cosign::CHAIN_ANNOTATION.to_owned(), m.chain.clone()),
        ]);
        if let Some(token) = token {
            a.insert(cosign::RFC3161_ANNOTATION.to_owned(), ironsign::tsa::annotation_value(&token));
        }
        a
    }

    /// A timestamped `.sig` layer.
    fn signature(&self, m: &Material) -> SignatureLayer {
        let payload = cosign::simple_signing_payload(REPOSITORY, &self.digest, &BTreeMap::new());
        let signature = m.key.sign(&payload).unwrap();
        let token = timestamp(&m.tsa_url, &signature);
        Self::layer(cosign::SIMPLE_SIGNING_MEDIA_TYPE, payload, Self::annotations(m, &signature, Some(token)))
    }

    /// A `.att` layer, timestamped over `over`.
    fn attestation(&self, m: &Material, over: Over) -> SignatureLayer {
        let statement = ironsign::intoto::Statement::for_image(
            ironsign::intoto::StatementVersion::V01,
            REPOSITORY,
            &self.digest,
            PREDICATE,
            serde_json::json!({"k": "v"}),
        )
        .to_json();
        let envelope = ironsign::dsse::Envelope::sign(ironsign::dsse::INTOTO_PAYLOAD_TYPE, &statement, &m.key).unwrap();
        let signature = envelope.signature_bytes().unwrap().remove(0);
        let envelope = envelope.to_json();
        let token = match over {
            Over::Nothing => None,
            Over::Envelope => Some(timestamp(&m.tsa_url, &envelope)),
            Over::Signature => Some(timestamp(&m.tsa_url, &signature)),
        };
        Self::layer(cosign::DSSE_MEDIA_TYPE, envelope, Self::annotations(m, b"", token))
    }

    /// A Sigstore bundle (image signature) by `key` with certificate `cert` (PKI file names).
    fn bundle(&self, key: &str, cert: &str, intermediate: &str) -> SignatureLayer {
        use ironsign::bundle::{self, Bundle, VerificationMaterial};
        let key = KeyPairSigner::from_pem(&read(key), None, key).unwrap();
        let statement = bundle::sign_statement(&self.digest, &BTreeMap::new());
        let envelope = ironsign::dsse::Envelope::sign(ironsign::dsse::INTOTO_PAYLOAD_TYPE, &statement, &key).unwrap();
        let der = |file: &str| Certificate::from_pem_or_der(&read(file), file).unwrap().der().to_vec();
        let json = Bundle::dsse(envelope, VerificationMaterial::Chain(vec![der(cert), der(intermediate)])).to_json();
        let mut layer = Self::layer(bundle::BUNDLE_MEDIA_TYPE, json, BTreeMap::new());
        layer.referrer = Some(Digest::sha256(b"the referrer manifest"));
        layer
    }

    /// Whether `layer`, alone on the image, verifies (as a signature, or as an attestation of
    /// [`PREDICATE`] for a DSSE layer).
    fn verifies(&self, layer: &SignatureLayer) -> bool {
        let image =
            SignedImage { repository: REPOSITORY.into(), digest: self.digest.clone(), signatures: vec![layer.clone()] };
        if layer.media_type == cosign::DSSE_MEDIA_TYPE {
            self.verifier.verify_attestations(&image, &self.policy, PREDICATE, &[]).is_ok()
        } else {
            self.verifier.verify(&image, &self.policy).is_ok()
        }
    }

    /// The rejection code of `layer` alone.
    fn rejection(&self, layer: &SignatureLayer) -> String {
        let image =
            SignedImage { repository: REPOSITORY.into(), digest: self.digest.clone(), signatures: vec![layer.clone()] };
        match self.verifier.verify(&image, &self.policy) {
            Err(ironsign::Error::Verification(ironsign::VerificationError::NoMatchingSignature {
                rejections, ..
            })) => rejections[0].reason.code().to_owned(),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
}

fn with_payload(layer: &SignatureLayer, payload: Vec<u8>) -> SignatureLayer {
    SignatureLayer { payload_digest: Digest::sha256(&payload), payload, ..layer.clone() }
}

#[test]
fn every_envelope_byte_matters() {
    let tsa = Tsa::start();
    let e = Evidence::new(&tsa, "tsa-ecdsa-chain.pem");
    // Without a timestamp (the certificate is valid now), and dated by a token over the envelope.
    for layer in [e.attestation(&e.current, Over::Nothing), e.attestation(&e.lapsed, Over::Envelope)] {
        assert!(e.verifies(&layer));
        let original = ironsign::dsse::Envelope::parse(&layer.payload).unwrap();
        for i in 0..layer.payload.len() {
            let mutated = with_payload(&layer, flipped(&layer.payload, i));
            if e.verifies(&mutated) {
                // Only a change that leaves the very same envelope may verify: the key name of
                // an empty, unsigned `keyid` changed, which reads as no key id.
                let parsed = ironsign::dsse::Envelope::parse(&mutated.payload).ok();
                assert_eq!(parsed.as_ref(), Some(&original), "envelope byte {i} changed and it still verified");
            }
        }
    }
}

#[test]
fn every_timestamp_token_byte_matters() {
    let tsa = Tsa::start();
    // Only the TSA root is trusted, so the certificates the token carries are what it is
    // verified with (pinned copies would make the token's own copies redundant).
    let e = Evidence::new(&tsa, "tsa-root.pem");
    let layers = [
        ("lapsed .sig", e.signature(&e.lapsed)),
        ("lapsed .att over the envelope", e.attestation(&e.lapsed, Over::Envelope)),
        ("lapsed .att over the signature", e.attestation(&e.lapsed, Over::Signature)),
        // A token is checked even when the certificate is valid without it.
        ("current .sig", e.signature(&e.current)),
    ];
    for (what, layer) in layers {
        assert!(e.verifies(&layer), "{what}");
        let token = ironsign::tsa::parse_annotation(&layer.annotations[cosign::RFC3161_ANNOTATION]).unwrap();
        let mut survivors = Vec::new();
        for i in 0..token.len() {
            let mut mutated = layer.clone();
            let value = ironsign::tsa::annotation_value(&flipped(&token, i));
            mutated.annotations.insert(cosign::RFC3161_ANNOTATION.into(), value);
            if e.verifies(&mutated) {
                survivors.push(i);
            }
        }
        // The one byte that may change: the status, outside the signed token, from granted (0)
        // to grantedWithMods (1), which RFC 3161 §2.4.2 also answers with a token (cosign
        // accepts both).
        assert_eq!(token[4..9], [0x30, 0x03, 0x02, 0x01, 0x00], "{what}: PKIStatusInfo");
        survivors.retain(|&i| i != 8);
        assert!(
            survivors.is_empty(),
            "{what}: token bytes {survivors:?} of {} changed and it still verified",
            token.len()
        );
    }
}

#[test]
fn every_bundle_byte_matters() {
    let tsa = Tsa::start();
    let e = Evidence::new(&tsa, "tsa-ecdsa-chain.pem");
    let layer = e.bundle("leaf.key", "leaf.pem", "inter.pem");
    assert!(e.verifies(&layer), "{}", e.rejection(&layer));
    for i in 0..layer.payload.len() {
        let mutated = with_payload(&layer, flipped(&layer.payload, i));
        assert!(!e.verifies(&mutated), "bundle byte {i} changed and it still verified");
    }
}

#[test]
fn moving_evidence_onto_another_signature_fails() {
    let tsa = Tsa::start();
    let e = Evidence::new(&tsa, "tsa-ecdsa-chain.pem");
    let pairs = [
        ("signatures", e.signature(&e.current), e.signature(&e.lapsed)),
        (
            "attestations over envelopes",
            e.attestation(&e.current, Over::Envelope),
            e.attestation(&e.lapsed, Over::Envelope),
        ),
        (
            "attestations over signatures",
            e.attestation(&e.current, Over::Signature),
            e.attestation(&e.lapsed, Over::Signature),
        ),
        // The same signer twice: only the token differs, and it is bound to its own signature.
        ("two signatures by one signer", e.signature(&e.lapsed), e.signature(&e.lapsed)),
    ];
    let parts: [&[&str]; 5] = [
        &[cosign::CERTIFICATE_ANNOTATION],
        &[cosign::CHAIN_ANNOTATION],
        &[cosign::RFC3161_ANNOTATION],
        &[cosign::CERTIFICATE_ANNOTATION, cosign::CHAIN_ANNOTATION],
        &[cosign::CERTIFICATE_ANNOTATION, cosign::CHAIN_ANNOTATION, cosign::RFC3161_ANNOTATION],
    ];
    for (what, a, b) in pairs {
        assert!(e.verifies(&a) && e.verifies(&b), "{what}");
        for (from, onto) in [(&a, &b), (&b, &a)] {
            for keys in parts {
                let mut moved = onto.clone();
                for key in keys {
                    moved.annotations.insert((*key).to_owned(), from.annotations[*key].clone());
                }
                if moved.annotations == onto.annotations {
                    continue; // the same signer's certificate and chain: nothing moved
                }
                assert!(!e.verifies(&moved), "{what}: {keys:?} moved onto another signature and it still verified");
            }
        }
    }

    // Bundles: the certificate of one onto the other (another key under the same CA).
    let (p256, rsa) =
        (e.bundle("leaf.key", "leaf.pem", "inter.pem"), e.bundle("leaf-rsa.key", "leaf-rsa.pem", "inter.pem"));
    assert!(e.verifies(&p256) && e.verifies(&rsa));
    let material = |layer: &SignatureLayer| -> serde_json::Value {
        serde_json::from_slice::<serde_json::Value>(&layer.payload).unwrap()["verificationMaterial"].clone()
    };
    for (from, onto) in [(&p256, &rsa), (&rsa, &p256)] {
        let mut json: serde_json::Value = serde_json::from_slice(&onto.payload).unwrap();
        json["verificationMaterial"] = material(from);
        let moved = with_payload(onto, serde_json::to_vec(&json).unwrap());
        assert_eq!(e.rejection(&moved), "BAD_SIGNATURE");
    }
    // A bundle's own timestamps date nothing (no TSA material for bundles): the lapsed
    // certificate stays expired even with a valid token over its signature.
    let lapsed = e.bundle("leaf-lapsed.key", "leaf-lapsed.pem", "lapsed-inter.pem");
    let mut json: serde_json::Value = serde_json::from_slice(&lapsed.payload).unwrap();
    let signature = json["dsseEnvelope"]["signatures"][0]["sig"].as_str().unwrap().to_owned();
    let signature = base64::engine::general_purpose::STANDARD.decode(signature).unwrap();
    let token = timestamp(&e.lapsed.tsa_url, &signature);
    json["verificationMaterial"]["timestampVerificationData"] =
        serde_json::json!({"rfc3161Timestamps": [{"signedTimestamp": Fixture::b64(&token)}]});
    assert_eq!(e.rejection(&with_payload(&lapsed, serde_json::to_vec(&json).unwrap())), "CERT_EXPIRED");
}
