//! Docker credential helpers: `docker-credential-<name> get|store`, with the server URL (or a
//! JSON credentials object) on stdin and JSON on stdout, as docker-credential-helpers defines.
//!
//! A helper is found on the `PATH` given in the [`Environment`](super::Environment), runs with
//! a deadline, and its failures become one-line errors that name the helper. What a helper
//! prints is never echoed on success (it holds the secret); on failure at most one short line
//! of it is shown, and never a line that could hold a credential.

use crate::auth::{Credentials, Secret};
use crate::error::{Error, ErrorKind, Result};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The message helpers print (on stdout, exiting non-zero) when they hold nothing for a server.
const NOT_FOUND: &str = "credentials not found";
/// Helper output beyond this is not read.
const MAX_OUTPUT: usize = 64 * 1024;
/// How much of a failing helper's message an error shows.
const MAX_SHOWN: usize = 160;

/// `docker-credential-<name>`
pub fn program_name(helper: &str) -> String {
    format!("docker-credential-{helper}")
}

/// Finds `docker-credential-<name>` on `path` (a `PATH`-style list).
fn find_program(helper: &str, path: Option<&OsStr>) -> Result<PathBuf> {
    let name = program_name(helper);
    if helper.is_empty() || helper.contains('/') {
        return Err(Error::invalid_argument(format!(
            "invalid credential helper name {helper:?}"
        )));
    }
    if let Some(path) = path {
        // Only absolute directories, as Go's exec.LookPath (docker's) takes them: an empty or
        // relative PATH entry would run a program from wherever the user happens to be.
        for dir in std::env::split_paths(path).filter(|d| d.is_absolute()) {
            let candidate = dir.join(&name);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    Err(Error::new(
        ErrorKind::Io,
        format!("credential helper {name} is not installed: it is not in PATH"),
    ))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

struct Output {
    success: bool,
    stdout: Zeroizing<Vec<u8>>,
    stderr: Zeroizing<Vec<u8>>,
}

/// Runs `helper action` with `input` on stdin, waiting at most `timeout`.
fn run(
    helper: &str,
    action: &str,
    input: &[u8],
    path: Option<&OsStr>,
    timeout: Duration,
) -> Result<Output> {
    let name = program_name(helper);
    let program = find_program(helper, path)?;
    let mut command = Command::new(&program);
    command
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let mut child = command.spawn().map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!(
                "cannot run credential helper {name}: {}",
                crate::error::io_reason(&e)
            ),
        )
    })?;
    // Small inputs fit the pipe buffer; a helper that never reads them just gets EPIPE.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                // The reader threads end when the helper's children close the pipes.
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "credential helper {name} did not answer within {} s",
                        timeout.as_secs_f32()
                    ),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "waiting for credential helper {name}: {}",
                        crate::error::io_reason(&e)
                    ),
                ))
            }
        }
    };
    // The helper has exited; its output is complete unless a child of it keeps the pipe
    // open, so give the readers until the deadline.
    let collect = |rx: std::sync::mpsc::Receiver<Vec<u8>>| {
        let left = deadline.saturating_duration_since(Instant::now());
        Zeroizing::new(
            rx.recv_timeout(left.max(Duration::from_millis(100)))
                .unwrap_or_default(),
        )
    };
    Ok(Output {
        success: status.success(),
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(pipe) = pipe {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.take(MAX_OUTPUT as u64).read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    } else {
        let _ = tx.send(Vec::new());
    }
    rx
}

/// What a helper said about a server.
pub enum Lookup {
    Found(Credentials),
    NotFound,
}

/// `docker-credential-<helper> get` for `server_url`.
pub fn get(
    helper: &str,
    server_url: &str,
    path: Option<&OsStr>,
    timeout: Duration,
) -> Result<Lookup> {
    let name = program_name(helper);
    let out = run(helper, "get", server_url.as_bytes(), path, timeout)?;
    if !out.success {
        if says_not_found(&out.stdout) || says_not_found(&out.stderr) {
            return Ok(Lookup::NotFound);
        }
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "credential helper {name} failed for {server_url}{}",
                shown_message(&out, None)
            ),
        ));
    }
    parse_get_output(&out.stdout).map_err(|why| {
        Error::new(
            ErrorKind::Io,
            format!("credential helper {name} answered for {server_url} with {why}"),
        )
    })
}

/// Parses what `get` printed: `{"ServerURL":..,"Username":..,"Secret":..}`. A `<token>` user
/// name means the secret is an identity token; an empty answer means no credentials.
pub fn parse_get_output(stdout: &[u8]) -> std::result::Result<Lookup, &'static str> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: Secret,
    }
    let answer: Answer = serde_json::from_slice(stdout).map_err(|_| {
        "output that is not a JSON object with Username and Secret (not shown: it may hold a secret)"
    })?;
    if answer.secret.is_empty() {
        return Ok(Lookup::NotFound);
    }
    let secret = answer.secret;
    Ok(Lookup::Found(if answer.username == "<token>" {
        Credentials {
            username: String::new(),
            password: Secret::new(""),
            identity_token: Some(secret),
        }
    } else {
        Credentials {
            username: answer.username,
            password: secret,
            identity_token: None,
        }
    }))
}

