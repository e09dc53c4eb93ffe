//! The OCI Distribution API over HTTP(S): manifests, blobs, tags, with the anonymous, basic and
//! bearer-token flows, bounded reads and digest checks.

use super::auth::{Authorization, Challenge, Credential, Keychain, TokenCache, parse_challenge};
use super::{FetchedManifest, ManifestRef};
use crate::cosign::MANIFEST_MEDIA_TYPES;
use crate::error::RegistryError;
use crate::reference::Digest;
use reqwest::{Method, StatusCode, header};
use std::time::Duration;

/// What a request needs access to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Pull,
    Push,
    Delete,
    /// The registry's catalog (`registry:catalog:*`), not a repository.
    Catalog,
}

impl Access {
    fn actions(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::Push => "pull,push",
            Access::Delete => "delete",
            Access::Catalog => "*",
        }
    }

    fn scope(self, repository: &str) -> String {
        match self {
            Access::Catalog => "registry:catalog:*".into(),
            _ => format!("repository:{repository}:{}", self.actions()),
        }
    }
}

/// Most attempts for a request that is safe to repeat.
const ATTEMPTS: u32 = 3;
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

pub(crate) struct Remote {
    http: reqwest::Client,
    insecure: Vec<String>,
    keychain: Keychain,
    tokens: TokenCache,
    /// The scheme of each registry that may speak plain HTTP, settled by its first request.
    schemes: PerRegistry<tokio::sync::OnceCell<&'static str>>,
    /// At most `RegistryOptions::max_requests_per_registry` requests awaiting an answer per registry.
    in_flight: PerRegistry<tokio::sync::Semaphore>,
    max_in_flight: usize,
    /// Registries that answered that they have no referrers API: not asked again by this client.
    without_referrers_api: std::sync::Mutex<std::collections::HashSet<String>>,
    request_timeout: Duration,
}

/// One shared value per registry, made on first use.
struct PerRegistry<T>(std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<T>>>);

impl<T> Default for PerRegistry<T> {
    fn default() -> Self {
        PerRegistry(Default::default())
    }
}

impl<T> PerRegistry<T> {
    fn get(&self, registry: &str, make: impl FnOnce() -> T) -> std::sync::Arc<T> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(registry.to_owned()).or_insert_with(|| std::sync::Arc::new(make())).clone()
    }
}

