//! The registry bearer-token flow against the real registry (distribution 2.8, `auth.token`) and
//! the test token service of `scripts/token-server`: a 401 with a `Bearer realm=…,service=…`
//! challenge, a token fetched from the realm for `repository:<repo>:<actions>` with the client's
//! credentials (HTTP basic, or an OAuth2 refresh token from Docker's `identitytoken`), and the
//! request retried with it. The token service grants the intersection of what is asked for and
//! what the user may do, so the registry itself decides what each user can reach.

use base64::Engine as _;
use ironsign_e2e::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The registry's `auth.token.service`: the token's `aud` must equal it.
const SERVICE: &str = "ironsign-e2e-token-registry";
/// The registry's `auth.token.issuer`: the token's `iss` must equal it.
const ISSUER: &str = "ironsign-test-token-issuer";
/// The token service's users: `pusher` may pull, push and delete, `writer` pull and push,
/// `reader` only pull. Refresh tokens serve the OAuth2 (`identitytoken`) flow.
const USERS: &str = r#"{
  "pusher": {"password": "pw1", "actions": ["pull", "push", "delete"], "refresh_token": "rt-pusher"},
  "writer": {"password": "pw3", "actions": ["pull", "push"]},
  "reader": {"password": "pw2", "actions": ["pull"], "refresh_token": "rt-reader"}
}"#;

/// Runs a script of `scripts/`; the trimmed stdout, or why it failed.
fn script(name: &str, args: &[&str], env: &[(&str, &Path)]) -> Result<String, String> {
    let out = Command::new(repo_root().join("scripts").join(name))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .map_err(|e| format!("scripts/{name}: {e}"))?;
    if !out.status.success() {
        return Err(format!("scripts/{name} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A token service and a registry that trusts it, both private to one test and stopped (by PID,
/// through the scripts) when dropped, whether the test passed or panicked.
struct TokenRegistry {
    /// Token service state: signing key and certificate, users.json, requests.jsonl, log.
    token_state: PathBuf,
    /// `IRONSIGN_STATE` for scripts/registry: this test's registry only.
    registry_state: PathBuf,
    /// `127.0.0.1:PORT` of the registry.
    addr: String,
    /// An empty home, so no credential file of the machine leaks into a run.
    home: PathBuf,
    /// A Docker config directory without a config.json.
    no_docker_config: PathBuf,
    // Last: removed after Drop::drop has stopped the servers.
    _dir: tempfile::TempDir,
}

impl TokenRegistry {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let token_state = dir.path().join("token-server");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&token_state).expect("token state dir");
        let no_docker_config = home.join("no-docker-config");
        std::fs::create_dir_all(&no_docker_config).expect("home");
        std::fs::write(token_state.join("users.json"), USERS).expect("users.json");
        // The guard exists before anything starts, so a failure below still stops what did.
        let mut guard = TokenRegistry {
            registry_state: dir.path().join("registries"),
            token_state,
            addr: String::new(),
            home,
            no_docker_config,
            _dir: dir,
        };
        let realm = script("token-server", &["start", path_str(&guard.token_state)], &[]).unwrap();
        assert!(realm.starts_with("http://127.0.0.1:") && realm.ends_with("/token"), "realm: {realm}");
        let certs = guard.token_state.join("cert.pem");
        guard.addr = script(
            "registry",
            &["start", "token", "--token", &realm, ISSUER, SERVICE, path_str(&certs)],
            &[("IRONSIGN_STATE", &guard.registry_state)],
        )
        .unwrap();
        guard
    }

    /// Environment that confines ironsign's credential lookup to what the test gives it (an empty
    /// Docker config unless `docker_config` names another directory).
    fn env<'a>(&'a self, docker_config: Option<&'a Path>) -> Vec<(&'a str, &'a str)> {
        vec![
            ("HOME", path_str(&self.home)),
            ("DOCKER_CONFIG", path_str(docker_config.unwrap_or(&self.no_docker_config))),
            ("REGISTRY_AUTH_FILE", "/nonexistent/auth.json"),
            ("XDG_RUNTIME_DIR", path_str(&self.home)),
        ]
    }

    /// Writes a Docker config directory whose `auths` entry for the registry is `entry`.
    fn docker_config(&self, name: &str, entry: serde_json::Value) -> PathBuf {
        let dir = self.home.join(name);
        std::fs::create_dir_all(&dir).expect("docker config dir");
        let config = serde_json::json!({ "auths": { self.addr.clone(): entry } });
        std::fs::write(dir.join("config.json"), config.to_string()).expect("config.json");
        dir
    }

    /// The token service's record of every token request.
    fn token_requests(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.token_state.join("requests.jsonl")).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("requests.jsonl line")).collect()
    }
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        // Never panic here: this also runs while a failed test unwinds.
        if let Err(e) = script("registry", &["stop", "token"], &[("IRONSIGN_STATE", &self.registry_state)]) {
            eprintln!("stopping the token-auth registry: {e}");
        }
        if let Err(e) = script("token-server", &["stop", &self.token_state.to_string_lossy()], &[]) {
            eprintln!("stopping the token server: {e}");
        }
    }
}

