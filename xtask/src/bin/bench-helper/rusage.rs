//! `bench-helper rusage --out F -- cmd…`: runs `cmd` and writes its own peak RSS and CPU time.
//! Linux copies the spawning process's peak RSS into a child's at exec, so `wait4` in the xtask
//! (which holds hundreds of MiB after making the inputs) floored every workload's figure at the
//! xtask's own; spawned from this small process, the workload's figure is its own.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

#[derive(clap::Args)]
pub struct Args {
    /// Where to write `{"maxrss_kib", "user_s", "sys_s"}`.
    #[arg(long)]
    out: PathBuf,
    /// The workload and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<OsString>,
}

/// Returns the workload's exit code (128 + signal when killed), for this process to exit with.
pub fn run(args: Args) -> anyhow::Result<i32> {
    let (program, rest) = args.command.split_first().expect("clap requires one");
    let child = Command::new(program)
        .args(rest)
        .spawn()
        .with_context(|| format!("starting {program:?}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid out-parameter; the pid is our own unwaited child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let record = serde_json::json!({
        "maxrss_kib": usage.ru_maxrss,
        "user_s": secs(usage.ru_utime),
        "sys_s": secs(usage.ru_stime),
    });
    std::fs::write(&args.out, record.to_string())
        .with_context(|| format!("writing {}", args.out.display()))?;
    Ok(match libc::WIFEXITED(status) {
        true => libc::WEXITSTATUS(status),
        false => 128 + libc::WTERMSIG(status),
    })
}
