//! The JSON body of a cosign encrypted key file (scrypt + secretbox). Inputs that pass the KDF
//! parameter checks cost one scrypt run (N = 2^15), so this target runs fewer iterations.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ironsign::keys::cosign_file::decrypt(data, b"fuzz-password", "fuzzed cosign key");
});