/// `docker-credential-<helper> store` of `credentials` for `server_url`.
pub fn store(
    helper: &str,
    server_url: &str,
    credentials: &Credentials,
    path: Option<&OsStr>,
    timeout: Duration,
) -> Result<()> {
    let name = program_name(helper);
    let (username, secret) = match &credentials.identity_token {
        Some(token) => ("<token>", token),
        None => (credentials.username.as_str(), &credentials.password),
    };
    let input = Zeroizing::new(
        serde_json::json!({
            "ServerURL": server_url,
            "Username": username,
            "Secret": secret.expose(),
        })
        .to_string(),
    );
    let out = run(helper, "store", input.as_bytes(), path, timeout)?;
    if !out.success {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "credential helper {name} could not store credentials for {server_url}{}",
                shown_message(&out, Some(secret))
            ),
        ));
    }
    Ok(())
}

fn says_not_found(output: &[u8]) -> bool {
    String::from_utf8_lossy(output)
        .to_ascii_lowercase()
        .contains(NOT_FOUND)
}

/// `": <first line of the helper's message>"`, or `""` when there is nothing safe to show.
/// Helpers print their error on stdout (docker-credential-helpers) or stderr; a line that
/// looks like it carries credentials (JSON, "secret", the secret itself) is withheld.
fn shown_message(out: &Output, secret: Option<&Secret>) -> String {
    let pick = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_string)
    };
    let Some(line) = pick(&out.stdout).or_else(|| pick(&out.stderr)) else {
        return String::new();
    };
    let line = Zeroizing::new(line);
    let lower = line.to_ascii_lowercase();
    let leaks = line.starts_with('{')
        || lower.contains("secret")
        || lower.contains("password")
        || lower.contains("token")
        || secret.is_some_and(|s| !s.is_empty() && line.contains(s.expose()));
    if leaks {
        return ": (its message is not shown: it may hold a secret)".to_string();
    }
    let mut shown: String = line.chars().take(MAX_SHOWN).collect();
    if line.chars().count() > MAX_SHOWN {
        shown.push('…');
    }
    format!(": {shown}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_output_parses() {
        let Lookup::Found(c) =
            parse_get_output(br#"{"ServerURL":"h:1","Username":"u","Secret":"p"}"#).unwrap()
        else {
            panic!("found nothing")
        };
        assert_eq!((c.username.as_str(), c.password.expose()), ("u", "p"));
        assert!(c.identity_token.is_none());
        let Lookup::Found(c) =
            parse_get_output(br#"{"Username":"<token>","Secret":"refresh"}"#).unwrap()
        else {
            panic!("found nothing")
        };
        assert_eq!(c.identity_token.unwrap().expose(), "refresh");
        assert!(c.password.is_empty());
        assert!(matches!(
            parse_get_output(br#"{"ServerURL":"","Username":"","Secret":""}"#),
            Ok(Lookup::NotFound)
        ));
        for garbage in [&b"user s3cret"[..], b"", b"[1]", b"{\"Secret\": 5}"] {
            let err = parse_get_output(garbage).err().unwrap();
            assert!(!err.contains("s3cret"));
        }
    }

    fn output(stdout: &str, stderr: &str) -> Output {
        Output {
            success: false,
            stdout: Zeroizing::new(stdout.as_bytes().to_vec()),
            stderr: Zeroizing::new(stderr.as_bytes().to_vec()),
        }
    }

    #[test]
    fn failure_messages_are_short_and_withhold_secrets() {
        assert_eq!(
            shown_message(&output("\n  keychain locked \nmore", "x"), None),
            ": keychain locked"
        );
        assert_eq!(shown_message(&output("", "boom"), None), ": boom");
        assert_eq!(shown_message(&output("", ""), None), "");
        let long = "x".repeat(1000);
        assert!(shown_message(&output(&long, ""), None).chars().count() < MAX_SHOWN + 4);
        for leaky in [
            r#"{"Username":"u","Secret":"hunter2"}"#,
            "bad secret hunter2",
            "password hunter2 rejected",
        ] {
            let shown = shown_message(&output(leaky, ""), None);
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        let shown = shown_message(
            &output("cannot save hunter2", ""),
            Some(&Secret::new("hunter2")),
        );
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(says_not_found(
            b"credentials not found in native keychain\n"
        ));
        assert!(!says_not_found(b"keychain locked"));
    }
}
