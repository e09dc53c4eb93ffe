//! Hostile signature layers on the real registry (the figures for the larger cases come from
//! `bench/hostile.py`): each is refused with a named reason, never trusted.

use ironsign::cosign::{self, AttachmentKind, LayerSpec};
use ironsign::dsse::{self, Envelope, EnvelopeSignature};
use ironsign::intoto::{Statement, StatementVersion};
use ironsign::{Digest, ImageReference, KeyPairSigner, Limits, RegistryClient, RegistryOptions};
use ironsign_e2e::*;
use std::collections::BTreeMap;

fn verify_json(image: &str) -> Run {
    let root = pki_file("root.pem");
    ironsign(&["verify", "--ca-roots", &root, "--certificate-identity", "signer@example.com", "-o", "json", image])
}

#[test]
fn a_chain_annotation_of_fifty_certificates_is_refused() {
    let (_, image) = push_image(&unique_repo("hostile-chain"));
    let payload = payload_for(&image);
    let mut annotations = signed_layer(&payload, "leaf.key", Some("leaf.pem"), Some("chain.pem"));
    let chain = annotations[cosign::CHAIN_ANNOTATION].repeat(25);
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 50);
    annotations.insert(cosign::CHAIN_ANNOTATION.to_owned(), chain);
    push_raw_signatures(&image, &[(payload.clone(), annotations)]);
    let run = verify_json(&image).code(12);
    assert_eq!(rejection_codes(&run), ["CERT_TOO_MANY"]);
    // The same signature with its real chain verifies: the count alone was refused.
    let annotations = signed_layer(&payload, "leaf.key", Some("leaf.pem"), Some("chain.pem"));
    push_raw_signatures(&image, &[(payload, annotations)]);
    verify_json(&image).ok();
}

#[test]
fn a_signature_manifest_over_the_layer_bound_is_refused() {
    // One over cosign's 1,000 (bench/hostile.py measures 10,000).
    let (_, image) = push_image(&unique_repo("hostile-layers"));
    let payload = payload_for(&image);
    let annotations = signed_layer(&payload, "leaf.key", None, None);
    push_raw_signatures(&image, &vec![(payload, annotations); 1001]);
    let run = verify_json(&image);
    assert_eq!(run.json()["error"]["code"], "REGISTRY_TOO_MANY", "{}", run.stdout);
}

/// Writes an attachment manifest (`.sig` or `.att`) of `image` whose layers are `(media type, blob
/// digest, declared size, annotations)`: blobs may repeat and sizes may lie, as a hostile writer's.
fn push_raw_manifest(image: &str, suffix: &str, layers: &[(&str, Digest, u64, BTreeMap<String, String>)]) {
    let reference = ImageReference::parse(image).unwrap();
    let digest = reference.digest.clone().unwrap();
    block_on(async {
        let c = client();
        let specs: Vec<LayerSpec> = layers
            .iter()
            .map(|(media_type, digest, size, annotations)| LayerSpec {
                media_type: (*media_type).to_owned(),
                digest: digest.clone(),
                size: *size,
                annotations: annotations.clone(),
            })
            .collect();
        let config = cosign::signature_config(&specs);
        c.put_blob(&reference.location, &config).await.unwrap();
        let manifest = cosign::signature_manifest(&config, &specs);
        c.put_manifest(&reference.location, &digest.attachment_tag(suffix), &manifest, cosign::OCI_MANIFEST)
            .await
            .unwrap();
    });
}

fn put_blob(image: &str, data: &[u8]) -> Digest {
    let reference = ImageReference::parse(image).unwrap();
    block_on(async { client().put_blob(&reference.location, data).await.unwrap() })
}

fn client_with(limits: Limits) -> RegistryClient {
    RegistryClient::new(RegistryOptions { limits, ..Default::default() }).unwrap()
}

