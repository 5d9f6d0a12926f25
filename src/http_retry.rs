//! The retry loop both API clients (GitHub's, GitLab's) send idempotent requests through:
//! bounded, with a wait each answer chooses (the server's `Retry-After`, a rate limit's reset,
//! or a doubling backoff), and a failure explained with how many attempts it took.

use std::future::Future;
use std::time::Duration;

/// How long to wait between attempts, and how many to make.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// The first wait after a failed connection (doubled each time).
    pub backoff: Duration,
    /// The longest single wait, whatever the server asks for.
    pub max_wait: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
}

impl Policy {
    /// The doubling backoff before retry `attempt` (0-based), capped.
    #[must_use]
    pub fn backoff(&self, attempt: u32) -> Duration {
        (self.backoff * 2u32.saturating_pow(attempt)).min(self.max_wait)
    }
}

/// Send with `attempt` until an answer needs no retry (`wait` says `None`) or the retries run
/// out; the last answer is returned for the caller to explain, like any other. A connection
/// failure is retried after the backoff.
///
/// # Errors
/// The last connection failure, with the number of attempts made.
pub async fn send<R, Attempt, Sent>(
    policy: &Policy,
    mut attempt: Attempt,
    wait: impl Fn(&R, u32) -> Option<Duration>,
) -> Result<R, String>
where
    Attempt: FnMut() -> Sent,
    Sent: Future<Output = Result<R, String>>,
{
    let mut tries = 0;
    loop {
        let outcome = attempt().await;
        let pause = match &outcome {
            Ok(response) => wait(response, tries).map(|pause| pause.min(policy.max_wait)),
            Err(_) => Some(policy.backoff(tries)),
        };
        match (outcome, pause) {
            (_, Some(pause)) if tries < policy.max_retries => {
                tokio::time::sleep(pause).await;
                tries += 1;
            }
            (Ok(response), _) => return Ok(response),
            (Err(message), _) => {
                return Err(format!("{message} (after {} attempts)", tries + 1));
            }
        }
    }
}