/// A library client authenticating as `user`.
fn client_as(user: &str, password: &str) -> ironsign::RegistryClient {
    let keychain = ironsign::Keychain::anonymous()
        .with_credential(ironsign::Credential::Basic { username: user.into(), password: password.to_owned().into() });
    ironsign::RegistryClient::new(ironsign::RegistryOptions { keychain, ..Default::default() }).expect("client")
}

/// Pushes a small image to `addr/repo:v1` as `pusher`: returns (tag reference, digest reference).
fn push_image_as_pusher(addr: &str, repo: &str) -> (String, String) {
    push_tagged_as_pusher(addr, repo, "v1")
}

/// Pushes a small image to `addr/repo:tag` as `pusher`: returns (tag reference, digest reference).
fn push_tagged_as_pusher(addr: &str, repo: &str, tag: &str) -> (String, String) {
    let image = format!("{addr}/{repo}:{tag}");
    let reference = ironsign::ImageReference::parse(&image).unwrap();
    let client = client_as("pusher", "pw1");
    let digest = block_on(async {
        // Unique content, so every test signs a digest of its own.
        let config = format!(r#"{{"created-by":"{repo}:{tag}"}}"#);
        let config_digest = client.put_blob(&reference.location, config.as_bytes()).await.unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":{},"digest":"{config_digest}"}},"layers":[]}}"#,
            config.len()
        );
        client
            .put_manifest(&reference.location, tag, manifest.as_bytes(), ironsign::cosign::OCI_MANIFEST)
            .await
            .unwrap()
    });
    (image, format!("{addr}/{repo}@{digest}"))
}

struct Pki {
    key: String,
    cert: String,
    chain: String,
    root: String,
}

fn pki_files() -> Pki {
    Pki {
        key: pki_file("leaf.key"),
        cert: pki_file("leaf.pem"),
        chain: pki_file("chain.pem"),
        root: pki_file("root.pem"),
    }
}

fn sign_args<'a>(pki: &'a Pki, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["sign", "--key", &pki.key, "--certificate", &pki.cert, "--certificate-chain", &pki.chain];
    args.extend_from_slice(extra);
    args
}

fn verify_args<'a>(pki: &'a Pki, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["verify", "--ca-roots", &pki.root, "--certificate-identity", "signer@example.com"];
    args.extend_from_slice(extra);
    args
}

