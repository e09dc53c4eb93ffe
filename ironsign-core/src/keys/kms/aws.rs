//! AWS KMS through the AWS SDK (SigV4, the KMS JSON protocol, retries, the credential chain).

use super::{Failure, kms_error};
use crate::error::KeyError;
use crate::keys::{KeyAlgorithm, KeyKind, PublicKey};
use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use std::time::Duration;

/// Loads AWS's standard configuration from the process environment, plus `AWS_CA_BUNDLE`, which
/// the Rust SDK does not read itself. Connect and operation timeouts bound every call.
pub(super) async fn load_environment_config() -> Result<aws_config::SdkConfig, KeyError> {
    let failed = |detail: String| KeyError::KmsFailed { key: String::new(), detail };
    if std::env::var("AWS_TLS_INSECURE_SKIP_VERIFY").is_ok_and(|v| v == "1") {
        return Err(failed(
            "AWS_TLS_INSECURE_SKIP_VERIFY=1 is refused: give the endpoint's CA in AWS_CA_BUNDLE instead".into(),
        ));
    }
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(30))
        .operation_timeout(Duration::from_secs(90))
        .build();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts);
    if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
        let pem = std::fs::read(&path)
            .map_err(|e| failed(format!("AWS_CA_BUNDLE {}: {e}", std::path::Path::new(&path).display())))?;
        if pem::parse_many(&pem).map(|blocks| blocks.iter().all(|b| b.tag() != "CERTIFICATE")).unwrap_or(true) {
            return Err(failed(format!(
                "AWS_CA_BUNDLE {}: no PEM certificate in it",
                std::path::Path::new(&path).display()
            )));
        }
        use aws_smithy_http_client::tls;
        let trust = tls::TrustStore::empty().with_native_roots(false).with_pem_certificate(pem);
        let context = tls::TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .map_err(|e| failed(format!("AWS_CA_BUNDLE: {e}")))?;
        let client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
            .tls_context(context)
            .build_https();
        loader = loader.http_client(client);
    }
    Ok(loader.load().await)
}

/// The region of a key or alias ARN (`arn:PARTITION:kms:REGION:…`).
fn arn_region(key_id: &str) -> Option<&str> {
    key_id.strip_prefix("arn:")?.split(':').nth(2).filter(|r| !r.is_empty())
}

fn client(sdk: &aws_config::SdkConfig, endpoint: Option<&str>, key_id: &str) -> Result<aws_sdk_kms::Client, KeyError> {
    let mut builder = aws_sdk_kms::config::Builder::from(sdk);
    // A key ARN names the region the key lives in: requests must go there.
    if let Some(region) = arn_region(key_id) {
        builder = builder.region(aws_config::Region::new(region.to_owned()));
    } else if sdk.region().is_none() {
        return Err(KeyError::KmsFailed {
            key: key_id.to_owned(),
            detail: "no AWS region is configured (AWS_REGION, or the profile's region)".into(),
        });
    }
    if let Some(endpoint) = endpoint {
        // As cosign: an endpoint in the URI is HTTPS.
        builder = builder.endpoint_url(format!("https://{endpoint}"));
    }
    Ok(aws_sdk_kms::Client::from_conf(builder.build()))
}

/// Classifies an SDK error by what went wrong, keeping the SDK's whole explanation.
fn sdk_error<E>(err: SdkError<E, HttpResponse>, key: &str) -> KeyError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let failure = match &err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => Failure::Unreachable,
        _ => match err.code() {
            Some("NotFoundException") => Failure::NotFound,
            Some(
                "AccessDeniedException"
                | "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "IncompleteSignature"
                | "MissingAuthenticationToken"
                | "ExpiredTokenException",
            ) => Failure::AccessDenied,
            Some("DisabledException" | "KMSInvalidStateException") => Failure::Disabled,
            Some("ThrottlingException" | "LimitExceededException" | "TooManyRequestsException") => Failure::Throttled,
            _ => Failure::Other,
        },
    };
    kms_error(failure, key, DisplayErrorContext(&err).to_string())
}

/// An opened AWS KMS key.
pub(super) struct AwsKey {
    client: aws_sdk_kms::Client,
    key_id: String,
    algorithm: SigningAlgorithmSpec,
}

