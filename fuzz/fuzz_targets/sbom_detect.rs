//! SBOM format detection (SPDX, CycloneDX, Syft; JSON and tag-value).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ironsign::sbom::detect(data, "fuzzed SBOM");
});
