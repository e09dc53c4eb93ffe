//! Keys in a KMS (issue 15): `awskms://` against a local AWS KMS API server (`scripts/kms-server`:
//! moto, with AWS's digest signing) and `hashivault://` against a real OpenBao dev server
//! (`scripts/vault-server`). Keys are created through each API. What ironsign signs, the real
//! cosign v2/v3 verifies by the public key `ironsign public-key` prints; what cosign signs with the
//! same KMS key, ironsign verifies. A missing key, denied access, a disabled key, throttling and an
//! unreachable endpoint are typed errors that push nothing. The endpoint comes from AWS's standard
//! settings or the URI; a KMS key signs with a DoD-shaped certificate (no codeSigning) as the
//! program's pipeline does.

use ironsign::{ImageReference, PublicKey};
use ironsign_e2e::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// Variables of the KMS providers' configuration that the test's own environment must not bring in.
const PROVIDER_VARIABLES: [&str; 14] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KMS",
    "AWS_CA_BUNDLE",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_TLS_INSECURE_SKIP_VERIFY",
    "VAULT_ADDR",
    "VAULT_TOKEN",
    "VAULT_CACERT",
    "VAULT_SKIP_VERIFY",
];

/// Runs `program` in `dir` (generate-key-pair writes into the working directory, as cosign's
/// does) with exactly the provider configuration `env` gives.
fn run_in(dir: &Path, program: &Path, args: &[&str], env: &[(String, String)]) -> Run {
    let mut command = std::process::Command::new(program);
    command.args(args).current_dir(dir).env_remove("COSIGN_PASSWORD");
    for name in PROVIDER_VARIABLES {
        command.env_remove(name);
    }
    let out = command.envs(env.iter().map(|(k, v)| (k, v))).output().expect("run");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ironsign_in(env: &[(String, String)], args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), &ironsign_bin(), args, env)
}

fn cosign_in(version: Cosign, env: &[(String, String)], args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), &version.bin(), args, env)
}

fn tags_of(image: &str) -> Vec<String> {
    let reference = ImageReference::parse(image).unwrap();
    block_on(async { client().list_tags(&reference.location, 1000).await.unwrap() })
}

