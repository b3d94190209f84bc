//! How a command fails: one message and an exit code a scheduler can act on.

use graph_extract::ExtractError;

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad configuration or authentication: exit 2.
    #[error("{}", chain(.0))]
    Config(anyhow::Error),
    /// The run finished and landed, but skipped streams or parents under `--strict`: exit 3.
    #[error("{0}")]
    SkippedUnderStrict(String),
    /// Anything else: exit 1.
    #[error("{}", chain(.0))]
    Other(anyhow::Error),
    /// Stopped by a signal before the commit: exit 128 + its number.
    #[error(
        "interrupted by {}: nothing of this run was committed (its uploads were aborted); \
         the next run starts from the last committed one",
        .0.name()
    )]
    Interrupted(arrow_sink::signal::Interrupt),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Other(_) => 1,
            Failure::Config(_) => 2,
            Failure::SkippedUnderStrict(_) => 3,
            Failure::Interrupted(signal) => signal.exit_code(),
        }
    }
}

impl From<ExtractError> for Failure {
    fn from(err: ExtractError) -> Self {
        let auth = match &err {
            ExtractError::Config(_) | ExtractError::Plan(_) => true,
            ExtractError::Auth(e) => e.is_permanent(),
            ExtractError::StreamsFailed(stats) => stats.failed_on_credentials(),
            _ => false,
        };
        if auth {
            Failure::Config(err.into())
        } else {
            Failure::Other(err.into())
        }
    }
}

/// The error and its causes on one line, leaving out causes whose text the message already
/// carries (many errors repeat their source in their own message).
fn chain(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let err = anyhow::Error::new(io).context("reading x.json: No such file");
        let err = err.context("config file x.json");
        assert_eq!(
            Failure::Config(err).to_string(),
            "config file x.json: reading x.json: No such file"
        );
    }
}