fn is_loopback(registry: &str) -> bool {
    let host = registry.rsplit_once(':').map(|(h, _)| h).unwrap_or(registry);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Remote {
    pub(crate) fn new(options: &super::RegistryOptions) -> Result<Self, RegistryError> {
        let config_error = |reason: String| RegistryError::Transport { registry: "(client)".into(), reason };
        let mut builder = reqwest::Client::builder()
            .user_agent(options.user_agent.clone())
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .timeout(options.request_timeout)
            .redirect(reqwest::redirect::Policy::limited(5));
        let mut extra = Vec::new();
        for pem in &options.ca_certificates_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| config_error(format!("registry CA certificate: {e}")))?;
            extra.extend(certs);
        }
        if !extra.is_empty() {
            builder = builder.tls_certs_merge(extra);
        }
        if options.accept_invalid_certificates {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        let http = builder.build().map_err(|e| config_error(e.to_string()))?;
        Ok(Remote {
            http,
            insecure: options.insecure_registries.clone(),
            keychain: options.keychain.clone(),
            tokens: TokenCache::default(),
            schemes: Default::default(),
            in_flight: Default::default(),
            max_in_flight: options.max_requests_per_registry.max(1),
            without_referrers_api: Default::default(),
            request_timeout: options.request_timeout,
        })
    }

    /// The whole-request timeout of a streamed transfer of up to `size` bytes: the request
    /// timeout plus one second per MiB, so large SBOMs are not cut off while a trickling registry
    /// still cannot hold a run forever.
    fn streaming_timeout(&self, size: u64) -> Duration {
        self.request_timeout + Duration::from_secs(size >> 20)
    }

    /// The host part of a registry's URLs.
    fn host(registry: &str) -> &str {
        if registry == crate::reference::DOCKER_HUB { "index.docker.io" } else { registry }
    }

    /// Whether a registry may be reached over plain HTTP: loopback, or allowed by the caller.
    fn may_use_http(&self, registry: &str) -> bool {
        is_loopback(registry) || self.insecure.iter().any(|r| r == registry)
    }

    /// `scheme://host` for a registry. Loopback and explicitly allowed registries may use plain
    /// HTTP: which one they speak is settled by the first request ([`Self::settle_scheme`]); until
    /// then their URLs are built with `http`, and rewritten if the registry turns out to speak TLS.
    async fn base(&self, registry: &str) -> String {
        let host = Self::host(registry);
        if !self.may_use_http(registry) {
            return format!("https://{host}");
        }
        let scheme = self.schemes.get(registry, Default::default).get().copied().unwrap_or("http");
        format!("{scheme}://{host}")
    }

    /// Settles the scheme of a registry that may speak plain HTTP, once per registry: concurrent
    /// first requests wait for one answer instead of each probing. A GET or HEAD of the
    /// registry's own URL is itself the probe, sent over plain HTTP, and its answer is returned
    /// for the caller to use, so no request is spent on finding out; other requests (and an
    /// inconclusive answer: a 400, or a failure) are settled with an unauthenticated `GET /v2/`
    /// over plain HTTP.
    /// A TLS server answers plain HTTP with a 400 naming HTTPS, or drops the connection, and is
    /// then used over HTTPS, so a TLS registry is never downgraded and its certificate problems
    /// surface. Returns the URL to use and the answer already received, if any.
    async fn settle_scheme(
        &self,
        registry: &str,
        method: &Method,
        url: &str,
        build: &(dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Send + Sync),
    ) -> (String, Option<reqwest::Response>) {
        if !self.may_use_http(registry) {
            return (url.to_owned(), None);
        }
        let host = Self::host(registry);
        let plain_base = format!("http://{host}/");
        let cell = self.schemes.get(registry, Default::default);
        let mut answer = None;
        let scheme = *cell
            .get_or_init(|| async {
                let probe_with_request = matches!(*method, Method::GET | Method::HEAD) && url.starts_with(&plain_base);
                if probe_with_request {
                    let permit = self.permit(registry).await;
                    let sent = build(self.http.request(method.clone(), url)).send().await;
                    drop(permit);
                    // A 400 or a failure (a TLS server dropping plain HTTP, or a reset the request
                    // itself met) is inconclusive: the probe below decides, and the request is
                    // sent again by the caller.
                    if let Ok(resp) = sent
                        && resp.status() != StatusCode::BAD_REQUEST
                    {
                        answer = Some(resp);
                        return "http";
                    }
                }
                let permit = self.permit(registry).await;
                let probe = self.http.get(format!("http://{host}/v2/")).send().await;
                drop(permit);
                match probe {
                    Ok(resp) if resp.status() == StatusCode::BAD_REQUEST => {
                        let body = read_bounded(resp, 4096, "probe", registry).await.unwrap_or_default();
                        if String::from_utf8_lossy(&body).to_ascii_lowercase().contains("https") {
                            "https"
                        } else {
                            "http"
                        }
                    }
                    Ok(_) => "http",
                    Err(_) => "https",
                }
            })
            .await;
        let url = match url.strip_prefix(&plain_base) {
            Some(path) if scheme == "https" => format!("https://{host}/{path}"),
            _ => url.to_owned(),
        };
        (url, answer)
    }

    /// A place among the requests in flight to `registry`.
    async fn permit(&self, registry: &str) -> tokio::sync::OwnedSemaphorePermit {
        let semaphore = self.in_flight.get(registry, || tokio::sync::Semaphore::new(self.max_in_flight));
        semaphore.acquire_owned().await.expect("the semaphore is never closed")
    }

    /// Sends a request built by `build`, handling authentication and retrying what is safe.
    async fn send(
        &self,
        registry: &str,
        repository: &str,
        access: Access,
        method: Method,
        url: &str,
        build: &(dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<reqwest::Response, RegistryError> {
        let scope = access.scope(repository);
        let idempotent = matches!(method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE);
        // Credentials go only to the registry's own origin (scheme, host, port), as curl and Go's
        // client do: a `Link` or upload `Location` naming another host gets the request without
        // them, and that host's challenge is not answered with them either. (Redirects are
        // followed by reqwest, which drops `Authorization` when the origin changes.)
        let (url, mut first_answer) = self.settle_scheme(registry, &method, url, build).await;
        let url = url.as_str();
        let base = self.base(registry).await;
        let own_origin = same_origin(url, &base);
        if own_origin && first_answer.is_none() {
            // Another request may be fetching this scope's token: wait for it rather than be
            // refused without one.
            self.tokens.await_flight(registry, &scope).await;
        }
        let mut authenticated = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut sent_authorization = None;
            let result = match first_answer.take() {
                Some(answer) => Ok(answer),
                None => {
                    let mut req = build(self.http.request(method.clone(), url));
                    if let Some(auth) = self.tokens.get(registry, &scope).filter(|_| own_origin) {
                        let value = zeroize::Zeroizing::new(auth.header());
                        req = req.header(header::AUTHORIZATION, value.as_str());
                        sent_authorization = Some(value);
                    }
                    let permit = self.permit(registry).await;
                    let result = req.send().await;
                    drop(permit);
                    result
                }
            };
            let retry_delay = match &result {
                Err(e) if retryable_error(&method, e) => Some(backoff(attempt, None)),
                Ok(r) if idempotent && matches!(r.status().as_u16(), 429 | 500 | 502 | 503 | 504) => {
                    match retry_after(r) {
                        // A registry asking for a longer pause than we wait is not retried at all.
                        RetryAfter::TooLong => None,
                        RetryAfter::After(hint) => Some(backoff(attempt, Some(hint))),
                        RetryAfter::Unspecified => Some(backoff(attempt, None)),
                    }
                }
                _ => None,
            };
            if let Some(delay) = retry_delay.filter(|_| attempt < ATTEMPTS) {
                tracing::debug!(url, attempt, ?delay, "retrying registry request");
                tokio::time::sleep(delay).await;
                continue;
            }
            let resp =
                result.map_err(|e| RegistryError::Transport { registry: registry.into(), reason: error_chain(&e) })?;
            // Another origin's 401 (the request's, or a redirect target's) is final: its
            // challenge could name any token realm, and is never answered with our credentials.
            let challenge_is_ours = own_origin && same_origin(resp.url().as_str(), &base);
            if resp.status() == StatusCode::UNAUTHORIZED && !authenticated && challenge_is_ours {
                authenticated = true;
                let challenge = resp
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge);
                if let Some(challenge) = challenge
                    && self
                        .authenticate(registry, &scope, &challenge, sent_authorization.as_deref().map(String::as_str))
                        .await?
                {
                    attempt -= 1;
                    continue;
                }
                return Err(RegistryError::Unauthorized { registry: registry.into(), scope, status: 401 });
            }
            if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
                return Err(RegistryError::Unauthorized {
                    registry: registry.into(),
                    scope,
                    status: resp.status().as_u16(),
                });
            }
            return Ok(resp);
        }
    }

    /// Obtains an authorisation for `scope` after a challenge to a request sent with `refused`
    /// (or none); false when there is nothing to try. One fetch per registry and scope at a time
    /// (single flight): a request challenged while another fetches takes the token it got.
    async fn authenticate(
        &self,
        registry: &str,
        scope: &str,
        challenge: &Challenge,
        refused: Option<&str>,
    ) -> Result<bool, RegistryError> {
        let _flight = self.tokens.flight(registry, scope).await;
        if let Some(current) = self.tokens.get(registry, scope)
            && Some(zeroize::Zeroizing::new(current.header()).as_str()) != refused
        {
            return Ok(true);
        }
        let credential = self.keychain.lookup(registry)?;
        match challenge {
            Challenge::Basic => match credential {
                Some(Credential::Basic { username, password }) => {
                    self.tokens.put(
                        registry,
                        scope,
                        Authorization::basic(&username, &password),
                        Duration::from_secs(24 * 3600),
                    );
                    Ok(true)
                }
                _ => Ok(false),
            },
            Challenge::Bearer { realm, service } => {
                let token = self.fetch_token(registry, realm, service.as_deref(), scope, credential.as_ref()).await?;
                let ttl = Duration::from_secs(token.1.max(60));
                self.tokens.put(registry, scope, Authorization::Bearer(token.0), ttl);
                Ok(true)
            }
        }
    }

    /// The token flow of the distribution spec: GET (or, with a refresh token, POST) the realm.
    async fn fetch_token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        credential: Option<&Credential>,
    ) -> Result<(zeroize::Zeroizing<String>, u64), RegistryError> {
        let transport = |e: reqwest::Error| RegistryError::Transport {
            registry: registry.into(),
            reason: format!("token service {realm}: {}", error_chain(&e)),
        };
        let resp = match credential {
            Some(Credential::IdentityToken(refresh)) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.as_str()),
                    ("client_id", "ironsign"),
                    ("scope", scope),
                ];
                if let Some(s) = service {
                    form.push(("service", s));
                }
                let body = form.iter().map(|(k, v)| format!("{k}={}", url_encode(v))).collect::<Vec<_>>().join("&");
                self.http
                    .post(realm)
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .map_err(transport)?
            }
            other => {
                let mut query = vec![("scope", scope.to_owned())];
                if let Some(s) = service {
                    query.push(("service", s.to_owned()));
                }
                let qs = query.iter().map(|(k, v)| format!("{k}={}", url_encode(v))).collect::<Vec<_>>().join("&");
                let sep = if realm.contains('?') { '&' } else { '?' };
                let mut req = self.http.get(format!("{realm}{sep}{qs}"));
                if let Some(Credential::Basic { username, password }) = other {
                    req = req.basic_auth(username, Some(password.as_str()));
                }
                req.send().await.map_err(transport)?
            }
        };
        if !resp.status().is_success() {
            return Err(RegistryError::Unauthorized {
                registry: registry.into(),
                scope: scope.into(),
                status: resp.status().as_u16(),
            });
        }
        let body = read_bounded(resp, 1 << 20, "token response", registry).await?;
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| RegistryError::InvalidResponse { what: "token response".into(), reason: e.to_string() })?;
        let token = v.get("token").or_else(|| v.get("access_token")).and_then(|t| t.as_str()).ok_or_else(|| {
            RegistryError::InvalidResponse { what: "token response".into(), reason: "no token".into() }
        })?;
        let expires = v.get("expires_in").and_then(|e| e.as_u64()).unwrap_or(60);
        Ok((zeroize::Zeroizing::new(token.to_owned()), expires))
    }

    async fn manifest_url(&self, registry: &str, repository: &str, reference: &str) -> String {
        format!("{}/v2/{repository}/manifests/{reference}", self.base(registry).await)
    }

    async fn blob_url(&self, registry: &str, repository: &str, digest: &Digest) -> String {
        format!("{}/v2/{repository}/blobs/{digest}", self.base(registry).await)
    }

    pub(crate) async fn head_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> Result<Option<ManifestRef>, RegistryError> {
        let url = self.manifest_url(registry, repository, reference).await;
        let accept = MANIFEST_MEDIA_TYPES.join(", ");
        let resp = self
            .send(registry, repository, Access::Pull, Method::HEAD, &url, &|r| {
                r.header(header::ACCEPT, accept.as_str())
            })
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = check_status(resp, "HEAD", &url).await?;
        let digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|d| Digest::parse(d).ok());
        // Compared the way a GET's is (`super::manifest_media_type`): parameters and case do not
        // make an index something else.
        let media_type = header_str(&resp, header::CONTENT_TYPE)
            .map(|t| crate::cosign::media_type_essence(&t))
            .filter(|t| MANIFEST_MEDIA_TYPES.contains(&t.as_str()));
        let size = resp
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        match (digest, media_type) {
            (Some(digest), Some(media_type)) => Ok(Some(ManifestRef { digest, media_type, size })),
            // Some registries omit the digest on HEAD, or answer with a type that is no manifest
            // type (`application/json`, none): GET, hash and read the type from the content.
            _ => Ok(self.get_manifest(registry, repository, reference, 4 << 20).await?.map(|m| ManifestRef {
                size: m.bytes.len() as u64,
                digest: m.digest,
                media_type: m.media_type,
            })),
        }
    }

    pub(crate) async fn get_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
        limit: u64,
    ) -> Result<Option<FetchedManifest>, RegistryError> {
        let url = self.manifest_url(registry, repository, reference).await;
        let accept = MANIFEST_MEDIA_TYPES.join(", ");
        let resp = self
            .send(registry, repository, Access::Pull, Method::GET, &url, &|r| r.header(header::ACCEPT, accept.as_str()))
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = check_status(resp, "GET", &url).await?;
        let media_type = header_str(&resp, header::CONTENT_TYPE).unwrap_or_default();
        let header_digest = header_str(&resp, "docker-content-digest");
        let bytes = read_bounded(resp, limit, &format!("manifest {repository}:{reference}"), registry).await?;
        let digest = Digest::sha256(&bytes);
        // Content addressed by digest must hash to it; a registry that lies is refused.
        let claimed = if reference.contains(':') { Some(reference.to_owned()) } else { header_digest };
        if let Some(claimed) = claimed.and_then(|c| Digest::parse(&c).ok())
            && !claimed.matches(&bytes)
        {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {repository}:{reference}"),
                expected: claimed.to_string(),
                actual: digest.to_string(),
            });
        }
        let media_type = super::manifest_media_type(&bytes, &media_type);
        Ok(Some(FetchedManifest { bytes, media_type, digest }))
    }

    pub(crate) async fn put_manifest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        let url = self.manifest_url(registry, repository, reference).await;
        let body = bytes::Bytes::copy_from_slice(bytes);
        let resp = self
            .send(registry, repository, Access::Push, Method::PUT, &url, &|r| {
                r.header(header::CONTENT_TYPE, media_type).body(body.clone())
            })
            .await?;
        check_status(resp, "PUT", &url).await?;
        Ok(Digest::sha256(bytes))
    }

    pub(crate) async fn delete_manifest(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let url = self.manifest_url(registry, repository, digest.as_str()).await;
        let resp = self.send(registry, repository, Access::Delete, Method::DELETE, &url, &|r| r).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        check_status(resp, "DELETE", &url).await?;
        Ok(true)
    }

    pub(crate) async fn blob_exists(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        access: Access,
    ) -> Result<bool, RegistryError> {
        let url = self.blob_url(registry, repository, digest).await;
        let resp = self.send(registry, repository, access, Method::HEAD, &url, &|r| r).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        check_status(resp, "HEAD", &url).await?;
        Ok(true)
    }

    pub(crate) async fn get_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = self.blob_url(registry, repository, digest).await;
        let resp = self.send(registry, repository, Access::Pull, Method::GET, &url, &|r| r).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::Http { method: "GET".into(), url, status: 404, message: "blob unknown".into() });
        }
        let resp = check_status(resp, "GET", &url).await?;
        let bytes = read_bounded(resp, limit, &format!("blob {digest}"), registry).await?;
        if !digest.matches(&bytes) {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob in {repository}"),
                expected: digest.to_string(),
                actual: Digest::sha256(&bytes).to_string(),
            });
        }
        Ok(bytes)
    }

    /// Starts an upload (`POST …/blobs/uploads/`, with a cross-repository mount when `mount_from`
    /// is given): `None` when the registry mounted the blob, else the URL to `PUT` the content to.
    async fn start_upload(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        mount_from: Option<&str>,
    ) -> Result<Option<String>, RegistryError> {
        let mut url = format!("{}/v2/{repository}/blobs/uploads/", self.base(registry).await);
        if let Some(from) = mount_from {
            url.push_str(&format!("?mount={digest}&from={from}"));
        }
        let resp = self
            .send(registry, repository, Access::Push, Method::POST, &url, &|r| r.header(header::CONTENT_LENGTH, "0"))
            .await?;
        if resp.status() == StatusCode::CREATED && mount_from.is_some() {
            return Ok(None);
        }
        let resp = check_status(resp, "POST", &url).await?;
        let location = header_str(&resp, header::LOCATION).ok_or_else(|| RegistryError::InvalidResponse {
            what: "blob upload".into(),
            reason: "no Location header".into(),
        })?;
        let location =
            if location.starts_with('/') { format!("{}{location}", self.base(registry).await) } else { location };
        let sep = if location.contains('?') { '&' } else { '?' };
        Ok(Some(format!("{location}{sep}digest={}", url_encode(digest.as_str()))))
    }

    /// Uploads a blob monolithically (POST then PUT), or mounts it from `mount_from` when given.
    pub(crate) async fn put_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        data: bytes::Bytes,
        mount_from: Option<&str>,
    ) -> Result<(), RegistryError> {
        let Some(put_url) = self.start_upload(registry, repository, digest, mount_from).await? else {
            return Ok(());
        };
        let resp = self
            .send(registry, repository, Access::Push, Method::PUT, &put_url, &|r| {
                r.header(header::CONTENT_TYPE, "application/octet-stream").body(data.clone())
            })
            .await?;
        check_status(resp, "PUT", &put_url).await?;
        Ok(())
    }

    /// Uploads a blob from a file without holding it: POST, then one PUT whose body streams the
    /// file. The registry checks the content against `digest` (computed by the caller).
    pub(crate) async fn put_blob_file(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        path: &std::path::Path,
        size: u64,
    ) -> Result<(), RegistryError> {
        let Some(put_url) = self.start_upload(registry, repository, digest, None).await? else {
            return Ok(());
        };
        let timeout = self.streaming_timeout(size);
        // Each attempt (a retry, or the repeat after an authentication challenge) reopens the file.
        let open_error = |e: std::io::Error| RegistryError::Transport {
            registry: registry.into(),
            reason: format!("reading {}: {e}", path.display()),
        };
        std::fs::File::open(path).map_err(open_error)?;
        let resp = self
            .send(registry, repository, Access::Push, Method::PUT, &put_url, &|r| {
                let r = r
                    .timeout(timeout)
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .header(header::CONTENT_LENGTH, size);
                match file_body(path) {
                    Ok(body) => r.body(body),
                    // The registry then refuses the digest; the file vanished under us.
                    Err(_) => r.body(Vec::new()),
                }
            })
            .await?;
        check_status(resp, "PUT", &put_url).await?;
        Ok(())
    }

    /// Streams a blob into `out`, hashing as it goes; refuses more than `limit` bytes and content
    /// that does not hash to `digest`. Returns the size. The caller must discard `out` on error.
    pub(crate) async fn get_blob_streaming(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        limit: u64,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, RegistryError> {
        use tokio::io::AsyncWriteExt as _;
        let url = self.blob_url(registry, repository, digest).await;
        let timeout = self.streaming_timeout(limit);
        let resp = self.send(registry, repository, Access::Pull, Method::GET, &url, &|r| r.timeout(timeout)).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::Http { method: "GET".into(), url, status: 404, message: "blob unknown".into() });
        }
        let mut resp = check_status(resp, "GET", &url).await?;
        let what = format!("blob {digest}");
        if let Some(len) = resp.content_length()
            && len > limit
        {
            return Err(RegistryError::TooLarge { what, size: len, limit });
        }
        let mut hasher = StreamingDigest::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| RegistryError::Transport { registry: registry.into(), reason: error_chain(&e) })?
        {
            hasher.update(&chunk);
            if hasher.size > limit {
                return Err(RegistryError::TooLarge { what, size: hasher.size, limit });
            }
            out.write_all(&chunk).await.map_err(|e| RegistryError::Transport {
                registry: registry.into(),
                reason: format!("writing {what}: {e}"),
            })?;
        }
        out.flush().await.map_err(|e| RegistryError::Transport { registry: registry.into(), reason: e.to_string() })?;
        hasher.check(digest, &format!("blob in {repository}"))
    }

    /// Lists tags, following `Link` pagination, up to `limit` tags. A repository the registry does
    /// not know (404 on the first page) has none; any other failure is an error, never a partial list.
    pub(crate) async fn list_tags(
        &self,
        registry: &str,
        repository: &str,
        limit: usize,
    ) -> Result<Vec<String>, RegistryError> {
        let url = format!("{}/v2/{repository}/tags/list?n=1000", self.base(registry).await);
        let listing = Listing { what: format!("tag list of {repository}"), field: "tags", limit };
        Ok(self.list_paginated(registry, repository, Access::Pull, url, &listing).await?.unwrap_or_default())
    }

    /// Reads every page of a paginated listing (`GET url`, then each `Link: rel="next"`), at most
    /// `listing.limit` names in at most [`MAX_LISTING_PAGES`] pages. `None` when the first page is a
    /// 404. Whatever stops it short of a last page (a later page failing, a page with a next link
    /// but no names, a next link seen before, too many pages) is an error: callers plan deletions
    /// and re-signing from what is listed, and must never plan from part of it.
    async fn list_paginated(
        &self,
        registry: &str,
        repository: &str,
        access: Access,
        mut url: String,
        listing: &Listing,
    ) -> Result<Option<Vec<String>>, RegistryError> {
        let what = listing.what.as_str();
        let mut names = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for page in 0..MAX_LISTING_PAGES {
            let resp = self.send(registry, repository, access, Method::GET, &url, &|r| r).await?;
            if page == 0 && resp.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let resp = check_status(resp, "GET", &url).await?;
            let next = header_str(&resp, header::LINK).and_then(|l| parse_link_next(&l));
            let body = read_bounded(resp, 16 << 20, what, registry).await?;
            let page_names = parse_listing_page(&body, listing.field)
                .map_err(|reason| RegistryError::InvalidResponse { what: what.into(), reason })?;
            let empty = page_names.is_empty();
            names.extend(page_names);
            if names.len() > listing.limit {
                return Err(RegistryError::TooMany { what: what.into(), count: names.len(), limit: listing.limit });
            }
            let Some(next) = next else { return Ok(Some(names)) };
            let invalid = |reason: String| RegistryError::InvalidResponse { what: what.into(), reason };
            if empty {
                return Err(invalid(format!("page {} is empty but links to a next one", page + 1)));
            }
            seen.insert(url.clone());
            url = reqwest::Url::parse(&url)
                .and_then(|current| current.join(&next))
                .map_err(|e| invalid(format!("next page link {next:?}: {e}")))?
                .to_string();
            if !seen.insert(url.clone()) {
                return Err(invalid(format!("page {} links back to an earlier page", page + 1)));
            }
        }
        Err(RegistryError::TooMany {
            what: format!("pages of the {what}"),
            count: MAX_LISTING_PAGES + 1,
            limit: MAX_LISTING_PAGES,
        })
    }
}

