//! Retrying transient failures: exponential backoff with jitter, `Retry-After`, and bounds on
//! both the number of attempts and the total time spent.

use crate::error::{Error, Result, Retry};
use std::future::Future;
use std::time::{Duration, Instant};

/// How hard to try before giving up on one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// No new attempt starts after this much time since the first.
    pub max_elapsed: Duration,
    /// The first backoff; it doubles with each attempt.
    pub base_delay: Duration,
    /// The longest single backoff (and the most a `Retry-After` is honoured for).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            max_elapsed: Duration::from_secs(120),
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1` (attempt counts from 1): full jitter over an
    /// exponential ceiling, or what the server asked for.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            // What the server asked for is a minimum; up to half again, at random, keeps
            // concurrent uploads from all coming back in the same instant.
            let asked = asked.min(self.max_delay);
            return asked + asked.mul_f64(fastrand::f64() / 2.0);
        }
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        // Half fixed, half random: spreads concurrent retries without ever retrying at once.
        let half = ceiling / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// The attempts made at one operation, for loops that must do more than repeat a request
/// between tries (an upload asks the registry where it stands first).
pub struct Attempts<'p> {
    policy: &'p RetryPolicy,
    started: Instant,
    made: u32,
}

impl<'p> Attempts<'p> {
    pub fn new(policy: &'p RetryPolicy) -> Attempts<'p> {
        Attempts {
            policy,
            started: Instant::now(),
            made: 0,
        }
    }

    /// Counts a failed attempt. For a transient `error` within the policy's bounds this waits
    /// the backoff and returns `Ok(())`: try again. Otherwise it returns the error to give up
    /// with. `Retry::TooLarge` errors come back at once: they need a smaller request, not the
    /// same one again.
    pub async fn failed(&mut self, error: Error) -> Result<()> {
        self.made += 1;
        let Retry::Yes(retry_after) = error.retry() else {
            return Err(error);
        };
        let delay = self.policy.delay(self.made, retry_after);
        if self.made >= self.policy.max_attempts
            || self.started.elapsed() + delay > self.policy.max_elapsed
        {
            return Err(gave_up(error, self.made));
        }
        tokio::time::sleep(delay).await;
        Ok(())
    }
}

/// Runs `op` until it succeeds, fails permanently, or the policy is exhausted. `op` gets the
/// attempt number (from 1).
pub async fn retrying<T, F, Fut>(policy: &RetryPolicy, mut op: F) -> Result<T>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempts = Attempts::new(policy);
    loop {
        match op(attempts.made + 1).await {
            Ok(value) => return Ok(value),
            Err(e) => attempts.failed(e).await?,
        }
    }
}

fn gave_up(error: Error, attempts: u32) -> Error {
    if attempts > 1 {
        let message = format!("{} (gave up after {attempts} attempts)", error.message());
        Error::new(error.kind(), message).with_retry(Retry::No)
    } else {
        error
    }
}

/// Parses `Retry-After` in its seconds form; the HTTP-date form falls back to our backoff.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quick() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            max_elapsed: Duration::from_secs(5),
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        }
    }

    #[tokio::test]
    async fn retries_transient_until_success() {
        let calls = AtomicU32::new(0);
        let got = retrying(&quick(), |_| async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(Error::new(ErrorKind::Network, "reset"))
            } else {
                Ok(7)
            }
        })
        .await
        .unwrap();
        assert_eq!(got, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn permanent_errors_fail_at_once() {
        let calls = AtomicU32::new(0);
        let err = retrying(&quick(), |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Error::new(ErrorKind::Denied, "denied"))
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Denied);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn attempts_are_bounded() {
        let calls = AtomicU32::new(0);
        let err = retrying(&quick(), |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Error::new(ErrorKind::Network, "down"))
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert!(err.message().contains("gave up after 4 attempts"), "{err}");
    }

    #[test]
    fn delays_grow_and_honour_retry_after() {
        let p = RetryPolicy::default();
        for attempt in 1..10 {
            let d = p.delay(attempt, None);
            assert!(d <= p.max_delay, "{d:?}");
        }
        assert!(p.delay(1, None) <= Duration::from_millis(200));
        let asked = p.delay(1, Some(Duration::from_secs(3)));
        assert!(asked >= Duration::from_secs(3) && asked <= Duration::from_millis(4500));
        let capped = p.delay(1, Some(Duration::from_secs(300)));
        assert!(capped >= p.max_delay && capped <= p.max_delay.mul_f64(1.5));
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
