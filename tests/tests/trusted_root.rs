//! Sigstore trusted roots (issue 14): `ironsign trusted-root create` writes, from the private CA
//! chain and the TSA chain, the file cosign v3 reads with `--trusted-root`; `verify
//! --trusted-root` reads it and cosign's own; what a trusted root asks for and ironsign cannot
//! honour (logs, validity windows) is refused.

use ironsign_e2e::*;
use std::path::Path;

const IDENTITY: &str = "signer@example.com";

fn create(args: &[&str], out: &Path) -> Run {
    let mut all = vec!["trusted-root", "create"];
    all.extend_from_slice(args);
    all.extend(["--out", out.to_str().unwrap()]);
    ironsign(&all)
}

fn fulcio(chain: &str) -> String {
    format!("url=https://ca.invalid,certificate-chain={}", pki_file(chain))
}

fn tsa(chain: &str) -> String {
    format!("url=https://tsa.invalid,certificate-chain={}", pki_file(chain))
}

fn ironsign_verify(trusted_root: &Path, image: &str) -> Run {
    let root = trusted_root.to_str().unwrap();
    ironsign(&["verify", "--trusted-root", root, "--certificate-identity", IDENTITY, "-o", "json", image])
}

fn cosign_verify(version: Cosign, trusted_root: &Path, image: &str) -> Run {
    let mut args = vec!["verify", "--allow-http-registry", "--trusted-root", trusted_root.to_str().unwrap()];
    args.extend(["--certificate-identity", IDENTITY, "--certificate-oidc-issuer-regexp", ".*"]);
    args.extend(["--insecure-ignore-tlog", "--insecure-ignore-sct"]);
    args.extend(version.legacy_flags(false));
    args.push(image);
    run(&version.bin(), &args, &[])
}

/// ironsign's file holds what cosign's holds for the same chains; cosign v3 verifies an
/// ironsign-signed, timestamped image with it; ironsign verifies with either file, the timestamp
/// included; a trusted root of another PKI is refused by both.
#[test]
fn trusted_roots_are_read_by_cosign_and_ironsign_alike() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ours, theirs, other) = (d.join("ours.json"), d.join("theirs.json"), d.join("other.json"));
    let (ca, ts) = (fulcio("chain.pem"), tsa("tsa-ecdsa-chain.pem"));
    create(&["--fulcio", &ca, "--tsa", &ts], &ours).ok();
    let args = ["trusted-root", "create", "--fulcio", &ca, "--tsa", &ts, "--out", theirs.to_str().unwrap()];
    run(&Cosign::V3.bin(), &args, &[]).ok();
    create(&["--fulcio", &fulcio("other-chain.pem")], &other).ok();

    let read = |p: &Path| serde_json::from_slice::<serde_json::Value>(&std::fs::read(p).unwrap()).unwrap();
    let (a, b) = (read(&ours), read(&theirs));
    assert_eq!(a["mediaType"], b["mediaType"]);
    for list in ["certificateAuthorities", "timestampAuthorities"] {
        for field in ["subject", "uri", "certChain"] {
            assert_eq!(a[list][0][field], b[list][0][field], "{list}.{field}");
        }
    }

    let tsa_server = Tsa::start();
    let (_, image) = push_image(&unique_repo("trusted-root"));
    let (key, cert, chain) = (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"));
    let url = tsa_server.url("ecdsa", None);
    let sign = ["sign", "--key", &key, "--certificate", &cert, "--certificate-chain", &chain];
    ironsign(&[&sign[..], &["--timestamp-server-url", &url, &image]].concat()).ok();

    for file in [&ours, &theirs] {
        let result = ironsign_verify(file, &image).ok().json();
        assert_eq!(result["signatures"][0]["checks"][0], "timestamp", "{}: {result}", file.display());
    }
    cosign_verify(Cosign::V3, &ours, &image).ok();
    assert_ne!(ironsign_verify(&other, &image).code, 0, "ironsign accepted another PKI");
    assert_ne!(cosign_verify(Cosign::V3, &other, &image).code, 0, "cosign accepted another PKI");
    // cosign's switch for the file's TSA is honoured with it.
    let root = ours.to_str().unwrap();
    let args =
        ["verify", "--trusted-root", root, "--certificate-identity", IDENTITY, "--use-signed-timestamps", &image];
    ironsign(&args).ok();
}

