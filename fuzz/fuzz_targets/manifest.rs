//! Image manifests and indexes (signature manifests, referrers indexes) as a registry serves them.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ironsign::cosign::Manifest::parse(data, "fuzzed manifest");
    let _ = ironsign::cosign::Manifest::parse_bounded(data, "fuzzed manifest", &ironsign::Limits::default());
});