#[test]
fn one_blob_named_by_many_layers_is_refused_before_it_is_read() {
    // 100 layers naming one 3 MiB blob: 300 MiB held if each layer got its copy, over the 256 MiB
    // a verification may read (bench/hostile.py measures 1,000 layers of a 64 MiB blob).
    let (_, image) = push_image(&unique_repo("hostile-repeated"));
    let blob = put_blob(&image, &vec![b'x'; 3 << 20]);
    let layers = vec![(cosign::SIMPLE_SIGNING_MEDIA_TYPE, blob, 3u64 << 20, BTreeMap::new()); 100];
    push_raw_manifest(&image, "sig", &layers);
    let run = verify_json(&image).code(4);
    assert_eq!(run.json()["error"]["code"], "REGISTRY_TOO_LARGE", "{}", run.stdout);
    assert!(run.json()["error"]["message"].as_str().unwrap().contains("268435456"), "{}", run.stdout);
}

#[test]
fn a_repeated_blob_within_the_bound_verifies_for_every_layer() {
    // The same signed payload in three layers (as re-signing the same image yields): read once,
    // verified three times.
    let (_, image) = push_image(&unique_repo("hostile-repeated-ok"));
    let payload = payload_for(&image);
    let annotations = signed_layer(&payload, "leaf.key", Some("leaf.pem"), Some("chain.pem"));
    let blob = put_blob(&image, &payload);
    let size = payload.len() as u64;
    push_raw_manifest(&image, "sig", &vec![(cosign::SIMPLE_SIGNING_MEDIA_TYPE, blob.clone(), size, annotations); 3]);
    let result = verify_json(&image).ok().json();
    assert_eq!(result["signatures"].as_array().unwrap().len(), 3, "{result}");
    // A layer declaring less than the blob's size is refused as its own read would be.
    let annotations = signed_layer(&payload, "leaf.key", Some("leaf.pem"), Some("chain.pem"));
    let short = (cosign::SIMPLE_SIGNING_MEDIA_TYPE, blob.clone(), size - 1, annotations.clone());
    push_raw_manifest(&image, "sig", &[(cosign::SIMPLE_SIGNING_MEDIA_TYPE, blob, size, annotations), short]);
    let run = verify_json(&image).code(4);
    assert_eq!(run.json()["error"]["code"], "REGISTRY_TOO_LARGE", "{}", run.stdout);
}

#[test]
fn the_byte_bound_covers_both_formats_and_never_falls_back() {
    // A legacy signature and a bundle: a bound that the legacy layer fits in but not both is an
    // error, not a verification of the legacy layer alone.
    let image = push_image_to(&registry(RegistryKind::Referrers), &unique_repo("hostile-budget"), &[]).1;
    let key = pki_file("leaf.key");
    ironsign(&["sign", "--key", &key, &image]).ok();
    ironsign(&["sign", "--bundle-format", "--key", &key, &image]).ok();
    let reference = ImageReference::parse(&image).unwrap();
    let digest = reference.digest.clone().unwrap();
    let legacy_bytes = block_on(async {
        let c = client();
        let (fetched, manifest) =
            c.get_attachment_manifest(&reference.location, &digest, AttachmentKind::Signature).await.unwrap().unwrap();
        fetched.bytes.len() as u64 + manifest.layers.iter().map(|l| l.size).sum::<u64>()
    });
    let limits = Limits { max_fetched_bytes: legacy_bytes + 64, ..Default::default() };
    let c = client_with(limits);
    let legacy = block_on(c.fetch_attached(&reference, &digest, AttachmentKind::Signature)).unwrap();
    assert_eq!(legacy.signatures.len(), 1);
    let err = block_on(c.fetch_signatures(&reference)).unwrap_err();
    assert_eq!(err.code(), "REGISTRY_TOO_LARGE", "{err}");
    // With room for both, both are read.
    let both = block_on(client().fetch_signatures(&reference)).unwrap();
    assert_eq!(both.signatures.len(), 2);

    // The signature count covers both formats too.
    let c = client_with(Limits { max_signatures: 1, ..Default::default() });
    let err = block_on(c.fetch_signatures(&reference)).unwrap_err();
    assert_eq!(err.code(), "REGISTRY_TOO_MANY", "{err}");
    let c = client_with(Limits { max_signatures: 2, ..Default::default() });
    assert_eq!(block_on(c.fetch_signatures(&reference)).unwrap().signatures.len(), 2);
}