/// What a trusted root can ask for that ironsign does not do is refused by name, as are misuses.
#[test]
fn trusted_root_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_, image) = push_image(&unique_repo("trusted-root-refused"));
    sign_with_chain(&image, &[]);
    let good = d.join("good.json");
    create(&["--fulcio", &fulcio("chain.pem")], &good).ok();
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(&good).unwrap()).unwrap();
    ironsign_verify(&good, &image).ok();

    let variant = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = value.clone();
        edit(&mut v);
        let path = d.join(name);
        std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
        path
    };
    let refused = |path: &Path, says: &str| {
        let out = ironsign_verify(path, &image);
        assert_eq!(out.code, 3, "{}: {}", path.display(), out.stderr);
        assert!(out.stderr.contains(says), "{}: {}", path.display(), out.stderr);
    };
    refused(
        &variant("tlogs.json", &|v| v["tlogs"] = serde_json::json!([{"baseUrl": "https://rekor.invalid"}])),
        "tlogs",
    );
    refused(
        &variant("end.json", &|v| v["certificateAuthorities"][0]["validFor"]["end"] = "2030-01-01T00:00:00Z".into()),
        "validFor end",
    );
    refused(
        &variant("late.json", &|v| v["certificateAuthorities"][0]["validFor"]["start"] = "2099-01-01T00:00:00Z".into()),
        "valid only from",
    );
    refused(&variant("type.json", &|v| v["mediaType"] = "application/json".into()), "media type");
    std::fs::write(d.join("garbage.json"), "not json").unwrap();
    refused(&d.join("garbage.json"), "not JSON");
    // A CA "chain" ending in an intermediate would anchor trust on it.
    let mut no_root = value.clone();
    let certs = no_root["certificateAuthorities"][0]["certChain"]["certificates"].as_array_mut().unwrap();
    certs.pop();
    std::fs::write(d.join("no-root.json"), serde_json::to_vec(&no_root).unwrap()).unwrap();
    let out = ironsign_verify(&d.join("no-root.json"), &image);
    assert_ne!(out.code, 0, "an intermediate became a trust anchor");

    // With --key the file gives its timestamp authorities only (as in cosign): its CA does not
    // make a certificate signature pass for another key.
    let with_key =
        ironsign(&["verify", "--key", &pki_file("dod-leaf.pub"), "--trusted-root", good.to_str().unwrap(), &image]);
    assert_ne!(with_key.code, 0, "the trusted root's CA admitted a signature under --key");

    // Misuse: with other trust flags, with a log, with a window, with no root at the end.
    let root = good.to_str().unwrap();
    let both = ironsign(&["verify", "--trusted-root", root, "--ca-roots", &pki_file("root.pem"), &image]);
    assert_ne!(both.code, 0);
    assert!(both.stderr.contains("--trusted-root") && both.stderr.contains("--ca-roots"), "{}", both.stderr);
    let out = create(&["--fulcio", &fulcio("chain.pem"), "--rekor", "url=https://rekor.invalid"], &d.join("x.json"));
    assert!(out.code != 0 && out.stderr.contains("--rekor"), "{}", out.stderr);
    let windowed = format!("{},start-time=2024-01-01T00:00:00Z", fulcio("chain.pem"));
    let out = create(&["--fulcio", &windowed], &d.join("x.json"));
    assert!(out.code != 0 && out.stderr.contains("start-time"), "{}", out.stderr);
    let out = create(&["--fulcio", &fulcio("inter.pem")], &d.join("x.json"));
    assert!(out.code != 0 && out.stderr.contains("CERT_NOT_A_ROOT"), "{}", out.stderr);
    assert!(!d.join("x.json").exists(), "a refused create wrote its file");
}
