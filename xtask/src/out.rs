//! Printing that never panics. `println!` panics when stdout is a closed pipe (`cargo xtask
//! status | head -1`); [`outln!`] and [`errln!`] drop what cannot be written, so a command whose
//! reader went away still finishes its work (a deploy still verifies or rolls back) and exits
//! with its own code, quietly. [`quiet_on_closed_pipe`] covers a `println!` left elsewhere.

use std::fmt;
use std::io::Write;

/// Like `println!`, but a write error (a closed pipe) is ignored.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out::line(&mut ::std::io::stdout().lock(), format_args!($($arg)*))
    };
}

/// Like `eprintln!`, but a write error (a closed pipe) is ignored.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::out::line(&mut ::std::io::stderr().lock(), format_args!($($arg)*))
    };
}

pub(crate) use {errln, outln};

/// Writes `args` and a newline to `to`; whether it could is of no use to the caller, who has
/// nowhere else to say it.
pub fn line(to: &mut dyn Write, args: fmt::Arguments<'_>) {
    let _ = to.write_fmt(args).and_then(|()| to.write_all(b"\n"));
}

/// The exit code of a process that SIGPIPE ended, as a shell reports it (128 + 13).
pub const CLOSED_PIPE_EXIT: i32 = 141;

/// Ends the process quietly with [`CLOSED_PIPE_EXIT`] when a `println!`/`eprintln!` panics on a
/// closed pipe, instead of printing a panic; every other panic goes to the default hook.
pub fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if is_closed_pipe_panic(message) {
            std::process::exit(CLOSED_PIPE_EXIT);
        }
        default(info);
    }));
}

/// std's panic message for a print to a closed pipe: "failed printing to stdout: Broken pipe
/// (os error 32)".
fn is_closed_pipe_panic(message: &str) -> bool {
    message.starts_with("failed printing to std") && message.contains("Broken pipe (os error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_to_a_closed_pipe_is_dropped_without_a_panic() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        drop(reader);
        let direct = writeln!(writer, "x").unwrap_err();
        assert_eq!(direct.kind(), std::io::ErrorKind::BrokenPipe);
        line(&mut writer, format_args!("still {}", "fine"));
    }

    #[test]
    fn only_a_print_to_a_closed_pipe_is_quiet() {
        for (message, quiet) in [
            ("failed printing to stdout: Broken pipe (os error 32)", true),
            ("failed printing to stderr: Broken pipe (os error 32)", true),
            (
                "failed printing to stdout: No space left on device (os error 28)",
                false,
            ),
            ("called `Option::unwrap()` on a `None` value", false),
        ] {
            assert_eq!(is_closed_pipe_panic(message), quiet, "{message}");
        }
    }
}

/// `--output` of the commands that can report as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Progress and a summary for people.
    Text,
    /// A machine-readable report on stdout; progress goes to stderr.
    Json,
}
