//! Image references and digests.
//!
//! Two kinds of reference are understood:
//! * registry references as Docker and ggcr parse them (`reg.example:5000/ns/img:tag`,
//!   `ns/img@sha256:…`, Docker Hub short names normalised to `index.docker.io/library/…`);
//! * OCI image-layout references `oci:DIR`, `oci:DIR:TAG` and `oci:DIR@sha256:…`.

use crate::error::InputError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The registry Docker Hub short names resolve to, as ggcr (and so cosign) names it.
pub const DOCKER_HUB: &str = "index.docker.io";

/// A content digest, `sha256:<64 hex>`. Only SHA-256 is produced; SHA-384/512 are parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// Parses `alg:hex`, checking the algorithm and the hex length.
    pub fn parse(s: &str) -> Result<Self, InputError> {
        let bad = |reason: &str| InputError::InvalidReference { input: s.into(), reason: reason.into() };
        let (alg, hex) = s.split_once(':').ok_or_else(|| bad("a digest is algorithm:hex"))?;
        let len = match alg {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => return Err(bad("unsupported digest algorithm")),
        };
        if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(bad("digest hex has the wrong length or characters"));
        }
        Ok(Digest(s.to_owned()))
    }

    /// The SHA-256 digest of `data`.
    pub fn sha256(data: &[u8]) -> Self {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
        Digest(format!("sha256:{}", hex::encode(d.as_ref())))
    }

    /// `sha256`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map(|(a, _)| a).unwrap_or("")
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map(|(_, h)| h).unwrap_or("")
    }

    /// `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `data` hashes to this digest.
    pub fn matches(&self, data: &[u8]) -> bool {
        let alg = match self.algorithm() {
            "sha256" => &aws_lc_rs::digest::SHA256,
            "sha384" => &aws_lc_rs::digest::SHA384,
            "sha512" => &aws_lc_rs::digest::SHA512,
            _ => return false,
        };
        hex::encode(aws_lc_rs::digest::digest(alg, data).as_ref()) == self.hex()
    }

    /// The cosign tag for an attachment of this digest: `sha256-<hex>.<suffix>` (or no suffix
    /// for the OCI referrers fallback tag).
    pub fn attachment_tag(&self, suffix: &str) -> String {
        if suffix.is_empty() {
            format!("{}-{}", self.algorithm(), self.hex())
        } else {
            format!("{}-{}.{}", self.algorithm(), self.hex(), suffix)
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Digest {
    type Error = InputError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Digest::parse(&s)
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> String {
        d.0
    }
}

/// Where an image lives and which version of it is meant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    /// The repository.
    pub location: Location,
    /// The tag, if one was given.
    pub tag: Option<String>,
    /// The digest, if one was given.
    pub digest: Option<Digest>,
}

/// A repository in a registry or an OCI image-layout directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// A repository in a registry.
    Registry {
        /// Host and optional port, e.g. `127.0.0.1:5000`.
        registry: String,
        /// Repository path, e.g. `ns/img`.
        repository: String,
    },
    /// An OCI image-layout directory.
    Layout {
        /// The directory.
        path: PathBuf,
    },
}

impl ImageReference {
    /// Parses a registry or `oci:` layout reference.
    pub fn parse(input: &str) -> Result<Self, InputError> {
        let bad = |reason: &str| InputError::InvalidReference { input: input.into(), reason: reason.into() };
        if let Some(rest) = input.strip_prefix("oci:") {
            return parse_layout(rest).map_err(|r| bad(&r));
        }
        parse_remote(input).map_err(|r| bad(&r))
    }

    /// The same repository with a digest and no tag.
    pub fn with_digest(&self, digest: Digest) -> Self {
        ImageReference { location: self.location.clone(), tag: None, digest: Some(digest) }
    }

    /// The same repository with a tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Self {
        ImageReference { location: self.location.clone(), tag: Some(tag.into()), digest: None }
    }

    /// The name cosign puts in `critical.identity.docker-reference`: the repository without tag or
    /// digest (`reg/ns/img`). For a layout, the directory name.
    pub fn repository_name(&self) -> String {
        self.location.to_string()
    }

    /// The `docker-reference` a signature payload names by default: the repository for a registry
    /// image; for a layout, the directory's name (a layout has no repository: pass the image's
    /// destination as the signing identity when it will be pushed somewhere).
    pub fn docker_reference(&self) -> String {
        match &self.location {
            Location::Registry { .. } => self.repository_name(),
            Location::Layout { path } => {
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "oci-layout".into())
            }
        }
    }

    /// The tag or digest string to request from the registry (digest preferred).
    pub fn version(&self) -> Option<String> {
        self.digest.as_ref().map(|d| d.to_string()).or_else(|| self.tag.clone())
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Registry { registry, repository } => write!(f, "{registry}/{repository}"),
            Location::Layout { path } => write!(f, "oci:{}", path.display()),
        }
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.location)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ImageReference {
    type Err = InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageReference::parse(s)
    }
}

