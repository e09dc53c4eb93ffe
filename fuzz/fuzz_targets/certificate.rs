//! Certificates in PEM or DER, single and as a chain annotation.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = ironsign::Certificate::from_pem_or_der(data, "fuzzed certificate") {
        let _ = cert.summary().sans();
        let _ = cert.to_pem();
    }
    let _ = ironsign::Certificate::from_pem_many(data, "fuzzed chain", 10);
});
