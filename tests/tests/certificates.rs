//! Certificate lifecycle: CSRs that openssl accepts and a CA can issue from, certificate checks
//! with exit codes a pipeline can alarm on, and renewal that keeps the identity.

use ironsign_e2e::*;

fn openssl(args: &[&str]) -> Run {
    run(std::path::Path::new("openssl"), args, &[])
}

#[test]
fn csr_for_a_new_key_is_accepted_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("new.key");
    let csr = dir.path().join("req.pem");
    let (key_s, csr_s) = (key.to_str().unwrap(), csr.to_str().unwrap());
    let run = ironsign_env(
        &[
            "csr",
            "--new-key",
            key_s,
            "--key-type",
            "rsa3072",
            "--subject",
            "CN=New Signer,OU=Pipeline,OU=Iron Bank,O=Example,C=US",
            "--san-email",
            "new@example.com",
            "--san-uri",
            "https://ci.example.com/x",
            "--san-dns",
            "signer.example.com",
            "-f",
            csr_s,
        ],
        &[("IRONSIGN_PASSWORD", "pw")],
    )
    .ok();
    assert!(run.stderr.contains("Public key fingerprint"), "{}", run.stderr);
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let text = openssl(&["req", "-in", csr_s, "-verify", "-noout", "-text"]).ok();
    let all = format!("{}{}", text.stdout, text.stderr);
    assert!(all.contains("verify OK") || all.contains("Certificate request self-signature verify OK"), "{all}");
    for needle in [
        "email:new@example.com",
        "URI:https://ci.example.com/x",
        "DNS:signer.example.com",
        "Code Signing",
        "Digital Signature",
        "critical",
        "3072 bit",
        "Subject: C = US, O = Example, OU = Iron Bank, OU = Pipeline, CN = New Signer",
    ] {
        assert!(all.contains(needle), "{needle} missing from\n{all}");
    }
}

#[test]
fn renewal_keeps_key_and_identity_and_signatures_keep_verifying() {
    let dir = tempfile::tempdir().unwrap();
    let csr = dir.path().join("renew.csr");
    let new_cert = dir.path().join("renewed.pem");
    let (leaf, leaf_key, inter, inter_key, chain, root) = (
        pki_file("leaf.pem"),
        pki_file("leaf.key"),
        pki_file("inter.pem"),
        pki_file("inter.key"),
        pki_file("chain.pem"),
        pki_file("root.pem"),
    );
    // Renewal CSR reusing the key, subject and SANs copied from the current certificate.
    let run = ironsign(&["csr", "--key", &leaf_key, "--from-cert", &leaf, "-f", csr.to_str().unwrap()]).ok();
    let leaf_pub = std::fs::read(pki_file("leaf.pub")).unwrap();
    let fingerprint = ironsign::PublicKey::from_pem(&leaf_pub, "leaf.pub").unwrap().fingerprint();
    assert!(run.stderr.contains(&fingerprint), "same key: {}", run.stderr);
    // The CA issues it, copying the requested extensions.
    openssl(&[
        "x509",
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-CA",
        &inter,
        "-CAkey",
        &inter_key,
        "-CAcreateserial",
        "-days",
        "400",
        "-copy_extensions",
        "copyall",
        "-out",
        new_cert.to_str().unwrap(),
    ])
    .ok();
    let new_cert = new_cert.to_str().unwrap();
    let report = ironsign(&["cert", "verify-renewal", &leaf, new_cert, "-o", "json"]).ok().json();
    assert_eq!(report["identity_kept"], true);
    assert_eq!(report["key_kept"], true);
    // A different identity is reported with its own exit code.
    ironsign(&["cert", "verify-renewal", &leaf, &pki_file("leaf-otherid.pem")]).code(24);
    // Signing with the renewed certificate verifies under the unchanged policy.
    let (tagged, _) = push_image(&unique_repo("renewal"));
    ironsign(&["sign", "--key", &leaf_key, "--certificate", new_cert, "--certificate-chain", &chain, &tagged]).ok();
    ironsign(&["verify", "--ca-roots", &root, "--certificate-identity", "signer@example.com", &tagged]).ok();
}

#[test]
fn cert_check_exit_codes() {
    let (leaf, chain, key) = (pki_file("leaf.pem"), pki_file("chain.pem"), pki_file("leaf.key"));
    let check = |cert: &str, chain: &str, key: &str, days: &str| {
        ironsign(&[
            "cert",
            "check",
            "--certificate",
            cert,
            "--certificate-chain",
            chain,
            "--key",
            key,
            "--warn-days",
            days,
            "-o",
            "json",
        ])
    };
    check(&leaf, &chain, &key, "30").ok();
    assert_eq!(check(&leaf, &chain, &key, "400").code(20).json()["findings"][0]["code"], "EXPIRING");
    check(&pki_file("leaf-expired.pem"), &chain, &pki_file("leaf-expired.key"), "30").code(21);
    check(&leaf, &chain, &pki_file("leaf-rsa.key"), "30").code(22);
    check(&leaf, &pki_file("other-chain.pem"), &key, "30").code(23);
    // The expired intermediate is caught even though the leaf is fine.
    let run = check(
        &pki_file("leaf-under-expired.pem"),
        &pki_file("chain-expired-inter.pem"),
        &pki_file("leaf-under-expired.key"),
        "30",
    )
    .code(21);
    assert!(run.stdout.contains("Expired Intermediate"), "{}", run.stdout);
}

#[test]
fn cert_inspect_reports_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    let text: String =
        ["leaf.pem", "inter.pem", "root.pem"].iter().map(|f| std::fs::read_to_string(pki_file(f)).unwrap()).collect();
    std::fs::write(&bundle, text).unwrap();
    let r = ironsign(&["cert", "inspect", bundle.to_str().unwrap(), "-o", "json"]).ok().json();
    assert_eq!(r["chain_order_ok"], true);
    let roles: Vec<&str> = r["certificates"].as_array().unwrap().iter().map(|c| c["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["leaf", "intermediate", "root"]);
    assert_eq!(r["certificates"][0]["key"], "ECDSA P-256");
    assert_eq!(r["certificates"][0]["emails"][0], "signer@example.com");
    let codes = |file: &str| -> Vec<String> {
        let r = ironsign(&["cert", "inspect", &pki_file(file), "-o", "json"]).ok().json();
        r["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap().to_owned()).collect()
    };
    assert!(codes("leaf-nosan.pem").contains(&"NO_SAN".to_owned()));
    assert!(codes("leaf-serverauth.pem").contains(&"NO_CODE_SIGNING_EKU".to_owned()));
    assert!(codes("leaf-expired.pem").contains(&"EXPIRED".to_owned()));
    assert!(codes("leaf.pem").is_empty(), "{:?}", codes("leaf.pem"));
    // Out-of-order chain.
    let reversed: String =
        ["root.pem", "leaf.pem"].iter().map(|f| std::fs::read_to_string(pki_file(f)).unwrap()).collect();
    std::fs::write(&bundle, reversed).unwrap();
    let r = ironsign(&["cert", "inspect", bundle.to_str().unwrap(), "-o", "json"]).ok().json();
    assert_eq!(r["chain_order_ok"], false);
}
