//! docs/cosign-compat.md lists every command and flag of cosign v2 and v3 with what ironsign does
//! with it (issue 14). It is generated from both CLIs' own definitions; this test regenerates it
//! and fails when the committed page differs, so it cannot fall behind either side. It also runs
//! a few rows against the binary, so the page's three statuses mean what they say.

use ironsign_e2e::*;

#[test]
fn the_compatibility_page_is_current() {
    let page = repo_root().join("docs/cosign-compat.md");
    let out = std::process::Command::new(repo_root().join("scripts/cosign-compat"))
        .args(["--cosign-v2", Cosign::V2.bin().to_str().unwrap(), "--cosign-v3", Cosign::V3.bin().to_str().unwrap()])
        .args(["--ironsign", ironsign_bin().to_str().unwrap(), "--check", page.to_str().unwrap()])
        .output()
        .expect("scripts/cosign-compat");
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_pages_statuses_hold_on_the_binary() {
    let page = std::fs::read_to_string(repo_root().join("docs/cosign-compat.md")).unwrap();
    let row = |command: &str, flag: &str| -> String {
        let section = page.split(&format!("## `cosign {command}` (")).nth(1).unwrap_or_else(|| panic!("{command}"));
        let line = section.lines().find(|l| l.contains(&format!("--{flag}`"))).unwrap_or_else(|| panic!("{flag}"));
        line.split('|').nth(3).unwrap().trim().to_owned()
    };
    // refused: the parser rejects the flag by name.
    assert_eq!(row("sign", "fulcio-url"), "refused");
    let out = ironsign(&["sign", "--key", "k", "--fulcio-url", "https://fulcio.example", "registry.example/a:1"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("unexpected argument '--fulcio-url'"), "{}", out.stderr);
    // accepted: hidden, and one value refused by name.
    assert_eq!(row("sign", "tlog-upload"), "accepted");
    let out = ironsign(&["sign", "--key", "k", "--tlog-upload=true", "registry.example/a:1"]);
    assert!(out.stderr.contains("transparency log"), "{}", out.stderr);
    // supported, short form included.
    assert_eq!(row("verify", "key"), "supported");
    let out = ironsign(&["verify", "-k", "missing.pub", "registry.example/a:1"]);
    assert!(out.stderr.contains("missing.pub"), "-k not taken as --key: {}", out.stderr);
}
