//! Issue 8: trust configurations, and proof that the instructions generated from one work with
//! the real consumers. Three images on the TLS test registry (signed and attested under the
//! configured PKI; unsigned; signed and attested under another root with the same names and SAN)
//! go through the generated cosign v2 and v3 scripts, sigstore's policy-tester with the generated
//! ClusterImagePolicy and TrustRoot, containers/image with the generated policy.json, and
//! `ironsign verify --trust-config`: pass, fail, fail.

use ironsign::ImageReference;
use ironsign_e2e::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The three images and the trust configuration that covers them.
struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    config: PathBuf,
    repository: String,
    signed: String,
    unsigned: String,
    other_root: String,
}

impl Fixture {
    fn images(&self) -> [(&str, &str, bool); 3] {
        [("signed", &self.signed, true), ("unsigned", &self.unsigned, false), ("other root", &self.other_root, false)]
    }
}

fn sign_and_attest(image: &str, key: &str, cert: &str, chain: &str) {
    let (key, cert, chain, ca) = (pki_file(key), pki_file(cert), pki_file(chain), tls_ca());
    let signing = ["--key", &key, "--certificate", &cert, "--certificate-chain", &chain, "--registry-cacert", &ca];
    let mut args = vec!["sign"];
    args.extend(signing);
    args.push(image);
    ironsign(&args).ok();
    let report = repo_root().join("examples/quickstart/trivy-report.json");
    let mut args = vec!["attest", "--type", "vuln", "--predicate", report.to_str().unwrap()];
    args.extend(signing);
    args.push(image);
    ironsign(&args).ok();
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let addr = registry(RegistryKind::Tls);
        let repository = format!("{addr}/{}", unique_repo("instructions"));
        let client = tls_client();
        let signed = push_unique_image(&client, &format!("{repository}/signed:v1"));
        let unsigned = push_unique_image(&client, &format!("{repository}/unsigned:v1"));
        let other_root = push_unique_image(&client, &format!("{repository}/other-root:v1"));
        sign_and_attest(&signed, "leaf.key", "leaf.pem", "chain.pem");
        // Same subject names and SAN as the real PKI, different keys: only the root tells them apart.
        sign_and_attest(&other_root, "attacker-leaf.key", "attacker-leaf.pem", "attacker-chain.pem");

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_owned();
        std::fs::create_dir_all(path.join("published")).unwrap();
        std::fs::copy(pki_file("root.pem"), path.join("published/root.pem")).unwrap();
        std::fs::copy(pki_file("inter.pem"), path.join("inter.pem")).unwrap();
        let config = path.join("trust.yaml");
        std::fs::write(
            &config,
            format!(
                "version: 1\nname: test-images\nimages: [\"{repository}/*\"]\nroots:\n  - file: published/root.pem\n    url: file://{}/published/root.pem\nintermediates:\n  - file: inter.pem\nidentity:\n  san: signer@example.com\nattestations:\n  - type: vuln\nsigning_keys:\n  - file: {}\n",
                path.display(),
                pki_file("leaf.pub")
            ),
        )
        .unwrap();
        Fixture { dir: path, _dir: dir, config, repository, signed, unsigned, other_root }
    })
}

