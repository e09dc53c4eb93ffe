//! Splitting a catalog between jobs with no coordinator: `INDEX/COUNT` selects the repositories
//! whose name hashes to that shard, so COUNT jobs (GitLab's `parallel:`, with
//! `$CI_NODE_INDEX/$CI_NODE_TOTAL`) together take every repository exactly once.
//!
//! The hash is SHA-256 of the repository name (the path within its registry, or the directory of
//! an image layout), so a repository lands in the same shard in every job, on every machine and
//! in every version, whatever order the catalog lists it in, and mirrors of a registry shard
//! alike.

use crate::error::InputError;
use crate::reference::Location;

/// One shard of `count`: the `index`th, counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Default for Shard {
    /// The whole catalog: `1/1`.
    fn default() -> Self {
        Shard { index: 1, count: 1 }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = InputError;

    fn from_str(s: &str) -> Result<Self, InputError> {
        Shard::parse(s)
    }
}

impl Shard {
    /// Shard `index` of `count` (1 ≤ index ≤ count).
    pub fn new(index: u32, count: u32) -> Result<Self, InputError> {
        let refused = |reason: String| InputError::InvalidArgument { name: "shard".into(), reason };
        if count == 0 {
            return Err(refused(format!("{index}/{count}: the shard count must be at least 1")));
        }
        if index == 0 || index > count {
            return Err(refused(format!("{index}/{count}: the index counts from 1 to the shard count ({count})")));
        }
        Ok(Shard { index, count })
    }

    /// Parses `INDEX/COUNT` (decimal, 1 ≤ INDEX ≤ COUNT).
    pub fn parse(text: &str) -> Result<Self, InputError> {
        let malformed = || InputError::InvalidArgument {
            name: "shard".into(),
            reason: format!("{text:?} is not INDEX/COUNT (two decimal numbers, 1 ≤ INDEX ≤ COUNT)"),
        };
        let (index, count) = text.split_once('/').ok_or_else(malformed)?;
        let number =
            |s: &str| (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u32>().ok()).flatten();
        Shard::new(number(index).ok_or_else(malformed)?, number(count).ok_or_else(malformed)?)
    }

    /// Its index, from 1.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// How many shards there are.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The shard (from 1) a repository name belongs to among `count`.
    pub fn of(repository: &str, count: u32) -> u32 {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, repository.as_bytes());
        let head = u64::from_be_bytes(digest.as_ref()[..8].try_into().expect("8 bytes"));
        (head % u64::from(count.max(1))) as u32 + 1
    }

    /// Whether a repository of this name is in this shard.
    pub fn includes(&self, repository: &str) -> bool {
        Shard::of(repository, self.count) == self.index
    }

    /// The locations in this shard, in their order (a registry repository by its path, an image
    /// layout by its directory).
    pub fn select(&self, locations: Vec<Location>) -> Vec<Location> {
        locations.into_iter().filter(|l| self.includes(&repository_name(l))).collect()
    }
}

fn repository_name(location: &Location) -> String {
    match location {
        Location::Registry { repository, .. } => repository.clone(),
        Location::Layout { path } => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_repository_exactly_once() {
        let names: Vec<String> = (0..1000).map(|i| format!("team-{}/app-{i}", i % 7)).collect();
        for count in [1u32, 2, 3, 8, 13] {
            let mut seen = std::collections::BTreeMap::<&str, u32>::new();
            for index in 1..=count {
                let shard = Shard::new(index, count).unwrap();
                let mine: Vec<&String> = names.iter().filter(|n| shard.includes(n)).collect();
                // Each shard gets a fair part (a hash, not a range): no empty or overloaded shard.
                let fair = names.len() as f64 / f64::from(count);
                assert!(
                    (mine.len() as f64) > fair * 0.7 && (mine.len() as f64) < fair * 1.3,
                    "{count}: {}",
                    mine.len()
                );
                for n in mine {
                    *seen.entry(n).or_default() += 1;
                }
            }
            assert_eq!(seen.len(), names.len(), "{count} shards miss a repository");
            assert!(seen.values().all(|&n| n == 1), "{count} shards take a repository twice");
        }
    }

    #[test]
    fn the_hash_is_stable() {
        // Fixed values: a change here moves repositories between the jobs of a running rollout.
        assert_eq!(Shard::of("team/app", 4), Shard::of("team/app", 4));
        let fixed: Vec<u32> =
            ["a", "b", "c", "d", "team/app", "library/nginx"].iter().map(|n| Shard::of(n, 5)).collect();
        assert_eq!(fixed, STABLE);
    }

    const STABLE: [u32; 6] = [1, 2, 1, 5, 1, 1];

    #[test]
    fn bad_shards_are_refused_naming_the_field() {
        for bad in [
            "0/0",
            "3/2",
            "x",
            "0/3",
            "1/0",
            "",
            "/",
            "1/",
            "/2",
            "1/2/3",
            "-1/2",
            "+1/2",
            " 1/2",
            "1 /2",
            "a/b",
            "99999999999/2",
        ] {
            match Shard::parse(bad) {
                Err(InputError::InvalidArgument { name, .. }) => assert_eq!(name, "shard", "{bad}"),
                other => panic!("{bad:?} accepted: {other:?}"),
            }
        }
        assert_eq!(Shard::parse("2/3").unwrap(), Shard::new(2, 3).unwrap());
        assert_eq!(Shard::parse("1/1").unwrap(), Shard::default());
        assert_eq!(Shard::parse("3/3").unwrap().to_string(), "3/3");
    }
}
