//! `copy`, `save` and `load`: flags in, library calls (`ironsign::transfer`), output.

use crate::args::RegistryArgs;
use crate::{Output, parse_ref};
use ironsign::transfer::{self, Selection, TransferOptions, TransferProgress, TransferReport};
use ironsign::{Error, InputError};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct TransferFlags {
    /// Copy only these attachments, not the image: sig, att, sbom, referrer (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "KINDS")]
    only: Vec<String>,
    /// Overwrite destination tags (the image's or an attachment's) that point elsewhere.
    #[arg(long, short = 'f')]
    force: bool,
    /// Most blobs copied at once.
    #[arg(long = "max-workers", default_value_t = 4)]
    max_workers: usize,
}

impl TransferFlags {
    fn options(&self) -> Result<TransferOptions, Error> {
        let selection = if self.only.is_empty() { Selection::default() } else { Selection::only(&self.only)? };
        Ok(TransferOptions {
            selection,
            force: self.force,
            max_workers: self.max_workers,
            progress: progress(),
            ..Default::default()
        })
    }
}

#[derive(clap::Args)]
pub struct CopyCmd {
    /// The image to copy: REGISTRY/REPO[:TAG|@DIGEST] or oci:DIR[:TAG|@DIGEST].
    source: String,
    /// Where to: REGISTRY/REPO[:TAG] or oci:DIR[:TAG] (without a tag, the source's, else latest).
    destination: String,
    #[command(flatten)]
    flags: TransferFlags,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Output,
}

#[derive(clap::Args)]
pub struct SaveCmd {
    /// The image to save.
    image: String,
    /// Write an OCI image layout into this directory (cosign save's format).
    #[arg(long, value_name = "DIR", required_unless_present = "tar", conflicts_with = "tar")]
    dir: Option<PathBuf>,
    /// Write the layout as one tar file instead.
    #[arg(long, value_name = "FILE")]
    tar: Option<PathBuf>,
    #[command(flatten)]
    flags: TransferFlags,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Output,
}

#[derive(clap::Args)]
pub struct LoadCmd {
    /// Where to push the saved image: REGISTRY/REPO[:TAG] (without a tag, the saved one, else latest).
    destination: String,
    /// The OCI image layout to read (written by ironsign save or cosign save).
    #[arg(long, value_name = "DIR", required_unless_present = "tar", conflicts_with = "tar")]
    dir: Option<PathBuf>,
    /// Read the layout from this tar file instead.
    #[arg(long, value_name = "FILE")]
    tar: Option<PathBuf>,
    #[command(flatten)]
    flags: TransferFlags,
    #[command(flatten)]
    registry: RegistryArgs,
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub output: Output,
}

pub async fn copy(c: CopyCmd) -> anyhow::Result<()> {
    let (source, destination) = (parse_ref(&c.source)?, parse_ref(&c.destination)?);
    let client = c.registry.client(&[&source, &destination])?;
    let report = transfer::copy(&client, &source, &destination, &c.flags.options()?).await?;
    print_report(&report, c.output, "Copied")
}

pub async fn save(c: SaveCmd) -> anyhow::Result<()> {
    let image = parse_ref(&c.image)?;
    let client = c.registry.client(&[&image])?;
    let options = c.flags.options()?;
    let report = match (&c.dir, &c.tar) {
        (Some(dir), _) => transfer::save(&client, &image, dir, &options).await?,
        (None, Some(tar)) => {
            // The layout is staged beside the tar file: same file system, no copy across.
            let scratch = tar.parent().filter(|p| !p.as_os_str().is_empty()).map(PathBuf::from);
            let scratch = scratch.unwrap_or_else(|| PathBuf::from("."));
            transfer::save_tar(&client, &image, tar, &scratch, &options).await?
        }
        (None, None) => return Err(missing_dir().into()),
    };
    print_report(&report, c.output, "Saved")
}

pub async fn load(c: LoadCmd) -> anyhow::Result<()> {
    let destination = parse_ref(&c.destination)?;
    let client = c.registry.client(&[&destination])?;
    let options = c.flags.options()?;
    let report = match (&c.dir, &c.tar) {
        (Some(dir), _) => transfer::load(&client, dir, &destination, &options).await?,
        (None, Some(tar)) => transfer::load_tar(&client, tar, &std::env::temp_dir(), &destination, &options).await?,
        (None, None) => return Err(missing_dir().into()),
    };
    print_report(&report, c.output, "Loaded")
}

fn missing_dir() -> Error {
    InputError::InvalidArgument { name: "--dir/--tar".into(), reason: "give one of them".into() }.into()
}

fn print_report(report: &TransferReport, output: Output, verb: &str) -> anyhow::Result<()> {
    match output {
        Output::Json => outln!("{}", serde_json::to_string_pretty(report)?),
        Output::Text => {
            for a in &report.attachments {
                let what = a.tag.clone().unwrap_or_else(|| format!("referrer {}", a.digest));
                let state = if a.copied { "copied" } else { "already there" };
                eprintln!("  {} {what} of {} ({state})", a.kind, a.subject);
            }
            let target = match &report.tag {
                Some(t) => format!("{}:{t}", report.destination),
                None => report.destination.clone(),
            };
            let what =
                if report.image { report.digest.to_string() } else { format!("attachments of {}", report.digest) };
            eprintln!(
                "{verb} {what} to {target}: {} manifests written ({} already there), {} blobs copied, {} mounted, {} already there, {}",
                report.manifests.copied,
                report.manifests.skipped,
                report.blobs.copied,
                report.blobs.mounted,
                report.blobs.skipped,
                human_bytes(report.bytes_copied)
            );
        }
    }
    Ok(())
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.2} GiB", n as f64 / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}

/// A progress line on stderr, only on a terminal.
fn progress() -> Option<transfer::TransferProgressFn> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(Arc::new(|p: &TransferProgress| {
        let mut err = std::io::stderr().lock();
        let _ = match p.phase {
            "blobs" => write!(
                err,
                "\r\x1b[2Kblobs {}/{}, {} of {}",
                p.done,
                p.total,
                human_bytes(p.bytes),
                human_bytes(p.total_bytes)
            ),
            phase => write!(err, "\r\x1b[2K{phase} {}/{}", p.done, p.total),
        };
        if p.phase == "manifests" && p.done == p.total {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = err.flush();
    }))
}
