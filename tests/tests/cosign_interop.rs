//! Interoperability with the real cosign, both pinned releases: each verifies the other's
//! signatures, reads the other's key files, and agrees on payloads and tag names.

use ironsign_e2e::*;

const PASSWORD: &str = "interop-pw";

fn cosign(version: Cosign, args: &[&str]) -> Run {
    run(&version.bin(), args, &[("COSIGN_PASSWORD", PASSWORD)])
}

fn cosign_verify_chain(version: Cosign, image: &str, chain: &str) -> Run {
    let mut args = vec!["verify", "--allow-http-registry", "--certificate-chain", chain];
    args.extend(["--certificate-identity", "signer@example.com", "--certificate-oidc-issuer-regexp", ".*"]);
    args.extend(["--insecure-ignore-tlog", "--insecure-ignore-sct"]);
    args.extend(version.legacy_flags(false));
    args.push(image);
    cosign(version, &args)
}

#[test]
fn cosign_verifies_ironsign_signatures() {
    let chain = pki_file("chain.pem");
    for version in Cosign::ALL {
        for (key, cert) in [("leaf.key", "leaf.pem"), ("leaf-rsa.key", "leaf-rsa.pem")] {
            let (tagged, by_digest) = push_image(&unique_repo("to-cosign"));
            let (key, cert) = (pki_file(key), pki_file(cert));
            ironsign(&[
                "sign",
                "--key",
                &key,
                "--certificate",
                &cert,
                "--certificate-chain",
                &chain,
                "-a",
                "team=ib",
                &tagged,
            ])
            .ok();
            let run = cosign_verify_chain(version, &by_digest, &chain).ok();
            assert!(run.stdout.contains("\"team\":\"ib\""), "{version:?}: {}", run.stdout);
            // And fails closed for another root.
            let other = pki_file("other-chain.pem");
            assert_ne!(cosign_verify_chain(version, &by_digest, &other).code, 0, "{version:?} accepted another root");
        }
        // Key-only signature, verified with --key.
        let (tagged, by_digest) = push_image(&unique_repo("to-cosign-key"));
        let (key, public) = (pki_file("leaf.key"), pki_file("leaf.pub"));
        ironsign(&["sign", "--key", &key, &tagged]).ok();
        let mut args = vec!["verify", "--allow-http-registry", "--key", &public, "--insecure-ignore-tlog"];
        args.extend(version.legacy_flags(false));
        args.push(&by_digest);
        cosign(version, &args).ok();
    }
}

#[test]
fn ironsign_verifies_cosign_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("imported");
    let leaf_key = pki_file("leaf.key");
    cosign(Cosign::V2, &["import-key-pair", "--key", &leaf_key, "--output-key-prefix", prefix.to_str().unwrap()]).ok();
    let imported = format!("{}.key", prefix.display());
    let (cert, chain, root) = (pki_file("leaf.pem"), pki_file("chain.pem"), pki_file("root.pem"));
    for version in Cosign::ALL {
        let (_, by_digest) = push_image(&unique_repo("from-cosign"));
        let mut args = vec!["sign", "--allow-http-registry", "--key", &imported, "--certificate", &cert];
        args.extend(["--certificate-chain", &chain, "-a", "from=cosign", "-y"]);
        args.extend(version.legacy_flags(true));
        args.push(&by_digest);
        cosign(version, &args).ok();
        let result = ironsign(&[
            "verify",
            "--ca-roots",
            &root,
            "--certificate-identity",
            "signer@example.com",
            "-a",
            "from=cosign",
            "-o",
            "json",
            &by_digest,
        ])
        .ok()
        .json();
        assert_eq!(result["signatures"][0]["matched_identity"], "signer@example.com", "{version:?}");
        // ironsign appends to what cosign wrote, and cosign still verifies both.
        let key = pki_file("leaf-rsa.key");
        let rsa_cert = pki_file("leaf-rsa.pem");
        ironsign(&["sign", "--key", &key, "--certificate", &rsa_cert, "--certificate-chain", &chain, &by_digest]).ok();
        let result = ironsign(&[
            "verify",
            "--ca-roots",
            &root,
            "--certificate-identity",
            "signer@example.com",
            "-o",
            "json",
            &by_digest,
        ])
        .ok()
        .json();
        assert_eq!(result["signatures"].as_array().unwrap().len(), 2, "{version:?}");
        cosign_verify_chain(version, &by_digest, &chain).ok();
    }
}

#[test]
fn key_files_are_read_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    // ironsign's key pair, used by cosign.
    let ours = dir.path().join("ours");
    run(
        &ironsign_bin(),
        &["generate-key-pair", "--output-key-prefix", ours.to_str().unwrap()],
        &[("IRONSIGN_PASSWORD", PASSWORD)],
    )
    .ok();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(format!("{}.key", ours.display())).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "private key file mode");
    let (our_key, our_pub) = (format!("{}.key", ours.display()), format!("{}.pub", ours.display()));
    // cosign's key pair, used by ironsign.
    let theirs = dir.path().join("theirs");
    let out = std::process::Command::new(Cosign::V2.bin())
        .current_dir(dir.path())
        .args(["generate-key-pair", "--output-key-prefix", "theirs"])
        .env("COSIGN_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (their_key, their_pub) = (format!("{}.key", theirs.display()), format!("{}.pub", theirs.display()));
    for version in Cosign::ALL {
        let (_, by_digest) = push_image(&unique_repo("keyfiles"));
        let mut args = vec!["sign", "--allow-http-registry", "--key", &our_key, "-y"];
        args.extend(version.legacy_flags(true));
        args.push(&by_digest);
        cosign(version, &args).ok();
        ironsign(&["verify", "--key", &our_pub, &by_digest]).ok();
        run(&ironsign_bin(), &["sign", "--key", &their_key, &by_digest], &[("COSIGN_PASSWORD", PASSWORD)]).ok();
        let mut args = vec!["verify", "--allow-http-registry", "--key", &their_pub, "--insecure-ignore-tlog"];
        args.extend(version.legacy_flags(false));
        args.push(&by_digest);
        cosign(version, &args).ok();
    }
}

#[test]
fn generate_and_triangulate_match_cosign() {
    let (tagged, by_digest) = push_image(&unique_repo("generate"));
    let ours = ironsign(&["generate", "-a", "a=<&>", "-a", "b=2", &by_digest]).ok().stdout;
    let theirs =
        cosign(Cosign::V2, &["generate", "--allow-http-registry", "-a", "a=<&>", "-a", "b=2", &by_digest]).ok().stdout;
    assert_eq!(ours.trim(), theirs.trim(), "simple signing payload bytes");
    let ours = ironsign(&["triangulate", &tagged]).ok().stdout;
    let theirs = cosign(Cosign::V2, &["triangulate", "--allow-http-registry", &tagged]).ok().stdout;
    assert_eq!(ours.trim(), theirs.trim());
}
