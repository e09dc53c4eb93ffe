//! Every single-byte change to a valid signature makes verification fail: each byte of the
//! payload, of the signature, of the leaf certificate and of the intermediate in the chain
//! annotation, each character of the signature, certificate and chain annotations and of every
//! annotation key, and the value of a required annotation. Pure verification, no registry.

use base64::Engine as _;
use ironsign::cosign::{self, SignatureLayer, SignedImage};
use ironsign::{Certificate, Digest, Identity, KeyPairSigner, Policy, Signer as _, TrustRoot, Verifier};
use ironsign_e2e::pki;
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
