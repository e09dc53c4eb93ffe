//! A cache of verdicts keyed by content, so that verifying an unchanged image again costs the
//! requests that prove nothing changed and no cryptography.
//!
//! Everything a verdict depends on is in the key or checked again at every use:
//! - the content, all immutable: the image digest and the digest of the `.sig` manifest that was
//!   read (which names every layer and payload blob by digest). Appending a signature, or
//!   replacing the tag's content, changes that digest: the old entry is never found again;
//! - the trust root: the cache lives in the [`Verifier`](super::Verifier), whose trust never
//!   changes (another root is another verifier, with its own cache);
//! - the policy, by a fingerprint of every part of it;
//! - the time: a verdict is reused only within [`RESULT_WINDOW`] after the time it was reached at
//!   (never for an earlier time), and each certificate path that made it is checked again at the
//!   new time (the validity window of every certificate on it) with its CRLs' freshness, without
//!   any signature verification.
//!
//! Only passes proven by the `.sig` manifest alone are kept (what [`SignatureScope::Sufficient`]
//! stops at): a failure or a verdict that needed the Sigstore bundle referrers is verified in full
//! every time, so nothing in the cache can make a failing image pass. An entry is used only when
//! what it holds is the image its key names.
//!
//! [`SignatureScope::Sufficient`]: crate::batch::SignatureScope::Sufficient

use super::{Policy, VerificationResult, VerifiedSigner};
use crate::cosign::SignedImage;
use crate::pki::{Certificate, EkuRule, PathCache, TrustRoot};
use crate::reference::Digest;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// How long a verdict is reused before it is reached again from the signatures.
pub const RESULT_WINDOW: Duration = Duration::from_secs(60);

/// Most verdicts kept; when full the cache starts over (bounded memory in long-lived processes).
const MAX_RESULTS: usize = 4096;

/// Largest signed content (payloads) kept per verdict; larger ones are not cached.
const MAX_CACHED_PAYLOAD_BYTES: usize = 64 * 1024;

/// What a verifier's result cache did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResultCacheStats {
    /// Verifications answered from the cache (no signature verified).
    pub hits: u64,
    /// Verifications that looked and verified in full.
    pub misses: u64,
    /// Verdicts held.
    pub entries: usize,
}

/// What a verdict was reached on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ContentKey {
    policy: [u8; 32],
    repository: String,
    image: Digest,
    signatures_manifest: Digest,
}

impl ContentKey {
    pub(crate) fn new(policy: &Policy, repository: &str, image: &Digest, signatures_manifest: &Digest) -> Self {
        ContentKey {
            policy: policy.fingerprint(),
            repository: repository.to_owned(),
            image: image.clone(),
            signatures_manifest: signatures_manifest.clone(),
        }
    }
}

struct Entry {
    /// When the verdict was reached (since the epoch).
    reached_at: Duration,
    signed: SignedImage,
    result: VerificationResult,
    /// The certificate path of each signature that passed, and its validity window.
    paths: Vec<ValidPath>,
}

struct ValidPath {
    path: Vec<Certificate>,
    not_before: Duration,
    not_after: Duration,
}

/// Verdicts of one verifier.
#[derive(Default)]
pub(crate) struct ResultCache {
    entries: Mutex<HashMap<ContentKey, Entry>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for ResultCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultCache").field("stats", &self.stats()).finish()
    }
}

