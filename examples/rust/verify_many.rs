//! Verify many images in one batch with the library: one client, one verifier (its validated
//! certificate paths reused), bounded concurrency, one verdict per image.
//!
//! ```sh
//! cargo run -p ironsign --example verify_many -- ROOT_PEM IDENTITY CONCURRENCY IMAGE...
//! ```
//! Prints one JSON line per image (`{"image", "ok"}` or `{"image", "error"}`), then a summary
//! line with the wall time; exits 1 when any image failed.

use ironsign::batch::{BatchOptions, verify_many};
use ironsign::{Identity, ImageReference, Policy, RegistryClient, RegistryOptions, TrustRoot, Verifier};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, identity, concurrency, images @ ..] = args.as_slice() else {
        return Err("usage: verify_many ROOT_PEM IDENTITY CONCURRENCY IMAGE...".into());
    };
    let references = images.iter().map(|i| ImageReference::parse(i)).collect::<Result<Vec<_>, _>>()?;
    let verifier = Verifier::new(TrustRoot::from_pem(&std::fs::read(root)?, None)?);
    let policy = Policy::identity(Identity::san(identity.as_str()));
    let options = BatchOptions { max_concurrency: concurrency.parse()?, ..Default::default() };
    let client = RegistryClient::new(RegistryOptions::default())?;

    let start = std::time::Instant::now();
    let results = verify_many(&client, &verifier, &references, &policy, &options).await;
    let seconds = start.elapsed().as_secs_f64();
    let mut failed = 0;
    for (image, result) in images.iter().zip(&results) {
        match result {
            Ok(_) => println!("{}", serde_json::json!({"image": image, "ok": true})),
            Err(e) => {
                failed += 1;
                println!("{}", serde_json::json!({"image": image, "error": e.code()}));
            }
        }
    }
    println!("{}", serde_json::json!({"images": images.len(), "failed": failed, "seconds": seconds}));
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
