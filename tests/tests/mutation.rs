//! Every single-byte change to a valid signature makes verification fail: each byte of the
//! payload, of the signature, of the leaf certificate and of the intermediate in the chain
//! annotation, and each character of the signature annotation. Pure verification, no registry.

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