impl ResultCache {
    pub(crate) fn stats(&self) -> ResultCacheStats {
        ResultCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.entries.lock().map(|e| e.len()).unwrap_or_default(),
        }
    }

    /// The verdict for `key` if one is held and still holds at `at`: its certificate paths valid
    /// at `at` and their CRLs fresh, and its content the image the key names.
    pub(crate) fn get(
        &self,
        key: &ContentKey,
        trust: &TrustRoot,
        at: SystemTime,
    ) -> Option<(SignedImage, VerificationResult)> {
        let found = self.lookup(key, trust, at);
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn lookup(&self, key: &ContentKey, trust: &TrustRoot, at: SystemTime) -> Option<(SignedImage, VerificationResult)> {
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(key)?;
        let since_epoch = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        if !(entry.reached_at <= since_epoch && since_epoch < entry.reached_at + RESULT_WINDOW) {
            return None;
        }
        let paths_hold = entry.paths.iter().all(|p| {
            p.not_before <= since_epoch && since_epoch <= p.not_after && trust.check_crls_fresh(&p.path, at).is_ok()
        });
        (paths_hold && entry.describes(key)).then(|| (entry.signed.clone(), entry.result.clone()))
    }

    /// Keeps a pass reached at `at` on `signed` (the `.sig` content `key` names): the certificate
    /// path of each signature that passed is taken from `paths`, the verifier's path cache; a
    /// verdict whose paths are not all there (or that rests on a timestamp) is not kept.
    pub(crate) fn put(
        &self,
        key: ContentKey,
        signed: &SignedImage,
        result: &VerificationResult,
        paths: &PathCache,
        eku: EkuRule,
        at: SystemTime,
    ) {
        if result.signatures.is_empty()
            || signed.signatures.iter().map(|s| s.payload.len()).sum::<usize>() > MAX_CACHED_PAYLOAD_BYTES
        {
            return;
        }
        let mut valid_paths = Vec::new();
        for verified in &result.signatures {
            match &verified.signer {
                VerifiedSigner::Key { .. } => {}
                VerifiedSigner::Certificate { .. } => {
                    // A timestamped verdict was reached at the timestamp's time: not kept.
                    if verified.timestamp.is_some() {
                        return;
                    }
                    let Some(layer) = signed.signatures.get(verified.index) else { return };
                    let Some(path) = path_of(layer, paths, eku) else { return };
                    valid_paths.push(path);
                }
            }
        }
        let reached_at = at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        let entry = Entry { reached_at, signed: signed.clone(), result: result.clone(), paths: valid_paths };
        if !entry.describes(&key) {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_RESULTS {
                entries.clear();
            }
            entries.insert(key, entry);
        }
    }

    #[cfg(test)]
    fn tamper(&self, key: &ContentKey, edit: impl FnOnce(&mut SignedImage, &mut VerificationResult)) {
        let mut entries = self.entries.lock().unwrap();
        let entry = entries.get_mut(key).expect("an entry");
        edit(&mut entry.signed, &mut entry.result);
    }
}

impl Entry {
    /// Whether what it holds is a pass for the image `key` names: its repository and digest, and
    /// each passing signature one of its layers.
    fn describes(&self, key: &ContentKey) -> bool {
        let (signed, result) = (&self.signed, &self.result);
        signed.repository == key.repository
            && result.repository == key.repository
            && signed.digest == key.image
            && result.digest == key.image
            && !result.signatures.is_empty()
            && result.signatures.iter().all(|v| {
                signed
                    .signatures
                    .get(v.index)
                    .is_some_and(|l| l.payload_digest == v.layer_digest && l.referrer.is_none())
            })
    }
}