fn split_digest(s: &str) -> Result<(&str, Option<Digest>), String> {
    match s.split_once('@') {
        Some((rest, d)) => Ok((rest, Some(Digest::parse(d).map_err(|e| e.to_string())?))),
        None => Ok((s, None)),
    }
}

fn valid_tag(tag: &str) -> bool {
    // distribution/reference: [\w][\w.-]{0,127}
    let mut chars = tag.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
}

fn parse_layout(rest: &str) -> Result<ImageReference, String> {
    let (rest, digest) = split_digest(rest)?;
    // A tag follows the last ':' only when that part has no '/', so paths with ':' still work.
    let (path, tag) = match rest.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') && !p.is_empty() => {
            if !valid_tag(t) {
                return Err(format!("invalid tag {t:?}"));
            }
            (p, Some(t.to_owned()))
        }
        _ => (rest, None),
    };
    if path.is_empty() {
        return Err("the layout directory is empty".into());
    }
    Ok(ImageReference { location: Location::Layout { path: PathBuf::from(path) }, tag, digest })
}

fn parse_remote(input: &str) -> Result<ImageReference, String> {
    if input.is_empty() {
        return Err("empty reference".into());
    }
    let (rest, digest) = split_digest(input)?;
    let (name, tag) = match rest.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => {
            if !valid_tag(t) {
                return Err(format!("invalid tag {t:?}"));
            }
            (n, Some(t.to_owned()))
        }
        _ => (rest, None),
    };
    let (registry, repository) = match name.split_once('/') {
        Some((first, path)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            (first.to_owned(), path.to_owned())
        }
        _ => (DOCKER_HUB.to_owned(), name.to_owned()),
    };
    let registry = if registry == "docker.io" { DOCKER_HUB.to_owned() } else { registry };
    let repository =
        if registry == DOCKER_HUB && !repository.contains('/') { format!("library/{repository}") } else { repository };
    for component in repository.split('/') {
        let ok = !component.is_empty()
            && component.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            && component.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && component.chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
        if !ok {
            return Err(format!("invalid repository path component {component:?}"));
        }
    }
    if repository.len() > 255 {
        return Err("repository name longer than 255 characters".into());
    }
    Ok(ImageReference { location: Location::Registry { registry, repository }, tag, digest })
}

impl Location {
    /// The layout directory, if this is a layout.
    pub fn layout_path(&self) -> Option<&Path> {
        match self {
            Location::Layout { path } => Some(path),
            Location::Registry { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:97fc2a7f0d3b5ee6c0d1b0e4b6a0a9d7c6e5f4a3b2c1d0e9f8a7b6c5d4e34e36";

    #[test]
    fn parses_registry_references() {
        let r = ImageReference::parse("127.0.0.1:5000/ns/img:v1").unwrap();
        assert_eq!(r.repository_name(), "127.0.0.1:5000/ns/img");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        let r = ImageReference::parse(&format!("reg.example/img@{D}")).unwrap();
        assert_eq!(r.digest.unwrap().as_str(), D);
        let r = ImageReference::parse("busybox").unwrap();
        assert_eq!(r.repository_name(), "index.docker.io/library/busybox");
        let r = ImageReference::parse("docker.io/org/app:1").unwrap();
        assert_eq!(r.repository_name(), "index.docker.io/org/app");
        let r = ImageReference::parse("localhost/app").unwrap();
        assert_eq!(r.repository_name(), "localhost/app");
    }

    #[test]
    fn rejects_bad_references() {
        for bad in ["", "Reg/UPPER", "reg.example/img:bad tag", "img@sha256:abc", "img@md5:00", "reg.example//x"] {
            assert!(ImageReference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_layout_references() {
        let r = ImageReference::parse("oci:/tmp/lay:v1").unwrap();
        assert_eq!(r.location.layout_path().unwrap(), Path::new("/tmp/lay"));
        assert_eq!(r.tag.as_deref(), Some("v1"));
        let r = ImageReference::parse(&format!("oci:./dir@{D}")).unwrap();
        assert!(r.tag.is_none() && r.digest.is_some());
        let r = ImageReference::parse("oci:dir").unwrap();
        assert!(r.tag.is_none() && r.digest.is_none());
    }

    #[test]
    fn attachment_tags() {
        let d = Digest::parse(D).unwrap();
        assert_eq!(d.attachment_tag("sig"), format!("sha256-{}.sig", d.hex()));
        assert_eq!(d.attachment_tag(""), format!("sha256-{}", d.hex()));
        assert!(d.matches(b"x") == (Digest::sha256(b"x") == d));
    }
}
