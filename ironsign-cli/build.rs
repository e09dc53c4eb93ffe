//! Records the compiler's version for `ironsign version` (cosign prints its Go version there).
//! The commit, tree state and build date come from the release build's environment
//! (`IRONSIGN_GIT_COMMIT`, `IRONSIGN_GIT_TREE_STATE`, `IRONSIGN_BUILD_DATE`) and read "unknown"
//! otherwise, as cosign's do when built without its ldflags.

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|v| v.split_whitespace().nth(1).unwrap_or("unknown").to_owned())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=IRONSIGN_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-changed=build.rs");
    for var in ["IRONSIGN_GIT_COMMIT", "IRONSIGN_GIT_TREE_STATE", "IRONSIGN_BUILD_DATE"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
}
