//! Public and private keys in PEM and DER (PKCS#8, SEC1, PKCS#1, SPKI), unencrypted.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ironsign::PublicKey::from_pem(data, "fuzzed public key");
    let _ = ironsign::PublicKey::from_spki_der(data, "fuzzed public key");
    let _ = ironsign::KeyPairSigner::from_pkcs8_der(data, "fuzzed private key");
    // No password: encrypted keys stop before the KDF (the cosign_encrypted_key target covers it).
    let _ = ironsign::KeyPairSigner::from_pem(data, None, "fuzzed private key");
});
