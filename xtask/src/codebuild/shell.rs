//! One shell session across a build's commands, as CodeBuild keeps one: variables (exported
//! or not) and the working directory carry from command to command and phase to phase.
//!
//! One `bash` process reads the session from a pipe. Each command runs in a subshell of it
//! (so `exit 1` ends the command, not the session), whose EXIT trap writes its variables and
//! directory to a state file the session reads back; then the session prints a marker line
//! with the command's status on stdout, which this side reads up to, passing the rest through.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use anyhow::{Context, Result, bail};

use super::spec::Shell;

/// Sent once: the state saver. Variables the shell owns (read-only or special) are left out.
const PRELUDE: &str = r#"
__cb_save() {
  {
    for __cb_n in $(compgen -v); do
      case $__cb_n in
        BASH*|FUNCNAME|GROUPS|DIRSTACK|PIPESTATUS|RANDOM|SRANDOM|SECONDS|LINENO|EPOCH*|HISTCMD|COMP_*|_|__cb_*|EUID|PPID|UID|SHELLOPTS|OPTIND|OPTARG|SHLVL|PWD|OLDPWD|IFS|PS[0-9]) continue ;;
      esac
      declare -p "$__cb_n" 2> /dev/null
    done
    printf '__cb_pwd=%q\n' "$PWD"
  } > "$__CB_STATE"
}
"#;

pub struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    dir: tempfile::TempDir,
    marker: String,
    count: usize,
}

impl Session {
    /// Starts the session in `cwd` with exactly `env` as its environment.
    pub fn start(shell: Shell, cwd: &Path, env: &[(String, String)]) -> Result<Session> {
        let dir = tempfile::Builder::new()
            .prefix("xtask-codebuild-")
            .tempdir()?;
        let mut command = Command::new("bash");
        if shell == Shell::Sh {
            // sh on CodeBuild's images is a POSIX shell: bash in POSIX mode stands in.
            command.arg("--posix");
        }
        let mut child = command
            .current_dir(cwd)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("__CB_STATE", dir.path().join("state"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start bash for the build's shell session")?;
        let stdin = child.stdin.take().context("bash has no stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("bash has no stdout")?);
        let marker = format!("__xtask_codebuild_{}_done", uuid::Uuid::new_v4().simple());
        let mut session = Session {
            child,
            stdin,
            stdout,
            dir,
            marker,
            count: 0,
        };
        session.send(PRELUDE)?;
        Ok(session)
    }

    /// Runs `command` in the session; its output lines go to `out`. Returns its exit status.
    pub fn run(&mut self, command: &str, out: &mut dyn FnMut(&str)) -> Result<i32> {
        self.count += 1;
        let file = self.dir.path().join(format!("command-{}.sh", self.count));
        std::fs::write(&file, format!("{command}\n"))?;
        let quoted = file.display().to_string().replace('\'', r"'\''");
        let block = format!(
            "( trap '__cb_rc=$?; __cb_save; exit $__cb_rc' EXIT; . '{quoted}' ) < /dev/null\n\
             __cb_rc=$?\n\
             if [ -s \"$__CB_STATE\" ]; then . \"$__CB_STATE\" 2> /dev/null; cd \"$__cb_pwd\" 2> /dev/null; : > \"$__CB_STATE\"; fi\n\
             printf '\\n%s %s\\n' '{}' \"$__cb_rc\"\n",
            self.marker
        );
        self.send(&block)?;
        self.read_to_marker(out)
    }

    fn send(&mut self, text: &str) -> Result<()> {
        self.stdin
            .write_all(text.as_bytes())
            .and_then(|()| self.stdin.flush())
            .context("the build's shell session ended")
    }

    /// Passes output through up to the marker (the blank line the marker's own newline makes
    /// is dropped); returns the status it carries.
    fn read_to_marker(&mut self, out: &mut dyn FnMut(&str)) -> Result<i32> {
        let mut held_blank = false;
        let mut line = String::new();
        loop {
            line.clear();
            if self.stdout.read_line(&mut line)? == 0 {
                bail!("the build's shell session ended in the middle of a command");
            }
            let text = line.trim_end_matches('\n');
            if let Some(status) = text.strip_prefix(&self.marker) {
                return Ok(status.trim().parse().unwrap_or(1));
            }
            if held_blank {
                out("");
            }
            held_blank = text.is_empty();
            if !held_blank {
                out(text);
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.stdin.write_all(b"exit 0\n");
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let env = vec![("PATH".to_owned(), std::env::var("PATH").unwrap_or_default())];
        Session::start(Shell::Bash, &std::env::temp_dir(), &env).unwrap()
    }

    fn run(session: &mut Session, command: &str) -> (i32, Vec<String>) {
        let mut lines = Vec::new();
        let status = session
            .run(command, &mut |line| lines.push(line.to_owned()))
            .unwrap();
        (status, lines)
    }

    #[test]
    fn variables_and_the_directory_carry_across_commands() {
        let mut s = session();
        assert_eq!(run(&mut s, "PLAIN=one; export EXPORTED=two").0, 0);
        let into =
            "mkdir -p \"${__CB_STATE%/*}/cb-test-dir\" && cd \"${__CB_STATE%/*}/cb-test-dir\"";
        assert_eq!(run(&mut s, into).0, 0);
        let (status, lines) = run(
            &mut s,
            "echo \"$PLAIN $EXPORTED $(basename \"$PWD\")\"; bash -c 'echo ${EXPORTED:-unset}'",
        );
        assert_eq!(status, 0);
        assert_eq!(lines, ["one two cb-test-dir", "two"]);
    }

    #[test]
    fn exit_ends_the_command_not_the_session() {
        let mut s = session();
        let (status, _) = run(&mut s, "X=kept; exit 7");
        assert_eq!(status, 7);
        assert_eq!(run(&mut s, "false").0, 1);
        let (status, lines) = run(&mut s, "printf 'no newline: %s' \"$X\"");
        assert_eq!((status, lines), (0, vec!["no newline: kept".to_owned()]));
    }

    #[test]
    fn multi_line_commands_and_blank_output_lines_pass_through() {
        let mut s = session();
        let (status, lines) = run(&mut s, "if true; then\n  echo a\n  echo\n  echo b\nfi");
        assert_eq!(status, 0);
        assert_eq!(lines, ["a", "", "b"]);
    }
}
