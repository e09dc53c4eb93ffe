//! `--shard INDEX/COUNT` on the catalog-wide commands (`gc`, `resign`): COUNT jobs, each given
//! its index, split one registry's catalog with no coordinator, together covering every
//! repository exactly once. Bad values are refused with a typed error naming the flag.

use ironsign_e2e::*;
use std::collections::BTreeMap;

/// The repositories a `gc --all-repositories` plan (JSON) scanned.
fn scanned(plan: &serde_json::Value) -> Vec<String> {
    let repositories = plan["repositories"].as_array().unwrap_or_else(|| panic!("{plan}"));
    repositories.iter().map(|r| r["repository"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn shards_of_gc_and_resign_cover_every_repository_exactly_once() {
    let reg = PrivateRegistry::start();
    let names: Vec<String> = (0..12).map(|i| format!("team-{}/app-{i}", i % 3)).collect();
    for name in &names {
        push_image_to(&reg.addr, name, &[]);
    }
    let whole = ironsign(&["gc", "-o", "json", "--all-repositories", &reg.addr]).ok().json();
    let mut catalog = scanned(&whole);
    catalog.sort();
    assert_eq!(catalog.len(), names.len(), "{whole}");

    for count in [1, 2, 3, 5] {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for index in 1..=count {
            let shard = format!("{index}/{count}");
            let plan = ironsign(&["gc", "-o", "json", "--all-repositories", &reg.addr, "--shard", &shard]).ok().json();
            for repository in scanned(&plan) {
                *seen.entry(repository).or_default() += 1;
            }
        }
        let covered: Vec<&String> = seen.keys().collect();
        assert_eq!(covered, catalog.iter().collect::<Vec<_>>(), "{count} shards");
        assert!(seen.values().all(|&n| n == 1), "{count} shards scan a repository twice: {seen:?}");
    }

    // resign splits the same way: the images it examined, per shard, partition the catalog's.
    let (key, root) = (pki_file("leaf.key"), pki_file("root.pem"));
    let resign = |shard: Option<&str>| {
        let mut args = vec!["resign", "--all-repositories", &reg.addr, "--expires-within-days", "1"];
        args.extend(["--new-key", &key, "--ca-roots", &root, "--certificate-identity", "signer@example.com"]);
        args.extend(["-o", "json"]);
        if let Some(s) = shard {
            args.extend(["--shard", s]);
        }
        let out = ironsign(&args).ok().json();
        let plan = &out["plan"];
        let mut images: Vec<String> = plan["skipped"]
            .as_array()
            .unwrap_or_else(|| panic!("{plan}"))
            .iter()
            .map(|s| s["image"].as_str().unwrap().to_owned())
            .collect();
        images.sort();
        images
    };
    let all = resign(None);
    assert_eq!(all.len(), names.len(), "every unsigned image is examined and skipped");
    let mut parts: Vec<String> = (1..=3).flat_map(|i| resign(Some(&format!("{i}/3")))).collect();
    parts.sort();
    assert_eq!(parts, all);
}

#[test]
fn bad_shards_are_refused_with_a_typed_error() {
    let reg = PrivateRegistry::start();
    for bad in ["0/0", "3/2", "x", "0/2", "1/0", "1/2/3", "-1/2", "1/", " 1/2"] {
        for command in [&["gc", "--all-repositories", &reg.addr][..], &["resign", "--all-repositories", &reg.addr]] {
            let mut args = command.to_vec();
            if command[0] == "resign" {
                args.extend(["--expires-within-days", "1", "--new-key", "k", "--key", "k.pub"]);
            }
            let shard = format!("--shard={bad}");
            args.extend([shard.as_str(), "-o", "json"]);
            let run = ironsign(&args).code(3);
            let error = &run.json()["error"];
            assert_eq!(error["code"], "INVALID_ARGUMENT", "{bad}: {}", run.stdout);
            assert_eq!(error["details"]["InvalidArgument"]["name"], "--shard", "{bad}: {}", run.stdout);
        }
    }
}
