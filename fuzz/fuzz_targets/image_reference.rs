//! Image references (`REGISTRY/REPO[:TAG|@DIGEST]`, `oci:DIR…`) and digests.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(r) = ironsign::ImageReference::parse(s) {
            let _ = r.to_string();
            let _ = r.repository_name();
            let _ = r.docker_reference();
        }
        let _ = ironsign::Digest::parse(s);
    }
});
