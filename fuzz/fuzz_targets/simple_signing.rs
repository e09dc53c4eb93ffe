//! cosign's simple-signing payload, as read from a signature layer.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ironsign::cosign::parse_simple_signing(data);
});
