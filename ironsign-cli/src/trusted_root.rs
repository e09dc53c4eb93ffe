//! `trusted-root create`: cosign's flags (`--fulcio`/`--tsa` as comma-separated key=value lists,
//! `--out`); the file is the library's ([`ironsign::trusted_root`]).

use crate::args::read_chain;
use anyhow::Context as _;
use clap::{Args, Subcommand};
use ironsign::trusted_root::{Authority, TrustedRootBuilder};
use ironsign::{Error, InputError};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum TrustedRootCmd {
    /// Write a trusted_root.json from private CA and TSA chains, as cosign v3 reads it with
    /// --trusted-root (and ironsign verify too).
    Create(CreateCmd),
}

#[derive(Args)]
pub struct CreateCmd {
    /// A certificate authority: url=URL,certificate-chain=PEM (intermediates, then the root).
    /// Repeat for several.
    #[arg(long = "fulcio", value_name = "SPEC")]
    fulcio: Vec<String>,
    /// A timestamp authority: url=URL,certificate-chain=PEM (its certificate, intermediates, root).
    #[arg(long = "tsa", value_name = "SPEC")]
    tsa: Vec<String>,
    /// Refused: ironsign verifies against no transparency log.
    #[arg(long = "rekor", value_name = "SPEC", hide = true)]
    rekor: Vec<String>,
    /// Refused: ironsign checks no certificate transparency log.
    #[arg(long = "ctfe", value_name = "SPEC", hide = true)]
    ctfe: Vec<String>,
    /// Write here (default: standard output).
    #[arg(long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
}

/// One `--fulcio`/`--tsa` value: `url=…,certificate-chain=…`; a time window is refused (ironsign
/// does not enforce one), and so is any other key.
fn authority(spec: &str, flag: &str) -> Result<Authority, Error> {
    let invalid = |reason: String| InputError::InvalidArgument { name: flag.into(), reason };
    let (mut uri, mut chain) = (None, None);
    for pair in spec.split(',') {
        match pair.split_once('=') {
            Some(("url", v)) => uri = Some(v.to_owned()),
            Some(("certificate-chain", v)) => chain = Some(read_chain(std::path::Path::new(v))?),
            Some((k @ ("start-time" | "end-time"), _)) => {
                return Err(invalid(format!(
                    "{k}: ironsign does not enforce validity windows (the certificates' own validity applies)"
                ))
                .into());
            }
            _ => return Err(invalid(format!("{pair:?} is not url=… or certificate-chain=…")).into()),
        }
    }
    Ok(Authority {
        uri: uri.ok_or_else(|| invalid(format!("{spec:?} has no url=")))?,
        chain: chain.ok_or_else(|| invalid(format!("{spec:?} has no certificate-chain=")))?,
    })
}

pub fn trusted_root(c: TrustedRootCmd) -> anyhow::Result<()> {
    let TrustedRootCmd::Create(c) = c;
    for (flag, given) in [("--rekor", &c.rekor), ("--ctfe", &c.ctfe)] {
        if !given.is_empty() {
            return Err(Error::from(InputError::InvalidArgument {
                name: flag.into(),
                reason: "ironsign verifies against no transparency or CT log".into(),
            })
            .into());
        }
    }
    let mut builder = TrustedRootBuilder::default();
    for spec in &c.fulcio {
        builder = builder.certificate_authority(authority(spec, "--fulcio")?)?;
    }
    for spec in &c.tsa {
        builder = builder.timestamp_authority(authority(spec, "--tsa")?)?;
    }
    let json = builder.to_json()?;
    match &c.out {
        Some(path) => std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?,
        None => out!("{json}"),
    }
    Ok(())
}