/// Most pages read from one paginated listing (tags, catalog). Every page but the last must add
/// names, so a listing within its name bound never needs more unless a registry answers with a few
/// names a page; this ends a `Link: rel="next"` that never stops, whatever the pages hold.
pub const MAX_LISTING_PAGES: usize = 10_000;

/// A paginated listing: what it is (for errors), the JSON field of each page holding the names,
/// and the most names accepted.
struct Listing {
    what: String,
    field: &'static str,
    limit: usize,
}

/// The names of one listing page: `{"<field>": [...]}`, where a missing or null field is none.
fn parse_listing_page(body: &[u8], field: &str) -> Result<Vec<String>, String> {
    let page: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    match page.get(field) {
        None | Some(serde_json::Value::Null) => Ok(Vec::new()),
        Some(names) => serde_json::from_value(names.clone()).map_err(|e| format!("{field}: {e}")),
    }
}

/// What a referrers request found.
pub(crate) enum ReferrersAnswer {
    /// The registry implements the referrers API: this is its answer (the `manifests` of every page).
    Api(Vec<crate::cosign::Descriptor>),
    /// The registry does not implement it (any answer other than an OCI index with 200).
    Unsupported,
}

impl Remote {
    /// Lists the repositories of the registry catalog (`GET /v2/_catalog?n=`), following `Link`
    /// pagination, up to `limit` names.
    pub(crate) async fn list_repositories(&self, registry: &str, limit: usize) -> Result<Vec<String>, RegistryError> {
        let url = format!("{}/v2/_catalog?n=1000", self.base(registry).await);
        let listing = Listing { what: format!("catalog of {registry}"), field: "repositories", limit };
        match self.list_paginated(registry, "", Access::Catalog, url, &listing).await? {
            Some(names) => Ok(names),
            None => Err(RegistryError::Http {
                method: "GET".into(),
                url: format!("{registry}/v2/_catalog"),
                status: 404,
                message: "the registry has no catalog".into(),
            }),
        }
    }

