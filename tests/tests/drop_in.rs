//! cosign commands that pipelines call, run with `ironsign` in their place (issue 14):
//! `import-key-pair` of keys openssl writes, `version`, `sign --upload=false` with its
//! `--output-*` files, `attach signature` and `attach attestation`. Each outcome is checked against
//! the real cosign v2.6.5 and v3.1.3 doing the same, or reading what ironsign wrote.

use ironsign_e2e::*;
use std::path::Path;
use std::process::Command;

const PASSWORD: &str = "drop-in-pw";

fn cosign(version: Cosign, args: &[&str], dir: &Path) -> Run {
    run_in(&version.bin(), args, dir, &[("COSIGN_PASSWORD", PASSWORD)])
}

fn ironsign_in(args: &[&str], dir: &Path) -> Run {
    run_in(&ironsign_bin(), args, dir, &[("COSIGN_PASSWORD", PASSWORD)])
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Keys as openssl writes them, in each encoding cosign's import-key-pair takes:
/// (file, what it is, whether cosign signs and verifies with it).
fn openssl_keys(dir: &Path) -> Vec<(&'static str, &'static str, bool)> {
    openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ec-sec1.pem"], dir);
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ec-pkcs8.pem"], dir);
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "ec384-pkcs8.pem"], dir);
    openssl(&["genrsa", "-traditional", "-out", "rsa-pkcs1.pem", "2048"], dir);
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072", "-out", "rsa-pkcs8.pem"], dir);
    vec![
        ("ec-sec1.pem", "EC PRIVATE KEY", true),
        ("ec-pkcs8.pem", "PRIVATE KEY (EC)", true),
        // cosign signs with P-384 but verifies with SHA-256, so its own P-384 signatures fail.
        ("ec384-pkcs8.pem", "PRIVATE KEY (P-384)", false),
        ("rsa-pkcs1.pem", "RSA PRIVATE KEY", true),
        ("rsa-pkcs8.pem", "PRIVATE KEY (RSA)", true),
    ]
}

/// `ironsign import-key-pair` writes the public key cosign writes for the same input, and a
/// private key file cosign signs with; ironsign signs with cosign's import, and each verifies the
/// other's signature by the imported public key.
#[test]
fn import_key_pair_matches_cosign_for_every_openssl_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (file, what, cosign_signs) in openssl_keys(d) {
        let ours = format!("ours-{file}");
        let out = ironsign_in(&["import-key-pair", "--key", file, "--output-key-prefix", &ours], d).ok();
        assert_eq!(
            out.stderr,
            format!("Private key written to {ours}.key\nPublic key written to {ours}.pub\n"),
            "{what}"
        );
        let theirs = format!("theirs-{file}");
        cosign(Cosign::V2, &["import-key-pair", "--key", file, "-o", &theirs], d).ok();
        let read = |p: String| std::fs::read_to_string(d.join(p)).unwrap();
        assert_eq!(read(format!("{ours}.pub")), read(format!("{theirs}.pub")), "{what}: public keys differ");
        assert!(read(format!("{ours}.key")).starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"), "{what}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(d.join(format!("{ours}.key"))).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{what}: private key readable by others");
        }

        // ironsign signs with cosign's import; cosign signs with ironsign's.
        let (_, image) = push_image(&unique_repo("import-key"));
        ironsign_in(&["sign", "--key", &format!("{theirs}.key"), &image], d).ok();
        ironsign_in(&["verify", "--key", &format!("{ours}.pub"), &image], d).ok();
        if cosign_signs {
            for version in Cosign::ALL {
                let (_, image) = push_image(&unique_repo("import-key-cosign"));
                let mut args = vec!["sign", "--allow-http-registry", "--key"];
                let key = format!("{ours}.key");
                args.extend([key.as_str(), "-y"]);
                args.extend(version.legacy_flags(true));
                args.push(&image);
                cosign(version, &args, d).ok();
                ironsign_in(&["verify", "--key", &format!("{theirs}.pub"), &image], d).ok();
                let public = format!("{ours}.pub");
                let mut args = vec!["verify", "--allow-http-registry", "--key", &public, "--insecure-ignore-tlog"];
                args.extend(version.legacy_flags(false));
                args.push(&image);
                cosign(version, &args, d).ok();
            }
        }
    }
}