/// The status line and headers of an anonymous GET, spoken over a plain socket.
fn raw_get(addr: &str, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("request");
    let mut response = String::new();
    conn.read_to_string(&mut response).expect("response");
    response.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

#[track_caller]
fn assert_unauthorized(run: Run) {
    let run = run.code(4);
    assert_eq!(run.json()["error"]["code"], "REGISTRY_UNAUTHORIZED", "{}", run.stdout);
}

fn basic_auth_entry(user: &str, password: &str) -> serde_json::Value {
    serde_json::json!({ "auth": base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")) })
}

/// The actions the token service granted `user` (`""` for anonymous) on `repo` for a request
/// asking exactly `scope`, one entry per such request.
fn granted(requests: &[serde_json::Value], user: &str, scope: &str, repo: &str) -> Vec<Vec<String>> {
    requests
        .iter()
        .filter(|r| r["user"] == user && r["status"] == 200 && r["scopes"] == serde_json::json!([scope]))
        .map(|r| {
            let access = r["access"].as_array().expect("access");
            let entry = access.iter().find(|a| a["name"] == repo).expect("access entry for the repository");
            entry["actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
        })
        .collect()
}

/// Concurrent requests challenged at once fetch one token for their scope (single flight), and
/// a batch shares it: eight verifications at once cost one token request, not eight.
#[test]
fn concurrent_requests_fetch_one_token_per_scope() {
    let reg = TokenRegistry::start();
    let repo = unique_repo("token-flight");
    let images: Vec<String> = (0..8).map(|i| push_tagged_as_pusher(&reg.addr, &repo, &format!("v{i}")).0).collect();
    let pki = pki_files();
    let mut args = sign_args(&pki, &["--registry-username", "pusher", "--registry-password", "pw1"]);
    args.extend(images.iter().map(String::as_str));
    ironsign_env(&args, &reg.env(None)).ok();

    let pull = format!("repository:{repo}:pull");
    let before = granted(&reg.token_requests(), "reader", &pull, &repo).len();
    let references: Vec<ironsign::ImageReference> =
        images.iter().map(|i| ironsign::ImageReference::parse(i).unwrap()).collect();
    let trust = ironsign::TrustRoot::from_pem(&std::fs::read(&pki.root).unwrap(), None).unwrap();
    let policy = ironsign::Policy::identity(ironsign::Identity::san("signer@example.com"));
    let options = ironsign::BatchOptions { max_concurrency: 8, ..Default::default() };
    let client = client_as("reader", "pw2");
    let results = block_on(async {
        ironsign::batch::verify_many(&client, &ironsign::Verifier::new(trust), &references, &policy, &options).await
    });
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    let fetched = granted(&reg.token_requests(), "reader", &pull, &repo).len() - before;
    assert_eq!(fetched, 1, "{:#?}", reg.token_requests());
}

#[test]
fn bearer_tokens_from_flags_and_docker_config() {
    let reg = TokenRegistry::start();
    let repo = unique_repo("token");
    let (image, by_digest) = push_image_as_pusher(&reg.addr, &repo);
    let pki = pki_files();
    let env = reg.env(None);

    // The registry wants a bearer token, and says where to get one.
    let head = raw_get(&reg.addr, &format!("/v2/{repo}/manifests/v1"));
    let challenge = head.lines().find_map(|l| l.strip_prefix("Www-Authenticate: ")).unwrap_or_default();
    assert!(head.starts_with("HTTP/1.1 401 "), "{head}");
    assert!(
        challenge.starts_with("Bearer realm=\"http://127.0.0.1:")
            && challenge.contains(&format!("service=\"{SERVICE}\""))
            && challenge.contains(&format!("scope=\"repository:{repo}:pull\"")),
        "{head}"
    );

    // pusher signs, with flags.
    ironsign_env(&sign_args(&pki, &["--registry-username", "pusher", "--registry-password", "pw1", &image]), &env).ok();

    // reader verifies: pull access is all verification needs.
    let verified = ironsign_env(
        &verify_args(&pki, &["--registry-username", "reader", "--registry-password", "pw2", "-o", "json", &image]),
        &env,
    )
    .ok()
    .json();
    assert_eq!(verified["signatures"].as_array().expect("signatures").len(), 1, "{verified}");

    // reader may not push: the token service grants pull only, the registry refuses the upload.
    // (A new annotation makes a new signature: re-signing an existing one writes nothing, which
    // pull access allows.)
    assert_unauthorized(ironsign_env(
        &sign_args(
            &pki,
            &["-a", "by=reader", "--registry-username", "reader", "--registry-password", "pw2", "-o", "json", &image],
        ),
        &env,
    ));
    // Anonymous: a token granting nothing, which the registry refuses.
    assert_unauthorized(ironsign_env(&verify_args(&pki, &["-o", "json", &by_digest]), &env));
    // A wrong password: the token service itself answers 401.
    assert_unauthorized(ironsign_env(
        &verify_args(&pki, &["--registry-username", "reader", "--registry-password", "wrong", "-o", "json", &image]),
        &env,
    ));

    // The same through Docker config files: pusher signs again, reader sees both signatures.
    let pusher_config = reg.docker_config("pusher-config", basic_auth_entry("pusher", "pw1"));
    ironsign_env(&sign_args(&pki, &["-a", "via=docker-config", &image]), &reg.env(Some(&pusher_config))).ok();
    let reader_config = reg.docker_config("reader-config", basic_auth_entry("reader", "pw2"));
    let reader_env = reg.env(Some(&reader_config));
    let verified = ironsign_env(&verify_args(&pki, &["-o", "json", &by_digest]), &reader_env).ok().json();
    assert_eq!(verified["signatures"].as_array().expect("signatures").len(), 2, "{verified}");
    assert_unauthorized(ironsign_env(&sign_args(&pki, &["-a", "by=reader", "-o", "json", &image]), &reader_env));

    // No password or token in ironsign's output, even when tracing.
    let mut traced_env = reader_env.clone();
    traced_env.push(("IRONSIGN_LOG", "trace"));
    let traced = ironsign_env(&verify_args(&pki, &[&image]), &traced_env).ok();
    let output = format!("{}{}", traced.stdout, traced.stderr);
    assert!(!output.contains("pw2") && !output.contains("eyJ"), "a secret in the output:\n{output}");

    // What the token service saw: the spec's scopes, for the registry's service, and grants that
    // are what was asked for cut down to what each user may do.
    let requests = reg.token_requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert_eq!(r["method"], "GET", "{r}");
        if r["status"] == 200 {
            assert_eq!(r["service"], SERVICE, "{r}");
        }
    }
    let (pull, push) = (format!("repository:{repo}:pull"), format!("repository:{repo}:pull,push"));
    let pull_push = vec!["pull".to_owned(), "push".to_owned()];
    let only_pull = vec!["pull".to_owned()];
    let pusher_push = granted(&requests, "pusher", &push, &repo);
    assert!(!pusher_push.is_empty() && pusher_push.iter().all(|a| *a == pull_push), "{requests:#?}");
    let reader_pull = granted(&requests, "reader", &pull, &repo);
    assert!(!reader_pull.is_empty() && reader_pull.iter().all(|a| *a == only_pull), "{requests:#?}");
    let reader_push = granted(&requests, "reader", &push, &repo);
    assert!(!reader_push.is_empty() && reader_push.iter().all(|a| *a == only_pull), "{requests:#?}");
    let anonymous = granted(&requests, "", &pull, &repo);
    assert!(!anonymous.is_empty() && anonymous.iter().all(Vec::is_empty), "{requests:#?}");
    assert!(requests.iter().any(|r| r["user"] == "reader" && r["status"] == 401), "{requests:#?}");
}

#[test]
fn identity_token_uses_the_oauth2_refresh_flow() {
    let reg = TokenRegistry::start();
    let repo = unique_repo("token-oauth");
    let (image, by_digest) = push_image_as_pusher(&reg.addr, &repo);
    let pki = pki_files();

    // Docker's `identitytoken` is a refresh token: ironsign POSTs it to the realm.
    let pusher_config = reg.docker_config("pusher-oauth", serde_json::json!({ "identitytoken": "rt-pusher" }));
    ironsign_env(&sign_args(&pki, &[&image]), &reg.env(Some(&pusher_config))).ok();
    let reader_config = reg.docker_config("reader-oauth", serde_json::json!({ "identitytoken": "rt-reader" }));
    let reader_env = reg.env(Some(&reader_config));
    ironsign_env(&verify_args(&pki, &[&by_digest]), &reader_env).ok();
    assert_unauthorized(ironsign_env(&sign_args(&pki, &["-a", "by=reader", "-o", "json", &image]), &reader_env));
    // An unknown refresh token: the token service answers 401.
    let bad_config = reg.docker_config("bad-oauth", serde_json::json!({ "identitytoken": "rt-unknown" }));
    assert_unauthorized(ironsign_env(&verify_args(&pki, &["-o", "json", &image]), &reg.env(Some(&bad_config))));

    let requests = reg.token_requests();
    let posts: Vec<_> = requests.iter().filter(|r| r["method"] == "POST").collect();
    assert!(!posts.is_empty(), "{requests:#?}");
    for r in &posts {
        assert_eq!(r["grant"], "refresh_token", "{r}");
        if r["status"] == 200 {
            assert_eq!(r["service"], SERVICE, "{r}");
            assert_eq!(r["client_id"], "ironsign", "{r}");
        }
    }
    let push = format!("repository:{repo}:pull,push");
    let pusher_push = granted(&requests, "pusher", &push, &repo);
    assert!(pusher_push.iter().any(|a| a == &["pull", "push"]), "{requests:#?}");
    assert!(posts.iter().any(|r| r["status"] == 401), "{requests:#?}");
}

#[test]
fn deleting_needs_the_delete_action() {
    let reg = TokenRegistry::start();
    let repo = unique_repo("token-delete");
    let (image, by_digest) = push_image_as_pusher(&reg.addr, &repo);
    let reference = ironsign::ImageReference::parse(&by_digest).unwrap();
    let digest = reference.digest.clone().expect("digest");
    block_on(async {
        // reader can list tags (pull) but not delete; writer can push but not delete either.
        let tags = client_as("reader", "pw2").list_tags(&reference.location, 100).await.unwrap();
        assert_eq!(tags, ["v1"]);
        for (user, password) in [("reader", "pw2"), ("writer", "pw3")] {
            let err = client_as(user, password).delete_manifest(&reference.location, &digest).await.unwrap_err();
            assert_eq!(err.code(), "REGISTRY_UNAUTHORIZED", "{user}: {err}");
        }
        // pusher may delete; the manifest and its tag are gone.
        let pusher = client_as("pusher", "pw1");
        assert!(pusher.delete_manifest(&reference.location, &digest).await.unwrap());
        assert_eq!(pusher.head_manifest(&reference.location, digest.as_str()).await.unwrap(), None);
    });
    let requests = reg.token_requests();
    let delete = format!("repository:{repo}:delete");
    assert!(granted(&requests, "pusher", &delete, &repo).iter().any(|a| a == &["delete"]), "{requests:#?}");
    assert!(granted(&requests, "writer", &delete, &repo).iter().all(Vec::is_empty), "{requests:#?}");
    // The image is gone for ironsign too.
    let gone = ironsign_env(
        &verify_args(
            &pki_files(),
            &["--registry-username", "reader", "--registry-password", "pw2", "-o", "json", &image],
        ),
        &reg.env(None),
    );
    assert_ne!(gone.code, 0, "{gone:?}");
}