    /// Asks the referrers API (`GET /v2/<name>/referrers/<digest>`) of the registry, following
    /// `Link` pagination, up to `limit` descriptors. Anything but a 200 with an OCI index means the
    /// registry has no referrers API (the rule of the distribution spec and ggcr). That answer is
    /// remembered for the registry, so this client does not ask again, unless it was one a
    /// registry gives when busy or failing (429, 5xx), which says nothing about the API.
    pub(crate) async fn get_referrers(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        limit: usize,
    ) -> Result<ReferrersAnswer, RegistryError> {
        if self.without_referrers_api.lock().unwrap_or_else(|e| e.into_inner()).contains(registry) {
            return Ok(ReferrersAnswer::Unsupported);
        }
        let mut url = format!("{}/v2/{repository}/referrers/{digest}", self.base(registry).await);
        let mut found = Vec::new();
        for page in 0..=limit {
            let resp = self
                .send(registry, repository, Access::Pull, Method::GET, &url, &|r| {
                    r.header(header::ACCEPT, crate::cosign::OCI_INDEX)
                })
                .await?;
            let content_type = header_str(&resp, header::CONTENT_TYPE).unwrap_or_default();
            if resp.status() != StatusCode::OK
                || content_type.split(';').next().unwrap_or("").trim() != crate::cosign::OCI_INDEX
            {
                if page == 0 {
                    let status = resp.status();
                    if !(status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()) {
                        self.without_referrers_api
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(registry.to_owned());
                    }
                    return Ok(ReferrersAnswer::Unsupported);
                }
                // A later page failing is an error, not a fallback.
                check_status(resp, "GET", &url).await?;
                return Err(RegistryError::InvalidResponse {
                    what: format!("referrers of {repository}@{digest}"),
                    reason: format!("page with content type {content_type:?}"),
                });
            }
            let next = header_str(&resp, header::LINK).and_then(|l| parse_link_next(&l));
            let body = read_bounded(resp, 4 << 20, "referrers index", registry).await?;
            let index = crate::cosign::Manifest::parse(&body, "referrers index")?;
            let empty = index.manifests.is_empty();
            found.extend(index.manifests);
            if found.len() > limit {
                return Err(RegistryError::TooMany {
                    what: format!("referrers of {repository}@{digest}"),
                    count: found.len(),
                    limit,
                });
            }
            match next {
                // An empty page that links on would make the listing end nowhere, or early: what
                // is copied or cleaned must not silently be part of it.
                Some(_) if empty => {
                    return Err(RegistryError::InvalidResponse {
                        what: format!("referrers of {repository}@{digest}"),
                        reason: format!("page {} is empty but links to a next one", page + 1),
                    });
                }
                Some(n) if n.starts_with('/') => url = format!("{}{n}", self.base(registry).await),
                Some(n) => url = n,
                None => break,
            }
        }
        Ok(ReferrersAnswer::Api(found))
    }
}

