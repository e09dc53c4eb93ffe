//! `ironsign pkcs11`: PKCS#11 token helpers (cosign's `pkcs11-tool`).

use crate::args;
use clap::Subcommand;
use ironsign::Error;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum Pkcs11Cmd {
    /// Print the pkcs11: URI of every private key in a token (without the PIN).
    ListKeysUris {
        /// The PKCS#11 module (default: IRONSIGN_PKCS11_MODULE_PATH, then COSIGN_PKCS11_MODULE_PATH).
        #[arg(long = "module-path")]
        module_path: Option<PathBuf>,
        /// The slot.
        #[arg(long = "slot-id")]
        slot_id: Option<u64>,
        /// The token label.
        #[arg(long)]
        token: Option<String>,
    },
}

pub fn run(c: Pkcs11Cmd) -> anyhow::Result<()> {
    match c {
        Pkcs11Cmd::ListKeysUris { module_path, slot_id, token } => {
            let module = module_path.or_else(args::pkcs11_module).ok_or_else(|| {
                anyhow::anyhow!("give --module-path (or set IRONSIGN_PKCS11_MODULE_PATH / COSIGN_PKCS11_MODULE_PATH)")
            })?;
            let pin = args::pkcs11_pin();
            let uris = ironsign::keys::pkcs11::list_key_uris(
                &module,
                slot_id,
                token.as_deref(),
                pin.as_deref().map(|p| p.as_str()),
            )
            .map_err(Error::from)?;
            if uris.is_empty() {
                eprintln!("No private keys found (is the PIN set in IRONSIGN_PKCS11_PIN?)");
            }
            for uri in uris {
                outln!("{}", uri.to_uri_string());
            }
            Ok(())
        }
    }
}
