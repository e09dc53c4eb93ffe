//! `ironsign resign`: the plan names exactly the images whose newest valid signature is due,
//! `--apply` signs them with the new certificate (old signatures stay, cosign still verifies),
//! and a second plan is empty. It takes verify's trust flags and refuses what verify refuses: a
//! revoked signer's image is never re-signed.

use ironsign_e2e::*;

const IDENTITY: &str = "signer@example.com";

fn resign(repos: &[&str], criterion: &[&str], apply: bool) -> serde_json::Value {
    let (root, key, cert, chain) =
        (pki_file("root.pem"), pki_file("leaf-rsa.key"), pki_file("leaf-rsa.pem"), pki_file("chain.pem"));
    let mut args = vec!["resign", "--ca-roots", &root, "--certificate-identity", IDENTITY, "-o", "json"];
    args.extend(["--new-key", &key, "--new-certificate", &cert, "--new-certificate-chain", &chain]);
    args.extend_from_slice(criterion);
    if apply {
        args.push("--apply");
    }
    args.extend_from_slice(repos);
    let run = ironsign(&args).ok();
    assert!(run.stderr.contains("Summary:"), "{}", run.stderr);
    run.json()
}

fn sign(image: &str, key: &str, cert: &str, extra: &[&str]) {
    let (key, cert, chain) = (pki_file(key), pki_file(cert), pki_file("chain.pem"));
    let mut args = vec!["sign", "--key", &key, "--certificate", &cert, "--certificate-chain", &chain];
    args.extend_from_slice(extra);
    args.push(image);
    ironsign(&args).ok();
}

fn signature_count(image: &str, extra: &[&str]) -> usize {
    let root = pki_file("root.pem");
    let mut args = vec!["verify", "--ca-roots", &root, "--certificate-identity", IDENTITY, "-o", "json"];
    args.extend_from_slice(extra);
    args.push(image);
    ironsign(&args).ok().json()["signatures"].as_array().unwrap().len()
}

#[test]
fn resign_plans_applies_and_converges() {
    let registry = registry(RegistryKind::Plain);
    let repos: Vec<String> = ["old", "new", "unsigned"].iter().map(|r| unique_repo(&format!("resign-{r}"))).collect();
    let images: Vec<String> = repos.iter().map(|r| push_image(r).1).collect();
    sign(&images[0], "leaf.key", "leaf.pem", &[]);
    sign(&images[1], "leaf-rsa.key", "leaf-rsa.pem", &[]);
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

#[test]
fn resign_refuses_what_verify_refuses_revoked_signer_not_laundered() {
    let dir = tempfile::tempdir().unwrap();
    let repo = unique_repo("resign-revoked");
    let (_, image) = push_image(&repo);
    sign(&image, "leaf.key", "leaf.pem", &[]);
    let crl = dir.path().join("leaf-revoked.crl");
    make_crl(dir.path(), "inter", &["leaf"], None, &crl);
    let crl = crl.to_str().unwrap();
    let location = format!("{}/{repo}", registry(RegistryKind::Plain));
    let by_old = pki_file("leaf.pem");
    let criterion = ["--signed-by-certificate", by_old.as_str(), "--crl", crl];

    // verify refuses the image under the CRL...
    let root = pki_file("root.pem");
    let run = ironsign(&[
        "verify",
        "--ca-roots",
        &root,
        "--certificate-identity",
        IDENTITY,
        "--crl",
        crl,
        "-o",
        "json",
        &image,
    ])
    .code(12);
    assert_eq!(rejection_codes(&run), ["CERT_REVOKED"]);
    // ...so resign, given the same trust, neither plans nor signs it.
    let out = resign(&[&location], &criterion, true);
    assert_eq!(out["plan"]["candidates"], serde_json::json!([]), "{out}");
    assert_eq!(out["plan"]["skipped"][0]["reason"], "NO_MATCHING_SIGNATURE");
    assert_eq!(out["plan"]["skipped"][0]["rejections"], serde_json::json!(["CERT_REVOKED"]));
    assert!(out["report"].is_null());
    assert_eq!(signature_count(&image, &[]), 1, "nothing was pushed");

    // The CRL is what decided: without it the same run re-signs the image.
    let out = resign(&[&location], &criterion[..2], true);
    assert_eq!(out["report"]["signed"], serde_json::json!([image]));
    assert_eq!(signature_count(&image, &[]), 2);
}

#[test]
fn resign_trust_flags_change_the_plan_as_they_change_verify() {
    let dir = tempfile::tempdir().unwrap();
    let repo = unique_repo("resign-flags");
    let (_, image) = push_image(&repo);
    sign(&image, "leaf-noeku.key", "leaf-noeku.pem", &["-a", "env=prod"]);
    let location = format!("{}/{repo}", registry(RegistryKind::Plain));
    let within = ["--expires-within-days", "400"];
    let plan = |extra: &[&str]| {
        let mut criterion = within.to_vec();
        criterion.extend_from_slice(extra);
        resign(&[&location], &criterion, false)["plan"].clone()
    };
    let due = |p: &serde_json::Value| p["candidates"].as_array().unwrap().len();
    assert_eq!(due(&plan(&[])), 1);
    // Each trust and policy input of verify narrows resign the same way.
    assert_eq!(
        plan(&["--require-code-signing-eku"])["skipped"][0]["rejections"],
        serde_json::json!(["CERT_NO_CODE_SIGNING"])
    );
    assert_eq!(plan(&["-a", "env=dev"])["skipped"][0]["rejections"], serde_json::json!(["ANNOTATION_MISMATCH"]));
    let other = pki_file("other-root.pem");
    let run = ironsign(&[
        "resign",
        "--ca-roots",
        &other,
        "--certificate-identity",
        IDENTITY,
        "--new-key",
        &pki_file("leaf.key"),
        "--expires-within-days",
        "400",
        "-o",
        "json",
        &location,
    ]);
    assert_eq!(run.json()["plan"]["skipped"][0]["reason"], "NO_MATCHING_SIGNATURE", "{}", run.stdout);
    let crl = dir.path().join("clean.crl");
    make_crl(dir.path(), "inter", &[], None, &crl);
    assert_eq!(due(&plan(&["--crl", crl.to_str().unwrap()])), 1);

    // The policy's annotations go into the new signatures: the plan converges under that policy.
    let out = resign(&[&location], &[&within[..], &["-a", "env=prod"]].concat(), true);
    assert_eq!(out["report"]["signed"], serde_json::json!([image]), "{out}");
    assert_eq!(signature_count(&image, &["-a", "env=prod"]), 2);
    let noeku = pki_file("leaf-noeku.pem");
    let after = resign(&[&location], &["-a", "env=prod", "--signed-by-certificate", &noeku], false);
    assert_eq!(after["plan"]["candidates"], serde_json::json!([]), "{after}");
}
