//! Hostile signature layers on the real registry (the figures for the larger cases come from
//! `bench/hostile.py`): each is refused with a named reason, never trusted.

use ironsign::cosign;
use ironsign_e2e::*;

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