/// What import refuses, as a hurried user would feed it: an encrypted key (cosign refuses it too),
/// a certificate, keys ironsign cannot sign with, and an existing key pair without `-y`
/// (left untouched).
#[test]
fn import_key_pair_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "plain.pem"], d);
    let enc = ["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "plain.pem", "-out", "enc.pem"];
    openssl(&[&enc[..], &["-passout", "pass:x"]].concat(), d);
    openssl(&["genpkey", "-algorithm", "ED25519", "-out", "ed25519.pem"], d);
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521", "-out", "p521.pem"], d);
    std::fs::copy(pki_file("leaf.pem"), d.join("cert.pem")).unwrap();

    let refused = |file: &str, code: &str, says: &str| {
        let out = ironsign_in(&["import-key-pair", "--key", file, "-o", "x"], d);
        assert_ne!(out.code, 0, "{file} imported");
        assert!(out.stderr.contains(&format!("[{code}]")) && out.stderr.contains(says), "{file}: {}", out.stderr);
        assert!(!d.join("x.key").exists() && !d.join("x.pub").exists(), "{file}: files written");
    };
    refused("enc.pem", "KEY_UNSUPPORTED", "unencrypted");
    assert_ne!(cosign(Cosign::V2, &["import-key-pair", "--key", "enc.pem", "-o", "c"], d).code, 0);
    refused("cert.pem", "KEY_PARSE", "no PRIVATE KEY");
    refused("ed25519.pem", "KEY_UNSUPPORTED", "key algorithm");
    refused("p521.pem", "KEY_UNSUPPORTED", "P-256 and P-384");
    let missing = ironsign_in(&["import-key-pair", "--key", "missing.pem"], d);
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("missing.pem"), "{}", missing.stderr);

    // An existing pair is kept unless -y; `-y` is a boolean and never takes the next word.
    ironsign_in(&["import-key-pair", "--key", "plain.pem"], d).ok();
    let before = std::fs::read(d.join("import-cosign.key")).unwrap();
    let again = ironsign_in(&["import-key-pair", "--key", "plain.pem"], d);
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("import-cosign.key exists") && again.stderr.contains("-y"), "{}", again.stderr);
    assert_eq!(std::fs::read(d.join("import-cosign.key")).unwrap(), before);
    ironsign_in(&["import-key-pair", "-y", "--key", "plain.pem"], d).ok();
    assert_ne!(std::fs::read(d.join("import-cosign.key")).unwrap(), before, "-y did not overwrite");
}

/// `version` prints cosign's layout and its JSON keys, so `| jq -r .gitVersion` keeps working.
#[test]
fn version_has_cosigns_shape() {
    let dir = tempfile::tempdir().unwrap();
    let ours = ironsign_in(&["version", "--json"], dir.path()).ok().json();
    let theirs = cosign(Cosign::V3, &["version", "--json"], dir.path()).ok().json();
    for key in ["gitVersion", "gitCommit", "gitTreeState", "buildDate", "compiler", "platform"] {
        assert!(theirs[key].is_string(), "cosign has no {key}");
        assert!(ours[key].is_string(), "ironsign has no {key}: {ours}");
    }
    assert_eq!(ours["gitVersion"], format!("v{}", env!("CARGO_PKG_VERSION")));
    assert_eq!(ours["platform"], theirs["platform"], "both built for this machine");
    let text = ironsign_in(&["version"], dir.path()).ok().stdout;
    for label in ["GitVersion:", "GitCommit:", "GitTreeState:", "BuildDate:", "Compiler:", "Platform:"] {
        assert!(text.lines().any(|l| l.starts_with(label)), "no {label} line in {text}");
    }
    assert_ne!(ironsign_in(&["version", "--json=maybe"], dir.path()).code, 0);
}

