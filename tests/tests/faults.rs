//! A registry that fails: `scripts/fault-proxy` in front of the real test registry injects 5xx and
//! 429 answers, connection resets, truncated and mislabelled bodies, blobs that do not match their
//! digest, endless bodies and a server that never answers. ironsign must retry what is safe to
//! retry (boundedly), refuse content that does not match its digest, finish in bounded time, and
//! never leave a `.sig` tag naming a blob that is not there after a failed push.

use ironsign::{Credential, Digest, ImageReference, Keychain, Location, RegistryClient, RegistryOptions};
use ironsign_e2e::*;
use std::time::{Duration, Instant};

/// An image pushed and signed on the real registry, addressed through a proxy by digest.
trait SignedThroughProxy {
    fn signed_image(&self, test: &str) -> String;
}

impl SignedThroughProxy for FaultProxy {
    fn signed_image(&self, test: &str) -> String {
        let (_, by_digest) = push_image(&unique_repo(test));
        timed(&sign_args(&by_digest, &[])).0.ok();
        by_digest.replacen(&registry(RegistryKind::Plain), &self.addr, 1)
    }
}

fn sign_args<'a>(image: &'a str, extra: &[&'a str]) -> Vec<String> {
    let mut args: Vec<String> = ["sign", "--key"].map(String::from).into();
    args.extend([pki_file("leaf.key"), "--certificate".into(), pki_file("leaf.pem")]);
    args.extend(["--certificate-chain".into(), pki_file("chain.pem"), "-o".into(), "json".into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(image.into());
    args
}

fn verify_args<'a>(image: &'a str, extra: &[&'a str]) -> Vec<String> {
    let mut args: Vec<String> = ["verify", "--ca-roots"].map(String::from).into();
    args.extend([pki_file("root.pem"), "--certificate-identity".into(), "signer@example.com".into()]);
    args.extend(["-o".into(), "json".into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(image.into());
    args
}

/// Runs ironsign and how long it took.
fn timed(args: &[String]) -> (Run, Duration) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let run = ironsign(&args);
    (run, started.elapsed())
}

/// The stable code of a failed run's `--output json` error.
#[track_caller]
fn error_code(run: &Run) -> String {
    assert_ne!(run.code, 0, "expected a failure\nstdout: {}\nstderr: {}", run.stdout, run.stderr);
    let v = run.json();
    v["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {v}")).to_owned()
}

/// What "finishes in bounded time" means here: far above what each case needs (a few seconds),
/// far below what it would take without the bound (an endless body or a hanging server never end),
/// so a loaded machine does not make it flaky. Speed itself is measured in bench/, not here.
const BOUNDED: Duration = Duration::from_secs(30);

const SIG_MANIFEST: &str = r"/manifests/sha256-[0-9a-f]{64}\.sig$";
const BLOB: &str = r"/blobs/sha256:";

#[test]
fn server_errors_then_success_are_retried() {
    let proxy = FaultProxy::start();
    let image = proxy.signed_image("faults-5xx");
    proxy
        .set(serde_json::json!([{"method": "GET", "path": SIG_MANIFEST, "fault": "status", "status": 503, "times": 1},
        {"method": "GET", "path": BLOB, "fault": "status", "status": 502, "times": 1}]));
    let (run, _) = timed(&verify_args(&image, &[]));
    run.ok();
    assert_eq!(proxy.faulted(), 2);
    // Three attempts at most: a registry failing every time is reported, with its status.
    proxy.set(serde_json::json!([{"method": "GET", "path": SIG_MANIFEST, "fault": "status", "status": 500}]));
    let (run, elapsed) = timed(&verify_args(&image, &[]));
    assert_eq!(error_code(&run), "REGISTRY_HTTP");
    assert!(run.stdout.contains("500"), "{}", run.stdout);
    assert_eq!(proxy.faulted(), 2 + 3);
    assert!(elapsed < BOUNDED, "{elapsed:?}");
}

#[test]
fn retry_after_is_honoured_within_a_bound() {
    let proxy = FaultProxy::start();
    let image = proxy.signed_image("faults-429");
    proxy.set(
        serde_json::json!([{"path": SIG_MANIFEST, "fault": "status", "status": 429, "retry_after": "2", "times": 1}]),
    );
    let (run, elapsed) = timed(&verify_args(&image, &[]));
    run.ok();
    assert!(elapsed >= Duration::from_secs(2), "Retry-After: 2 was not honoured ({elapsed:?})");
    // A registry asking for an hour is not waited for: the 429 is reported at once.
    proxy.set(serde_json::json!([{"path": SIG_MANIFEST, "fault": "status", "status": 429, "retry_after": "3600"}]));
    let (run, elapsed) = timed(&verify_args(&image, &[]));
    assert_eq!(error_code(&run), "REGISTRY_HTTP");
    assert!(run.stdout.contains("429"), "{}", run.stdout);
    // Waiting even our 10 s maximum twice would take 20 s.
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
}

#[test]
fn connection_resets_are_retried_for_reads() {
    let proxy = FaultProxy::start();
    let image = proxy.signed_image("faults-reset");
    proxy.set(serde_json::json!([{"method": "GET", "path": SIG_MANIFEST, "fault": "reset", "times": 2},
        {"method": "GET", "path": BLOB, "fault": "reset", "times": 1}]));
    timed(&verify_args(&image, &[])).0.ok();
    assert_eq!(proxy.faulted(), 3);
    proxy.set(serde_json::json!([{"method": "GET", "path": SIG_MANIFEST, "fault": "reset"}]));
    let (run, elapsed) = timed(&verify_args(&image, &[]));
    assert_eq!(error_code(&run), "REGISTRY_TRANSPORT");
    assert!(elapsed < BOUNDED, "{elapsed:?}");
}

#[test]
fn truncated_and_mislabelled_bodies_are_refused() {
    let proxy = FaultProxy::start();
    let image = proxy.signed_image("faults-truncate");
    let cases = [
        (
            serde_json::json!({"method": "GET", "path": SIG_MANIFEST, "fault": "truncate", "keep": 20}),
            "REGISTRY_TRANSPORT",
        ),
        (serde_json::json!({"method": "GET", "path": BLOB, "fault": "truncate", "keep": 20}), "REGISTRY_TRANSPORT"),
        // Content-Length smaller than the content: what is read does not hash to the digest.
        (
            serde_json::json!({"method": "GET", "path": SIG_MANIFEST, "fault": "short_length", "length": 100}),
            "REGISTRY_DIGEST_MISMATCH",
        ),
        (
            serde_json::json!({"method": "GET", "path": BLOB, "fault": "short_length", "length": 10}),
            "REGISTRY_DIGEST_MISMATCH",
        ),
        // Content-Length larger than the content: the body ends early; for a blob, a length over
        // the size its descriptor declares is refused before reading.
        (
            serde_json::json!({"method": "GET", "path": SIG_MANIFEST, "fault": "long_length", "extra": 50}),
            "REGISTRY_TRANSPORT",
        ),
        (serde_json::json!({"method": "GET", "path": BLOB, "fault": "long_length", "extra": 50}), "REGISTRY_TOO_LARGE"),
    ];
    for (rule, expected) in cases {
        proxy.set(serde_json::json!([rule]));
        let (run, elapsed) = timed(&verify_args(&image, &[]));
        assert_eq!(error_code(&run), expected, "{rule}: {}", run.stdout);
        assert!(elapsed < BOUNDED, "{rule}: {elapsed:?}");
    }
    proxy.set(serde_json::json!([]));
    timed(&verify_args(&image, &[])).0.ok();
}

#[test]
fn content_that_does_not_match_its_digest_is_refused() {
    let proxy = FaultProxy::start();
    let image = proxy.signed_image("faults-digest");
    for rule in [
        serde_json::json!({"method": "GET", "path": BLOB, "fault": "corrupt"}),
        serde_json::json!({"method": "GET", "path": SIG_MANIFEST, "fault": "corrupt"}),
        serde_json::json!({"method": "GET", "path": SIG_MANIFEST, "fault": "wrong_digest"}),
    ] {
        proxy.set(serde_json::json!([rule]));
        let (run, _) = timed(&verify_args(&image, &[]));
        assert_eq!(error_code(&run), "REGISTRY_DIGEST_MISMATCH", "{rule}: {}", run.stdout);
        assert!(run.stdout.contains("expected sha256:"), "{}", run.stdout);
    }
    // A manifest fetched by digest, served corrupted, is refused too.
    proxy.set(serde_json::json!([{"method": "GET", "path": r"/manifests/sha256:", "fault": "corrupt"}]));
    let reference = ImageReference::parse(&image).unwrap();
    let digest = reference.digest.clone().unwrap();
    let err = block_on(client().get_manifest(&reference.location, digest.as_str())).unwrap_err();
    assert_eq!(err.code(), "REGISTRY_DIGEST_MISMATCH", "{err}");
}

#[test]
fn endless_bodies_are_bounded() {
    let proxy = FaultProxy::start();
    let image = proxy.signed_image("faults-endless");
    let cases = [
        // A blob is read up to the size its descriptor declares, a manifest up to 4 MiB.
        (serde_json::json!({"method": "GET", "path": BLOB, "fault": "endless"}), "REGISTRY_TOO_LARGE"),
        (serde_json::json!({"method": "GET", "path": SIG_MANIFEST, "fault": "endless"}), "REGISTRY_TOO_LARGE"),
        // A declared length over the bound is refused before reading.
        (
            serde_json::json!({"method": "GET", "path": SIG_MANIFEST, "fault": "endless", "declared": 2_u64 << 30}),
            "REGISTRY_TOO_LARGE",
        ),
        // A trickle (100 bytes a second) that never ends: cut off by the request timeout.
        (
            serde_json::json!({"method": "GET", "path": SIG_MANIFEST, "fault": "endless", "rate": 100}),
            "REGISTRY_TRANSPORT",
        ),
    ];
    for (rule, expected) in cases {
        proxy.set(serde_json::json!([rule]));
        let (run, elapsed) = timed(&verify_args(&image, &["--registry-timeout", "3"]));
        assert_eq!(error_code(&run), expected, "{rule}: {}", run.stdout);
        assert!(elapsed < BOUNDED, "{rule}: {elapsed:?}");
    }
}

#[test]
fn a_server_that_never_answers_times_out() {
    let proxy = FaultProxy::start();
    let image = proxy.signed_image("faults-hang");
    proxy.set(serde_json::json!([{"method": "GET", "path": SIG_MANIFEST, "fault": "hang"}]));
    let (run, elapsed) = timed(&verify_args(&image, &["--registry-timeout", "2"]));
    assert_eq!(error_code(&run), "REGISTRY_TRANSPORT");
    assert!(run.stdout.contains("timed out") || run.stdout.contains("timeout"), "{}", run.stdout);
    // Three attempts of at most 2 s each, plus backoff: about 8 s.
    assert!(elapsed < BOUNDED, "{elapsed:?}");
    // One slow answer within the timeout is just slow.
    proxy.set(serde_json::json!([{"method": "GET", "path": SIG_MANIFEST, "fault": "delay", "seconds": 1, "times": 1}]));
    timed(&verify_args(&image, &["--registry-timeout", "5"])).0.ok();
}

/// After a push that failed or succeeded, the `.sig` tag of `digest` is absent or names only blobs
/// that exist (checked on the real registry, by HEAD).
fn assert_no_dangling_tag(repo: &str, digest: &Digest) -> usize {
    let location = Location::Registry { registry: registry(RegistryKind::Plain), repository: repo.into() };
    block_on(async {
        let c = client();
        let Some((_, manifest)) =
            c.get_attachment_manifest(&location, digest, ironsign::cosign::AttachmentKind::Signature).await.unwrap()
        else {
            return 0;
        };
        let config = manifest.config.as_ref().expect("config");
        for d in std::iter::once(config).chain(&manifest.layers) {
            assert!(
                c.blob_exists(&location, &d.digest).await.unwrap(),
                "the .sig tag names a missing blob {}",
                d.digest
            );
        }
        manifest.layers.len()
    })
}

#[test]
fn a_failed_push_never_leaves_a_tag_naming_a_missing_blob() {
    let proxy = FaultProxy::start();
    let upload = r"/blobs/uploads/";
    let faults = [
        serde_json::json!({"method": "POST", "path": upload, "fault": "status", "status": 502}),
        serde_json::json!({"method": "PUT", "path": upload, "fault": "reset"}),
        serde_json::json!({"method": "PUT", "path": upload, "fault": "status", "status": 502}),
        serde_json::json!({"method": "PUT", "path": r"/manifests/sha256-", "fault": "reset"}),
        serde_json::json!({"method": "PUT", "path": r"/manifests/sha256-", "fault": "status", "status": 502}),
        serde_json::json!({"method": "PUT", "path": r"/manifests/sha256-", "fault": "truncate", "keep": 0}),
        // A blob upload whose answer is lost after the registry stored it.
        serde_json::json!({"method": "PUT", "path": upload, "fault": "truncate", "keep": 0}),
    ];
    for (i, fault) in faults.iter().enumerate() {
        let repo = unique_repo(&format!("faults-push{i}"));
        let (_, by_digest) = push_image(&repo);
        let digest = ImageReference::parse(&by_digest).unwrap().digest.unwrap();
        let through_proxy = by_digest.replacen(&registry(RegistryKind::Plain), &proxy.addr, 1);
        // A first signature without faults; the second signer meets the fault.
        if i % 2 == 1 {
            timed(&sign_args(&by_digest, &["-a", "first=1"])).0.ok();
        }
        proxy.set(serde_json::json!([fault]));
        let (run, elapsed) = timed(&sign_args(&through_proxy, &[]));
        assert!(elapsed < BOUNDED * 2, "{fault}: {elapsed:?}");
        let layers = assert_no_dangling_tag(&repo, &digest);
        if run.code == 0 {
            assert_eq!(layers, 1 + i % 2, "{fault}: the signature was reported written");
        } else {
            assert!(error_code(&run).starts_with("REGISTRY_"), "{fault}: {}", run.stdout);
            assert_eq!(layers, i % 2, "{fault}: the earlier signature must stay");
        }
        proxy.set(serde_json::json!([]));
    }
    // A registry failing the manifest write a few times (500, which sign treats as a write
    // conflict) is outlasted, and the signature is there once.
    let repo = unique_repo("faults-push-recover");
    let (_, by_digest) = push_image(&repo);
    let through_proxy = by_digest.replacen(&registry(RegistryKind::Plain), &proxy.addr, 1);
    proxy.set(serde_json::json!([{"method": "PUT", "path": r"/manifests/sha256-", "fault": "status", "status": 500, "times": 4}]));
    timed(&sign_args(&through_proxy, &[])).0.ok();
    let digest = ImageReference::parse(&by_digest).unwrap().digest.unwrap();
    assert_eq!(assert_no_dangling_tag(&repo, &digest), 1);
    timed(&verify_args(&by_digest, &[])).0.ok();
}

/// Runs ironsign, killing it if it has not finished within [`BOUNDED`] (a listing that never ends
/// would otherwise hang the test run instead of failing it).
#[track_caller]
fn bounded(args: &[&str]) -> Run {
    let mut child = std::process::Command::new(ironsign_bin())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ironsign");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > BOUNDED {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ironsign {args:?} did not finish within {BOUNDED:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The tags of a repository of the plain registry, read directly.
fn tags_of(repo: &str) -> std::collections::BTreeSet<String> {
    let location = Location::Registry { registry: registry(RegistryKind::Plain), repository: repo.into() };
    block_on(client().list_tags(&location, 1000)).expect("tags").into_iter().collect()
}

#[test]
fn gc_never_plans_from_a_partial_or_endless_tag_listing() {
    let proxy = FaultProxy::start();
    let repo = unique_repo("faults-tags");
    // An image signed, then its tag moved to another signed image: two `.sig` tags and `v1`.
    let (tagged, old) = push_image(&repo);
    timed(&sign_args(&old, &[])).0.ok();
    push_image(&repo);
    timed(&sign_args(&tagged, &[])).0.ok();
    let before = tags_of(&repo);
    assert_eq!(before.len(), 3, "{before:?}");
    let through_proxy = format!("{}/{repo}", proxy.addr);
    let first_page = r"/tags/list\?n=1000$";
    let next = |query: &str| format!("</v2/{repo}/tags/list?n=1000{query}>; rel=\"next\"");
    let page = |count: usize, link: Option<String>| {
        let mut rule = serde_json::json!({"method": "GET", "fault": "edit", "keep": {"field": "tags", "count": count}});
        if let Some(link) = link {
            rule["set_headers"] = serde_json::json!({"Link": link});
        }
        rule
    };
    let with_path = |mut rule: serde_json::Value, path: &str| {
        rule["path"] = path.into();
        rule
    };
    let cases = [
        // The first page holds one tag; the next one is gone. Planned from the first page alone,
        // an image whose tag is on a later page looks untagged and its signature is deleted.
        (
            "a later page is gone",
            serde_json::json!([with_path(page(1, Some(next("&last=a"))), first_page),
                {"method": "GET", "path": r"&last=a", "fault": "status", "status": 404}]),
            "REGISTRY_HTTP",
        ),
        (
            "a later page fails",
            serde_json::json!([with_path(page(1, Some(next("&last=a"))), first_page),
                {"method": "GET", "path": r"&last=a", "fault": "status", "status": 500}]),
            "REGISTRY_HTTP",
        ),
        // Empty pages that keep linking to a next one never end.
        (
            "empty pages link on",
            serde_json::json!([with_path(page(0, Some(next("&last=a"))), r"/tags/list")]),
            "REGISTRY_INVALID_RESPONSE",
        ),
        // A page that links to itself never ends either.
        (
            "a page links to itself",
            serde_json::json!([with_path(page(3, Some(next(""))), r"/tags/list")]),
            "REGISTRY_INVALID_RESPONSE",
        ),
    ];
    for (case, rules, code) in cases {
        proxy.set(rules);
        let run = bounded(&["gc", "--include-untagged", "--delete", "--output", "json", &through_proxy]);
        assert_eq!(run.code, 1, "{case}: {}\n{}", run.stdout, run.stderr);
        let out = run.json();
        assert_eq!(out["plan"]["errors"][0]["code"], code, "{case}: {out}");
        assert_eq!(out["report"]["summary"]["deleted"], 0, "{case}: {out}");
        assert_eq!(tags_of(&repo), before, "{case}: nothing may be deleted");
    }
    // The catalog: an empty page linking on is an error, not an empty catalog.
    proxy.set(serde_json::json!([{"method": "GET", "path": r"/_catalog", "fault": "edit",
        "keep": {"field": "repositories", "count": 0},
        "set_headers": {"Link": "</v2/_catalog?n=1000&last=a>; rel=\"next\""}}]));
    let run = bounded(&["gc", "--all-repositories", &proxy.addr, "--output", "json"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("REGISTRY_INVALID_RESPONSE"), "{}\n{}", run.stdout, run.stderr);
    // And a catalog whose later page is gone is an error too.
    proxy.set(serde_json::json!([{"method": "GET", "path": r"/_catalog\?n=1000$", "fault": "edit",
        "keep": {"field": "repositories", "count": 1},
        "set_headers": {"Link": "</v2/_catalog?n=1000&last=a>; rel=\"next\""}},
        {"method": "GET", "path": r"/_catalog\?n=1000&last=a", "fault": "status", "status": 404}]));
    let run = bounded(&["gc", "--all-repositories", &proxy.addr, "--output", "json"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("REGISTRY_HTTP"), "{}\n{}", run.stdout, run.stderr);
}

#[test]
fn gc_walks_an_index_whatever_the_spelling_of_its_content_type() {
    let proxy = FaultProxy::start();
    let repo = unique_repo("faults-index-type");
    let addr = registry(RegistryKind::Plain);
    let (tagged, index) = push_image_to(&addr, &repo, &["--platforms", "linux/amd64,linux/arm64"]);
    timed(&sign_args(&tagged, &["--recursive"])).0.ok();
    let location = Location::Registry { registry: addr.clone(), repository: repo.clone() };
    let index = ImageReference::parse(&index).unwrap().digest.unwrap();
    let children = block_on(client().get_manifest(&location, index.as_str())).unwrap().expect("index");
    let children = ironsign::cosign::Manifest::parse(&children.bytes, "index").unwrap().manifests;
    assert_eq!(children.len(), 2);
    let through_proxy = format!("{}/{repo}", proxy.addr);
    for content_type in [
        "application/vnd.oci.image.index.v1+json; charset=utf-8",
        "APPLICATION/VND.OCI.IMAGE.INDEX.V1+JSON",
        "application/vnd.docker.distribution.manifest.list.v2+json;q=1",
        // No manifest type at all (an old or generic server): the content says what it is.
        "application/json",
        "application/octet-stream",
    ] {
        // Only the HEAD of the tag is rewritten; the content stays what it is.
        proxy.set(serde_json::json!([{"method": "HEAD", "path": r"/manifests/v1$", "fault": "edit",
            "set_headers": {"Content-Type": content_type}}]));
        let run = bounded(&["gc", "--include-untagged", "--output", "json", &through_proxy]);
        let plan = run.json();
        assert_eq!(run.code, 0, "{content_type}: {plan}");
        assert_eq!(plan["summary"]["orphans"], 0, "{content_type}: the platforms' signatures are live: {plan}");
        let kept = plan["repositories"][0]["kept"].as_array().unwrap();
        for child in &children {
            let tag = child.digest.attachment_tag("sig");
            assert!(
                kept.iter().any(|k| k["tag"] == tag.as_str() && k["reason"] == "subject_tagged"),
                "{content_type}: {tag} not kept as tagged: {plan}"
            );
        }
        assert!(proxy.faulted() > 0, "the rule matched nothing");
    }
}

#[test]
fn credentials_never_leave_the_registry_origin() {
    // Two proxies in front of the basic-auth registry are two origins (other ports).
    let upstream = registry(RegistryKind::Basic);
    let (ours, other) = (FaultProxy::start_for(&upstream), FaultProxy::start_for(&upstream));
    let repo = unique_repo("faults-origin");
    let credential = Credential::Basic { username: BASIC_USER.into(), password: BASIC_PASSWORD.to_owned().into() };
    let keychain = Keychain::anonymous().with_credential(credential);
    let client = RegistryClient::new(RegistryOptions { keychain, ..Default::default() }).unwrap();
    let image = ImageReference::parse(&format!("{}/{repo}:v1", ours.addr)).unwrap();
    push_minimal_image(&client, &image);
    let location = &image.location;
    let elsewhere = format!("http://{}", other.addr);

    // A tag listing whose next page is on another origin.
    ours.set(serde_json::json!([{"method": "GET", "path": r"/tags/list", "fault": "edit",
        "set_headers": {"Link": format!("<{elsewhere}/v2/{repo}/tags/list?n=1000&last=v1>; rel=\"next\"")}}]));
    let err = block_on(client.list_tags(location, 100)).unwrap_err();
    assert_eq!(err.code(), "REGISTRY_UNAUTHORIZED", "{err}");
    // An upload whose Location is on another origin.
    ours.set(serde_json::json!([{"method": "POST", "path": r"/blobs/uploads/", "fault": "edit",
        "location_origin": elsewhere}]));
    let err = block_on(client.put_blob(location, b"not for the other origin")).unwrap_err();
    assert_eq!(err.code(), "REGISTRY_UNAUTHORIZED", "{err}");
    // A blob read redirected to another origin (as registries do to a CDN).
    let config = Digest::sha256(b"{}");
    ours.set(serde_json::json!([{"method": "GET", "path": r"/blobs/sha256:", "fault": "status", "status": 307,
        "headers": {"Location": format!("{elsewhere}/v2/{repo}/blobs/{config}")}}]));
    let err = block_on(client.get_blob(location, &config, 1024)).unwrap_err();
    assert_eq!(err.code(), "REGISTRY_UNAUTHORIZED", "{err}");

    let seen = other.log();
    let paths: Vec<&str> = seen.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert!(paths.iter().any(|p| p.contains("/tags/list")), "{paths:?}");
    assert!(paths.iter().any(|p| p.contains("/blobs/uploads/")), "{paths:?}");
    assert!(paths.iter().any(|p| p.contains(&format!("/blobs/{config}"))), "{paths:?}");
    for entry in &seen {
        assert_eq!(entry["authorization"], false, "credentials sent to another origin: {entry}");
    }
    // The client did hold credentials, and used them on its registry's origin.
    assert!(ours.log().iter().any(|e| e["authorization"] == true));
}

#[test]
fn a_referrers_listing_that_links_on_from_an_empty_page_is_an_error() {
    let proxy = FaultProxy::start_for(&registry(RegistryKind::Referrers));
    let repo = unique_repo("faults-referrers");
    let (_, by_digest) = push_image_to(&registry(RegistryKind::Referrers), &repo, &[]);
    let digest = ImageReference::parse(&by_digest).unwrap().digest.unwrap();
    let location = Location::Registry { registry: proxy.addr.clone(), repository: repo.clone() };
    let referrers = block_on(client().get_referrers(&location, &digest, 100)).unwrap();
    assert_eq!(referrers.source, ironsign::registry::ReferrersSource::Api);
    proxy.set(serde_json::json!([{"method": "GET", "path": r"/referrers/", "fault": "edit",
        "set_headers": {"Link": format!("</v2/{repo}/referrers/{digest}?last=a>; rel=\"next\"")}}]));
    let err = block_on(client().get_referrers(&location, &digest, 100)).unwrap_err();
    assert_eq!(err.code(), "REGISTRY_INVALID_RESPONSE", "{err}");
}