/// The validated path of the certificate a `.sig` layer carries, from the path cache (parsing
/// only: the cache holds paths that were verified).
fn path_of(layer: &crate::cosign::SignatureLayer, paths: &PathCache, eku: EkuRule) -> Option<ValidPath> {
    let leaf = Certificate::from_pem_or_der(layer.certificate_pem()?.as_bytes(), "certificate annotation").ok()?;
    let untrusted = match layer.chain_pem() {
        Some(chain) => {
            Certificate::from_pem_many(chain.as_bytes(), "chain annotation", crate::pki::DEFAULT_MAX_CHAIN).ok()?
        }
        None => Vec::new(),
    };
    let (path, not_before, not_after) = paths.validated(&leaf, &untrusted, eku)?;
    Some(ValidPath { path, not_before, not_after })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosign::{self, SignatureLayer};
    use crate::keys::{KeyKind, KeyPairSigner, Signer as _};
    use crate::verify::Verifier;
    use base64::Engine as _;
    use std::collections::BTreeMap;

    fn signed_image(signer: &KeyPairSigner, name: &[u8]) -> SignedImage {
        let digest = Digest::sha256(name);
        let payload = serde_json::json!({"critical": {"identity": {"docker-reference": "r/i"},
            "image": {"docker-manifest-digest": digest.as_str()}, "type": cosign::SIGNATURE_TYPE}, "optional": null})
        .to_string()
        .into_bytes();
        let signature = base64::engine::general_purpose::STANDARD.encode(signer.sign(&payload).unwrap());
        let layer = SignatureLayer {
            media_type: cosign::SIMPLE_SIGNING_MEDIA_TYPE.into(),
            payload_digest: Digest::sha256(&payload),
            payload,
            annotations: BTreeMap::from([(cosign::SIGNATURE_ANNOTATION.to_owned(), signature)]),
            referrer: None,
        };
        SignedImage { repository: "r/i".into(), digest, signatures: vec![layer] }
    }

    #[test]
    fn an_entry_is_used_only_for_the_content_policy_and_window_it_was_reached_on() {
        let (signer, _) = KeyPairSigner::generate(KeyKind::EcdsaP256).unwrap();
        let verifier = Verifier::new(TrustRoot::from_public_keys(vec![signer.public_key().clone()]));
        let (policy, now) = (Policy::key_only(), SystemTime::now());
        let image = signed_image(&signer, b"image");
        let manifest = Digest::sha256(b".sig manifest");
        let key = ContentKey::new(&policy, "r/i", &image.digest, &manifest);
        let result = verifier.verify_at(&image, &policy, now).unwrap();
        let cache = &verifier.results;
        cache.put(key.clone(), &image, &result, &verifier.paths, policy.eku_rule(), now);
        assert_eq!(cache.get(&key, verifier.trust(), now).unwrap().1, result);
        // Another .sig manifest (a signature appended), another policy, another window: misses.
        let appended = ContentKey::new(&policy, "r/i", &image.digest, &Digest::sha256(b"appended"));
        let stricter = Policy::key_only().with_annotation("env", "prod");
        let other_policy = ContentKey::new(&stricter, "r/i", &image.digest, &manifest);
        for miss in [&appended, &other_policy] {
            assert!(cache.get(miss, verifier.trust(), now).is_none(), "{miss:?}");
        }
        // Within the window after the verdict, not after it nor before it.
        assert!(cache.get(&key, verifier.trust(), now + RESULT_WINDOW - Duration::from_secs(1)).is_some());
        assert!(cache.get(&key, verifier.trust(), now + RESULT_WINDOW).is_none());
        assert!(cache.get(&key, verifier.trust(), now - Duration::from_secs(1)).is_none());
        assert_eq!(cache.stats(), ResultCacheStats { hits: 2, misses: 4, entries: 1 });
    }

    #[test]
    fn a_tampered_entry_is_not_used() {
        let (signer, _) = KeyPairSigner::generate(KeyKind::EcdsaP256).unwrap();
        let verifier = Verifier::new(TrustRoot::from_public_keys(vec![signer.public_key().clone()]));
        let (policy, now) = (Policy::key_only(), SystemTime::now());
        let good = signed_image(&signer, b"good");
        let key = ContentKey::new(&policy, "r/i", &good.digest, &Digest::sha256(b"m"));
        let result = verifier.verify_at(&good, &policy, now).unwrap();
        let cache = &verifier.results;
        // A failing image: its verdict is never stored, whatever is asked.
        let (other, _) = KeyPairSigner::generate(KeyKind::EcdsaP256).unwrap();
        let forged = signed_image(&other, b"forged");
        let forged_key = ContentKey::new(&policy, "r/i", &forged.digest, &Digest::sha256(b"m2"));
        assert!(verifier.verify_at(&forged, &policy, now).is_err());
        cache.put(forged_key.clone(), &forged, &result, &verifier.paths, policy.eku_rule(), now);
        assert!(cache.get(&forged_key, verifier.trust(), now).is_none(), "a pass stored under another image");
        // An entry edited to name another image, or to claim a signature it does not hold: refused.
        cache.put(key.clone(), &good, &result, &verifier.paths, policy.eku_rule(), now);
        assert!(cache.get(&key, verifier.trust(), now).is_some());
        cache.tamper(&key, |signed, result| {
            signed.digest = forged.digest.clone();
            result.digest = forged.digest.clone();
        });
        assert!(cache.get(&key, verifier.trust(), now).is_none());
        cache.put(key.clone(), &good, &result, &verifier.paths, policy.eku_rule(), now);
        cache.tamper(&key, |signed, _| signed.signatures = forged.signatures.clone());
        assert!(cache.get(&key, verifier.trust(), now).is_none());
    }
}