fn no_signatures(image: &str) {
    verify_with_root(image, &[]).code(10);
}

/// `sign --upload=false --output-*` stores nothing and writes what cosign writes; `attach
/// signature` stores it so cosign and ironsign verify it; the files cosign writes attach with
/// ironsign, and ironsign's attach with cosign.
#[test]
fn sign_without_upload_then_attach_signature_round_trips_with_cosign() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, cert, chain) = (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"));
    let signing = ["--key", key.as_str(), "--certificate", cert.as_str(), "--certificate-chain", chain.as_str()];
    let outputs = ["--output-signature", "s.b64", "--output-payload", "p.json", "--output-certificate", "c.pem"];

    // ironsign signs detached, ironsign attaches, both cosigns verify.
    let (_, image) = push_image(&unique_repo("detached"));
    let mut args = vec!["sign", "--upload=false"];
    args.extend(signing);
    args.extend(outputs);
    args.push(&image);
    ironsign_in(&args, d).ok();
    no_signatures(&image);
    let generated = ironsign(&["generate", &image]).ok().stdout;
    assert_eq!(std::fs::read_to_string(d.join("p.json")).unwrap(), generated.trim_end(), "payload is generate's");
    let certificate = std::fs::read_to_string(d.join("c.pem")).unwrap();
    assert_eq!(certificate.trim(), std::fs::read_to_string(&cert).unwrap().trim());
    let attach = ["attach", "signature", "--payload", "p.json", "--signature", "s.b64", "--certificate", "c.pem"];
    let mut args = attach.to_vec();
    args.extend(["--certificate-chain", chain.as_str(), image.as_str()]);
    let out = ironsign_in(&args, d).ok();
    assert!(out.stderr.starts_with("Pushed signature to "), "{}", out.stderr);
    verify_with_root(&image, &[]).ok();
    for version in Cosign::ALL {
        cosign_verify_with_chain(version, &image).ok();
    }
    // The same again is not stored twice.
    let again = ironsign_in(&args, d).ok();
    assert!(again.stderr.starts_with("Signature already present in "), "{}", again.stderr);
    assert_eq!(verify_with_root(&image, &["-o", "json"]).ok().json()["signatures"].as_array().unwrap().len(), 1);

    // cosign signs detached (with the same key, imported for it), ironsign attaches.
    ironsign_in(&["import-key-pair", "--key", &key], d).ok();
    let cosign_signing =
        ["--key", "import-cosign.key", "--certificate", cert.as_str(), "--certificate-chain", chain.as_str()];
    for version in Cosign::ALL {
        let (_, image) = push_image(&unique_repo("detached-cosign"));
        let prefix = format!("{version:?}");
        let (sig, payload) = (format!("{prefix}.sig"), format!("{prefix}.payload"));
        let mut args = vec!["sign", "--allow-http-registry", "--upload=false", "-y"];
        args.extend(cosign_signing);
        args.extend(["--output-signature", &sig, "--output-payload", &payload]);
        args.extend(version.legacy_flags(true));
        args.push(&image);
        cosign(version, &args, d).ok();
        no_signatures(&image);
        let attach = ["attach", "signature", "--payload", &payload, "--signature", &sig, "--certificate", &cert];
        let mut args = attach.to_vec();
        args.extend(["--certificate-chain", chain.as_str(), image.as_str()]);
        ironsign_in(&args, d).ok();
        verify_with_root(&image, &[]).ok();
        cosign_verify_with_chain(version, &image).ok();
    }

    // ironsign signs detached, cosign attaches.
    let (_, image) = push_image(&unique_repo("detached-to-cosign"));
    let mut args = vec!["sign", "--upload=false"];
    args.extend(signing);
    args.extend(outputs);
    args.push(&image);
    ironsign_in(&args, d).ok();
    let attach = ["attach", "signature", "--allow-http-registry", "--payload", "p.json", "--signature", "s.b64"];
    let mut args = attach.to_vec();
    args.extend(["--certificate", cert.as_str(), "--certificate-chain", chain.as_str(), image.as_str()]);
    cosign(Cosign::V2, &args, d).ok();
    verify_with_root(&image, &[]).ok();

    // Uploading still writes the files when asked, as cosign does.
    let (_, image) = push_image(&unique_repo("upload-and-output"));
    let mut args = vec!["sign"];
    args.extend(signing);
    args.extend(["--output-signature", "up.b64", "--output-payload", "up.json", image.as_str()]);
    ironsign_in(&args, d).ok();
    // The files hold exactly what was stored: attaching them finds it already there.
    let attach = ["attach", "signature", "--payload", "up.json", "--signature", "up.b64", "--certificate", &cert];
    let mut args = attach.to_vec();
    args.extend(["--certificate-chain", chain.as_str(), image.as_str()]);
    let again = ironsign_in(&args, d).ok();
    assert!(again.stderr.starts_with("Signature already present in "), "{}", again.stderr);
}

