//! A cache of validated certificate paths, so that verifying many images signed by one leaf
//! builds its path once.
//!
//! An entry records what made the path valid, and is used only where all of it still holds:
//! - the leaf and the untrusted chain offered with it (the key: their exact DER) and whether the
//!   extended key usage rule;
//! - the trust root, which a [`Verifier`](crate::Verifier) owns and never changes: the cache lives
//!   in the verifier, so a verifier with other roots, intermediates or CRLs has its own;
//! - the validity window, the intersection of the validity periods of every certificate on the
//!   path, root included: a verification time outside it builds the path again (and fails as
//!   uncached verification would);
//! - revocation: CRLs are part of the trust root and webpki's revocation check does not depend
//!   on the time, but their freshness does, so it is checked again at every use.
//!
//! Only successes are cached. A path to a root re-issued under the same name and key (several
//! configured roots webpki cannot tell apart) is not cached, since which of them is the anchor
//! depends on the time.

use super::{Certificate, EkuRule, TrustRoot};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Most paths kept; when full the cache starts over, so memory stays bounded in long-lived
/// processes verifying many signers.
const MAX_PATHS: usize = 4096;

/// Validated paths of one trust root.
#[derive(Default)]
pub(crate) struct PathCache {
    entries: Mutex<HashMap<PathKey, CachedPath>>,
}

impl std::fmt::Debug for PathCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.entries.lock().map(|e| e.len()).unwrap_or_default();
        f.debug_struct("PathCache").field("paths", &len).finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PathKey {
    leaf: [u8; 32],
    untrusted: [u8; 32],
    eku: EkuRule,
}

impl PathKey {
    fn new(leaf: &Certificate, untrusted: &[Certificate], eku: EkuRule) -> Self {
        let sha256 = |data: &[u8]| -> [u8; 32] {
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref().try_into().expect("32 bytes")
        };
        let mut chain = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for cert in untrusted {
            // Length-prefixed, so no two chains hash the same bytes.
            chain.update(&(cert.der().len() as u64).to_be_bytes());
            chain.update(cert.der());
        }
        PathKey { leaf: sha256(leaf.der()), untrusted: chain.finish().as_ref().try_into().expect("32 bytes"), eku }
    }
}

struct CachedPath {
    path: Vec<Certificate>,
    not_before: Duration,
    not_after: Duration,
}

impl PathCache {
    fn get(&self, key: &PathKey, at: Duration) -> Option<Vec<Certificate>> {
        let entries = self.entries.lock().ok()?;
        let cached = entries.get(key)?;
        (cached.not_before <= at && at <= cached.not_after).then(|| cached.path.clone())
    }

    /// The path validated for this leaf, chain and rule, and its validity window, if one is held.
    pub(crate) fn validated(
        &self,
        leaf: &Certificate,
        untrusted: &[Certificate],
        eku: EkuRule,
    ) -> Option<(Vec<Certificate>, Duration, Duration)> {
        let entries = self.entries.lock().ok()?;
        let cached = entries.get(&PathKey::new(leaf, untrusted, eku))?;
        Some((cached.path.clone(), cached.not_before, cached.not_after))
    }

    fn put(&self, key: PathKey, path: &[Certificate]) {
        let Some(not_before) = path.iter().map(|c| c.validity().0).max() else { return };
        let Some(not_after) = path.iter().map(|c| c.validity().1).min() else { return };
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_PATHS {
                entries.clear();
            }
            entries.insert(key, CachedPath { path: path.to_vec(), not_before, not_after });
        }
    }
}

impl TrustRoot {
    /// [`TrustRoot::verify_code_signing`] through `cache`: the leaf's own checks every time, the
    /// path from the cache when one validated for the same leaf, chain and EKU rule is
    /// valid at `at` (its CRLs' freshness checked again at `now`), else built and cached.
    #[allow(clippy::too_many_arguments)] // verify_code_signing's seven, and the cache
    pub(crate) fn verify_code_signing_cached(
        &self,
        cache: &PathCache,
        leaf: &Certificate,
        untrusted: &[Certificate],
        at: SystemTime,
        now: SystemTime,
        eku: EkuRule,
        timestamp_needed: bool,
    ) -> Result<Vec<Certificate>, crate::error::CertificateError> {
        leaf.check_code_signing_usage(eku)?;
        leaf.check_validity(at, timestamp_needed)?;
        let key = PathKey::new(leaf, untrusted, eku);
        if let Some(path) = cache.get(&key, at.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()) {
            self.check_crls_fresh(&path, now)?;
            return Ok(path);
        }
        let path = self.verify_code_signing(leaf, untrusted, at, now, eku, timestamp_needed)?;
        let anchor_is_unambiguous = path.last().is_some_and(|root| {
            let (subject, key) =
                (root.parsed.tbs_certificate().subject(), root.parsed.tbs_certificate().subject_public_key_info());
            self.roots
                .iter()
                .filter(|r| {
                    r.parsed.tbs_certificate().subject() == subject
                        && r.parsed.tbs_certificate().subject_public_key_info() == key
                })
                .count()
                == 1
        });
        if anchor_is_unambiguous {
            cache.put(key, &path);
        }
        Ok(path)
    }
}