/// Asserts a failed run named `code` and left the repository as it was (only the image's tag).
#[track_caller]
fn failed_with_nothing_pushed(run: &Run, code: &str, image: &str) {
    assert_eq!(run.code, 3, "exit code\nstdout: {}\nstderr: {}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&format!("[{code}]")), "expected {code}: {}", run.stderr);
    assert_eq!(tags_of(image), ["v1"], "something was pushed");
}

/// `ironsign public-key --key URI` into a file of `dir`; returns its path.
fn public_key_file(env: &[(String, String)], uri: &str, dir: &Path) -> String {
    let path = dir.join(format!("{}.pub", uri.replace(['/', ':'], "_")));
    let path = path.to_str().unwrap().to_owned();
    let run = ironsign_in(env, &["public-key", "--key", uri, "--outfile", &path]).ok();
    assert!(run.stderr.contains(&format!("Public key written to {path}")), "{}", run.stderr);
    path
}

/// cosign verifies a key-only signature of `image` by `public`.
#[track_caller]
fn cosign_verifies(version: Cosign, image: &str, public: &str) {
    let mut args = vec!["verify", "--allow-http-registry", "--key", public, "--insecure-ignore-tlog"];
    args.extend(version.legacy_flags(false));
    args.push(image);
    cosign_in(version, &[], &args).ok();
}

/// The annotation `name` of the one signature `ironsign verify -o json` printed.
#[track_caller]
fn verified_annotation(run: &Run, name: &str) -> String {
    let result: serde_json::Value = serde_json::from_str(&run.stdout).expect("verification result (JSON)");
    let signatures = result["signatures"].as_array().expect("signatures");
    assert_eq!(signatures.len(), 1, "{}", run.stdout);
    signatures[0]["payload"]["optional"][name].as_str().unwrap_or_default().to_owned()
}

fn digest(algorithm: &'static aws_lc_rs::digest::Algorithm, message: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(algorithm, message).as_ref().to_vec()
}

#[test]
fn the_kms_server_signs_raw_messages_and_digests_as_aws_kms_does() {
    let kms = KmsServer::start();
    let env = kms.env();
    let message = b"the payload";
    for (spec, algorithm, hash) in [
        ("ECC_NIST_P256", "ECDSA_SHA_256", &aws_lc_rs::digest::SHA256),
        ("ECC_NIST_P384", "ECDSA_SHA_384", &aws_lc_rs::digest::SHA384),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", &aws_lc_rs::digest::SHA256),
    ] {
        let alias = format!("alias/raw-digest-{}", spec.to_lowercase());
        let key_id = kms.create_key(spec, &alias);
        let pem = ironsign_in(&env, &["public-key", "--key", &format!("awskms:///{alias}")]).ok().stdout;
        let public = PublicKey::from_pem(pem.as_bytes(), spec).unwrap();
        let raw = kms.sign(&key_id, "RAW", algorithm, message);
        assert!(public.verify(message, &raw), "{spec}: RAW");
        let signed_digest = kms.sign(&key_id, "DIGEST", algorithm, &digest(hash, message));
        assert!(public.verify(message, &signed_digest), "{spec}: DIGEST is signed as the digest, not hashed again");
        assert!(!public.verify(b"another payload", &signed_digest), "{spec}");
    }
}

#[test]
fn awskms_signatures_verify_with_cosign_by_the_public_key_ironsign_prints() {
    let kms = KmsServer::start();
    let env = kms.env();
    let dir = tempfile::tempdir().unwrap();
    for (spec, cosign_verifies_it) in [("ECC_NIST_P256", true), ("RSA_3072", true), ("ECC_NIST_P384", false)] {
        let alias = format!("alias/ironsign-{}", spec.to_lowercase().replace('_', "-"));
        kms.create_key(spec, &alias);
        let uri = format!("awskms:///{alias}");
        let (tagged, by_digest) = push_image(&unique_repo("kms-sign"));
        ironsign_in(&env, &["sign", "--key", &uri, "-a", "via=kms", &tagged]).ok();
        let public = public_key_file(&env, &uri, dir.path());
        // The same PEM as cosign's public-key prints for the key.
        let ours = ironsign_in(&env, &["public-key", "--key", &uri]).ok().stdout;
        assert_eq!(ours, cosign_in(Cosign::V2, &env, &["public-key", "--key", &uri]).ok().stdout, "{spec}");
        assert_eq!(ours, std::fs::read_to_string(&public).unwrap(), "{spec}");
        let verified = ironsign(&["verify", "--key", &public, "-o", "json", &by_digest]).ok();
        assert_eq!(verified_annotation(&verified, "via"), "kms", "{spec}");
        // cosign verifies ECDSA P-384 with SHA-256 only (keys/mod.rs): its own P-384 signatures fail too.
        if cosign_verifies_it {
            for version in Cosign::ALL {
                cosign_verifies(version, &by_digest, &public);
            }
        }
        // Another key's public key does not verify it.
        let other = pki_file("leaf.pub");
        assert_ne!(ironsign(&["verify", "--key", &other, &by_digest]).code, 0, "{spec}");
    }
}

#[test]
fn cosign_awskms_signatures_verify_with_ironsign() {
    let kms = KmsServer::start();
    let env = kms.env();
    let dir = tempfile::tempdir().unwrap();
    for spec in ["ECC_NIST_P256", "RSA_2048"] {
        let alias = format!("alias/cosign-{}", spec.to_lowercase().replace('_', "-"));
        let key_id = kms.create_key(spec, &alias);
        let public = public_key_file(&env, &format!("awskms:///{key_id}"), dir.path());
        for version in Cosign::ALL {
            let (_, by_digest) = push_image(&unique_repo("kms-from-cosign"));
            let uri = format!("awskms:///{alias}");
            let mut args = vec!["sign", "--allow-http-registry", "--key", &uri, "-a", "from=cosign", "-y"];
            args.extend(version.legacy_flags(true));
            args.push(&by_digest);
            cosign_in(version, &env, &args).ok();
            let verified = ironsign(&["verify", "--key", &public, "-o", "json", &by_digest]).ok();
            assert_eq!(verified_annotation(&verified, "from"), "cosign", "{spec} {version:?}");
        }
    }
}

#[test]
fn an_endpoint_in_the_uri_is_https_trusted_through_aws_ca_bundle() {
    let kms = KmsServer::start();
    kms.create_key("ECC_NIST_P256", "alias/over-tls");
    let uri = format!("awskms://{}/alias/over-tls", kms.https_host);
    // No AWS_ENDPOINT_URL_KMS: the URI's endpoint is the one used.
    let base: Vec<(String, String)> = kms.env().into_iter().filter(|(k, _)| k != "AWS_ENDPOINT_URL_KMS").collect();
    let with_bundle = |path: &str| {
        let mut env = base.clone();
        env.push(("AWS_CA_BUNDLE".into(), path.into()));
        env
    };
    let trusted = with_bundle(&pki_file("tls-ca.pem"));
    let (tagged, by_digest) = push_image(&unique_repo("kms-tls"));
    ironsign_in(&trusted, &["sign", "--key", &uri, &tagged]).ok();
    let dir = tempfile::tempdir().unwrap();
    let public = public_key_file(&trusted, &uri, dir.path());
    cosign_verifies(Cosign::V2, &by_digest, &public);

    // The system roots do not know the test CA; another CA does not vouch for the server either.
    let (tagged, _) = push_image(&unique_repo("kms-tls-untrusted"));
    for env in [base.clone(), with_bundle(&pki_file("root.pem"))] {
        let run = ironsign_in(&env, &["sign", "--key", &uri, &tagged]);
        failed_with_nothing_pushed(&run, "KMS_UNREACHABLE", &tagged);
    }
    // A bundle that is no certificate is refused before any request.
    let run = ironsign_in(&with_bundle(&pki_file("leaf.key")), &["sign", "--key", &uri, &tagged]);
    failed_with_nothing_pushed(&run, "KMS_FAILED", &tagged);
    assert!(run.stderr.contains("AWS_CA_BUNDLE"), "{}", run.stderr);
}

#[test]
fn the_endpoint_comes_from_aws_standard_settings_unless_the_uri_names_one() {
    let kms = KmsServer::start();
    kms.create_key("ECC_NIST_P256", "alias/endpoints");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let closed = format!("http://{closed}");
    let without = |names: &[&str]| -> Vec<(String, String)> {
        kms.env().into_iter().filter(|(k, _)| !names.contains(&k.as_str())).collect()
    };
    let with = |mut env: Vec<(String, String)>, extra: &[(&str, &str)]| {
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    };
    let public_key = |env: &[(String, String)], uri: &str| ironsign_in(env, &["public-key", "--key", uri]);
    let expected = public_key(&kms.env(), "awskms:///alias/endpoints").ok().stdout;
    // AWS_ENDPOINT_URL_KMS before AWS_ENDPOINT_URL; AWS_ENDPOINT_URL alone.
    let both = with(kms.env(), &[("AWS_ENDPOINT_URL", &closed)]);
    assert_eq!(public_key(&both, "awskms:///alias/endpoints").ok().stdout, expected);
    let general = with(without(&["AWS_ENDPOINT_URL_KMS"]), &[("AWS_ENDPOINT_URL", &kms.http)]);
    assert_eq!(public_key(&general, "awskms:///alias/endpoints").ok().stdout, expected);
    // The endpoint_url of the profile AWS_PROFILE names in the shared config file.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(&config, format!("[profile ci]\nregion = us-east-1\nendpoint_url = {}\n", kms.http)).unwrap();
    let config = config.to_str().unwrap();
    let profile = with(
        without(&["AWS_ENDPOINT_URL_KMS", "AWS_CONFIG_FILE"]),
        &[("AWS_CONFIG_FILE", config), ("AWS_PROFILE", "ci")],
    );
    assert_eq!(public_key(&profile, "awskms:///alias/endpoints").ok().stdout, expected);
    // An endpoint in the URI wins over the settings (HTTPS, trusted through AWS_CA_BUNDLE).
    let uri = format!("awskms://{}/alias/endpoints", kms.https_host);
    let overridden = with(
        without(&["AWS_ENDPOINT_URL_KMS"]),
        &[("AWS_ENDPOINT_URL_KMS", &closed), ("AWS_CA_BUNDLE", &pki_file("tls-ca.pem"))],
    );
    assert_eq!(public_key(&overridden, &uri).ok().stdout, expected);
    // With every setting pointing nowhere, it is unreachable, typed.
    let nowhere = with(without(&["AWS_ENDPOINT_URL_KMS"]), &[("AWS_ENDPOINT_URL_KMS", &closed)]);
    let run = public_key(&nowhere, "awskms:///alias/endpoints").code(3);
    assert!(run.stderr.contains("[KMS_UNREACHABLE]"), "{}", run.stderr);
}

#[test]
fn generate_key_pair_kms_creates_the_key_once_as_cosign_does() {
    let kms = KmsServer::start();
    let env = kms.env();
    let dir = tempfile::tempdir().unwrap();
    let uri = "awskms:///alias/generated";
    let ironsign_gen = |args: &[&str]| run_in(dir.path(), &ironsign_bin(), args, &env);
    let run = ironsign_gen(&["generate-key-pair", "--kms", uri]).ok();
    assert!(run.stderr.contains("Public key written to cosign.pub"), "{}", run.stderr);
    let written = std::fs::read_to_string(dir.path().join("cosign.pub")).unwrap();
    assert_eq!(written, cosign_in(Cosign::V2, &env, &["public-key", "--key", uri]).ok().stdout);
    assert!(
        PublicKey::from_pem(written.as_bytes(), "cosign.pub").unwrap().algorithm() == ironsign::KeyAlgorithm::EcdsaP256
    );
    // An existing file is kept unless --force; an existing alias keeps its key.
    ironsign_gen(&["generate-key-pair", "--kms", uri]).code(1);
    ironsign_gen(&["generate-key-pair", "--kms", uri, "--output-key-prefix", "again"]).ok();
    assert_eq!(std::fs::read_to_string(dir.path().join("again.pub")).unwrap(), written);
    // A key is created under an alias only (cosign: "must use alias key format").
    let key_id = kms.create_key("ECC_NIST_P256", "alias/some-key");
    let run = ironsign_gen(&["generate-key-pair", "--kms", &format!("awskms:///{key_id}"), "--force"]);
    assert!(run.code == 3 && run.stderr.contains("[KMS_FAILED]") && run.stderr.contains("alias"), "{run:?}");
    // A key cosign created is read back the same.
    run_in(dir.path(), &Cosign::V2.bin(), &["generate-key-pair", "--kms", "awskms:///alias/by-cosign"], &env).ok();
    let cosigns = std::fs::read_to_string(dir.path().join("cosign.pub")).unwrap();
    assert_eq!(ironsign_in(&env, &["public-key", "--key", "awskms:///alias/by-cosign"]).ok().stdout, cosigns);
}

#[test]
fn public_key_of_a_key_file_prints_what_cosign_prints() {
    let dir = tempfile::tempdir().unwrap();
    let password = [("COSIGN_PASSWORD".to_owned(), "pk-pw".to_owned())];
    run_in(dir.path(), &Cosign::V2.bin(), &["generate-key-pair"], &password).ok();
    let key = dir.path().join("cosign.key");
    let key = key.to_str().unwrap();
    let theirs = cosign_in(Cosign::V2, &password, &["public-key", "--key", key]).ok().stdout;
    let ours = ironsign_in(&password, &["public-key", "--key", key]).ok().stdout;
    assert_eq!(ours, theirs);
    assert_eq!(ours, std::fs::read_to_string(dir.path().join("cosign.pub")).unwrap());
    let wrong = [("COSIGN_PASSWORD".to_owned(), "wrong".to_owned())];
    let run = ironsign_in(&wrong, &["public-key", "--key", key]).code(3);
    assert!(run.stderr.contains("[KEY_WRONG_PASSWORD]"), "{}", run.stderr);
    // --key is required, as in cosign; a malformed KMS URI is a parse error.
    ironsign(&["public-key"]).code(2);
    let run = ironsign(&["public-key", "--key", "awskms:///not-a-key"]).code(3);
    assert!(run.stderr.contains("[KEY_PARSE]"), "{}", run.stderr);
}

#[test]
fn csr_and_attest_with_an_awskms_key() {
    let kms = KmsServer::start();
    let env = kms.env();
    kms.create_key("ECC_NIST_P256", "alias/csr-attest");
    let uri = "awskms:///alias/csr-attest";
    let dir = tempfile::tempdir().unwrap();
    let public = public_key_file(&env, uri, dir.path());
    // A CSR signed in the KMS: openssl checks its self-signature and its key is the KMS key.
    let csr = dir.path().join("request.csr");
    let csr = csr.to_str().unwrap();
    ironsign_in(&env, &["csr", "--key", uri, "--subject", "CN=KMS Signer,O=Example", "--output-file", csr]).ok();
    let verified = run(Path::new("openssl"), &["req", "-in", csr, "-verify", "-noout", "-pubkey"], &[]).ok();
    assert_eq!(verified.stdout, std::fs::read_to_string(&public).unwrap());
    // An attestation signed in the KMS, verified by cosign by the public key.
    let predicate = dir.path().join("predicate.json");
    std::fs::write(&predicate, r#"{"kms": true}"#).unwrap();
    let (tagged, by_digest) = push_image(&unique_repo("kms-attest"));
    let predicate = predicate.to_str().unwrap();
    ironsign_in(&env, &["attest", "--key", uri, "--predicate", predicate, "--type", "custom", &tagged]).ok();
    for version in Cosign::ALL {
        let mut args = vec!["verify-attestation", "--allow-http-registry", "--key", &public, "--insecure-ignore-tlog"];
        args.extend(["--type", "custom"]);
        args.extend(version.legacy_flags(false));
        args.push(&by_digest);
        cosign_in(version, &[], &args).ok();
    }
}

/// The program's setup (issue 15): the key in AWS KMS, a DoD-shaped certificate for it (EKU
/// serverAuth/clientAuth, no codeSigning) issued from a CSR the KMS signed. Signing warns and
/// verifies by the public key in ironsign and cosign; chain verification refuses naming the
/// missing codeSigning; `--strict-eku` and a certificate of another key push nothing.
#[test]
fn an_awskms_key_signs_with_a_certificate_without_code_signing() {
    let kms = KmsServer::start();
    let env = kms.env();
    kms.create_key("ECC_NIST_P256", "alias/pipeline");
    let uri = "awskms:///alias/pipeline";
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (csr, extensions, cert) = (file("pipeline.csr"), file("extensions.cnf"), file("pipeline.pem"));
    let san = "pipeline.example.mil";
    ironsign_in(&env, &["csr", "--key", uri, "--common-name", san, "--san-dns", san, "--output-file", &csr]).ok();
    std::fs::write(
        &extensions,
        format!(
            "keyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth, clientAuth\n\
             subjectAltName = DNS:{san}\n"
        ),
    )
    .unwrap();
    let (ca, ca_key) = (pki_file("dod-inter.pem"), pki_file("dod-inter.key"));
    let issue = ["x509", "-req", "-in", &csr, "-CA", &ca, "-CAkey", &ca_key, "-days", "30", "-extfile", &extensions];
    run(Path::new("openssl"), &[&issue[..], &["-out", &cert]].concat(), &[]).ok();
    let chain = pki_file("dod-chain.pem");
    let public = public_key_file(&env, uri, dir.path());

    let (tagged, by_digest) = push_image(&unique_repo("kms-dod"));
    let sign = |extra: &[&str], certificate: &str| {
        let mut args = vec!["sign", "--key", uri, "--certificate", certificate, "--certificate-chain", &chain];
        args.extend_from_slice(extra);
        args.push(&tagged);
        ironsign_in(&env, &args)
    };
    // --strict-eku refuses it; a certificate of another key is refused whatever the usage.
    let strict = sign(&["--strict-eku"], &cert);
    failed_with_nothing_pushed(&strict, "CERT_NO_CODE_SIGNING", &tagged);
    failed_with_nothing_pushed(&sign(&[], &pki_file("dod-leaf.pem")), "CERT_KEY_MISMATCH", &tagged);

    let signed = sign(&[], &cert).ok();
    assert!(signed.stderr.contains("Warning [NO_CODE_SIGNING_EKU]"), "{}", signed.stderr);
    ironsign(&["verify", "--key", &public, &by_digest]).ok();
    for version in Cosign::ALL {
        cosign_verifies(version, &by_digest, &public);
    }
    let by_chain = ["verify", "--certificate-chain", &chain, "--certificate-identity", san, "-o", "json", &by_digest];
    let refused = ironsign(&by_chain).code(12);
    assert_eq!(rejection_codes(&refused), ["CERT_NO_CODE_SIGNING"], "{}", refused.stdout);
    for version in Cosign::ALL {
        let mut args = vec!["verify", "--allow-http-registry", "--certificate-chain", &chain];
        args.extend(["--certificate-identity", san, "--certificate-oidc-issuer-regexp", ".*"]);
        args.extend(["--insecure-ignore-tlog", "--insecure-ignore-sct"]);
        args.extend(version.legacy_flags(false));
        args.push(&by_digest);
        let run = cosign_in(version, &[], &args);
        assert!(run.code != 0 && run.stderr.contains("key usage"), "{version:?}: {}", run.stderr);
    }
}

#[test]
fn awskms_failures_are_typed_and_push_nothing() {
    let kms = KmsServer::start();
    let env = kms.env();
    let (tagged, _) = push_image(&unique_repo("kms-failures"));
    let sign = |env: &[(String, String)], uri: &str| ironsign_in(env, &["sign", "--key", uri, &tagged]);

    // A key or alias that does not exist.
    failed_with_nothing_pushed(&sign(&env, "awskms:///alias/no-such-key"), "KMS_KEY_NOT_FOUND", &tagged);
    let missing_id = "awskms:///1234abcd-12ab-34cd-56ef-1234567890ab";
    failed_with_nothing_pushed(&sign(&env, missing_id), "KMS_KEY_NOT_FOUND", &tagged);
    // A disabled key.
    let key_id = kms.create_key("ECC_NIST_P256", "alias/disabled");
    kms.disable_key(&key_id);
    failed_with_nothing_pushed(&sign(&env, "awskms:///alias/disabled"), "KMS_KEY_DISABLED", &tagged);

    // Access denied and throttling on Sign only (the public key was read): the fault proxy answers
    // as AWS KMS does.
    kms.create_key("ECC_NIST_P256", "alias/faulty");
    let proxy = FaultProxy::start_for(kms.http.trim_start_matches("http://"));
    let proxied = kms.env_for(&format!("http://{}", proxy.addr));
    let answer = |error: &str| {
        serde_json::json!([{"path": ".*", "header": {"X-Amz-Target": "TrentService\\.Sign$"}, "fault": "status",
            "status": 400, "json": {"__type": error, "message": format!("injected {error}")}}])
    };
    proxy.set(answer("AccessDeniedException"));
    failed_with_nothing_pushed(&sign(&proxied, "awskms:///alias/faulty"), "KMS_ACCESS_DENIED", &tagged);
    assert_eq!(proxy.faulted(), 1, "access denied is not retried");
    proxy.set(answer("ThrottlingException"));
    let started = Instant::now();
    failed_with_nothing_pushed(&sign(&proxied, "awskms:///alias/faulty"), "KMS_THROTTLED", &tagged);
    let throttled = proxy.faulted() - 1;
    assert!((2..=5).contains(&throttled), "retried a bounded number of times: {throttled}");
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
    // Without faults, the same key signs through the proxy.
    proxy.set(serde_json::json!([]));
    sign(&proxied, "awskms:///alias/faulty").ok();

    // An endpoint nobody listens on.
    let (tagged, _) = push_image(&unique_repo("kms-unreachable"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let started = Instant::now();
    let run =
        ironsign_in(&kms.env_for(&format!("http://{closed}")), &["sign", "--key", "awskms:///alias/faulty", &tagged]);
    failed_with_nothing_pushed(&run, "KMS_UNREACHABLE", &tagged);
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
    // No region anywhere, and cosign's TLS bypass, are refused before any request.
    let no_region: Vec<_> = env.iter().filter(|(k, _)| k != "AWS_REGION").cloned().collect();
    let run = ironsign_in(&no_region, &["sign", "--key", "awskms:///alias/faulty", &tagged]);
    failed_with_nothing_pushed(&run, "KMS_FAILED", &tagged);
    assert!(run.stderr.contains("region"), "{}", run.stderr);
    let mut insecure = env.clone();
    insecure.push(("AWS_TLS_INSECURE_SKIP_VERIFY".into(), "1".into()));
    let run = ironsign_in(&insecure, &["sign", "--key", "awskms:///alias/faulty", &tagged]);
    failed_with_nothing_pushed(&run, "KMS_FAILED", &tagged);
}

#[test]
fn a_kms_whose_signatures_do_not_verify_pushes_nothing() {
    // moto 5.2.5 as it is hashes the digest again: its signatures do not verify with the key.
    let kms = KmsServer::start_with_moto_digest_signing();
    kms.create_key("ECC_NIST_P256", "alias/wrong-signatures");
    let (tagged, _) = push_image(&unique_repo("kms-bad-signature"));
    let run = ironsign_in(&kms.env(), &["sign", "--key", "awskms:///alias/wrong-signatures", &tagged]);
    failed_with_nothing_pushed(&run, "KEY_SIGNING_FAILED", &tagged);
    assert!(run.stderr.contains("does not verify"), "{}", run.stderr);
}

#[test]
fn vault_transit_signatures_verify_with_cosign_both_ways() {
    let vault = VaultServer::start();
    let env = vault.env();
    let dir = tempfile::tempdir().unwrap();
    for (key_type, cosign_verifies_it) in [("ecdsa-p256", true), ("rsa-3072", true), ("ecdsa-p384", false)] {
        let name = format!("transit-{key_type}");
        vault.create_key(&name, key_type);
        let uri = format!("hashivault://{name}");
        let public = public_key_file(&env, &uri, dir.path());
        let ours = ironsign_in(&env, &["public-key", "--key", &uri]).ok().stdout;
        assert_eq!(ours, cosign_in(Cosign::V2, &env, &["public-key", "--key", &uri]).ok().stdout, "{key_type}");
        // ironsign signs, cosign verifies.
        let (tagged, by_digest) = push_image(&unique_repo("vault-sign"));
        ironsign_in(&env, &["sign", "--key", &uri, &tagged]).ok();
        ironsign(&["verify", "--key", &public, &by_digest]).ok();
        if cosign_verifies_it {
            for version in Cosign::ALL {
                cosign_verifies(version, &by_digest, &public);
            }
            // cosign signs with the transit key, ironsign verifies.
            for version in Cosign::ALL {
                let (_, by_digest) = push_image(&unique_repo("vault-from-cosign"));
                let mut args = vec!["sign", "--allow-http-registry", "--key", &uri, "-y"];
                args.extend(version.legacy_flags(true));
                args.push(&by_digest);
                cosign_in(version, &env, &args).ok();
                ironsign(&["verify", "--key", &public, &by_digest]).ok();
            }
        }
    }
    // generate-key-pair --kms creates a transit key as cosign does.
    let run = run_in(dir.path(), &ironsign_bin(), &["generate-key-pair", "--kms", "hashivault://generated"], &env).ok();
    assert!(run.stderr.contains("Public key written to cosign.pub"), "{}", run.stderr);
    let written = std::fs::read_to_string(dir.path().join("cosign.pub")).unwrap();
    assert_eq!(written, cosign_in(Cosign::V2, &env, &["public-key", "--key", "hashivault://generated"]).ok().stdout);
}

#[test]
fn vault_transit_failures_are_typed_and_push_nothing() {
    let vault = VaultServer::start();
    vault.create_key("present", "ecdsa-p256");
    let (tagged, _) = push_image(&unique_repo("vault-failures"));
    let sign = |env: &[(String, String)], uri: &str| ironsign_in(env, &["sign", "--key", uri, &tagged]);
    failed_with_nothing_pushed(&sign(&vault.env(), "hashivault://absent"), "KMS_KEY_NOT_FOUND", &tagged);
    let bad_token = [("VAULT_ADDR".to_owned(), vault.address.clone()), ("VAULT_TOKEN".to_owned(), "wrong".to_owned())];
    failed_with_nothing_pushed(&sign(&bad_token, "hashivault://present"), "KMS_ACCESS_DENIED", &tagged);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let unreachable =
        [("VAULT_ADDR".to_owned(), format!("http://{closed}")), ("VAULT_TOKEN".to_owned(), "t".to_owned())];
    failed_with_nothing_pushed(&sign(&unreachable, "hashivault://present"), "KMS_UNREACHABLE", &tagged);
    // No server configured; and cosign's TLS bypass is refused.
    let no_address = [("VAULT_TOKEN".to_owned(), vault.token.clone())];
    failed_with_nothing_pushed(&sign(&no_address, "hashivault://present"), "KMS_FAILED", &tagged);
    let mut skip = vault.env();
    skip.push(("VAULT_SKIP_VERIFY".into(), "true".into()));
    failed_with_nothing_pushed(&sign(&skip, "hashivault://present"), "KMS_FAILED", &tagged);
}

/// `sign-blob --key awskms://…` (release tarballs are signed in the same pipeline): cosign v2 and
/// v3 verify the signature by the public key ironsign prints, ironsign verifies cosign's own
/// awskms blob signature, and another blob is refused by both.
#[test]
fn sign_blob_with_an_awskms_key_verifies_with_cosign_both_ways() {
    let kms = KmsServer::start();
    let env = kms.env();
    let dir = tempfile::tempdir().unwrap();
    kms.create_key("ECC_NIST_P256", "alias/ironsign-blob");
    let uri = "awskms:///alias/ironsign-blob";
    let blob = dir.path().join("release.tar.gz");
    let other = dir.path().join("other.tar.gz");
    std::fs::write(&blob, b"release bytes\n").unwrap();
    std::fs::write(&other, b"other bytes\n").unwrap();
    let (blob, other) = (blob.to_str().unwrap(), other.to_str().unwrap());
    let public = public_key_file(&env, uri, dir.path());
    let ours = ironsign_in(&env, &["sign-blob", "--key", uri, blob]).ok().stdout.trim().to_owned();
    for version in Cosign::ALL {
        let args = ["verify-blob", "--key", &public, "--signature", &ours, "--insecure-ignore-tlog"];
        let mut args = args.to_vec();
        args.extend(version.legacy_flags(false));
        cosign_in(version, &[], &[&args[..], &[blob]].concat()).ok();
        assert_ne!(cosign_in(version, &[], &[&args[..], &[other]].concat()).code, 0, "{version:?}: another blob");
    }
    let args = ["sign-blob", "--key", uri, "--tlog-upload=false", "-y", blob];
    let theirs = cosign_in(Cosign::V2, &env, &args).ok().stdout.trim().to_owned();
    for signature in [&ours, &theirs] {
        ironsign(&["verify-blob", "--key", &public, "--signature", signature, blob]).ok();
        assert_ne!(ironsign(&["verify-blob", "--key", &public, "--signature", signature, other]).code, 0);
    }
}