impl AwsKey {
    pub(super) async fn open(
        sdk: &aws_config::SdkConfig,
        endpoint: Option<&str>,
        key_id: &str,
    ) -> Result<(Self, PublicKey), KeyError> {
        let client = client(sdk, endpoint, key_id)?;
        let out = client.get_public_key().key_id(key_id).send().await.map_err(|e| sdk_error(e, key_id))?;
        let what = format!("AWS KMS key {key_id}");
        if out.key_usage() != Some(&KeyUsageType::SignVerify) {
            return Err(KeyError::Unsupported {
                what,
                algorithm: format!("key usage {:?} (SIGN_VERIFY is needed)", out.key_usage()),
            });
        }
        let der = out.public_key().ok_or_else(|| KeyError::KmsFailed {
            key: key_id.to_owned(),
            detail: "no public key in the answer".into(),
        })?;
        let public = PublicKey::from_spki_der(der.as_ref(), &what)?;
        // The algorithms ironsign verifies with (keys/mod.rs), as cosign signs with each key type.
        let algorithm = match public.algorithm() {
            KeyAlgorithm::EcdsaP256 => SigningAlgorithmSpec::EcdsaSha256,
            KeyAlgorithm::EcdsaP384 => SigningAlgorithmSpec::EcdsaSha384,
            KeyAlgorithm::Rsa { .. } => SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
        };
        if !out.signing_algorithms().is_empty() && !out.signing_algorithms().contains(&algorithm) {
            return Err(KeyError::Unsupported {
                what,
                algorithm: format!("the key does not offer {}", algorithm.as_str()),
            });
        }
        Ok((AwsKey { client, key_id: key_id.to_owned(), algorithm }, public))
    }

    pub(super) async fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, KeyError> {
        let out = self
            .client
            .sign()
            .key_id(&self.key_id)
            .message(Blob::new(digest))
            .message_type(MessageType::Digest)
            .signing_algorithm(self.algorithm.clone())
            .send()
            .await
            .map_err(|e| sdk_error(e, &self.key_id))?;
        out.signature().map(|s| s.as_ref().to_vec()).ok_or_else(|| KeyError::KmsFailed {
            key: self.key_id.clone(),
            detail: "no signature in the answer".into(),
        })
    }
}

/// `cosign generate-key-pair --kms awskms://…/alias/NAME`: the alias's key when it exists,
/// otherwise a new SIGN_VERIFY key of `kind` with the alias pointing at it.
pub(super) async fn create_key(
    sdk: &aws_config::SdkConfig,
    endpoint: Option<&str>,
    key_id: &str,
    kind: KeyKind,
) -> Result<(), KeyError> {
    let alias = match key_id.find("alias/") {
        Some(at) if key_id.starts_with("alias/") || key_id.starts_with("arn:") => &key_id[at..],
        _ => {
            return Err(KeyError::KmsFailed {
                key: key_id.to_owned(),
                detail: "a key is created under an alias: name it awskms://[ENDPOINT]/alias/NAME".into(),
            });
        }
    };
    let client = client(sdk, endpoint, key_id)?;
    match client.describe_key().key_id(key_id).send().await {
        Ok(_) => return Ok(()),
        Err(e) if e.code() == Some("NotFoundException") => {}
        Err(e) => return Err(sdk_error(e, key_id)),
    }
    let spec = match kind {
        KeyKind::EcdsaP256 => KeySpec::EccNistP256,
        KeyKind::EcdsaP384 => KeySpec::EccNistP384,
        KeyKind::Rsa3072 => KeySpec::Rsa3072,
        KeyKind::Rsa4096 => KeySpec::Rsa4096,
    };
    let created = client
        .create_key()
        .key_spec(spec)
        .key_usage(KeyUsageType::SignVerify)
        .description("Created by ironsign")
        .send()
        .await
        .map_err(|e| sdk_error(e, key_id))?;
    let new_id = created.key_metadata().map(|m| m.key_id().to_owned()).ok_or_else(|| KeyError::KmsFailed {
        key: key_id.to_owned(),
        detail: "CreateKey answered without a key id".into(),
    })?;
    client.create_alias().alias_name(alias).target_key_id(new_id).send().await.map_err(|e| sdk_error(e, key_id))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_arn_names_its_region() {
        assert_eq!(
            arn_region("arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
            Some("us-gov-west-1")
        );
        assert_eq!(arn_region("alias/signer"), None);
        assert_eq!(arn_region("1234abcd-12ab-34cd-56ef-1234567890ab"), None);
    }
}
