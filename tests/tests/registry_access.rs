//! Registry access: basic auth from flags and from a Docker config file, TLS with a private CA,
//! and the concurrency guarantee of appending signatures.

use ironsign_e2e::*;

fn sign_args<'a>(key: &'a str, cert: &'a str, chain: &'a str) -> Vec<&'a str> {
    vec!["sign", "--key", key, "--certificate", cert, "--certificate-chain", chain]
}

#[test]
fn basic_auth_from_flags_and_docker_config() {
    let addr = registry(RegistryKind::Basic);
    let repo = unique_repo("basic");
    let image = format!("{addr}/{repo}:v1");
    // make-test-image speaks anonymous HTTP only, so push through the library with credentials.
    let keychain = ironsign::Keychain::anonymous().with_credential(ironsign::Credential::Basic {
        username: BASIC_USER.into(),
        password: BASIC_PASSWORD.to_owned().into(),
    });
    let client = ironsign::RegistryClient::new(ironsign::RegistryOptions { keychain, ..Default::default() }).unwrap();
    let reference = ironsign::ImageReference::parse(&image).unwrap();
    push_minimal_image(&client, &reference);
    let (key, cert, chain, root) =
        (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"), pki_file("root.pem"));

    // Without credentials: a registry error, exit 4.
    let mut args = sign_args(&key, &cert, &chain);
    args.extend(["-o", "json", &image]);
    let denied = ironsign(&args).code(4);
    assert_eq!(denied.json()["error"]["code"], "REGISTRY_UNAUTHORIZED");

    // With flags.
    let mut args = sign_args(&key, &cert, &chain);
    args.extend(["--registry-username", BASIC_USER, "--registry-password", BASIC_PASSWORD, &image]);
    ironsign(&args).ok();

    // With a Docker config file.
    let dir = tempfile::tempdir().unwrap();
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{BASIC_USER}:{BASIC_PASSWORD}"));
    std::fs::write(dir.path().join("config.json"), format!(r#"{{"auths":{{"{addr}":{{"auth":"{auth}"}}}}}}"#)).unwrap();
    let docker_config = dir.path().to_str().unwrap();
    let args = ["verify", "--ca-roots", &root, "--certificate-identity", "signer@example.com", &image];
    run(&ironsign_bin(), &args, &[("DOCKER_CONFIG", docker_config)]).ok();
    // The password never appears in output.
    let traced = run(&ironsign_bin(), &args, &[("DOCKER_CONFIG", docker_config), ("IRONSIGN_LOG", "trace")]).ok();
    assert!(!traced.stderr.contains(BASIC_PASSWORD) && !traced.stdout.contains(BASIC_PASSWORD));
}

#[test]
fn tls_with_a_private_ca() {
    let addr = registry(RegistryKind::Tls);
    let image = format!("{addr}/{}:v1", unique_repo("tls"));
    let tls_ca = pki_file("tls-ca.pem");
    let client = ironsign::RegistryClient::new(ironsign::RegistryOptions {
        ca_certificates_pem: vec![std::fs::read(&tls_ca).unwrap()],
        ..Default::default()
    })
    .unwrap();
    let reference = ironsign::ImageReference::parse(&image).unwrap();
    push_minimal_image(&client, &reference);
    let (key, cert, chain, root) =
        (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"), pki_file("root.pem"));
    // Without the registry's CA: a transport error naming the certificate problem, not a downgrade.
    let mut args = sign_args(&key, &cert, &chain);
    args.extend(["-o", "json", &image]);
    let run = ironsign(&args).code(4);
    assert_eq!(run.json()["error"]["code"], "REGISTRY_TRANSPORT", "{}", run.stdout);
    let mut args = sign_args(&key, &cert, &chain);
    args.extend(["--registry-cacert", &tls_ca, &image]);
    ironsign(&args).ok();
    ironsign(&[
        "verify",
        "--registry-cacert",
        &tls_ca,
        "--ca-roots",
        &root,
        "--certificate-identity",
        "signer@example.com",
        &image,
    ])
    .ok();
}

#[test]
fn concurrent_signers_never_lose_a_signature() {
    let (tagged, by_digest) = push_image(&unique_repo("concurrent"));
    let chain = pki_file("chain.pem");
    let children: Vec<_> = (1..=16)
        .map(|i| {
            let (key, cert) = (pki_file(&format!("signers/{i}.key")), pki_file(&format!("signers/{i}.pem")));
            std::process::Command::new(ironsign_bin())
                .args(["sign", "--key", &key, "--certificate", &cert, "--certificate-chain", &chain, &tagged])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let root = pki_file("root.pem");
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
    let serials: std::collections::BTreeSet<&str> = result["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signer"]["certificate"]["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials.len(), 16, "every signer's signature is present");
    assert!(result["rejected"].as_array().unwrap().is_empty());
}
