//! Running an allowlisted program with templated arguments, never through a
//! shell, with a cleared environment and a timeout that kills the child.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use super::{CommandTarget, allowlisted};
use crate::config::ConfigError;
use crate::delivery::DeliveryError;
use crate::template::Template;
use tocsin_processors::Decision;

/// How much of a failed command's stderr goes into the reason.
pub const STDERR_TAIL_CHARS: usize = 500;

/// sysexits.h `EX_TEMPFAIL`: the program asks to be tried again.
const EX_TEMPFAIL: i32 = 75;

#[derive(Debug)]
pub(super) struct CommandRunner {
    program: PathBuf,
    args: Vec<Template>,
    timeout: Duration,
}

impl CommandRunner {
    pub(super) fn new(
        sink: &str,
        t: &CommandTarget,
        allowlist: &[PathBuf],
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        if !t.program.is_absolute() {
            return Err(ConfigError::setting(
                sink,
                format!("program {} must be an absolute path", t.program.display()),
            ));
        }
        if !allowlisted(&t.program, allowlist) {
            return Err(ConfigError::setting(
                sink,
                format!(
                    "program {} is not on the command allowlist",
                    t.program.display()
                ),
            ));
        }
        let args = t
            .args
            .iter()
            .map(|a| Template::new(a).map_err(|e| ConfigError::template(sink, e)))
            .collect::<Result<_, _>>()?;
        Ok(CommandRunner {
            program: t.program.clone(),
            args,
            timeout,
        })
    }

    /// The program and rendered arguments. Arguments with NUL or line breaks
    /// are refused: they would be truncated by `execve` or smuggle extra
    /// lines into tools that read line-oriented input.
    pub(super) fn argv(&self, decision: &Decision) -> Result<Vec<String>, DeliveryError> {
        let mut argv = Vec::with_capacity(self.args.len() + 1);
        argv.push(self.program.display().to_string());
        for (i, t) in self.args.iter().enumerate() {
            let a = t.render(decision)?;
            if a.contains(['\0', '\n', '\r']) {
                return Err(DeliveryError::Permanent {
                    reason: format!("argument {} contains NUL or a line break", i + 1),
                });
            }
            argv.push(a);
        }
        Ok(argv)
    }

    pub(super) async fn run(
        &self,
        decision: &Decision,
        argv: &[String],
    ) -> Result<(), DeliveryError> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(argv.iter().skip(1))
            .env_clear()
            .env("TOCSIN_DECISION_ID", &decision.id)
            .env("TOCSIN_DEDUP_KEY", &decision.dedup_key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Dropping the wait on timeout drops the child, which kills it.
            .kill_on_drop(true);
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        let child = spawn(&mut cmd, &self.program).await?;
        let out = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                return Err(DeliveryError::Retryable {
                    reason: format!("wait for {}: {e}", self.program.display()),
                    retry_after: None,
                });
            }
            Err(_) => {
                return Err(DeliveryError::Retryable {
                    reason: format!(
                        "{} timed out after {:?} and was killed",
                        self.program.display(),
                        self.timeout
                    ),
                    retry_after: None,
                });
            }
        };
        let tail = stderr_tail(&out.stderr);
        match out.status.code() {
            Some(0) => Ok(()),
            Some(EX_TEMPFAIL) => Err(DeliveryError::Retryable {
                reason: format!("exit 75 (EX_TEMPFAIL): {tail}"),
                retry_after: None,
            }),
            Some(code) => Err(DeliveryError::Permanent {
                reason: format!("exit {code}: {tail}"),
            }),
            None => Err(DeliveryError::Permanent {
                reason: format!("killed by a signal: {tail}"),
            }),
        }
    }
}

/// Spawns, retrying briefly on `ETXTBSY`: the program file is still open for
/// writing somewhere (being replaced by a deploy, or inherited by a
/// concurrent fork), which passes within milliseconds.
async fn spawn(
    cmd: &mut tokio::process::Command,
    program: &std::path::Path,
) -> Result<tokio::process::Child, DeliveryError> {
    let mut attempts = 0;
    loop {
        match cmd.spawn() {
            Ok(child) => return Ok(child),
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 5 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                return Err(DeliveryError::Retryable {
                    reason: format!("spawn {}: {e}", program.display()),
                    retry_after: None,
                });
            }
            Err(e) => {
                return Err(DeliveryError::Permanent {
                    reason: format!("spawn {}: {e}", program.display()),
                });
            }
        }
    }
}

/// The last [`STDERR_TAIL_CHARS`] characters, where the error usually is.
fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let text = text.trim_end();
    let n = text.chars().count();
    text.chars()
        .skip(n.saturating_sub(STDERR_TAIL_CHARS))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end() {
        let long = format!("{}END\n", "x".repeat(1000));
        let t = stderr_tail(long.as_bytes());
        assert_eq!(t.chars().count(), STDERR_TAIL_CHARS);
        assert!(t.ends_with("END"));
        assert_eq!(stderr_tail(b"short\n"), "short");
    }
}