#[test]
fn a_signature_the_leaf_did_not_make_is_refused_before_its_chain_is_read() {
    // The cheap check comes first: a signature the leaf's key does not verify is refused without
    // parsing a hostile chain or building a path (with a good signature the chain is refused).
    let (_, image) = push_image(&unique_repo("hostile-cheap-first"));
    let payload = payload_for(&image);
    let mut annotations = signed_layer(&payload, "leaf.key", Some("leaf.pem"), Some("chain.pem"));
    annotations.insert(cosign::CHAIN_ANNOTATION.to_owned(), annotations[cosign::CHAIN_ANNOTATION].repeat(25));
    let mut forged = annotations.clone();
    let other = signed_layer(b"another payload", "leaf.key", None, None);
    forged.insert(cosign::SIGNATURE_ANNOTATION.to_owned(), other[cosign::SIGNATURE_ANNOTATION].clone());
    push_raw_signatures(&image, &[(payload.clone(), forged), (payload, annotations)]);
    let run = verify_json(&image).code(12);
    assert_eq!(rejection_codes(&run), ["BAD_SIGNATURE", "CERT_TOO_MANY"]);
}

/// A `.att` layer whose envelope carries `garbage` signatures that verify under nothing, then
/// the real one.
fn push_attestation_with_signatures(image: &str, garbage: usize) {
    use base64::Engine as _;
    let reference = ImageReference::parse(image).unwrap();
    let digest = reference.digest.clone().unwrap();
    let statement =
        Statement::for_image(StatementVersion::V1, &reference.repository_name(), &digest, TYPE, serde_json::json!({}))
            .to_json();
    let signer = KeyPairSigner::from_file(std::path::Path::new(&pki_file("leaf.key")), None).unwrap();
    let mut envelope = Envelope::sign(dsse::INTOTO_PAYLOAD_TYPE, &statement, &signer).unwrap();
    let real = envelope.signatures.pop().unwrap();
    let junk = base64::engine::general_purpose::STANDARD.encode([7u8; 70]);
    envelope.signatures = vec![EnvelopeSignature { keyid: String::new(), sig: junk }; garbage];
    envelope.signatures.push(real);
    let blob = envelope.to_json();
    let blob_digest = put_blob(image, &blob);
    let annotations = signed_layer(b"", "leaf.key", Some("leaf.pem"), Some("chain.pem"));
    let mut annotations: BTreeMap<String, String> =
        annotations.into_iter().filter(|(k, _)| k != cosign::SIGNATURE_ANNOTATION).collect();
    annotations.insert(cosign::SIGNATURE_ANNOTATION.to_owned(), String::new());
    push_raw_manifest(image, "att", &[(cosign::DSSE_MEDIA_TYPE, blob_digest, blob.len() as u64, annotations)]);
}

const TYPE: &str = "https://example.com/hostile/v1";

#[test]
fn an_envelope_with_more_signatures_than_the_bound_is_refused() {
    let (_, image) = push_image(&unique_repo("hostile-dsse"));
    let root = pki_file("root.pem");
    let verify = |image: &str| {
        let args = ["verify-attestation", "--type", TYPE, "--ca-roots", &root];
        ironsign(&[&args[..], &["--certificate-identity", "signer@example.com", "-o", "json", image]].concat())
    };
    push_attestation_with_signatures(&image, dsse::MAX_ENVELOPE_SIGNATURES - 1);
    let ok = verify(&image).ok().json();
    assert_eq!(ok["attestations"].as_array().unwrap().len(), 1, "{ok}");
    push_attestation_with_signatures(&image, dsse::MAX_ENVELOPE_SIGNATURES);
    let run = verify(&image).code(12);
    assert_eq!(rejection_codes(&run), ["MALFORMED_SIGNATURE"]);
    assert!(run.stdout.contains("more than the limit of 16"), "{}", run.stdout);
}
