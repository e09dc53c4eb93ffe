//! Standard output for results. A reader that closes the pipe early (`ironsign … | head -c 300`)
//! has read all it wanted, which is not a failure: what is left to print is dropped and the exit
//! status stays the command's own (a verification that failed still fails, one that passed still
//! passes). Any other write error fails the command. Rust ignores SIGPIPE, so without this
//! `println!` would panic and a `writeln!` would end the run with "Broken pipe".

use std::io::Write as _;

/// Writes formatted text to standard output and flushes it, a closed pipe being done.
pub(crate) fn write(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    closed_is_done(out.write_fmt(args).and_then(|()| out.flush()))
}

/// Writes bytes to standard output and flushes them, a closed pipe being done.
pub(crate) fn write_bytes(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    closed_is_done(out.write_all(bytes).and_then(|()| out.flush()))
}

/// `Ok` for a write that failed only because the reader closed the pipe.
pub(crate) fn closed_is_done<T>(result: std::io::Result<T>) -> std::io::Result<()> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e),
    }
}

/// `println!` for results: see the module documentation. Returns early with any other error.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!("{}\n", format_args!($($arg)*)))?
    };
}

/// `print!` for results: see [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!($($arg)*))?
    };
}
