//! The signals that end a run early (Ctrl-C, a scheduler's SIGTERM), so the binaries can abort
//! the run — its multipart uploads aborted, its lease given back — instead of dying mid-upload.

/// Which signal asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (a scheduler or `kill`).
    Terminate,
}

impl Interrupt {
    /// The signal's name: `SIGINT` or `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            Interrupt::Interrupt => "SIGINT",
            Interrupt::Terminate => "SIGTERM",
        }
    }

    /// The shell's convention: 128 + the signal's number.
    pub fn exit_code(self) -> u8 {
        match self {
            Interrupt::Interrupt => 130,
            Interrupt::Terminate => 143,
        }
    }
}

/// Resolves at the first SIGINT or SIGTERM. From its first poll the process no longer dies of
/// them, so create it only around the work that must be aborted cleanly. Never resolves when
/// the handlers cannot be installed (the default, dying, stays).
pub async fn interrupted() -> Interrupt {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => Interrupt::Interrupt,
            _ = term.recv() => Interrupt::Terminate,
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => Interrupt::Interrupt,
            Err(_) => std::future::pending().await,
        }
    }
}