/// What attach and detached signing refuse, as a hurried user or an attacker would try them:
/// nothing is stored in each case.
#[test]
fn attach_signature_and_detached_signing_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, cert, chain) = (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"));
    let (_, image) = push_image(&unique_repo("attach-refused"));
    let (_, other_image) = push_image(&unique_repo("attach-refused-other"));
    let detached = |target: &str, signer_key: &str, prefix: &str| {
        let (sig, payload) = (format!("{prefix}.b64"), format!("{prefix}.json"));
        let args = ["sign", "--upload=false", "--key", signer_key, "--output-signature", &sig];
        let mut args = args.to_vec();
        args.extend(["--output-payload", &payload, target]);
        ironsign_in(&args, d).ok();
    };
    detached(&other_image, &key, "other-image");
    detached(&image, &pki_file("other-leaf.key"), "other-key");
    detached(&image, &key, "good");
    std::fs::write(d.join("garbage.b64"), "not base64 at all!").unwrap();

    let refused = |args: &[&str], says: &str| {
        let out = ironsign_in(args, d);
        assert_ne!(out.code, 0, "{args:?} succeeded");
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        no_signatures(&image);
    };
    let attach_refused = |sig: &str, payload: &str, says: &str| {
        let mut args = vec!["attach", "signature", "--signature", sig, "--payload", payload];
        args.extend(["--certificate", cert.as_str(), "--certificate-chain", chain.as_str()]);
        args.push(image.as_str());
        refused(&args, says);
    };
    attach_refused("other-image.b64", "other-image.json", "not the image's digest");
    attach_refused("other-key.b64", "other-key.json", "does not verify over the payload");
    attach_refused("garbage.b64", "good.json", "is not base64");
    attach_refused("missing.b64", "good.json", "missing.b64");
    refused(&["attach", "signature", "--signature", "good.b64", "--certificate-chain", &chain, &image], "chain needs");
    refused(
        &["attach", "signature", "--signature", "good.b64", "--rekor-response", "r.json", &image],
        "transparency log",
    );
    refused(&["attach", "signature", "--signature", "good.b64", "--tsr", "t.tsr", &image], "--tsr");
    refused(&["sign", "--upload=false", "--key", &key, &image], "--output-signature");
    refused(&["sign", "--key", &key, "--output-certificate", "c.pem", &image], "no certificate");
    refused(&["sign", "--key", &key, "--output-signature", "x", &image, &other_image], "one signature");

    // Without a certificate the signature cannot be checked here; it is stored, and only the
    // right key verifies it.
    ironsign_in(&["attach", "signature", "--signature", "good.b64", "--payload", "good.json", &image], d).ok();
    ironsign(&["verify", "--key", &pki_file("leaf.pub"), &image]).ok();
    assert_ne!(ironsign(&["verify", "--key", &pki_file("dod-leaf.pub"), &image]).code, 0);
}