/// Streaming blob transfer (`crate::transfer`): the response of a blob GET, and an upload whose
/// body is a stream the caller verifies as it flows.
impl Remote {
    /// GETs a blob and returns the response once its status is checked; the body is not read.
    pub(crate) async fn open_blob(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
    ) -> Result<reqwest::Response, RegistryError> {
        let url = self.blob_url(registry, repository, digest).await;
        let resp = self.send(registry, repository, Access::Pull, Method::GET, &url, &|r| r).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::Http { method: "GET".into(), url, status: 404, message: "blob unknown".into() });
        }
        check_status(resp, "GET", &url).await
    }

    /// Starts an upload, mounting the blob from `mount_from` (a repository of the same registry)
    /// when given: `None` when the registry mounted it, else the URL to `PUT` the content to.
    pub(crate) async fn begin_upload(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
        mount_from: Option<&str>,
    ) -> Result<Option<String>, RegistryError> {
        self.start_upload(registry, repository, digest, mount_from).await
    }

    /// Finishes an upload with one `PUT` whose body is `body` (`size` bytes). The body can be sent
    /// once: a repeated attempt (a retry) sends nothing, so the registry refuses the digest and the
    /// caller starts over.
    pub(crate) async fn put_upload_body(
        &self,
        registry: &str,
        repository: &str,
        put_url: &str,
        size: u64,
        body: reqwest::Body,
    ) -> Result<(), RegistryError> {
        let body = std::sync::Mutex::new(Some(body));
        let resp = self
            .send(registry, repository, Access::Push, Method::PUT, put_url, &|r| {
                let once = body.lock().ok().and_then(|mut b| b.take());
                let r = r.header(header::CONTENT_TYPE, "application/octet-stream");
                match once {
                    Some(b) => r.header(header::CONTENT_LENGTH, size).body(b),
                    None => r.header(header::CONTENT_LENGTH, 0).body(Vec::new()),
                }
            })
            .await?;
        check_status(resp, "PUT", put_url).await?;
        Ok(())
    }
}

