//! Sign an image and verify it, with the library alone.
//!
//! ```sh
//! cargo run -p ironsign --example sign_and_verify -- IMAGE PKI_DIR
//! ```
//! IMAGE is a registry reference or `oci:DIR:TAG`; PKI_DIR holds `leaf.key`, `leaf.pem`,
//! `chain.pem` and `root.pem` (as `scripts/gen-test-pki` makes them).

use ironsign::{
    Certificate, Identity, ImageReference, KeyPairSigner, Policy, RegistryClient, RegistryOptions, SignOptions,
    SigningMaterial, TrustRoot, Verifier,
};
use std::path::PathBuf;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(image), Some(pki)) = (args.next(), args.next().map(PathBuf::from)) else {
        return Err("usage: sign_and_verify IMAGE PKI_DIR".into());
    };
    let image = ImageReference::parse(&image)?;
    let client = RegistryClient::new(RegistryOptions::default())?;

    // Signing material: the key, its code-signing certificate, and the chain (root last).
    let signer = KeyPairSigner::from_file(&pki.join("leaf.key"), None)?;
    let certificate = Certificate::from_pem_or_der(&std::fs::read(pki.join("leaf.pem"))?, "leaf.pem")?;
    let chain = Certificate::from_pem_many(&std::fs::read(pki.join("chain.pem"))?, "chain.pem", 10)?;
    let material =
        SigningMaterial::new(Arc::new(signer)).with_certificate(certificate, chain, std::time::SystemTime::now())?;
    let report = ironsign::sign::sign_image(&client, &image, &material, &SignOptions::default()).await?;
    println!(
        "signed {} ({} signature(s) written)",
        report.reference,
        report.signatures.iter().filter(|s| s.added).count()
    );

    // Verification: trust (once), the fetched entity, the policy.
    let verifier = Verifier::new(TrustRoot::from_pem(&std::fs::read(pki.join("root.pem"))?, None)?);
    let signed = client.fetch_signatures(&image).await?;
    let result = verifier.verify(&signed, &Policy::identity(Identity::san("signer@example.com")))?;
    for s in &result.signatures {
        let cert = s.certificate().expect("certificate trust");
        println!("verified: {} signed by {} (valid until {})", result.digest, cert.subject, cert.not_after);
    }
    Ok(())
}
