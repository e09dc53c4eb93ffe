//! End to end: attestations, vulnerability reports and SBOMs against a real registry, the
//! openssl test PKI and the two pinned cosign releases (issue 3).

mod support;

use ironsign::cosign::{self, LayerSpec};
use ironsign::dsse::{self, Envelope};
use ironsign::intoto::{Statement, StatementVersion};
use ironsign::reference::Digest;
use ironsign::{ImageReference, KeyPairSigner, RegistryClient, RegistryOptions};
use std::collections::BTreeMap;
use support::*;

fn attest(image: &str, kind: &str, predicate: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec!["attest".into(), "--type".into(), kind.into(), "--predicate".into()];
    args.push(predicate.display().to_string());
    args.extend(sign_flags());
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(image.into());
    ironsign(args)
}

fn verify_attestation(image: &str, kind: &str, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = vec!["verify-attestation".into(), "--type".into(), kind.into()];
    args.extend(verify_flags());
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(image.into());
    ironsign(args)
}

/// JSON lines (what `download` prints).
fn statements(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The statements of the DSSE envelopes `verify-attestation` prints, one per line, read as
/// cosign's users read them (`jq -r .payload | base64 -d`).
fn verified_statements(stdout: &str) -> Vec<serde_json::Value> {
    use base64::Engine as _;
    statements(stdout)
        .iter()
        .map(|envelope| {
            let payload =
                base64::engine::general_purpose::STANDARD.decode(envelope["payload"].as_str().unwrap()).unwrap();
            serde_json::from_slice(&payload).unwrap()
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// The `.att` annotations ironsign and cosign write for the test leaf.
fn att_annotations(predicate_type: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (cosign::SIGNATURE_ANNOTATION.to_owned(), String::new()),
        (cosign::CERTIFICATE_ANNOTATION.to_owned(), std::fs::read_to_string(pki().join("leaf.pem")).unwrap()),
        (cosign::CHAIN_ANNOTATION.to_owned(), std::fs::read_to_string(pki().join("chain.pem")).unwrap()),
        (cosign::PREDICATE_TYPE_ANNOTATION.to_owned(), predicate_type.to_owned()),
    ])
}

/// A DSSE envelope made with the test leaf key over `payload` as `payload_type`.
fn envelope(payload_type: &str, payload: &[u8]) -> Envelope {
    let signer = KeyPairSigner::from_file(&pki().join("leaf.key"), None).unwrap();
    Envelope::sign(payload_type, payload, &signer).unwrap()
}

/// Writes `blob` as the only layer of the image's `.att` manifest, bypassing every check.
fn push_att(image: &str, blob: &[u8], annotations: BTreeMap<String, String>) {
    let reference = ImageReference::parse(image).unwrap();
    let digest = reference.digest.clone().unwrap();
    let client = RegistryClient::new(RegistryOptions::default()).unwrap();
    runtime().block_on(async {
        client.put_blob(&reference.location, blob).await.unwrap();
        let layers = [LayerSpec {
            media_type: cosign::DSSE_MEDIA_TYPE.into(),
            digest: Digest::sha256(blob),
            size: blob.len() as u64,
            annotations,
        }];
        let config = cosign::signature_config(&layers);
        client.put_blob(&reference.location, &config).await.unwrap();
        let manifest = cosign::signature_manifest(&config, &layers);
        client
            .put_manifest(&reference.location, &digest.attachment_tag("att"), &manifest, cosign::OCI_MANIFEST)
            .await
            .unwrap();
    });
}

fn statement_for(image: &str, predicate_type: &str, predicate: serde_json::Value) -> Statement {
    let reference = ImageReference::parse(image).unwrap();
    Statement::for_image(
        StatementVersion::V01,
        &reference.repository_name(),
        reference.digest.as_ref().unwrap(),
        predicate_type,
        predicate,
    )
}

const VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";

#[test]
fn attest_then_verify_each_scanner_report() {
    let reg = Registry::start("scanners");
    let image = reg.image("team/app");
    for (file, uri) in [
        ("grype.json", "pkg:github/anchore/grype@0.87.0"),
        ("trivy.json", "pkg:github/aquasecurity/trivy@0.58.1"),
        ("anchore-enterprise.json", "pkg:generic/anchore-enterprise"),
        ("twistcli.json", "pkg:generic/twistcli"),
    ] {
        ok(&attest(&image, "vuln", &fixture(&format!("scanners/{file}")), &["--replace"]));
        let out = ok(&verify_attestation(&image, "vuln", &[]));
        let verified = verified_statements(&out);
        assert_eq!(verified.len(), 1, "--replace keeps one vuln attestation: {out}");
        let s = &verified[0];
        assert_eq!(s["_type"], "https://in-toto.io/Statement/v0.1");
        assert_eq!(s["predicateType"], VULN);
        assert_eq!(s["predicate"]["scanner"]["uri"], uri, "{file}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixture(&format!("scanners/{file}"))).unwrap()).unwrap();
        assert_eq!(s["predicate"]["scanner"]["result"], report, "the report goes in untouched");
        let digest = image.rsplit_once("@sha256:").unwrap().1;
        assert_eq!(s["subject"][0]["digest"]["sha256"], digest);
        assert_eq!(s["subject"][0]["name"], format!("{}/team/app", reg.addr));
    }
    // Grype's database build and scan time come from the report.
    let out = ok(&verify_attestation(&image, "vuln", &[]));
    assert_eq!(verified_statements(&out)[0]["predicate"]["metadata"]["scanStartedOn"], "2025-01-20T10:00:03Z");

    // Stored as cosign stores it.
    let manifest = reg.manifest("team/app", &attachment_tag(&image, "att"));
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], "application/vnd.dsse.envelope.v1+json");
    assert_eq!(layer["annotations"]["predicateType"], VULN);
    assert_eq!(layer["annotations"]["dev.cosignproject.cosign/signature"], "");
    assert!(layer["annotations"]["dev.sigstore.cosign/certificate"].as_str().unwrap().contains("BEGIN CERTIFICATE"));
    assert!(layer["annotations"]["dev.sigstore.cosign/chain"].as_str().unwrap().contains("BEGIN CERTIFICATE"));

    // An unrecognised report is an error unless the scanner is named.
    let dir = tempfile::tempdir().unwrap();
    let unknown = dir.path().join("inhouse.json");
    std::fs::write(&unknown, r#"{"findings":[]}"#).unwrap();
    fails(&attest(&image, "vuln", &unknown, &[]), 3, "UNKNOWN_SCANNER");
    ok(&attest(
        &image,
        "vuln",
        &unknown,
        &["--scanner", "pkg:generic/inhouse@2.1", "--scan-started", "2025-01-01T00:00:00Z"],
    ));
}

#[test]
fn replace_keeps_other_types_and_append_keeps_same_type() {
    let reg = Registry::start("replace");
    let image = reg.image("team/app");
    ok(&attest(&image, "vuln", &fixture("scanners/trivy.json"), &[]));
    ok(&attest(&image, "vuln", &fixture("scanners/grype.json"), &[]));
    ok(&attest(&image, "spdxjson", &fixture("sbom/spdx-2.3.json"), &[]));
    assert_eq!(verified_statements(&ok(&verify_attestation(&image, "vuln", &[]))).len(), 2);
    ok(&attest(&image, "vuln", &fixture("scanners/twistcli.json"), &["--replace"]));
    let vulns = verified_statements(&ok(&verify_attestation(&image, "vuln", &[])));
    assert_eq!(vulns.len(), 1);
    assert_eq!(vulns[0]["predicate"]["scanner"]["uri"], "pkg:generic/twistcli");
    assert_eq!(verified_statements(&ok(&verify_attestation(&image, "spdxjson", &[]))).len(), 1);
    let layers = reg.manifest("team/app", &attachment_tag(&image, "att"))["layers"].as_array().unwrap().len();
    assert_eq!(layers, 2);
}

#[test]
fn wrong_predicate_type_and_no_attestations_fail() {
    let reg = Registry::start("wrongtype");
    let image = reg.image("team/app");
    // No attestation at all.
    fails(&verify_attestation(&image, "vuln", &[]), 10, "NO_SIGNATURES");
    // Attestations, but none of the type asked for: CVE-2022-35929 must not recur.
    ok(&attest(&image, "custom", &fixture("tracker/justified.json"), &[]));
    let stderr = fails(&verify_attestation(&image, "vuln", &[]), 12, "NO_MATCHING_SIGNATURE");
    assert!(stderr.contains("predicate type is \"https://cosign.sigstore.dev/attestation/v1\""), "{stderr}");
    let out = verify_attestation(&image, "vuln", &["-o", "json"]);
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(error["error"]["details"]["NoMatchingSignature"]["rejections"][0]["reason"]["PredicateType"].is_object());
    // The custom type wraps the file as cosign does.
    let custom = verified_statements(&ok(&verify_attestation(&image, "custom", &[])));
    assert_eq!(custom[0]["predicate"]["Data"], std::fs::read_to_string(fixture("tracker/justified.json")).unwrap());
}

#[test]
fn wrong_subject_tampered_envelope_foreign_payload_type_are_rejected() {
    let reg = Registry::start("forged");
    let image = reg.image("team/app");
    let other = reg.image("team/app");
    let predicate = serde_json::json!({"k": "v"});
    let uri = "https://example.com/predicate/v1";

    // A valid attestation, signed by the trusted leaf, but about another image.
    let statement = statement_for(&other, uri, predicate.clone());
    let env = envelope(dsse::INTOTO_PAYLOAD_TYPE, &statement.to_json());
    push_att(&image, &env.to_json(), att_annotations(uri));
    let stderr = fails(&verify_attestation(&image, uri, &[]), 12, "NO_MATCHING_SIGNATURE");
    assert!(stderr.contains("no subject of the statement has digest"), "{stderr}");
    // The same envelope on the image it is about verifies (the forgery test is not vacuous).
    push_att(&other, &env.to_json(), att_annotations(uri));
    ok(&verify_attestation(&other, uri, &[]));

    // Tampered: the statement is changed after signing.
    let statement = statement_for(&image, uri, predicate.clone());
    let mut env = envelope(dsse::INTOTO_PAYLOAD_TYPE, &statement.to_json());
    let tampered = statement_for(&image, uri, serde_json::json!({"k": "forged"}));
    use base64::Engine as _;
    env.payload = base64::engine::general_purpose::STANDARD.encode(tampered.to_json());
    push_att(&image, &env.to_json(), att_annotations(uri));
    let stderr = fails(&verify_attestation(&image, uri, &[]), 12, "NO_MATCHING_SIGNATURE");
    assert!(stderr.contains("does not verify"), "{stderr}");

    // Correctly signed over the PAE, but not an in-toto payload type.
    let env = envelope("application/json", &statement.to_json());
    push_att(&image, &env.to_json(), att_annotations(uri));
    let out = verify_attestation(&image, uri, &["-o", "json"]);
    fails(&out, 12, "NO_MATCHING_SIGNATURE");
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = &error["error"]["details"]["NoMatchingSignature"]["rejections"][0]["reason"]["PayloadType"];
    assert_eq!(reason["found"], "application/json");

    // And the genuine one passes.
    let env = envelope(dsse::INTOTO_PAYLOAD_TYPE, &statement.to_json());
    push_att(&image, &env.to_json(), att_annotations(uri));
    ok(&verify_attestation(&image, uri, &[]));
}

#[test]
fn attestation_from_an_untrusted_root_is_rejected() {
    let reg = Registry::start("untrusted");
    let image = reg.image("team/app");
    let mut args: Vec<String> = vec!["attest".into(), "--type".into(), "vuln".into(), "--predicate".into()];
    args.push(fixture("scanners/trivy.json").display().to_string());
    args.extend([
        "--key".into(),
        pki_file("attacker-leaf.key"),
        "--certificate".into(),
        pki_file("attacker-leaf.pem"),
        "--certificate-chain".into(),
        pki_file("attacker-chain.pem"),
        image.clone(),
    ]);
    ok(&ironsign(args));
    let out = verify_attestation(&image, "vuln", &["-o", "json"]);
    fails(&out, 12, "NO_MATCHING_SIGNATURE");
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = &error["error"]["details"]["NoMatchingSignature"]["rejections"][0]["reason"];
    assert!(reason["Certificate"]["UntrustedChain"].is_object(), "{reason}");
}

#[test]
fn scan_tracker_schema_and_rego_policy() {
    let reg = Registry::start("rego");
    let good = reg.image("team/app");
    let bad = reg.image("team/app");
    fails(&attest(&good, "scan-tracker", &fixture("tracker/invalid.json"), &[]), 3, "PREDICATE_SCHEMA_VIOLATION");
    ok(&attest(&good, "scan-tracker", &fixture("tracker/justified.json"), &[]));
    ok(&attest(&bad, "scan-tracker", &fixture("tracker/unjustified.json"), &[]));
    let policy = fixture("policies/no-unjustified-critical.rego").display().to_string();
    let tracker = "https://ironsign.dev/attestation/scan-tracker/v1";
    let out = ok(&verify_attestation(&good, tracker, &["--policy", &policy]));
    assert_eq!(verified_statements(&out)[0]["predicate"]["riskAssessment"]["state"], "approved");
    let stderr = fails(&verify_attestation(&bad, tracker, &["--policy", &policy]), 12, "POLICY_DENIED");
    assert!(stderr.contains("no-unjustified-critical.rego"), "{stderr}");
    // Without the policy the bad report is still a valid attestation.
    ok(&verify_attestation(&bad, tracker, &[]));
    // A good report appended later does not excuse the bad one (every verified one must pass).
    ok(&attest(&bad, "scan-tracker", &fixture("tracker/justified.json"), &[]));
    fails(&verify_attestation(&bad, tracker, &["--policy", &policy]), 12, "POLICY_DENIED");
    ok(&attest(&bad, "scan-tracker", &fixture("tracker/justified.json"), &["--replace"]));
    ok(&verify_attestation(&bad, tracker, &["--policy", &policy]));

    // cosign evaluates the same policy the same way, over ironsign's attestations.
    for version in COSIGNS {
        let mut args = vec!["verify-attestation", "--type", tracker, "--policy", &policy];
        let flags = cosign_verify_flags(version);
        args.extend(flags.iter().map(String::as_str));
        let mut allowed = args.clone();
        allowed.push(&good);
        ok(&cosign(version, &allowed));
    }
    let other = reg.image("team/app");
    ok(&attest(&other, "scan-tracker", &fixture("tracker/unjustified.json"), &[]));
    for version in COSIGNS {
        let mut args = vec!["verify-attestation", "--type", tracker, "--policy", &policy];
        let flags = cosign_verify_flags(version);
        args.extend(flags.iter().map(String::as_str));
        args.push(&other);
        let out = cosign(version, &args);
        assert!(!out.status.success(), "cosign {version:?} must deny: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn cosign_verifies_ironsign_attestations() {
    let reg = Registry::start("cosignverifies");
    let image = reg.image("team/app");
    ok(&attest(&image, "vuln", &fixture("scanners/grype.json"), &[]));
    ok(&attest(&image, "spdxjson", &fixture("sbom/spdx-2.3.json"), &[]));
    ok(&attest(&image, "cyclonedx", &fixture("sbom/cyclonedx-1.6.json"), &["--statement-version", "v1"]));
    ok(&attest(&image, "slsaprovenance", &fixture("slsa-provenance-0.2.json"), &[]));
    for version in COSIGNS {
        for kind in ["vuln", "spdxjson", "cyclonedx", "slsaprovenance"] {
            let mut args = vec!["verify-attestation", "--type", kind];
            let flags = cosign_verify_flags(version);
            args.extend(flags.iter().map(String::as_str));
            args.push(&image);
            let out = ok(&cosign(version, &args));
            assert!(out.contains("payloadType"), "cosign {version:?} --type {kind} printed {out}");
        }
        // And cosign still refuses a type that is not there.
        let mut args = vec!["verify-attestation", "--type", "link"];
        let flags = cosign_verify_flags(version);
        args.extend(flags.iter().map(String::as_str));
        args.push(&image);
        assert!(!cosign(version, &args).status.success());
    }
}

#[test]
fn ironsign_verifies_cosign_attestations() {
    let reg = Registry::start("ironsignverifies");
    for version in COSIGNS {
        let image = reg.image("team/app");
        for (kind, predicate) in [("vuln", "scanners/trivy-cosign-vuln.json"), ("spdxjson", "sbom/spdx-2.3.json")] {
            let key = pki_file("imported.key");
            let cert = pki_file("leaf.pem");
            let chain = pki_file("chain.pem");
            let predicate = fixture(predicate).display().to_string();
            let mut args = vec![
                "attest",
                "--key",
                &key,
                "--certificate",
                &cert,
                "--certificate-chain",
                &chain,
                "--type",
                kind,
                "--predicate",
                &predicate,
                "--allow-http-registry",
            ];
            args.extend(cosign_legacy_write_flags(version));
            args.push(&image);
            ok(&cosign(version, &args));
            let verified = verified_statements(&ok(&verify_attestation(&image, kind, &[])));
            assert_eq!(verified.len(), 1, "cosign {version:?} {kind}");
            assert_eq!(verified[0]["subject"][0]["digest"]["sha256"], image.rsplit_once("@sha256:").unwrap().1);
        }
        // cosign's envelope downloads in cosign's shape.
        let out = ok(&ironsign(["download", "attestation", "--predicate-type", "vuln", &image]));
        let lines = statements(&out);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["payloadType"], "application/vnd.in-toto+json");
    }
}

#[test]
fn sbom_formats_are_detected_and_round_trip_with_cosign() {
    let reg = Registry::start("sbom");
    for (file, media_type) in [
        ("spdx-2.3.json", "text/spdx+json"),
        ("spdx-2.3.spdx", "text/spdx"),
        ("cyclonedx-1.6.json", "application/vnd.cyclonedx+json"),
        ("cyclonedx-1.6.xml", "application/vnd.cyclonedx+xml"),
        ("syft.json", "application/vnd.syft+json"),
    ] {
        let image = reg.image("team/app");
        let path = fixture(&format!("sbom/{file}"));
        ok(&ironsign(["attach", "sbom", "--sbom", path.to_str().unwrap(), &image]));
        let manifest = reg.manifest("team/app", &attachment_tag(&image, "sbom"));
        assert_eq!(manifest["layers"][0]["mediaType"], media_type, "{file}");
        let original = std::fs::read(&path).unwrap();
        let out = ironsign(["download", "sbom", &image]);
        assert_eq!(ok(&out).as_bytes(), original.as_slice(), "{file}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("Found SBOM of media type: {media_type}")));
        for version in COSIGNS {
            let out = cosign(version, &["download", "sbom", "--allow-http-registry", &image]);
            assert_eq!(ok(&out).as_bytes(), original.as_slice(), "cosign {version:?} {file}");
        }
    }
    // The reverse: cosign attaches, ironsign downloads byte for byte.
    let image = reg.image("team/app");
    let path = fixture("sbom/cyclonedx-1.6.xml");
    ok(&cosign(
        Cosign::V2,
        &["attach", "sbom", "--sbom", path.to_str().unwrap(), "--type", "cyclonedx", "--allow-http-registry", &image],
    ));
    assert_eq!(ok(&ironsign(["download", "sbom", &image])).as_bytes(), std::fs::read(&path).unwrap().as_slice());
    let image = reg.image("team/app");
    let path = fixture("sbom/spdx-2.3.json");
    ok(&cosign(
        Cosign::V3,
        &["attach", "sbom", "--sbom", path.to_str().unwrap(), "--type", "spdx", "--allow-http-registry", &image],
    ));
    assert_eq!(ok(&ironsign(["download", "sbom", &image])).as_bytes(), std::fs::read(&path).unwrap().as_slice());

    // Declared and detected formats must agree; unknown content is refused.
    let image = reg.image("team/app");
    let cdx = fixture("sbom/cyclonedx-1.6.json");
    fails(
        &ironsign(["attach", "sbom", "--sbom", cdx.to_str().unwrap(), "--type", "spdx", &image]),
        3,
        "SBOM_FORMAT_MISMATCH",
    );
    fails(
        &ironsign(["attach", "sbom", "--sbom", cdx.to_str().unwrap(), "--input-format", "xml", &image]),
        3,
        "SBOM_FORMAT_MISMATCH",
    );
    let notsbom = fixture("scanners/trivy.json");
    fails(&ironsign(["attach", "sbom", "--sbom", notsbom.to_str().unwrap(), &image]), 3, "UNKNOWN_SBOM_FORMAT");
    fails(&ironsign(["download", "sbom", &image]), 10, "NO_SIGNATURES");
}

#[test]
fn signing_the_sbom_attachment() {
    let reg = Registry::start("signsbom");
    let image = reg.image("team/app");
    let path = fixture("sbom/cyclonedx-1.6.json");
    ok(&ironsign(["attach", "sbom", "--sbom", path.to_str().unwrap(), &image]));
    let mut args: Vec<String> = vec!["sign".into(), "--attachment".into(), "sbom".into()];
    args.extend(sign_flags());
    args.push(image.clone());
    ok(&ironsign(args));
    for version in COSIGNS {
        let mut args = vec!["verify", "--attachment", "sbom"];
        let flags = cosign_verify_flags(version);
        args.extend(flags.iter().map(String::as_str));
        args.push(&image);
        ok(&cosign(version, &args));
    }
    // The image itself is not signed.
    let mut args: Vec<String> = vec!["verify".into()];
    args.extend(verify_flags());
    args.push(image.clone());
    fails(&ironsign(args), 10, "NO_SIGNATURES");

    // `download signature` prints what cosign prints for the same signature.
    let mut args: Vec<String> = vec!["sign".into()];
    args.extend(sign_flags());
    args.push(image.clone());
    ok(&ironsign(args));
    let ours = statements(&ok(&ironsign(["download", "signature", &image])));
    assert_eq!(ours.len(), 1);
    for version in COSIGNS {
        let theirs = statements(&ok(&cosign(version, &["download", "signature", "--allow-http-registry", &image])));
        assert_eq!(theirs.len(), 1, "cosign {version:?}");
        for key in ["Base64Signature", "Payload"] {
            assert_eq!(ours[0][key], theirs[0][key], "cosign {version:?} {key}");
        }
        assert_eq!(ours[0]["Cert"]["Raw"], theirs[0]["Cert"]["Raw"], "cosign {version:?} Cert.Raw");
    }
}

#[test]
fn attestations_and_sboms_in_an_oci_layout() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let out = std::process::Command::new(root().join("scripts/make-test-image"))
        .arg(format!("oci:{}:app", layout.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let image = format!("oci:{}:app", layout.display());
    ok(&attest(&image, "vuln", &fixture("scanners/trivy.json"), &[]));
    let verified = verified_statements(&ok(&verify_attestation(&image, "vuln", &[])));
    assert_eq!(verified[0]["predicate"]["scanner"]["version"], "0.58.1");
    fails(&verify_attestation(&image, "spdxjson", &[]), 12, "NO_MATCHING_SIGNATURE");
    let sbom = fixture("sbom/syft.json");
    ok(&ironsign(["attach", "sbom", "--sbom", sbom.to_str().unwrap(), "--type", "syft", &image]));
    let copy = dir.path().join("copy.json");
    ok(&ironsign(["download", "sbom", "--output-file", copy.to_str().unwrap(), &image]));
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&sbom).unwrap());
}

#[test]
fn two_hundred_megabyte_sbom_round_trip() {
    let reg = Registry::start("bigsbom");
    let image = reg.image("team/app");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.cdx.json");
    write_big_cyclonedx(&path, 200 << 20);
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size >= 200 << 20);
    ok(&ironsign(["attach", "sbom", "--sbom", path.to_str().unwrap(), &image]));
    let downloaded = dir.path().join("downloaded.json");
    ok(&ironsign(["download", "sbom", "--output-file", downloaded.to_str().unwrap(), &image]));
    let same = std::process::Command::new("cmp").arg(&path).arg(&downloaded).status().unwrap();
    assert!(same.success(), "the downloaded SBOM differs");
}

/// A CycloneDX JSON document of at least `size` bytes, written in pieces.
pub fn write_big_cyclonedx(path: &std::path::Path, size: u64) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    write!(f, r#"{{"bomFormat":"CycloneDX","specVersion":"1.6","version":1,"components":["#).unwrap();
    let mut written = 0u64;
    let mut i = 0u64;
    while written < size {
        let component = format!(
            r#"{}{{"type":"library","bom-ref":"pkg:generic/component-{i}@1.0.{i}","name":"component-{i}","version":"1.0.{i}","purl":"pkg:generic/component-{i}@1.0.{i}","description":"synthetic component {i} of a large SBOM used to measure streaming"}}"#,
            if i == 0 { "" } else { "," }
        );
        f.write_all(component.as_bytes()).unwrap();
        written += component.len() as u64;
        i += 1;
    }
    write!(f, "]}}").unwrap();
    f.flush().unwrap();
}

#[test]
fn key_based_attestations_both_ways() {
    let reg = Registry::start("keytrust");
    let public = pki_file("imported.pub");
    let image = reg.image("team/app");
    let predicate = fixture("scanners/trivy.json").display().to_string();
    ok(&ironsign(["attest", "--type", "vuln", "--predicate", &predicate, "--key", &pki_file("leaf.key"), &image]));
    let layer = &reg.manifest("team/app", &attachment_tag(&image, "att"))["layers"][0];
    assert!(layer["annotations"].get("dev.sigstore.cosign/certificate").is_none());
    ok(&ironsign(["verify-attestation", "--type", "vuln", "--key", &public, &image]));
    // Another key does not verify.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.pub");
    let out = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in", &pki_file("other-leaf.key"), "-out", other.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let verify_other = ironsign(["verify-attestation", "--type", "vuln", "--key", other.to_str().unwrap(), &image]);
    let stderr = fails(&verify_other, 12, "NO_MATCHING_SIGNATURE");
    assert!(stderr.contains("does not verify with any configured key"), "{stderr}");
    for version in COSIGNS {
        let mut args = vec![
            "verify-attestation",
            "--type",
            "vuln",
            "--key",
            &public,
            "--insecure-ignore-tlog",
            "--allow-http-registry",
        ];
        if version == Cosign::V3 {
            args.push("--new-bundle-format=false");
        }
        args.push(&image);
        ok(&cosign(version, &args));
    }
    let image = reg.image("team/app");
    let key = pki_file("imported.key");
    let cosign_predicate = fixture("scanners/trivy-cosign-vuln.json").display().to_string();
    let mut args =
        vec!["attest", "--key", &key, "--type", "vuln", "--predicate", &cosign_predicate, "--allow-http-registry"];
    args.extend(cosign_legacy_write_flags(Cosign::V2));
    args.push(&image);
    ok(&cosign(Cosign::V2, &args));
    ok(&ironsign(["verify-attestation", "--type", "vuln", "--key", &public, &image]));
}

#[test]
fn concurrent_attestations_are_all_kept() {
    let reg = Registry::start("concurrent");
    let image = reg.image("team/app");
    let writers: Vec<_> = ["grype.json", "trivy.json", "anchore-enterprise.json", "twistcli.json"]
        .into_iter()
        .map(|file| {
            let image = image.clone();
            std::thread::spawn(move || attest(&image, "vuln", &fixture(&format!("scanners/{file}")), &[]))
        })
        .collect();
    for w in writers {
        ok(&w.join().unwrap());
    }
    let verified = verified_statements(&ok(&verify_attestation(&image, "vuln", &[])));
    let mut uris: Vec<String> =
        verified.iter().map(|s| s["predicate"]["scanner"]["uri"].as_str().unwrap().to_owned()).collect();
    uris.sort();
    assert_eq!(
        uris,
        [
            "pkg:generic/anchore-enterprise",
            "pkg:generic/twistcli",
            "pkg:github/anchore/grype@0.87.0",
            "pkg:github/aquasecurity/trivy@0.58.1"
        ]
    );
    // Both cosign releases download the same envelopes ironsign does.
    let ours = statements(&ok(&ironsign(["download", "attestation", &image])));
    for version in COSIGNS {
        let theirs = statements(&ok(&cosign(version, &["download", "attestation", "--allow-http-registry", &image])));
        let payloads = |lines: &[serde_json::Value]| {
            let mut p: Vec<String> = lines.iter().map(|l| l["payload"].as_str().unwrap().to_owned()).collect();
            p.sort();
            p
        };
        assert_eq!(payloads(&ours), payloads(&theirs), "cosign {version:?}");
    }
}
