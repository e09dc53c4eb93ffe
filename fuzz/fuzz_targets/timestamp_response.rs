//! RFC 3161 timestamp responses (DER `TimeStampResp`), raw and as cosign's layer annotation:
//! parsed, nonce-checked, and verified over the data the seeds timestamp against the TSA
//! certificates that made them (`fixtures/`), so mutations of a valid token reach the signature,
//! signed-attribute and certificate checks rather than stopping at the imprint.
#![no_main]
use ironsign::TimestampAuthorities;
use ironsign::tsa::{TimestampRequest, annotation_value, parse_annotation};
use std::sync::LazyLock;

/// The bytes every seed timestamps (`openssl ts -query -data`).
const DATA: &[u8] = include_bytes!("../fixtures/timestamp_response-data.txt");

/// The TSA leaves, intermediate and root of the gen-test-pki run that made the seeds.
static AUTHORITIES: LazyLock<TimestampAuthorities> = LazyLock::new(|| {
    TimestampAuthorities::from_pem(include_bytes!("../fixtures/timestamp_response-tsa-chain.pem"))
        .expect("fixtures/timestamp_response-tsa-chain.pem")
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = AUTHORITIES.verify(data, DATA);
    let _ = TimestampRequest::new(DATA).check_nonce(data);
    // The annotation form: arbitrary text, and a round trip of the bytes.
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(der) = parse_annotation(text)
    {
        let _ = AUTHORITIES.verify(&der, DATA);
    }
    if data.len() <= ironsign::tsa::MAX_RESPONSE_SIZE {
        assert_eq!(parse_annotation(&annotation_value(data)).ok().as_deref(), Some(data));
    }
});