/// `attest --no-upload` envelopes attach with ironsign and cosign verifies them; cosign's attach
/// with ironsign; an envelope about another image, or a file that is no envelope, stores nothing.
#[test]
fn attach_attestation_round_trips_with_cosign() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, public) = (pki_file("leaf.key"), pki_file("leaf.pub"));
    std::fs::write(d.join("predicate.json"), r#"{"scanner":"drop-in"}"#).unwrap();
    let (_, image) = push_image(&unique_repo("attach-att"));
    let (_, other_image) = push_image(&unique_repo("attach-att-other"));
    let envelope = |target: &str| {
        let args = ["attest", "--key", &key, "--type", "custom", "--predicate", "predicate.json", "--no-upload"];
        let mut args = args.to_vec();
        args.push(target);
        ironsign_in(&args, d).ok().stdout
    };
    std::fs::write(d.join("env.json"), envelope(&image)).unwrap();
    std::fs::write(d.join("other.json"), envelope(&other_image)).unwrap();
    std::fs::write(d.join("not-envelope.json"), r#"{"hello":"world"}"#).unwrap();

    let verify_att = |target: &str| ironsign(&["verify-attestation", "--key", &public, "--type", "custom", target]);
    for bad in [vec!["env.json", "other.json"], vec!["not-envelope.json"]] {
        let mut args = vec!["attach", "attestation"];
        for file in &bad {
            args.extend(["--attestation", file]);
        }
        args.push(&image);
        let out = ironsign_in(&args, d);
        assert_ne!(out.code, 0, "{bad:?} attached");
        assert!(out.stderr.contains("INVALID_ARGUMENT"), "{bad:?}: {}", out.stderr);
        assert_ne!(verify_att(&image).code, 0, "{bad:?}: something was stored");
    }
    let out = ironsign_in(&["attach", "attestation", "--attestation", "env.json", &image], d).ok();
    assert!(out.stderr.contains("Pushed https://cosign.sigstore.dev/attestation/v1 attestation"), "{}", out.stderr);
    verify_att(&image).ok();
    for version in Cosign::ALL {
        let mut args = vec!["verify-attestation", "--allow-http-registry", "--key", &public, "--type", "custom"];
        args.push("--insecure-ignore-tlog");
        args.extend(version.legacy_flags(false));
        args.push(&image);
        cosign(version, &args, d).ok();
    }

    // cosign's envelope (signed with the same key, imported for cosign), attached by ironsign.
    ironsign_in(&["import-key-pair", "--key", &key], d).ok();
    let (_, image) = push_image(&unique_repo("attach-att-cosign"));
    let args = ["attest", "--allow-http-registry", "--key", "import-cosign.key", "--type", "custom", "--predicate"];
    let mut args = args.to_vec();
    args.extend(["predicate.json", "--no-upload", "--tlog-upload=false", "-y", &image]);
    let theirs = cosign(Cosign::V2, &args, d).ok().stdout;
    std::fs::write(d.join("theirs.json"), theirs).unwrap();
    ironsign_in(&["attach", "attestation", "--attestation", "theirs.json", &image], d).ok();
    verify_att(&image).ok();
}

/// cosign's switches on a real verification: `--private-infrastructure` and `-d` are honoured,
/// `--use-signed-timestamps` needs the TSA's certificates (there is no public TSA to fall back
/// on), and `-t` stops the whole command.
#[test]
fn cosign_switches_on_verify() {
    let (_, image) = push_image(&unique_repo("switches"));
    sign_with_chain(&image, &[]);
    let public = pki_file("leaf.pub");
    let key_verify = |extra: &[&str]| {
        let mut args = vec!["verify", "--key", public.as_str()];
        args.extend_from_slice(extra);
        args.push(&image);
        ironsign(&args)
    };
    key_verify(&["--private-infrastructure", "--insecure-ignore-tlog"]).ok();
    let debug = key_verify(&["-d"]).ok();
    assert!(debug.stderr.contains("DEBUG"), "-d logs nothing: {}", debug.stderr);
    let refused = key_verify(&["--use-signed-timestamps"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(refused.stderr.contains("--timestamp-certificate-chain"), "{}", refused.stderr);
    let refused = key_verify(&["--private-infrastructure=false"]);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("transparency log"), "{}", refused.stderr);
    let timed_out = key_verify(&["-t", "1ns"]);
    assert_ne!(timed_out.code, 0);
    assert!(timed_out.stderr.contains("timed out after"), "{}", timed_out.stderr);

    // cosign's environment: honoured (a size bound) or refused by name, never ignored.
    let with_env = |env: &[(&str, &str)]| ironsign_env(&["verify", "--key", public.as_str(), &image], env);
    with_env(&[("COSIGN_MAX_ATTACHMENT_SIZE", "128MiB"), ("COSIGN_DOCKER_MEDIA_TYPES", "false")]).ok();
    let small = with_env(&[("COSIGN_MAX_ATTACHMENT_SIZE", "64")]);
    assert_ne!(small.code, 0, "a 64-byte bound let the signature through");
    for (name, value) in [
        ("COSIGN_REPOSITORY", "registry.example/sigs"),
        ("COSIGN_DOCKER_MEDIA_TYPES", "1"),
        ("COSIGN_MAX_ATTACHMENT_SIZE", "64GiB"),
    ] {
        let refused = with_env(&[(name, value)]);
        assert_eq!(refused.code, 3, "{name}={value}: {}", refused.stderr);
        assert!(refused.stderr.contains(name), "{name}={value}: {}", refused.stderr);
    }
}

/// `verify-attestation` prints what cosign prints, one DSSE envelope per line (byte for byte for
/// a `.att` layer), so `| jq -r .payload | base64 -d | jq .predicate` works unchanged; a bundle's
/// envelope reads the same way; `--statements` prints the decoded statements instead.
#[test]
fn verify_attestation_prints_cosigns_envelopes() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (key, public) = (pki_file("leaf.key"), pki_file("leaf.pub"));
    std::fs::write(d.join("predicate.json"), r#"{"scanner":"envelope"}"#).unwrap();
    let (_, image) = push_image(&unique_repo("att-envelope"));
    let attest = |format: &[&str]| {
        let mut args = vec!["attest", "--key", &key, "--type", "custom", "--predicate", "predicate.json"];
        args.extend_from_slice(format);
        args.push(&image);
        ironsign_in(&args, d).ok();
    };
    let verify = || ironsign(&["verify-attestation", "--key", &public, "--type", "custom", &image]).ok().stdout;

    // The .att envelope line is cosign's, byte for byte (cosign v2 stops at a bundle without a
    // trusted root, so it reads the image before the bundle is added).
    attest(&[]);
    let args = ["verify-attestation", "--allow-http-registry", "--key", &public, "--insecure-ignore-tlog"];
    let mut args = args.to_vec();
    args.extend(["--type", "custom", &image]);
    let theirs = cosign(Cosign::V2, &args, d).ok().stdout;
    assert_eq!(verify(), theirs);

    attest(&["--bundle-format"]);
    let all = ["verify-attestation", "--key", &public, "--type", "custom", "--all-signatures", &image];
    let ours = ironsign(&all).ok().stdout;
    let lines: Vec<&str> = ours.lines().collect();
    assert_eq!(lines.len(), 2, "{ours}");
    for line in &lines {
        let envelope: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(envelope["payloadType"], "application/vnd.in-toto+json");
        let payload = base64::engine::general_purpose::STANDARD.decode(envelope["payload"].as_str().unwrap()).unwrap();
        let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(statement["predicate"]["Data"], "{\"scanner\":\"envelope\"}", "{statement}");
    }

    let decoded = ironsign(&["verify-attestation", "--key", &public, "--type", "custom", "--statements", &image]).ok();
    for line in decoded.stdout.lines() {
        let statement: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(statement["predicateType"], "https://cosign.sigstore.dev/attestation/v1");
    }
    let both =
        ironsign(&["verify-attestation", "--key", &public, "--type", "custom", "--statements", "-o", "json", &image]);
    assert_eq!(both.code, 3, "{}", both.stderr);
}
