//! Registry credentials and the token cache.
//!
//! Credentials come from, in order: explicit credentials given by the caller, then each
//! configuration file the caller names (Docker's `config.json`, podman's `auth.json`): an `auths`
//! entry, a `credHelpers` entry, or the `credsStore` helper. The library never reads environment
//! variables; the CLI and bindings decide which files to pass.

use crate::error::RegistryError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// A credential for one registry.
#[derive(Clone)]
pub enum Credential {
    /// Username and password (or a registry token used as a password).
    Basic {
        /// Username.
        username: String,
        /// Password.
        password: Zeroizing<String>,
    },
    /// An OAuth2 refresh token (`identitytoken` in Docker's config), exchanged for access tokens.
    IdentityToken(Zeroizing<String>),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username:?}, ***)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(***)"),
        }
    }
}

/// Where credentials come from.
#[derive(Debug, Clone, Default)]
pub struct Keychain {
    explicit: Option<Credential>,
    files: Vec<PathBuf>,
}

impl Keychain {
    /// No credentials: anonymous access only.
    pub fn anonymous() -> Self {
        Keychain::default()
    }

    /// Use this credential for every registry.
    pub fn with_credential(mut self, credential: Credential) -> Self {
        self.explicit = Some(credential);
        self
    }

    /// Also look in this Docker/podman configuration file (missing files are skipped).
    pub fn with_config_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.files.push(path.into());
        self
    }

    /// The credential for `registry`, if any.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credential>, RegistryError> {
        if let Some(c) = &self.explicit {
            return Ok(Some(c.clone()));
        }
        for path in &self.files {
            let Ok(text) = std::fs::read(path) else {
                continue;
            };
            let config: serde_json::Value = serde_json::from_slice(&text).map_err(|e| RegistryError::Credentials {
                registry: registry.into(),
                reason: format!("{}: {e}", path.display()),
            })?;
            if let Some(c) = from_config(&config, registry, path)? {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }
}

/// The credential files Docker and podman read, in their order, given the values of the
/// environment variables that locate them (`HOME`, `DOCKER_CONFIG`, `REGISTRY_AUTH_FILE`,
/// `XDG_RUNTIME_DIR`). The caller reads the environment; the library never does.
pub fn docker_and_podman_config_files(
    home: Option<PathBuf>,
    docker_config: Option<PathBuf>,
    registry_auth_file: Option<PathBuf>,
    xdg_runtime_dir: Option<PathBuf>,
) -> Vec<PathBuf> {
    let mut files = Vec::new();
    match docker_config {
        Some(dir) => files.push(dir.join("config.json")),
        None => files.extend(home.iter().map(|h| h.join(".docker/config.json"))),
    }
    files.extend(registry_auth_file);
    files.extend(xdg_runtime_dir.map(|d| d.join("containers/auth.json")));
    files.extend(home.iter().map(|h| h.join(".config/containers/auth.json")));
    files
}

/// The keys a registry may appear under in `auths` and `credHelpers`.
fn config_keys(registry: &str) -> Vec<String> {
    let mut keys = vec![registry.to_owned(), format!("https://{registry}"), format!("http://{registry}")];
    if registry == crate::reference::DOCKER_HUB || registry == "docker.io" || registry == "registry-1.docker.io" {
        keys.extend(
            ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"].map(String::from),
        );
    }
    keys
}

fn from_config(
    config: &serde_json::Value,
    registry: &str,
    path: &std::path::Path,
) -> Result<Option<Credential>, RegistryError> {
    let bad = |reason: String| RegistryError::Credentials {
        registry: registry.into(),
        reason: format!("{}: {reason}", path.display()),
    };
    let keys = config_keys(registry);
    let find = |section: &str| -> Option<&serde_json::Value> {
        let obj = config.get(section)?.as_object()?;
        keys.iter().find_map(|k| obj.get(k).or_else(|| obj.get(&format!("{k}/"))))
    };
    if let Some(entry) = find("auths") {
        if let Some(token) = entry.get("identitytoken").and_then(|v| v.as_str()).filter(|s| !s.is_empty()) {
            return Ok(Some(Credential::IdentityToken(Zeroizing::new(token.into()))));
        }
        if let Some(auth) = entry.get("auth").and_then(|v| v.as_str()).filter(|s| !s.is_empty()) {
            let decoded = Zeroizing::new(B64.decode(auth).map_err(|_| bad("auth is not base64".into()))?);
            let text = std::str::from_utf8(&decoded).map_err(|_| bad("auth is not UTF-8".into()))?;
            let (user, pass) = text.split_once(':').ok_or_else(|| bad("auth is not user:password".into()))?;
            return Ok(Some(Credential::Basic { username: user.into(), password: Zeroizing::new(pass.into()) }));
        }
        if let (Some(u), Some(p)) =
            (entry.get("username").and_then(|v| v.as_str()), entry.get("password").and_then(|v| v.as_str()))
        {
            return Ok(Some(Credential::Basic { username: u.into(), password: Zeroizing::new(p.into()) }));
        }
    }
    let helper =
        find("credHelpers").and_then(|v| v.as_str()).or_else(|| config.get("credsStore").and_then(|v| v.as_str()));
    match helper {
        Some(h) if !h.is_empty() => run_helper(h, registry),
        _ => Ok(None),
    }
}

