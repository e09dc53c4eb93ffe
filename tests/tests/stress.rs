//! Concurrency and interruption: 32 signer and attester processes on one image lose nothing; 8
//! concurrent `gc --delete` runs on one repository delete every orphan and nothing live; signers
//! killed with SIGKILL at random points never leave a `.sig` tag naming a missing blob.

use ironsign::cosign::AttachmentKind;
use ironsign::{Digest, ImageReference, Location};
use ironsign_e2e::*;
use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn spawn(args: &[&str]) -> Child {
    Command::new(ironsign_bin()).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

#[track_caller]
fn wait_ok(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut b).unwrap();
    u32::from_le_bytes(b)
}

fn location_of(by_digest: &str) -> (Location, Digest) {
    let r = ImageReference::parse(by_digest).unwrap();
    (r.location.clone(), r.digest.unwrap())
}

/// The attachment manifest of `digest` is absent or names only blobs that exist; its layer count.
fn layers_if_intact(location: &Location, digest: &Digest, kind: AttachmentKind) -> usize {
    block_on(async {
        let c = client();
        let Some((_, manifest)) = c.get_attachment_manifest(location, digest, kind).await.unwrap() else {
            return 0;
        };
        for d in manifest.config.iter().chain(&manifest.layers) {
            assert!(
                c.blob_exists(location, &d.digest).await.unwrap(),
                "{kind:?} tag names a missing blob {}",
                d.digest
            );
        }
        manifest.layers.len()
    })
}

#[test]
fn thirty_two_concurrent_signers_and_attesters_lose_nothing() {
    let (tagged, by_digest) = push_image(&unique_repo("stress-signers"));
    let (chain, root) = (pki_file("chain.pem"), pki_file("root.pem"));
    let dir = tempfile::tempdir().unwrap();
    let mut children = Vec::new();
    for i in 1..=16 {
        let (key, cert) = (pki_file(&format!("signers/{i}.key")), pki_file(&format!("signers/{i}.pem")));
        let predicate = dir.path().join(format!("{i}.json"));
        std::fs::write(&predicate, format!(r#"{{"signer":{i}}}"#)).unwrap();
        let predicate = predicate.to_str().unwrap().to_owned();
        let material = ["--key", &key, "--certificate", &cert, "--certificate-chain", &chain];
        let mut sign = vec!["sign"];
        sign.extend(material);
        sign.push(&tagged);
        children.push(spawn(&sign));
        let mut attest = vec!["attest", "--predicate", &predicate, "--type", "custom"];
        attest.extend(material);
        attest.push(&tagged);
        children.push(spawn(&attest));
    }
    for child in children {
        wait_ok(child);
    }
    let verified = ironsign(&[
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
    let serials: BTreeSet<&str> = verified["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signer"]["certificate"]["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials.len(), 16, "every signer's signature is present");
    let attestations = ironsign(&["download", "attestation", &by_digest]).ok();
    let predicates: BTreeSet<String> = attestations
        .stdout
        .lines()
        .map(|line| {
            let envelope: serde_json::Value = serde_json::from_str(line).unwrap();
            use base64::Engine as _;
            let payload =
                base64::engine::general_purpose::STANDARD.decode(envelope["payload"].as_str().unwrap()).unwrap();
            let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            statement["predicate"].to_string()
        })
        .collect();
    assert_eq!(predicates.len(), 16, "every attester's attestation is present: {predicates:?}");
    let (location, digest) = location_of(&by_digest);
    assert_eq!(layers_if_intact(&location, &digest, AttachmentKind::Signature), 16);
    assert_eq!(layers_if_intact(&location, &digest, AttachmentKind::Attestation), 16);
}

#[test]
fn eight_concurrent_gc_runs_delete_orphans_and_nothing_live() {
    let repo = unique_repo("stress-gc");
    let addr = registry(RegistryKind::Plain);
    let (key, cert, chain) = (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"));
    let sign = |image: &str| {
        ironsign(&["sign", "--key", &key, "--certificate", &cert, "--certificate-chain", &chain, image]).ok();
    };
    // Live: images with signatures. Orphaned: signatures whose image was deleted.
    let mut live = Vec::new();
    let mut orphans = Vec::new();
    for i in 0..12 {
        let target = format!("{addr}/{repo}:t{i}");
        let line = Command::new(repo_root().join("scripts/make-test-image")).arg(&target).output().unwrap();
        let by_digest =
            format!("{addr}/{repo}@{}", String::from_utf8(line.stdout).unwrap().trim().rsplit_once('@').unwrap().1);
        sign(&by_digest);
        let (location, digest) = location_of(&by_digest);
        if i % 2 == 0 {
            live.push((location, digest, by_digest));
        } else {
            assert!(block_on(client().delete_manifest(&location, &digest)).unwrap());
            orphans.push((location, digest));
        }
    }
    let repo_ref = format!("{addr}/{repo}");
    let runs: Vec<_> = (0..8).map(|_| spawn(&["gc", "--delete", "-o", "json", &repo_ref])).collect();
    for run in runs {
        // A run may find an orphan already deleted by another; it must still succeed.
        wait_ok(run);
    }
    for (location, digest, by_digest) in &live {
        assert_eq!(layers_if_intact(location, digest, AttachmentKind::Signature), 1, "{by_digest} lost its signature");
        ironsign(&[
            "verify",
            "--ca-roots",
            &pki_file("root.pem"),
            "--certificate-identity",
            "signer@example.com",
            by_digest,
        ])
        .ok();
    }
    for (location, digest) in &orphans {
        assert_eq!(layers_if_intact(location, digest, AttachmentKind::Signature), 0, "orphan of {digest} left");
    }
}

#[test]
fn signers_killed_at_random_points_leave_no_dangling_tag() {
    let (_, by_digest) = push_image(&unique_repo("stress-kill"));
    let (location, digest) = location_of(&by_digest);
    let (chain, root) = (pki_file("chain.pem"), pki_file("root.pem"));
    let mut previous = 0;
    for round in 0..12 {
        let i = round % 16 + 1;
        let (key, cert) = (pki_file(&format!("signers/{i}.key")), pki_file(&format!("signers/{i}.pem")));
        let annotation = format!("round={round}");
        let mut child = spawn(&[
            "sign",
            "--key",
            &key,
            "--certificate",
            &cert,
            "--certificate-chain",
            &chain,
            "-a",
            &annotation,
            &by_digest,
        ]);
        // A sign takes some tens of milliseconds here: kill anywhere from before the first request
        // to after the manifest write.
        std::thread::sleep(Duration::from_millis(u64::from(random_u32() % 250)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let now = layers_if_intact(&location, &digest, AttachmentKind::Signature);
        assert!(now >= previous, "round {round}: a signature was lost ({previous} -> {now})");
        previous = now;
    }
    // A signer that is not interrupted still appends, and everything there verifies.
    ironsign(&[
        "sign",
        "--key",
        &pki_file("leaf.key"),
        "--certificate",
        &pki_file("leaf.pem"),
        "--certificate-chain",
        &chain,
        &by_digest,
    ])
    .ok();
    assert_eq!(layers_if_intact(&location, &digest, AttachmentKind::Signature), previous + 1);
    let verified = ironsign(&[
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
    assert!(verified["rejected"].as_array().unwrap().is_empty(), "{verified}");
}