/// Generates `format` into a fresh directory under the fixture.
fn generate(format: &str, extra: &[&str]) -> PathBuf {
    let f = fixture();
    let out = f.dir.join(format!("out-{format}-{}", unique_repo("g").replace('/', "-")));
    let mut args = vec!["instructions", format, "--trust-config", f.config.to_str().unwrap()];
    args.extend(["--output-dir", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    ironsign(&args).ok();
    out
}

fn with_tls_ca() -> Vec<(&'static str, String)> {
    vec![("SSL_CERT_FILE", tls_ca())]
}

#[test]
fn generated_cosign_scripts_pass_only_the_image_signed_under_the_configured_root() {
    let f = fixture();
    let scripts = generate("cosign", &[]);
    for (version, script) in [(Cosign::V2, "verify-cosign-v2.sh"), (Cosign::V3, "verify-cosign-v3.sh")] {
        // The script calls `cosign`: put this release first on PATH.
        let bin = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(version.bin(), bin.path().join("cosign")).unwrap();
        let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
        for (what, image, expected) in f.images() {
            let work = tempfile::tempdir().unwrap();
            let out = std::process::Command::new("sh")
                .arg(scripts.join(script))
                .arg(image)
                .current_dir(work.path())
                .env("PATH", &path)
                .env("SSL_CERT_FILE", tls_ca())
                .output()
                .expect("sh");
            let log = format!(
                "{version:?} {what}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.status.success(), expected, "{log}");
            // Refused by cosign for the right reason, not by the script.
            let reason = match what {
                "unsigned" => "no signatures found",
                "other root" => "unknown authority",
                _ => "",
            };
            assert!(log.contains(reason), "{log}");
            if expected {
                // The root was downloaded from its URL and its SHA-256 checked.
                assert!(work.path().join("test-images-roots.pem").exists(), "{log}");
            }
        }
    }
}

#[test]
fn the_cosign_script_refuses_a_root_whose_download_changed() {
    let f = fixture();
    let scripts = generate("cosign", &[]);
    let script = std::fs::read_to_string(scripts.join("verify-cosign-v2.sh")).unwrap();
    // Point the download at another root: the SHA-256 check stops the script before cosign runs.
    let tampered = script.replace(
        &format!("file://{}/published/root.pem", f.dir.display()),
        &format!("file://{}", pki_file("attacker-root.pem")),
    );
    assert_ne!(tampered, script);
    let path = scripts.join("tampered.sh");
    std::fs::write(&path, tampered).unwrap();
    let work = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("sh").arg(&path).arg(&f.signed).current_dir(work.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not trusting it"), "{out:?}");
}

#[test]
fn ironsign_verify_with_the_trust_config_agrees() {
    let f = fixture();
    let config = f.config.to_str().unwrap();
    let ca = tls_ca();
    let verify =
        |image: &str| ironsign(&["verify", "--trust-config", config, "--registry-cacert", &ca, "-o", "json", image]);
    let ok = verify(&f.signed).ok().json();
    assert_eq!(ok["attestations"][0]["predicate_type"], ironsign::predicates::VULN);
    assert_eq!(ok["signature"]["signatures"][0]["matched_identity"], "signer@example.com");
    assert_eq!(verify(&f.unsigned).code(10).json()["error"]["code"], "NO_SIGNATURES");
    let rejected = verify(&f.other_root).code(12);
    assert_eq!(rejection_codes(&rejected), ["CERT_UNTRUSTED_CHAIN"]);
    // verify-attestation takes its trust from the same file.
    let args = ["verify-attestation", "--type", "vuln", "--trust-config", config, "--registry-cacert", &ca];
    ironsign(&[&args[..], &[f.signed.as_str()]].concat()).ok();
    ironsign(&[&args[..], &[f.other_root.as_str()]].concat()).code(12);
}

#[test]
fn verify_with_the_trust_config_requires_every_attestation_and_coverage() {
    let f = fixture();
    let config = f.config.to_str().unwrap();
    let ca = tls_ca();
    // Signed, but without the required vuln attestation.
    let client = tls_client();
    let image = push_unique_image(&client, &format!("{}/no-attestation:v1", f.repository));
    let (key, cert, chain) = (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"));
    ironsign(&[
        "sign",
        "--key",
        &key,
        "--certificate",
        &cert,
        "--certificate-chain",
        &chain,
        "--registry-cacert",
        &ca,
        &image,
    ])
    .ok();
    let run = ironsign(&["verify", "--trust-config", config, "--registry-cacert", &ca, "-o", "json", &image]).code(10);
    assert_eq!(run.json()["error"]["details"]["NoSignatures"]["kind"], "attestations");
    // An image outside the patterns is refused before anything is fetched.
    let outside = f.signed.replace("/signed@", "/deeper/signed@");
    let run = ironsign(&["verify", "--trust-config", config, "-o", "json", &outside]);
    assert_eq!(run.json()["error"]["code"], "IMAGE_NOT_COVERED", "{run:?}");
    // The configuration's identity is not replaced by a flag beside it (tests/no_silent_flags.rs
    // covers every flag).
    let run =
        ironsign(&["verify", "--trust-config", config, "--certificate-identity", "x@example.com", &f.signed]).code(3);
    assert!(run.stderr.contains("--trust-config"), "{run:?}");
}

#[test]
fn policy_tester_applies_the_generated_cluster_image_policy() {
    let f = fixture();
    let out = generate("policy-controller", &[]);
    let tester = tool("policy-tester", "v0.13.1");
    let policy = out.join("policy-controller-clusterimagepolicy.yaml");
    let trust_root = out.join("policy-controller-trustroot.yaml");
    let ca = tls_ca();
    for (what, image, expected) in f.images() {
        let run = run(
            &tester,
            &["--policy", policy.to_str().unwrap(), "--trustroot", trust_root.to_str().unwrap(), "--image", image],
            &[("SSL_CERT_FILE", ca.as_str())],
        );
        assert_eq!(run.code == 0, expected, "{what}: {run:?}");
        // Refused for the right reason.
        let reason = match what {
            "unsigned" => "no matching",
            "other root" => "unknown authority",
            _ => "",
        };
        assert!(run.stdout.contains(reason), "{what}: {run:?}");
    }
}

#[test]
fn containers_image_applies_the_generated_podman_policy() {
    let f = fixture();
    let out =
        generate("podman", &["--podman-certificate-dir", &fixture().dir.join("podman-certs").display().to_string()]);
    // The PEM files go where policy.json says.
    let certs = fixture().dir.join("podman-certs");
    std::fs::create_dir_all(&certs).unwrap();
    for pem in ["test-images-roots.pem", "test-images-intermediates.pem", "test-images-signer.pub"] {
        std::fs::copy(out.join(pem), certs.join(pem)).unwrap();
    }
    let check = tool("podman-policy-check", "v5.42.0-1");
    let env = with_tls_ca();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // pki (containers/image >= 5.35) and keyPath (older releases).
    for policy in ["policy.json", "policy-keypath.json"] {
        let (policy_path, registries_d) = (out.join(policy), out.join("registries.d"));
        for (what, image, expected) in f.images() {
            let args =
                ["--policy", policy_path.to_str().unwrap(), "--registries.d", registries_d.to_str().unwrap(), image];
            let run = run(&check, &args, &env);
            assert_eq!(run.code, if expected { 0 } else { 1 }, "{policy} {what}: {run:?}");
            let reason = match (what, policy) {
                ("unsigned", _) => "no signature exists",
                ("other root", "policy.json") => "unknown authority",
                ("other root", _) => "signature verification failed",
                _ => "allowed",
            };
            assert!(run.stdout.contains(reason), "{policy} {what}: {run:?}");
        }
    }
}

fn parse_config(text: &str, dir: &Path) -> Result<ironsign::TrustConfig, ironsign::Error> {
    ironsign::TrustConfig::parse(text, |file| {
        std::fs::read(dir.join(file))
            .map_err(|e| ironsign::Error::from(ironsign::InputError::Io { path: file.into(), reason: e.to_string() }))
    })
}

fn config_error(text: &str) -> (String, String) {
    let err = parse_config(text, pki()).expect_err("must be refused");
    match err {
        ironsign::Error::Input(ironsign::InputError::InvalidTrustConfig { field, reason }) => (field, reason),
        ironsign::Error::Certificate(e) => (e.code().to_owned(), e.to_string()),
        other => panic!("unexpected error {other:?}"),
    }
}

const BASE: &str = "version: 1\nimages: [\"registry.example/team/*\"]\nroots: [{file: root.pem}]\nidentity: {san: signer@example.com}\n";

#[test]
fn trust_configs_are_strict_and_errors_name_the_field() {
    assert!(parse_config(BASE, pki()).is_ok());
    let (field, reason) = config_error(&format!("{BASE}colour: blue\n"));
    assert!(reason.contains("colour"), "{field}: {reason}");
    let (field, reason) = config_error(&BASE.replace("{file: root.pem}", "{file: root.pem, fil: x}"));
    assert_eq!(field, "roots[0].fil", "{reason}");
    let (field, _) = config_error(&BASE.replace("version: 1", "version: 2"));
    assert_eq!(field, "version");
    let (field, _) = config_error(&BASE.replace("{san: signer@example.com}", "{san: a@b, san_regex: x}"));
    assert_eq!(field, "identity");
    let (field, _) = config_error(&BASE.replace("{file: root.pem}", "{file: root.pem, pem: x}"));
    assert_eq!(field, "roots[0]");
    let (field, _) = config_error(&BASE.replace("registry.example/team/*", "team/*"));
    assert_eq!(field, "images[0]");
    let (field, _) = config_error(&format!("{BASE}attestations: [{{type: not-a-type}}]\n"));
    assert_eq!(field, "attestations[0].type");
    // An intermediate is not a root, and an intermediate must lead to a configured root.
    let (code, _) = config_error(&BASE.replace("{file: root.pem}", "{file: inter.pem}"));
    assert_eq!(code, "CERT_NOT_A_ROOT");
    let (field, reason) = config_error(&format!("{BASE}intermediates: [{{file: attacker-inter.pem}}]\n"));
    assert_eq!(field, "intermediates", "{reason}");
    let (field, _) = config_error(&format!("{BASE}roots: []\n").replace("roots: [{file: root.pem}]\n", ""));
    assert_eq!(field, "roots");
}

#[test]
fn json_and_yaml_configs_are_the_same_and_follow_the_schema() {
    let json = r#"{"version": 1, "images": ["registry.example/team/*"], "roots": [{"file": "root.pem"}],
        "identity": {"san": "signer@example.com"}}"#;
    let from_json = parse_config(json, pki()).unwrap();
    let from_yaml = parse_config(BASE, pki()).unwrap();
    assert_eq!(from_json.document(), from_yaml.document());
    let schema: serde_json::Value = serde_json::from_str(ironsign::trust_config::TRUST_CONFIG_SCHEMA).unwrap();
    let schema = ironsign::schema::Schema::new(schema).unwrap();
    schema.validate(&serde_json::to_value(fixture_document()).unwrap()).unwrap();
    schema.validate(&serde_json::to_value(from_yaml.document()).unwrap()).unwrap();
    let bad = serde_json::json!({"version": 1, "images": [], "roots": [], "identity": {}, "extra": 1});
    assert!(schema.validate(&bad).is_err());
}

fn fixture_document() -> ironsign::trust_config::TrustConfigDocument {
    let text = std::fs::read_to_string(&fixture().config).unwrap();
    parse_config(&text, &fixture().dir).unwrap().document().clone()
}

#[test]
fn generators_refuse_images_outside_the_config_and_identities_a_consumer_cannot_express() {
    let config = parse_config(BASE, pki()).unwrap();
    let options = ironsign::InstructionsOptions::default();
    let outside = ImageReference::parse("registry.example/other/app:1").unwrap();
    let err = ironsign::instructions::generate(ironsign::InstructionsFormat::Cosign, &config, Some(&outside), &options)
        .unwrap_err();
    assert_eq!(err.code(), "IMAGE_NOT_COVERED");
    let regex =
        parse_config(&BASE.replace("{san: signer@example.com}", "{san_regex: '^.*@example\\.com$'}"), pki()).unwrap();
    let err =
        ironsign::instructions::generate(ironsign::InstructionsFormat::Podman, &regex, None, &options).unwrap_err();
    assert!(err.to_string().contains("subjectEmail"), "{err}");
    // Every other format expresses a regex.
    for format in [
        ironsign::InstructionsFormat::Cosign,
        ironsign::InstructionsFormat::Kyverno,
        ironsign::InstructionsFormat::PolicyController,
    ] {
        let text = ironsign::instructions::generate(format, &regex, None, &options).unwrap().to_text();
        assert!(text.contains("^.*@example\\.com$"), "{format:?}: {text}");
    }
}

#[test]
fn a_tsa_chain_is_carried_into_every_policy_that_takes_one() {
    let config =
        parse_config(&format!("{BASE}tsa:\n  chain: {{file: chain.pem, url: https://pki.example/tsa.pem}}\n"), pki())
            .unwrap();
    assert_eq!(config.tsa_chain().unwrap().certificates.len(), 2);
    let options = ironsign::InstructionsOptions::default();
    let text = |format| ironsign::instructions::generate(format, &config, None, &options).unwrap().to_text();
    let cosign = text(ironsign::InstructionsFormat::Cosign);
    assert!(
        cosign.contains("--use-signed-timestamps \\\n  --timestamp-certificate-chain ironsign-tsa-chain.pem"),
        "{cosign}"
    );
    assert!(cosign.contains("curl -fsSL -o ironsign-tsa-chain.pem https://pki.example/tsa.pem"), "{cosign}");
    assert!(text(ironsign::InstructionsFormat::Kyverno).contains("tsaCertChain"));
    let policy_controller = text(ironsign::InstructionsFormat::PolicyController);
    assert!(policy_controller.contains("timestampAuthorities") && policy_controller.contains("rfc3161timestamp"));
    // A chain of one certificate cannot be checked: refused.
    let one = format!("{BASE}tsa:\n  chain: {{file: root.pem}}\n");
    assert_eq!(config_error(&one).0, "tsa.chain");
}

#[test]
fn pages_name_the_image_the_signer_and_the_root_fingerprint() {
    let f = fixture();
    let root = ironsign::Certificate::from_pem_or_der(&std::fs::read(pki_file("root.pem")).unwrap(), "root").unwrap();
    let fingerprint = ironsign::instructions::colon_fingerprint(&root.summary().sha256_fingerprint);
    for (format, file) in [("markdown", "verify.md"), ("html", "verify.html")] {
        let out = generate(format, &[&f.signed]);
        let page = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(page.contains(&fingerprint), "{format}");
        assert!(page.contains("signer@example.com"), "{format}");
        assert!(page.contains(&f.signed), "{format}");
        assert!(page.contains("--new-bundle-format=false"), "{format}");
    }
    let html = std::fs::read_to_string(generate("html", &[]).join("verify.html")).unwrap();
    assert!(!html.contains("<script"), "no script in the page");
}

/// A structural OpenAPI v3 check of a Kubernetes object against a CRD schema, as the API server
/// does with strict field validation: types, required fields, enums, patterns, lengths, `oneOf`,
/// `not`, and no field the schema does not declare. CEL rules (`x-kubernetes-validations`) and
/// Kyverno's admission webhook checks are not evaluated.
fn check_openapi(schema: &serde_json::Value, value: &serde_json::Value, path: &str, errors: &mut Vec<String>) {
    use serde_json::Value;
    if let Some(Value::Array(options)) = schema.get("oneOf") {
        let matching = options
            .iter()
            .filter(|o| {
                let mut e = Vec::new();
                check_openapi(o, value, path, &mut e);
                e.is_empty()
            })
            .count();
        if matching != 1 {
            errors.push(format!("{path}: matches {matching} of the oneOf alternatives"));
        }
    }
    if let Some(not) = schema.get("not") {
        let mut e = Vec::new();
        check_openapi(not, value, path, &mut e);
        if e.is_empty() {
            errors.push(format!("{path}: matches a `not` schema"));
        }
    }
    let int_or_string = schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if let Some(Value::String(t)) = schema.get("type") {
        let ok = match t.as_str() {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string() || (int_or_string && value.is_i64()),
            "integer" => value.is_i64() || value.is_u64() || (int_or_string && value.is_string()),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ => true,
        };
        if !ok {
            errors.push(format!("{path}: expected {t}, found {value}"));
            return;
        }
    }
    if let Some(Value::Array(allowed)) = schema.get("enum")
        && !allowed.contains(value)
    {
        errors.push(format!("{path}: {value} is not one of {allowed:?}"));
    }
    if let Value::String(s) = value {
        if let Some(Value::String(p)) = schema.get("pattern")
            && !regex::Regex::new(p).expect("pattern").is_match(s)
        {
            errors.push(format!("{path}: {s:?} does not match {p}"));
        }
        if let Some(n) = schema.get("maxLength").and_then(Value::as_u64)
            && s.chars().count() as u64 > n
        {
            errors.push(format!("{path}: longer than {n}"));
        }
        if let Some(n) = schema.get("minLength").and_then(Value::as_u64)
            && (s.chars().count() as u64) < n
        {
            errors.push(format!("{path}: shorter than {n}"));
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check_openapi(item_schema, item, &format!("{path}[{i}]"), errors);
        }
    }
    if let Value::Object(map) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let key = required.as_str().unwrap_or_default();
            if !map.contains_key(key) {
                errors.push(format!("{path}: required field {key} is missing"));
            }
        }
        // ObjectMeta is the API server's to check; CRDs declare it as a bare object.
        let preserve =
            schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) || path == ".metadata";
        for (key, v) in map {
            let child = format!("{path}.{key}");
            match (properties.and_then(|p| p.get(key)), schema.get("additionalProperties")) {
                (Some(s), _) => check_openapi(s, v, &child, errors),
                (None, Some(Value::Bool(true))) => {}
                (None, Some(s @ Value::Object(_))) => check_openapi(s, v, &child, errors),
                // A schema without properties (a oneOf alternative, say) constrains no field names.
                (None, _) if preserve || properties.is_none() => {}
                (None, _) => errors.push(format!("{child}: unknown field")),
            }
        }
    }
}

fn kyverno_schema(file: &str) -> serde_json::Value {
    let path = repo_root().join("tests/kyverno-crd-schemas").join(file);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("schema")).expect("schema JSON")
}

