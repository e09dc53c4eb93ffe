//! A DSSE envelope (attestation layer): parse, then decode its payload and signatures.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = ironsign::dsse::Envelope::parse(data) {
        let _ = envelope.payload_bytes();
        let _ = envelope.signature_bytes();
        let _ = envelope.to_json();
    }
});
