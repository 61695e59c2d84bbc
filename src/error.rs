//! The one error type of the library.
//!
//! Every failure carries a [`ErrorKind`] (which the C ABI maps to a stable status number) and a
//! one-line message that says what failed and where. Messages never contain a password or a
//! token: the types that hold secrets ([`crate::auth::Secret`]) cannot be formatted.

use std::fmt;

/// What kind of failure happened; stable enough for callers to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// An argument was malformed (bad option value, empty string, ...).
    InvalidArgument,
    /// The destination reference could not be parsed.
    InvalidReference,
    /// The source image could not be read or is not a valid image.
    InvalidSource,
    /// A blob or manifest in the source does not match its digest or size.
    DigestMismatch,
    /// The registry refused the credentials (HTTP 401 after authenticating).
    Unauthorized,
    /// The registry understood who we are and refused the operation (HTTP 403).
    Denied,
    /// The TLS handshake failed (unknown authority, name mismatch, expired certificate...).
    Tls,
    /// The registry could not be reached (DNS, connection refused, reset, timeout).
    Network,
    /// The registry answered with an error not covered above.
    Registry,
    /// The caller cancelled the operation.
    Cancelled,
    /// A local I/O error outside the source image.
    Io,
    /// A bug: something that should not happen did.
    Internal,
}

/// An error with a kind and a one-line, secret-free message.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    retry: Retry,
}

/// Whether trying again may help, as the failure itself tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// A permanent failure (bad input, 400, 403, 404...): fail at once.
    No,
    /// A transient failure (connection reset, timeout, 408, 429, 5xx), optionally with the
    /// delay the server asked for in `Retry-After`.
    Yes(Option<std::time::Duration>),
    /// The request body was too large for the registry or a proxy in front of it (413).
    TooLarge,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let message: String = message.into();
        // One line, always: callers print this as-is.
        let message = message.replace(['\n', '\r'], " ");
        let retry = if kind == ErrorKind::Network {
            Retry::Yes(None)
        } else {
            Retry::No
        };
        Error {
            kind,
            message,
            retry,
        }
    }

    pub(crate) fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    pub(crate) fn retry(&self) -> Retry {
        self.retry
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    pub fn invalid_source(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidSource, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// Prefixes the message with context (`"{context}: {message}"`), keeping the kind.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error {
            message: format!("{context}: {}", self.message),
            ..self
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}: {})", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The part of an I/O error worth showing, without Rust's "(os error 2)" noise.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}
