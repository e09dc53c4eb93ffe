//! An in-toto statement (the payload of an attestation envelope).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(statement) = ironsign::intoto::Statement::parse(data) {
        let _ = statement.subject_for(&ironsign::Digest::sha256(b"image"));
        let _ = statement.to_json();
    }
});