/// Runs `docker-credential-<helper> get`, as Docker does.
fn run_helper(helper: &str, registry: &str) -> Result<Option<Credential>, RegistryError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let bad = |reason: String| RegistryError::Credentials {
        registry: registry.into(),
        reason: format!("credential helper {helper}: {reason}"),
    };
    if !helper.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.') {
        return Err(bad("invalid helper name".into()));
    }
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| bad(e.to_string()))?;
    child.stdin.take().map(|mut s| s.write_all(registry.as_bytes())).transpose().map_err(|e| bad(e.to_string()))?;
    let out = child.wait_with_output().map_err(|e| bad(e.to_string()))?;
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        // "credentials not found in native keychain" means anonymous, as Docker treats it.
        if String::from_utf8_lossy(&stdout).contains("not found") {
            return Ok(None);
        }
        return Err(bad(format!("exited with {}", out.status)));
    }
    let v: serde_json::Value = serde_json::from_slice(&stdout).map_err(|_| bad("output is not JSON".into()))?;
    let user = v.get("Username").and_then(|x| x.as_str()).unwrap_or_default();
    let secret = v.get("Secret").and_then(|x| x.as_str()).unwrap_or_default();
    if secret.is_empty() {
        return Ok(None);
    }
    if user == "<token>" {
        return Ok(Some(Credential::IdentityToken(Zeroizing::new(secret.into()))));
    }
    Ok(Some(Credential::Basic { username: user.into(), password: Zeroizing::new(secret.into()) }))
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String> },
}

pub(crate) fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut rest = params;
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim();
        let (value, next) = if let Some(stripped) = after.strip_prefix('"') {
            let end = stripped.find('"')?;
            (&stripped[..end], &stripped[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        match key.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value.to_owned()),
            "service" => service = Some(value.to_owned()),
            _ => {}
        }
        rest = next;
    }
    Some(Challenge::Bearer { realm: realm?, service })
}

/// How to authorise requests to one registry for one scope.
#[derive(Clone)]
pub(crate) enum Authorization {
    Basic(Zeroizing<String>),
    Bearer(Zeroizing<String>),
}

impl Authorization {
    pub(crate) fn header(&self) -> String {
        match self {
            Authorization::Basic(v) => format!("Basic {}", v.as_str()),
            Authorization::Bearer(v) => format!("Bearer {}", v.as_str()),
        }
    }

    pub(crate) fn basic(username: &str, password: &str) -> Self {
        Authorization::Basic(Zeroizing::new(B64.encode(format!("{username}:{password}"))))
    }
}

struct Cached {
    auth: Authorization,
    expires: Instant,
}

/// A lock per (registry, scope), held while its authorisation is fetched.
type Flights = Mutex<HashMap<(String, String), Arc<tokio::sync::Mutex<()>>>>;

/// Authorisations by (registry, scope), shared by every request of a client.
#[derive(Default)]
pub(crate) struct TokenCache {
    entries: Mutex<HashMap<(String, String), Cached>>,
    flights: Flights,
}

impl TokenCache {
    /// Holds the fetch of `scope`'s authorisation: whoever holds it fetches, the others wait and
    /// then take what it got (single flight).
    pub(crate) async fn flight(&self, registry: &str, scope: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            map.entry((registry.to_owned(), scope.to_owned())).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// Waits while `scope`'s authorisation is being fetched, if it is.
    pub(crate) async fn await_flight(&self, registry: &str, scope: &str) {
        let lock = {
            let map = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            map.get(&(registry.to_owned(), scope.to_owned())).cloned()
        };
        if let Some(lock) = lock
            && lock.try_lock().is_err()
        {
            drop(lock.lock().await);
        }
    }

    pub(crate) fn get(&self, registry: &str, scope: &str) -> Option<Authorization> {
        let map = self.entries.lock().ok()?;
        let c = map.get(&(registry.to_owned(), scope.to_owned()))?;
        (c.expires > Instant::now()).then(|| c.auth.clone())
    }

    pub(crate) fn put(&self, registry: &str, scope: &str, auth: Authorization, ttl: Duration) {
        if let Ok(mut map) = self.entries.lock() {
            // Renew a little early so a request does not race the expiry.
            let ttl = ttl.saturating_sub(Duration::from_secs(10)).max(Duration::from_secs(1));
            map.insert((registry.to_owned(), scope.to_owned()), Cached { auth, expires: Instant::now() + ttl });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into())
            })
        );
        assert_eq!(parse_challenge(r#"Basic realm="Registry Realm""#), Some(Challenge::Basic));
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn reads_docker_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, format!(r#"{{"auths":{{"reg.example:5000":{{"auth":"{}"}}}}}}"#, B64.encode("u:p:w")))
            .unwrap();
        let kc = Keychain::anonymous().with_config_file(&path).with_config_file(dir.path().join("missing.json"));
        match kc.lookup("reg.example:5000").unwrap() {
            Some(Credential::Basic { username, password }) => {
                assert_eq!((username.as_str(), password.as_str()), ("u", "p:w"))
            }
            other => panic!("{other:?}"),
        }
        assert!(kc.lookup("other.example").unwrap().is_none());
    }
}