fn check_against_crd(schema: &serde_json::Value, document: &serde_json::Value) -> Vec<String> {
    let mut errors = Vec::new();
    check_openapi(schema, document, "", &mut errors);
    errors
}

#[test]
fn generated_kyverno_policies_follow_the_kyverno_crd_schemas() {
    let cluster_policy = kyverno_schema("clusterpolicy-kyverno.io-v1.json");
    let image_validating = kyverno_schema("imagevalidatingpolicy-policies.kyverno.io-v1.json");
    let tsa = format!(
        "{BASE}tsa:\n  chain: {{file: chain.pem}}\nattestations: [{{type: vuln}}, {{type: spdxjson}}]\nintermediates: [{{file: inter.pem}}]\n"
    );
    let regex = BASE.replace("{san: signer@example.com}", "{san_regex: '^.*@example\\.com$'}");
    for text in [BASE.to_owned(), tsa, regex] {
        let config = parse_config(&text, pki()).unwrap();
        let generated = ironsign::instructions::generate(
            ironsign::InstructionsFormat::Kyverno,
            &config,
            None,
            &ironsign::InstructionsOptions::default(),
        )
        .unwrap();
        for (file, schema) in
            [("kyverno-clusterpolicy.yaml", &cluster_policy), ("kyverno-imagevalidatingpolicy.yaml", &image_validating)]
        {
            let yaml = &generated.file(file).expect(file).content;
            let document: serde_json::Value = serde_saphyr::from_str(yaml).expect("YAML");
            let errors = check_against_crd(schema, &document);
            assert!(errors.is_empty(), "{file}: {errors:#?}\n{yaml}");
        }
    }
    // The checker itself refuses a misspelt field and a wrong type.
    let mut bad: serde_json::Value = serde_saphyr::from_str(
        &ironsign::instructions::generate(
            ironsign::InstructionsFormat::Kyverno,
            &parse_config(BASE, pki()).unwrap(),
            None,
            &ironsign::InstructionsOptions::default(),
        )
        .unwrap()
        .files[0]
            .content,
    )
    .unwrap();
    let verify = &mut bad["spec"]["rules"][0]["verifyImages"][0];
    verify["attestors"][0]["entries"][0]["keyless"]["rekor"]["ignoreTLog"] = serde_json::json!(true);
    verify["mutateDigest"] = serde_json::json!("yes");
    let errors = check_against_crd(&cluster_policy, &bad);
    assert!(errors.iter().any(|e| e.contains("ignoreTLog: unknown field")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("mutateDigest: expected boolean")), "{errors:?}");
}