/// A request body that streams a file in 256 KiB chunks.
fn file_body(path: &std::path::Path) -> std::io::Result<reqwest::Body> {
    use tokio::io::AsyncReadExt as _;
    let file = tokio::fs::File::from_std(std::fs::File::open(path)?);
    let stream = futures_util::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 256 << 10];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        buf.truncate(n);
        Ok(Some((bytes::Bytes::from(buf), file)))
    });
    Ok(reqwest::Body::wrap_stream(stream))
}

/// SHA-256 of content seen in pieces, with its size.
pub(crate) struct StreamingDigest {
    context: aws_lc_rs::digest::Context,
    pub(crate) size: u64,
}

impl StreamingDigest {
    pub(crate) fn new() -> Self {
        StreamingDigest { context: aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256), size: 0 }
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        self.context.update(data);
        self.size += data.len() as u64;
    }

    pub(crate) fn finish(self) -> (Digest, u64) {
        let hex = hex::encode(self.context.finish().as_ref());
        (Digest::parse(&format!("sha256:{hex}")).expect("a sha256 digest is valid"), self.size)
    }

    /// Finishes and compares with `expected` (sha256 only).
    pub(crate) fn check(self, expected: &Digest, what: &str) -> Result<u64, RegistryError> {
        let (actual, size) = self.finish();
        if &actual != expected {
            return Err(RegistryError::DigestMismatch {
                what: what.into(),
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(size)
    }
}

fn parse_link_next(link: &str) -> Option<String> {
    link.split(',').find(|part| part.contains("rel=\"next\"") || part.contains("rel=next")).and_then(|part| {
        let start = part.find('<')? + 1;
        let end = part.find('>')?;
        Some(part[start..end].to_owned())
    })
}

/// Whether two URLs have the same origin: scheme, host and port (the scheme's default when absent).
/// A URL that does not parse has no origin in common with anything.
fn same_origin(a: &str, b: &str) -> bool {
    match (reqwest::Url::parse(a), reqwest::Url::parse(b)) {
        (Ok(a), Ok(b)) => {
            let origin = a.origin();
            origin.is_tuple() && origin == b.origin()
        }
        _ => false,
    }
}

fn header_str(resp: &reqwest::Response, name: impl header::AsHeaderName) -> Option<String> {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// What a `Retry-After` header asks for.
#[derive(Debug, PartialEq, Eq)]
enum RetryAfter {
    /// No header, or a form we do not read (an HTTP date): our own backoff applies.
    Unspecified,
    /// A pause we are willing to make.
    After(Duration),
    /// More than [`MAX_RETRY_AFTER`]: waiting that long would stall a pipeline, so we do not retry.
    TooLong,
}

fn retry_after(resp: &reqwest::Response) -> RetryAfter {
    parse_retry_after(header_str(resp, header::RETRY_AFTER).as_deref())
}

fn parse_retry_after(value: Option<&str>) -> RetryAfter {
    match value.and_then(|v| v.trim().parse::<u64>().ok()) {
        None => RetryAfter::Unspecified,
        Some(s) if Duration::from_secs(s) > MAX_RETRY_AFTER => RetryAfter::TooLong,
        Some(s) => RetryAfter::After(Duration::from_secs(s)),
    }
}

/// Whether a failed send may be repeated. A request that never reached the registry (connection
/// refused, TLS or DNS failure) is always safe to repeat for idempotent methods; a read (GET,
/// HEAD) is also repeated after the connection broke or timed out mid-request, since repeating it
/// changes nothing. Writes are not repeated once they may have reached the registry: the caller's
/// read-modify-write round decides what to do.
fn retryable_error(method: &Method, e: &reqwest::Error) -> bool {
    let read = matches!(*method, Method::GET | Method::HEAD);
    let idempotent_write = matches!(*method, Method::PUT | Method::DELETE);
    (read && !e.is_builder() && !e.is_redirect()) || (idempotent_write && (e.is_connect() || e.is_timeout()))
}

/// Exponential backoff with jitter: 200 ms, 400 ms, … plus up to 50 %.
fn backoff(attempt: u32, hint: Option<Duration>) -> Duration {
    if let Some(h) = hint {
        return h;
    }
    let base = Duration::from_millis(200u64 << attempt.min(6));
    let mut b = [0u8; 2];
    let _ = aws_lc_rs::rand::fill(&mut b);
    base + base.mul_f64(f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX) / 2.0)
}

pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

async fn check_status(resp: reqwest::Response, method: &str, url: &str) -> Result<reqwest::Response, RegistryError> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let message = read_bounded(resp, 64 << 10, "error body", "")
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.pointer("/errors/0/message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_default();
    Err(RegistryError::Http { method: method.into(), url: url.into(), status, message })
}

/// Reads a body, refusing more than `limit` bytes whether declared or actually sent.
pub(crate) async fn read_bounded(
    mut resp: reqwest::Response,
    limit: u64,
    what: &str,
    registry: &str,
) -> Result<Vec<u8>, RegistryError> {
    if let Some(len) = resp.content_length()
        && len > limit
    {
        return Err(RegistryError::TooLarge { what: what.into(), size: len, limit });
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| RegistryError::Transport { registry: registry.into(), reason: error_chain(&e) })?
    {
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(RegistryError::TooLarge {
                what: what.into(),
                size: out.len() as u64 + chunk.len() as u64,
                limit,
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("reg.example:5000"));
    }

    #[test]
    fn scopes() {
        assert_eq!(Access::Pull.scope("ns/img"), "repository:ns/img:pull");
        assert_eq!(Access::Push.scope("ns/img"), "repository:ns/img:pull,push");
        assert_eq!(Access::Catalog.scope(""), "registry:catalog:*");
    }

    #[test]
    fn retry_after_is_bounded() {
        assert_eq!(parse_retry_after(None), RetryAfter::Unspecified);
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), RetryAfter::Unspecified);
        assert_eq!(parse_retry_after(Some(" 2 ")), RetryAfter::After(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(Some("10")), RetryAfter::After(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after(Some("11")), RetryAfter::TooLong);
        assert_eq!(parse_retry_after(Some("3600")), RetryAfter::TooLong);
        assert_eq!(backoff(1, Some(Duration::from_secs(2))), Duration::from_secs(2));
        for attempt in 1..=3 {
            let base = Duration::from_millis(200 << attempt);
            let b = backoff(attempt, None);
            assert!(b >= base && b <= base + base / 2, "attempt {attempt}: {b:?}");
        }
    }

    #[test]
    fn streamed_transfers_get_time_for_their_size() {
        let remote = Remote::new(&crate::registry::RegistryOptions {
            request_timeout: Duration::from_secs(300),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(remote.streaming_timeout(0), Duration::from_secs(300));
        assert_eq!(remote.streaming_timeout(4 << 30), Duration::from_secs(300 + 4096));
    }

    #[test]
    fn credentials_stay_on_their_origin() {
        let registry = "https://reg.example";
        assert!(same_origin("https://reg.example/v2/a/tags/list?n=1", registry));
        assert!(same_origin("https://reg.example:443/v2/", registry));
        for other in [
            "https://other.example/v2/a/tags/list",
            "http://reg.example/v2/",
            "https://reg.example:8443/v2/",
            "https://reg.example.evil/v2/",
            "https://user@evil.example/@reg.example/v2/",
            "/v2/relative",
            "",
        ] {
            assert!(!same_origin(other, registry), "{other}");
        }
        assert!(same_origin("http://127.0.0.1:5000/v2/", "http://127.0.0.1:5000"));
        assert!(!same_origin("http://127.0.0.1:5001/v2/", "http://127.0.0.1:5000"));
    }

    #[test]
    fn listing_pages() {
        assert_eq!(parse_listing_page(br#"{"name":"a","tags":["v1","v2"]}"#, "tags").unwrap(), ["v1", "v2"]);
        // distribution answers `null` for a repository without tags.
        assert!(parse_listing_page(br#"{"name":"a","tags":null}"#, "tags").unwrap().is_empty());
        assert!(parse_listing_page(br#"{"name":"a"}"#, "tags").unwrap().is_empty());
        assert_eq!(parse_listing_page(br#"{"repositories":["x/y"]}"#, "repositories").unwrap(), ["x/y"]);
        for bad in [&br#"{"tags":"v1"}"#[..], br#"{"tags":[1]}"#, b"<html>", b""] {
            assert!(parse_listing_page(bad, "tags").is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn link_header() {
        assert_eq!(
            parse_link_next(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?n=2&last=b")
        );
        assert_eq!(parse_link_next("").as_deref(), None);
    }
}
