//! Registry requests per operation, counted from the access log of a registry of the test's own
//! (Debian's distribution 2.8, which has no referrers API): a verification asks only what its
//! verdict needs. A legacy `.sig` signature that satisfies the policy costs the tag's resolution,
//! the `.sig` manifest and its payload (3 requests by tag, 2 by digest, no `/v2/` probe); the
//! Sigstore bundle referrers are read only when no `.sig` signature passes, the missing referrers
//! API is asked about once per process, and the verdict is always the one of reading everything.

use ironsign_e2e::*;

const IDENTITY: &str = "signer@example.com";

/// A private registry whose access log is read.
struct CountedRegistry(PrivateRegistry);

impl CountedRegistry {
    fn start() -> Self {
        CountedRegistry(PrivateRegistry::start())
    }

    fn logged(&self) -> Vec<String> {
        let request = regex::Regex::new(r#""(GET|HEAD|PUT|POST|PATCH|DELETE) (/v2/\S*) HTTP/[\d.]+" (\d+)"#).unwrap();
        let text = std::fs::read_to_string(self.0.log()).unwrap_or_default();
        request.captures_iter(&text).map(|c| format!("{} {} {}", &c[1], &c[2], &c[3])).collect()
    }

    /// The requests `f` made, each labelled by what it asked for (see [`label`]).
    fn requests(&self, f: impl FnOnce()) -> Vec<String> {
        let before = self.logged().len();
        f();
        // The access log line is written as the response completes: wait until it settles.
        let mut seen = self.logged().len();
        for _ in 0..20 {
            std::thread::sleep(std::time::Duration::from_millis(150));
            let now = self.logged().len();
            if now == seen {
                break;
            }
            seen = now;
        }
        self.logged()[before..].iter().map(|l| label(l)).collect()
    }

    /// A new image in `repo`: (tag reference, digest reference).
    fn image(&self, repo: &str) -> (String, String) {
        push_image_to(&self.0.addr, repo, &[])
    }
}

/// `METHOD what STATUS`, where `what` is `ping` (`/v2/`), `tag` (a manifest by tag), `digest` (a
/// manifest by digest), `.sig`/`.att`/`.sbom` (attachment tags), `referrers-tag` (the
/// `sha256-<hex>` fallback tag), `referrers` (the API), `blob`, `upload` or `tags`.
fn label(line: &str) -> String {
    let mut parts = line.split(' ');
    let (method, path, status) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let what = if path == "/v2/" {
        "ping".to_owned()
    } else if let Some((_, reference)) = path.split_once("/manifests/") {
        let reference = reference.split('?').next().unwrap();
        match reference.strip_prefix("sha256-") {
            Some(rest) if rest.len() == 64 => "referrers-tag".to_owned(),
            Some(rest) => rest[64..].to_owned(),
            None if reference.starts_with("sha256:") => "digest".to_owned(),
            None => "tag".to_owned(),
        }
    } else if path.contains("/referrers/") {
        "referrers".to_owned()
    } else if path.contains("/blobs/uploads/") {
        "upload".to_owned()
    } else if path.contains("/blobs/") {
        "blob".to_owned()
    } else if path.contains("/tags/list") {
        "tags".to_owned()
    } else {
        path.to_owned()
    };
    format!("{method} {what} {status}")
}

fn sign(args: &[&str]) {
    let (key, cert, chain) = (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"));
    let mut all = vec!["sign", "--key", &key, "--certificate", &cert, "--certificate-chain", &chain];
    all.extend_from_slice(args);
    ironsign(&all).ok();
}

/// Signs with a certificate that chains to another root: a signature the policy rejects.
fn sign_untrusted(args: &[&str]) {
    let (key, cert, chain) = (pki_file("other-leaf.key"), pki_file("other-leaf.pem"), pki_file("other-chain.pem"));
    let mut all = vec!["sign", "--key", &key, "--certificate", &cert, "--certificate-chain", &chain];
    all.extend_from_slice(args);
    ironsign(&all).ok();
}

fn verify(images: &[&str], extra: &[&str]) -> Run {
    let root = pki_file("root.pem");
    let mut args = vec!["verify", "--ca-roots", &root, "--certificate-identity", IDENTITY, "-o", "json"];
    args.extend_from_slice(extra);
    args.extend_from_slice(images);
    ironsign(&args)
}

fn formats(result: &serde_json::Value) -> Vec<String> {
    result["signatures"].as_array().unwrap().iter().map(|s| s["format"].as_str().unwrap().to_owned()).collect()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn verifying_a_legacy_signature_costs_three_requests_by_tag_and_two_by_digest() {
    let reg = CountedRegistry::start();
    let (tagged, pinned) = reg.image("app/verify");
    sign(&[&pinned]);
    let by_tag = reg.requests(|| {
        verify(&[&tagged], &[]).ok();
    });
    assert_eq!(by_tag, strs(&["HEAD tag 200", "GET .sig 200", "GET blob 200"]));
    let by_digest = reg.requests(|| {
        verify(&[&pinned], &[]).ok();
    });
    assert_eq!(by_digest, strs(&["GET .sig 200", "GET blob 200"]));

    // Many images in one process: the same per image, nothing per process.
    let images: Vec<(String, String)> = (0..4).map(|i| reg.image(&format!("app/many-{i}"))).collect();
    for (_, pinned) in &images {
        sign(&[pinned]);
    }
    let tags: Vec<&str> = images.iter().map(|(t, _)| t.as_str()).collect();
    let many = reg.requests(|| {
        verify(&tags, &[]).ok();
    });
    assert_eq!(many.len(), 3 * tags.len(), "{many:?}");
    assert!(many.iter().all(|r| r.ends_with(" 200") && !r.contains("ping") && !r.contains("referrers")), "{many:?}");

    // --all-signatures reads everything, as before: the referrers API (404 here) and its tag.
    let all = reg.requests(|| {
        verify(&[&pinned], &["--all-signatures"]).ok();
    });
    assert_eq!(all, strs(&["GET .sig 200", "GET blob 200", "GET referrers 404", "GET referrers-tag 404"]));
}

#[test]
fn bundles_are_read_when_no_legacy_signature_passes_and_the_missing_api_is_asked_once() {
    let reg = CountedRegistry::start();
    let bundled: Vec<String> = (0..2).map(|i| reg.image(&format!("app/bundle-{i}")).1).collect();
    for image in &bundled {
        sign(&["--bundle-format", image]);
    }
    let images: Vec<&str> = bundled.iter().map(String::as_str).collect();
    let mut result = None;
    let requests = reg.requests(|| {
        result = Some(verify(&images, &["--max-workers", "1"]).ok());
    });
    for line in result.unwrap().stdout.lines() {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(formats(&entry["result"]), ["sigstore_bundle"], "{entry}");
    }
    // The first image learns that the registry has no referrers API; the second does not ask.
    let bundle_reads = ["GET .sig 404", "GET referrers-tag 200", "GET digest 200", "GET blob 200"];
    let mut expected = vec!["GET .sig 404", "GET referrers 404"];
    expected.extend(&bundle_reads[1..]);
    expected.extend(bundle_reads);
    assert_eq!(requests, strs(&expected));
}

#[test]
fn every_mix_of_good_and_bad_signatures_gets_the_verdict_of_reading_everything() {
    let reg = CountedRegistry::start();
    // A rejected .sig and a good bundle: the bundle is read and passes.
    let (_, bad_sig_good_bundle) = reg.image("app/bad-sig-good-bundle");
    sign_untrusted(&[&bad_sig_good_bundle]);
    sign(&["--bundle-format", &bad_sig_good_bundle]);
    let mut run = None;
    let requests = reg.requests(|| run = Some(verify(&[&bad_sig_good_bundle], &[]).ok()));
    let result = run.unwrap().json();
    assert_eq!(formats(&result), ["sigstore_bundle"], "{result}");
    // Every signature was verified: the rejected .sig is reported beside the bundle that passed.
    assert_eq!(result["rejected"].as_array().unwrap().len(), 1, "{result}");
    assert!(requests.contains(&"GET referrers-tag 200".to_owned()), "{requests:?}");

    // A good .sig and a rejected bundle: the .sig settles it without reading the bundle; with
    // --all-signatures the bundle is read and reported rejected, and the verdict is the same.
    let (_, good_sig_bad_bundle) = reg.image("app/good-sig-bad-bundle");
    sign(&[&good_sig_bad_bundle]);
    sign_untrusted(&["--bundle-format", &good_sig_bad_bundle]);
    let requests = reg.requests(|| {
        verify(&[&good_sig_bad_bundle], &[]).ok();
    });
    assert_eq!(requests, strs(&["GET .sig 200", "GET blob 200"]));
    let all = verify(&[&good_sig_bad_bundle], &["--all-signatures"]).ok().json();
    assert_eq!(formats(&all), ["legacy_tag"], "{all}");
    assert_eq!(all["rejected"].as_array().unwrap().len(), 1, "{all}");

    // Both rejected: the error lists every signature of both formats, as reading everything does.
    let (_, both_bad) = reg.image("app/both-bad");
    sign_untrusted(&[&both_bad]);
    sign_untrusted(&["--bundle-format", &both_bad]);
    for extra in [&[][..], &["--all-signatures"]] {
        let run = verify(&[&both_bad], extra).code(12);
        assert_eq!(rejection_codes(&run), ["CERT_UNTRUSTED_CHAIN", "CERT_UNTRUSTED_CHAIN"], "{}", run.stderr);
    }

    // Only a rejected .sig: fails after asking for bundles too.
    let (_, bad_sig_only) = reg.image("app/bad-sig-only");
    sign_untrusted(&[&bad_sig_only]);
    let run = verify(&[&bad_sig_only], &[]).code(12);
    assert_eq!(rejection_codes(&run), ["CERT_UNTRUSTED_CHAIN"], "{}", run.stderr);

    // Nothing at all: NO_SIGNATURES, after looking in both places.
    let (_, unsigned) = reg.image("app/unsigned");
    let mut run = None;
    let requests = reg.requests(|| run = Some(verify(&[&unsigned], &[])));
    assert_eq!(run.unwrap().code(10).json()["error"]["code"], "NO_SIGNATURES");
    assert_eq!(requests, strs(&["GET .sig 404", "GET referrers 404", "GET referrers-tag 404"]));
}

#[test]
fn requests_of_tree_sign_attest_and_verify_attestation() {
    let reg = CountedRegistry::start();
    let (tagged, pinned) = reg.image("app/ops");
    let signing = reg.requests(|| sign(&[&tagged]));
    assert!(!signing.iter().any(|r| r.contains("ping")), "{signing:?}");
    assert_eq!(signing.len(), SIGN_REQUESTS, "{signing:?}");

    let predicate = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(predicate.path(), br#"{"builder":"ci"}"#).unwrap();
    let predicate = predicate.path().to_str().unwrap().to_owned();
    let (key, cert, chain) = (pki_file("leaf.key"), pki_file("leaf.pem"), pki_file("chain.pem"));
    let attesting = reg.requests(|| {
        ironsign(&[
            "attest",
            "--key",
            &key,
            "--certificate",
            &cert,
            "--certificate-chain",
            &chain,
            "--predicate",
            &predicate,
            "--type",
            "custom",
            &tagged,
        ])
        .ok();
    });
    assert!(!attesting.iter().any(|r| r.contains("ping")), "{attesting:?}");
    assert_eq!(attesting.len(), ATTEST_REQUESTS, "{attesting:?}");

    let root = pki_file("root.pem");
    let verify_attestation = reg.requests(|| {
        ironsign(&[
            "verify-attestation",
            "--ca-roots",
            &root,
            "--certificate-identity",
            IDENTITY,
            "--type",
            "custom",
            &tagged,
        ])
        .ok();
    });
    assert_eq!(verify_attestation, strs(&["HEAD tag 200", "GET .att 200", "GET blob 200"]));

    // tree lists everything: the manifest, the three attachment tags, the referrers (API and
    // tag, asked at once) and the attestation's envelope (for its predicate type).
    let mut tree = reg.requests(|| {
        ironsign(&["tree", &pinned]).ok();
    });
    tree.sort();
    let expected = ["GET .att 200", "GET .sbom 404", "GET .sig 200", "GET blob 200", "GET referrers 404"];
    assert_eq!(tree, strs(&[&expected[..], &["GET referrers-tag 404", "HEAD digest 200"]].concat()));
}

/// Signing by tag: the tag's resolution, the payload and config blobs (HEAD, then POST and PUT
/// when missing), the `.sig` manifest read, the pre-write re-check, the PUT and two confirmation
/// reads that guard against concurrent signers.
const SIGN_REQUESTS: usize = 12;
/// Attesting by tag: as signing, on the `.att` tag.
const ATTEST_REQUESTS: usize = 12;

mod result_cache {
    //! The verifier's cache of verdicts by content: verifying an unchanged image again costs the
    //! requests that prove nothing changed (the tag's resolution and the `.sig` manifest) and no
    //! signature verification (its payload is not even read); anything appended, another policy
    //! or another verifier verifies in full, and a failure is never served from it.
    use super::*;
    use ironsign::batch::{self, BatchOptions};
    use ironsign::{Identity, ImageReference, Policy, TrustRoot, Verifier};

    fn verifier(root: &str) -> Verifier {
        Verifier::new(TrustRoot::from_pem(&std::fs::read(pki_file(root)).unwrap(), None).unwrap())
    }

    fn verify_many(
        verifier: &Verifier,
        policy: &Policy,
        images: &[&str],
    ) -> Vec<Result<batch::VerifiedImage, ironsign::Error>> {
        let references: Vec<ImageReference> = images.iter().map(|i| ImageReference::parse(i).unwrap()).collect();
        block_on(batch::verify_many(&client(), verifier, &references, policy, &BatchOptions::default()))
    }

    #[test]
    fn an_unchanged_image_is_verified_again_with_the_requests_proving_it_and_no_cryptography() {
        let reg = CountedRegistry::start();
        let (tagged, pinned) = reg.image("app/cached");
        sign(&[&pinned]);
        let (verifier, policy) = (verifier("root.pem"), Policy::identity(Identity::san(IDENTITY)));
        let mut first = None;
        let cold = reg.requests(|| first = Some(verify_many(&verifier, &policy, &[&tagged, &pinned])));
        assert_eq!(cold.iter().filter(|r| r.contains("blob")).count(), 2, "{cold:?}");
        let first: Vec<_> = first.unwrap().into_iter().map(Result::unwrap).collect();
        let stats = verifier.result_cache_stats();
        // The two references name one image: the second may already find the first's verdict.
        assert_eq!((stats.hits + stats.misses, stats.entries), (2, 1), "{stats:?}");

        let mut again = None;
        let warm = reg.requests(|| again = Some(verify_many(&verifier, &policy, &[&tagged, &pinned])));
        // By tag: the tag and the .sig manifest; by digest: the .sig manifest. No blob: no payload
        // was read, so no signature can have been verified.
        let mut warm_sorted = warm.clone();
        warm_sorted.sort();
        assert_eq!(warm_sorted, strs(&["GET .sig 200", "GET .sig 200", "HEAD tag 200"]), "{warm:?}");
        assert_eq!(verifier.result_cache_stats().hits, stats.hits + 2);
        let again: Vec<_> = again.unwrap().into_iter().map(Result::unwrap).collect();
        for (cached, fresh) in again.iter().zip(&first) {
            assert_eq!(cached.result, fresh.result);
        }
        // A clone shares the cache (it trusts the same); the CLI's one-image-per-process runs
        // are unaffected (3 requests by tag, see above).
        let clone = verifier.clone();
        verify_many(&clone, &policy, &[&pinned]).pop().unwrap().unwrap();
        assert_eq!(clone.result_cache_stats().hits, stats.hits + 3);
    }

    #[test]
    fn appending_a_signature_another_policy_or_another_root_verifies_in_full() {
        let reg = CountedRegistry::start();
        let (_, pinned) = reg.image("app/appended");
        sign(&[&pinned]);
        let (verifier, policy) = (verifier("root.pem"), Policy::identity(Identity::san(IDENTITY)));
        verify_many(&verifier, &policy, &[&pinned]).pop().unwrap().unwrap();
        let misses = verifier.result_cache_stats().misses;

        // A second signature appended (another payload): the .sig manifest changed, the verdict is
        // reached again from both payloads and lists both signatures.
        sign(&["-a", "run=2", &pinned]);
        let mut run = None;
        let requests = reg.requests(|| run = Some(verify_many(&verifier, &policy, &[&pinned])));
        assert_eq!(requests, strs(&["GET .sig 200", "GET blob 200", "GET blob 200"]), "payloads are read again");
        assert_eq!(run.unwrap().pop().unwrap().unwrap().result.signatures.len(), 2);
        assert_eq!(verifier.result_cache_stats().misses, misses + 1);

        // Another policy: in full, and it fails as it must.
        let other = Policy::identity(Identity::san("someone-else@example.com"));
        let err = verify_many(&verifier, &other, &[&pinned]).pop().unwrap().unwrap_err();
        assert_eq!(err.code(), "NO_MATCHING_SIGNATURE");
        assert_eq!(verifier.result_cache_stats().misses, misses + 2);
        // Another root: another verifier, which holds nothing, and refuses.
        let attacker = verifier_with_attacker_root();
        let err = verify_many(&attacker, &policy, &[&pinned]).pop().unwrap().unwrap_err();
        assert_eq!(err.code(), "NO_MATCHING_SIGNATURE");
        assert_eq!(attacker.result_cache_stats().hits, 0);
    }

    fn verifier_with_attacker_root() -> Verifier {
        verifier("attacker-root.pem")
    }

    #[test]
    fn a_tampered_signature_replacing_a_cached_one_fails() {
        let reg = CountedRegistry::start();
        let (tagged, pinned) = reg.image("app/tampered");
        sign(&[&pinned]);
        let (verifier, policy) = (verifier("root.pem"), Policy::identity(Identity::san(IDENTITY)));
        verify_many(&verifier, &policy, &[&tagged]).pop().unwrap().unwrap();
        // The .sig tag rewritten with the same signature and certificate over another payload
        // (the optional section changed): what the cache holds is for the old manifest only.
        let image = block_on(client().fetch_attached(
            &ImageReference::parse(&pinned).unwrap(),
            &ImageReference::parse(&pinned).unwrap().digest.unwrap(),
            ironsign::cosign::AttachmentKind::Signature,
        ))
        .unwrap();
        let layer = &image.signatures[0];
        let mut payload: serde_json::Value = serde_json::from_slice(&layer.payload).unwrap();
        payload["optional"] = serde_json::json!({"env": "prod"});
        push_raw_signatures(&pinned, &[(serde_json::to_vec(&payload).unwrap(), layer.annotations.clone())]);
        let err = verify_many(&verifier, &policy, &[&tagged]).pop().unwrap().unwrap_err();
        assert_eq!(err.code(), "NO_MATCHING_SIGNATURE", "{err:?}");
        // And again: a failure is never kept, so it is reached in full every time.
        let hits = verifier.result_cache_stats().hits;
        verify_many(&verifier, &policy, &[&tagged]).pop().unwrap().unwrap_err();
        assert_eq!(verifier.result_cache_stats().hits, hits);
    }
}
