//! Standard output closed by its reader (`ironsign … | head -c 300` under `set -o pipefail`): a
//! reader that has read enough is not a failure. Every command that writes to stdout exits with
//! its own status, quietly, whatever the reader did; a failed verification still fails.

use ironsign_e2e::*;
use std::io::Read as _;
use std::process::{Command, Stdio};

/// How many times each case is run: the reader racing the writer made the quickstart fail about
/// one run in ten.
const RUNS: usize = 30;

/// An OCI layout holding an image signed, attested and with a signed SBOM, as the quickstart
/// builds it; returns the directory (kept alive) and the image reference.
fn signed_layout() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let image = format!("oci:{}:app", dir.path().display());
    let out = Command::new(repo_root().join("scripts/make-test-image")).arg(&image).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (key, cert, chain) = (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"));
    let signing = ["--key", &key, "--certificate", &cert, "--certificate-chain", &chain];
    ironsign(&[&["sign"][..], &signing, &["-a", "pipeline=pipes", &image]].concat()).ok();
    let report = repo_root().join("examples/quickstart/trivy-report.json");
    let report = report.to_str().unwrap();
    ironsign(&[&["attest"][..], &signing, &["--type", "vuln", "--predicate", report, &image]].concat()).ok();
    let sbom = repo_root().join("examples/quickstart/sbom.spdx.json");
    ironsign(&["attach", "sbom", "--sbom", sbom.to_str().unwrap(), &image]).ok();
    ironsign(&[&["sign"][..], &signing, &["--attachment", "sbom", &image]].concat()).ok();
    (dir, image)
}

/// How the reader treats the pipe.
#[derive(Clone, Copy, Debug)]
enum Reader {
    /// Closed before ironsign starts: its first write fails with EPIPE, every time.
    ClosedAtOnce,
    /// Reads one byte, then closes (`head -c 1`): a race with the rest of the output.
    HeadOneByte,
}

/// Runs ironsign with stdout a pipe that `reader` closes early: (exit code, stderr).
fn run_with_reader(args: &[&str], reader: Reader) -> (i32, String) {
    let (mut pipe_reader, pipe_writer) = std::io::pipe().unwrap();
    if let Reader::ClosedAtOnce = reader {
        drop(pipe_reader);
        let out = Command::new(ironsign_bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(pipe_writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        return (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let child = Command::new(ironsign_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(pipe_writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut byte = [0u8; 1];
    let _ = pipe_reader.read(&mut byte);
    drop(pipe_reader);
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_reader_that_closes_stdout_early_is_not_a_failure() {
    let (_dir, image) = signed_layout();
    let root = pki_file("root.pem");
    let trust = ["--ca-roots", root.as_str(), "--certificate-identity", "signer@example.com"];
    let verify_attestation = [&["verify-attestation", "--type", "vuln"][..], &trust, &[&image]].concat();
    let verify_attestation_json = [&verify_attestation[..], &["-o", "json"]].concat();
    let verify_json = [&["verify"][..], &trust, &["-o", "json", &image]].concat();
    let commands: Vec<Vec<&str>> = vec![
        verify_attestation,
        verify_attestation_json,
        verify_json,
        vec!["download", "sbom", &image],
        vec!["download", "signature", &image],
        vec!["download", "attestation", &image],
        vec!["tree", &image],
        vec!["tree", "-o", "json", &image],
        vec!["triangulate", &image],
        vec!["generate", &image],
    ];
    for args in &commands {
        for reader in [Reader::ClosedAtOnce, Reader::HeadOneByte] {
            for run in 0..RUNS {
                let (code, stderr) = run_with_reader(args, reader);
                assert_eq!(code, 0, "{args:?} with {reader:?}, run {run}: exit {code}\nstderr: {stderr}");
                assert!(
                    !stderr.contains("Broken pipe") && !stderr.contains("panicked") && !stderr.contains("Error"),
                    "{args:?} with {reader:?}, run {run}: {stderr}"
                );
            }
        }
    }
}

#[test]
fn a_failed_verification_still_fails_when_stdout_is_closed() {
    let (_dir, image) = signed_layout();
    let root = pki_file("root.pem");
    let wrong = ["verify", "--ca-roots", &root, "--certificate-identity", "intruder@example.com", "-o", "json", &image];
    for reader in [Reader::ClosedAtOnce, Reader::HeadOneByte] {
        for run in 0..RUNS {
            let (code, stderr) = run_with_reader(&wrong, reader);
            assert_eq!(code, 12, "{reader:?}, run {run}: {stderr}");
            assert!(stderr.contains("NO_MATCHING_SIGNATURE"), "{reader:?}, run {run}: {stderr}");
        }
    }
    let attestation = ["verify-attestation", "--type", "spdx", "--ca-roots", &root];
    let attestation = [&attestation[..], &["--certificate-identity", "signer@example.com", &image]].concat();
    let (code, stderr) = run_with_reader(&attestation, Reader::ClosedAtOnce);
    assert_eq!(code, 12, "no attestation of that type: {stderr}");
}
