//! One measured child process (wall time, peak RSS, CPU time via `wait4`) and the
//! median/min/max summary of repeated runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub wall_s: f64,
    /// Peak resident set of the child (and any children it waited for), in MiB.
    pub peak_rss_mib: f64,
    pub user_s: f64,
    pub sys_s: f64,
    /// `(seconds since start, RSS MiB)` every sample interval, when sampling was asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rss_timeline: Vec<(f64, f64)>,
    /// The child's stdout parsed as JSON when it printed one object, else null.
    pub output: serde_json::Value,
}

impl Measured {
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.sys_s
    }
}

/// `bench-helper`, once built: every workload then runs under `bench-helper rusage`, because
/// `wait4` here would report at least this process's own peak RSS for every child.
static RUSAGE_WRAPPER: OnceLock<PathBuf> = OnceLock::new();

pub fn use_rusage_wrapper(bench_helper: PathBuf) {
    let _ = RUSAGE_WRAPPER.set(bench_helper);
}

/// Runs `cmd` to completion; stderr goes to `log`. Fails on a non-zero exit, quoting the log tail.
pub fn run(cmd: &mut Command, log: &Path, sample: Option<Duration>) -> anyhow::Result<Measured> {
    run_inner(cmd, Stdio::null(), log, sample)
}

/// Like [`run`], with `stdin` as the workload's standard input.
pub fn run_with_stdin(
    cmd: &mut Command,
    stdin: std::fs::File,
    log: &Path,
) -> anyhow::Result<Measured> {
    run_inner(cmd, Stdio::from(stdin), log, None)
}

/// `cmd` as `bench-helper rusage --out <rusage> -- cmd…`, with its environment and directory.
fn wrapped(cmd: &Command, wrapper: &Path, rusage: &Path) -> Command {
    let mut outer = Command::new(wrapper);
    outer
        .arg("rusage")
        .arg("--out")
        .arg(rusage)
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => outer.env(key, value),
            None => outer.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        outer.current_dir(dir);
    }
    outer
}

fn run_inner(
    cmd: &mut Command,
    stdin: Stdio,
    log: &Path,
    sample: Option<Duration>,
) -> anyhow::Result<Measured> {
    let rusage_path = log.with_extension("rusage");
    let _ = std::fs::remove_file(&rusage_path);
    let mut outer = RUSAGE_WRAPPER
        .get()
        .map(|wrapper| wrapped(cmd, wrapper, &rusage_path));
    let wrapped_run = outer.is_some();
    let cmd = outer.as_mut().unwrap_or(cmd);
    cmd.stdin(stdin);
    let log_file =
        std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut stdout_path = log.to_path_buf();
    stdout_path.set_extension("stdout");
    let stdout = std::fs::File::create(&stdout_path)?;
    let started = Instant::now();
    let child = cmd
        .stdout(stdout)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    let pid = child.id() as libc::pid_t;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample.map(|every| {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || sample_rss(pid, wrapped_run, every, started, &stop))
    });
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid out-parameter; the pid is our own unwaited child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let rss_timeline = sampler
        .map(|h| h.join().unwrap_or_default())
        .unwrap_or_default();
    if waited != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    let exited_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !exited_ok {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{:?} failed (wait status {status}); log {}:\n{}",
            cmd.get_program(),
            log.display(),
            tail.join("\n")
        );
    }
    let text = std::fs::read_to_string(&stdout_path)?;
    let output = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or(serde_json::Value::Null);
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    // Linux reports ru_maxrss in KiB.
    let (mut peak_kib, mut user_s, mut sys_s) = (
        usage.ru_maxrss as f64,
        secs(usage.ru_utime),
        secs(usage.ru_stime),
    );
    if wrapped_run {
        let text = std::fs::read_to_string(&rusage_path)
            .with_context(|| format!("reading {}", rusage_path.display()))?;
        let own: serde_json::Value = serde_json::from_str(&text)?;
        let field = |name: &str| own[name].as_f64().context("rusage record lacks a field");
        (peak_kib, user_s, sys_s) = (field("maxrss_kib")?, field("user_s")?, field("sys_s")?);
    }
    Ok(Measured {
        wall_s: wall.as_secs_f64(),
        peak_rss_mib: peak_kib / 1024.0,
        user_s,
        sys_s,
        rss_timeline,
        output,
    })
}

