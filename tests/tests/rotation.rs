//! `ironsign resign`: the plan names exactly the images whose newest valid signature is due,
//! `--apply` signs them with the new certificate (old signatures stay, cosign still verifies),
//! and a second plan is empty.

use ironsign_e2e::*;

const IDENTITY: &str = "signer@example.com";

fn resign(repos: &[&str], criterion: &[&str], apply: bool) -> serde_json::Value {
    let (root, key, cert, chain) =
        (pki_file("root.pem"), pki_file("leaf-rsa.key"), pki_file("leaf-rsa.pem"), pki_file("chain.pem"));
    let mut args = vec!["resign", "--ca-roots", &root, "--certificate-identity", IDENTITY, "-o", "json"];
    args.extend(["--key", &key, "--certificate", &cert, "--certificate-chain", &chain]);
    args.extend_from_slice(criterion);
    if apply {
        args.push("--apply");
    }
    args.extend_from_slice(repos);
    let run = ironsign(&args).ok();
    assert!(run.stderr.contains("Summary:"), "{}", run.stderr);
    run.json()
}

#[test]
fn resign_plans_applies_and_converges() {
    let registry = registry(RegistryKind::Plain);
    let repos: Vec<String> = ["old", "new", "unsigned"].iter().map(|r| unique_repo(&format!("resign-{r}"))).collect();
    let images: Vec<String> = repos.iter().map(|r| push_image(r).1).collect();
    let sign = |image: &str, key: &str, cert: &str| {
        ironsign(&[
            "sign",
            "--key",
            &pki_file(key),
            "--certificate",
            &pki_file(cert),
            "--certificate-chain",
            &pki_file("chain.pem"),
            image,
        ])
        .ok();
    };
    sign(&images[0], "leaf.key", "leaf.pem");
    sign(&images[1], "leaf-rsa.key", "leaf-rsa.pem");
    let locations: Vec<String> = repos.iter().map(|r| format!("{registry}/{r}")).collect();
    let locations: Vec<&str> = locations.iter().map(String::as_str).collect();
    let old = pki_file("leaf.pem");
    let by_old = ["--signed-by-certificate", old.as_str()];

    // Dry run: only the image signed by the old certificate.
    let out = resign(&locations, &by_old, false);
    let candidates = out["plan"]["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1, "{out}");
    assert_eq!(candidates[0]["image"], images[0].as_str());
    assert_eq!(candidates[0]["tags"][0], "v1");
    assert!(out["report"].is_null());
    let reasons: Vec<&str> =
        out["plan"]["skipped"].as_array().unwrap().iter().map(|s| s["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["not_due", "NO_SIGNATURES"]);
    // The expiry window: both signed images expire within 400 days, none within 30.
    assert_eq!(
        resign(&locations, &["--expires-within-days", "400"], false)["plan"]["candidates"].as_array().unwrap().len(),
        2
    );
    assert_eq!(
        resign(&locations, &["--expires-within-days", "30"], false)["plan"]["candidates"].as_array().unwrap().len(),
        0
    );

    // Apply: one new signature, by the new certificate, beside the old one.
    let out = resign(&locations, &by_old, true);
    assert_eq!(out["report"]["signed"], serde_json::json!([images[0]]));
    let root = pki_file("root.pem");
    let result =
        ironsign(&["verify", "--ca-roots", &root, "--certificate-identity", IDENTITY, "-o", "json", &images[0]])
            .ok()
            .json();
    let signatures = result["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 2);
    assert_ne!(signatures[0]["signer"]["certificate"]["serial"], signatures[1]["signer"]["certificate"]["serial"]);
    let chain = pki_file("chain.pem");
    let mut args =
        vec!["verify", "--allow-http-registry", "--certificate-chain", &chain, "--certificate-identity", IDENTITY];
    args.extend([
        "--certificate-oidc-issuer-regexp",
        ".*",
        "--insecure-ignore-tlog",
        "--insecure-ignore-sct",
        &images[0],
    ]);
    run(&Cosign::V2.bin(), &args, &[]).ok();

    // Converged: nothing left to do.
    let out = resign(&locations, &by_old, true);
    assert_eq!(out["plan"]["candidates"].as_array().unwrap().len(), 0, "{out}");
    assert!(out["report"].is_null());
}
