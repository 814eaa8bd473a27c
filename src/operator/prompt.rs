//! Where `tundra login` gets the email, password and two-factor codes: asked on the
//! terminal (the password without echo), or read line by line from stdin for scripts
//! (`--password-stdin`: the password, then each code asked for on the next line).

use std::io::{BufRead, IsTerminal, Write};

use super::OperatorError;
use crate::crypto::Secret;

/// The longest line read (the appliance refuses passwords over 1 KiB anyway).
const MAX_LINE: u64 = 4096;

/// What the login flow asks for.
pub trait Credentials {
    /// The email to sign in as.
    fn email(&mut self) -> Result<String, OperatorError>;
    /// The password.
    fn password(&mut self) -> Result<Secret<String>, OperatorError>;
    /// A two-factor code; `why` says what it is for.
    fn code(&mut self, why: &str) -> Result<String, OperatorError>;
}

fn input_error(what: &'static str) -> impl Fn(std::io::Error) -> OperatorError {
    move |e| OperatorError::Input {
        what,
        message: e.to_string(),
    }
}

/// One line of `r` without its line ending; `None` at end of input.
fn read_line<R: BufRead>(r: &mut R, what: &'static str) -> Result<Option<String>, OperatorError> {
    let mut line = String::new();
    let n = std::io::Read::take(r, MAX_LINE)
        .read_line(&mut line)
        .map_err(input_error(what))?;
    if n == 0 {
        return Ok(None);
    }
    let end = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(end);
    Ok(Some(line))
}

fn missing(what: &'static str, hint: &str) -> OperatorError {
    OperatorError::Input {
        what,
        message: format!("input ended; {hint}"),
    }
}

/// Lines from a reader (stdin with `--password-stdin`): the password first, then one line
/// per code asked for. The email comes from `--email`.
pub struct Lines<R> {
    reader: R,
    email: Option<String>,
}

impl<R: BufRead> Lines<R> {
    /// Reads from `reader`; `email` is `--email`.
    pub fn new(reader: R, email: Option<String>) -> Self {
        Self { reader, email }
    }
}

impl<R: BufRead> Credentials for Lines<R> {
    fn email(&mut self) -> Result<String, OperatorError> {
        self.email
            .clone()
            .ok_or_else(|| OperatorError::Usage("--password-stdin needs --email E".into()))
    }

    fn password(&mut self) -> Result<Secret<String>, OperatorError> {
        let line = read_line(&mut self.reader, "the password from stdin")?
            .ok_or_else(|| missing("the password from stdin", "send it as the first line"))?;
        if line.is_empty() {
            return Err(OperatorError::Usage(
                "the password on stdin is empty".into(),
            ));
        }
        Ok(Secret::new(line))
    }

    fn code(&mut self, why: &str) -> Result<String, OperatorError> {
        let line =
            read_line(&mut self.reader, "a two-factor code from stdin")?.ok_or_else(|| {
                missing(
                    "a two-factor code from stdin",
                    &format!("{why}: send it on the next line"),
                )
            })?;
        Ok(line.trim().to_string())
    }
}

/// The terminal: prompts on stderr, answers on stdin, the password without echo.
pub struct Terminal {
    email: Option<String>,
}

impl Terminal {
    /// The terminal, if stdin is one; `email` is `--email`.
    pub fn open(email: Option<String>) -> Result<Self, OperatorError> {
        if !std::io::stdin().is_terminal() {
            return Err(OperatorError::Usage(
                "stdin is not a terminal to ask for the password on; pipe it in with \
                 --password-stdin (and give --email), or pass a token with --token-stdin"
                    .into(),
            ));
        }
        Ok(Self { email })
    }

    fn ask(&self, prompt: &str, what: &'static str) -> Result<String, OperatorError> {
        let mut err = std::io::stderr();
        let _ = write!(err, "{prompt}");
        let _ = err.flush();
        read_line(&mut std::io::stdin().lock(), what)?
            .ok_or_else(|| missing(what, "nothing was typed"))
    }
}

impl Credentials for Terminal {
    fn email(&mut self) -> Result<String, OperatorError> {
        match &self.email {
            Some(e) => Ok(e.clone()),
            None => Ok(self.ask("Email: ", "the email")?.trim().to_string()),
        }
    }

    fn password(&mut self) -> Result<Secret<String>, OperatorError> {
        let line = without_echo(|| self.ask("Password: ", "the password"))?;
        if line.is_empty() {
            return Err(OperatorError::Usage("no password typed".into()));
        }
        Ok(Secret::new(line))
    }

    fn code(&mut self, why: &str) -> Result<String, OperatorError> {
        Ok(self
            .ask(&format!("{why}: "), "the two-factor code")?
            .trim()
            .to_string())
    }
}

/// Runs `f` with the terminal's echo off, and turns it back on whatever `f` returns.
fn without_echo<T>(f: impl FnOnce() -> Result<T, OperatorError>) -> Result<T, OperatorError> {
    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).map_err(|e| OperatorError::Input {
        what: "the terminal's settings",
        message: e.to_string(),
    })?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    // Keep ECHONL so the Enter key still moves the cursor to the next line.
    quiet.local_modes.insert(LocalModes::ECHONL);
    tcsetattr(&stdin, OptionalActions::Flush, &quiet).map_err(|e| OperatorError::Input {
        what: "the terminal's settings",
        message: e.to_string(),
    })?;
    let out = f();
    let _ = tcsetattr(&stdin, OptionalActions::Now, &saved);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_gives_the_password_then_one_code_per_line() {
        let input = "pass word with spaces \r\n 123456 \n654321\n";
        let mut l = Lines::new(input.as_bytes(), Some("o@example.com".into()));
        assert_eq!(l.email().unwrap(), "o@example.com");
        assert_eq!(l.password().unwrap().expose(), "pass word with spaces ");
        assert_eq!(l.code("code").unwrap(), "123456");
        assert_eq!(l.code("code").unwrap(), "654321");
        let err = l.code("Two-factor code").unwrap_err().to_string();
        assert!(err.contains("next line"), "{err}");
    }

    #[test]
    fn stdin_without_email_or_password_says_what_is_missing() {
        let mut l = Lines::new("".as_bytes(), None);
        assert!(l.email().unwrap_err().to_string().contains("--email"));
        assert!(l.password().unwrap_err().to_string().contains("first line"));
        let mut l = Lines::new("\n".as_bytes(), None);
        assert!(l.password().unwrap_err().to_string().contains("empty"));
    }
}