/// Samples the workload's RSS: `pid` itself, or the one child of the `bench-helper rusage` at `pid`.
fn sample_rss(
    pid: libc::pid_t,
    wrapped: bool,
    every: Duration,
    started: Instant,
    stop: &AtomicBool,
) -> Vec<(f64, f64)> {
    let mut path = (!wrapped).then(|| format!("/proc/{pid}/status"));
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let Some(status_path) = &path else {
            let children = format!("/proc/{pid}/task/{pid}/children");
            let child = std::fs::read_to_string(children).unwrap_or_default();
            path = child
                .split_whitespace()
                .next()
                .map(|c| format!("/proc/{c}/status"));
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        let Ok(status) = std::fs::read_to_string(status_path) else {
            break;
        };
        if let Some(kib) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        {
            samples.push((started.elapsed().as_secs_f64(), kib / 1024.0));
        }
        std::thread::sleep(every);
    }
    samples
}

/// Median, min and max of one figure over the runs.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Spread {
        let mut v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() {
            return Spread {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            };
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[v.len() - 1],
        }
    }

    /// `median (min–max)` with `digits` decimals.
    pub fn show(&self, digits: usize) -> String {
        format!(
            "{:.d$} ({:.d$}–{:.d$})",
            self.median,
            self.min,
            self.max,
            d = digits
        )
    }
}

/// A command line as a shell would take it, for the report (paths relative to `root`).
pub fn shell_line(cmd: &Command, root: &Path) -> String {
    let rel = |s: &str| {
        let root = format!("{}/", root.display());
        s.strip_prefix(&root).unwrap_or(s).to_string()
    };
    let mut parts: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_str()?, rel(v?.to_str()?))))
        .collect();
    parts.push(rel(&cmd.get_program().to_string_lossy()));
    for arg in cmd.get_args() {
        let arg = rel(&arg.to_string_lossy());
        if arg.is_empty() || arg.contains([' ', '\'', '"', '(', ')', '*', '$', ';']) {
            parts.push(format!("'{}'", arg.replace('\'', r"'\''")));
        } else {
            parts.push(arg);
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_the_middle_and_the_ends() {
        let s = Spread::of([5.0, 1.0, 3.0, 4.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
        assert_eq!(Spread::of([4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert!(Spread::of([]).median.is_nan());
        assert_eq!(Spread::of([1.0, 2.0, 3.0]).show(1), "2.0 (1.0–3.0)");
    }

    #[test]
    fn measured_child_reports_its_own_peak_rss_and_exit() {
        let dir = tempfile::tempdir().unwrap();
        // python allocates ~200 MiB and touches it; the shell around it stays small.
        let m = run(
            Command::new("python3").args([
                "-c",
                "b = bytearray(200 * 1024 * 1024); print('{\"ok\": 1}')",
            ]),
            &dir.path().join("alloc.log"),
            Some(Duration::from_millis(5)),
        )
        .unwrap();
        assert!(m.peak_rss_mib > 190.0, "{m:?}");
        assert!(m.peak_rss_mib < 400.0, "{m:?}");
        assert_eq!(m.output["ok"], 1);
        let failed = run(
            Command::new("sh").args(["-c", "echo broken >&2; exit 3"]),
            &dir.path().join("fail.log"),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(failed.contains("broken"), "{failed}");
    }

    #[test]
    fn shell_lines_are_relative_and_quoted() {
        let mut cmd = Command::new("/repo/target/release/bench-helper");
        cmd.args(["sink", "--out", "/repo/x", "SELECT * FROM t"])
            .env("A", "/repo/b");
        assert_eq!(
            shell_line(&cmd, Path::new("/repo")),
            "A=b target/release/bench-helper sink --out x 'SELECT * FROM t'"
        );
    }
}
