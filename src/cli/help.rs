//! The command tree as `--help` shows it: every required option's help
//! says `[required]`. The tests walk the whole tree: every command has a
//! description and every argument a line of help.

use clap::{Command, CommandFactory};

use super::Cli;

/// The `signet` command tree, required options marked in their help.
pub fn command() -> Command {
    mark_required(Cli::command())
}

fn mark_required(cmd: Command) -> Command {
    cmd.mut_args(|arg| {
        // a required positional shows as <NAME> in the usage line already
        if !arg.is_required_set() || arg.is_positional() {
            return arg;
        }
        let help = match arg.get_help() {
            Some(h) => format!("{h} [required]"),
            None => "[required]".to_string(),
        };
        arg.help(help)
    })
    .mut_subcommands(mark_required)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command below `cmd` (itself included), with its full name.
    fn walk(cmd: &Command, name: String, out: &mut Vec<(String, Command)>) {
        out.push((name.clone(), cmd.clone()));
        for sub in cmd.get_subcommands() {
            walk(sub, format!("{name} {}", sub.get_name()), out);
        }
    }

    fn all_commands() -> Vec<(String, Command)> {
        let mut cmd = command();
        cmd.build();
        let mut out = Vec::new();
        walk(&cmd, "signet".into(), &mut out);
        out
    }

    #[test]
    fn every_command_and_every_argument_has_help() {
        let mut missing = Vec::new();
        for (name, cmd) in all_commands() {
            if name != "signet" && cmd.get_about().is_none() && !name.ends_with(" help") {
                missing.push(format!("{name}: no description"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                if help.trim().is_empty() || help.trim() == "[required]" {
                    missing.push(format!("{name}: argument {id} has no help"));
                }
            }
        }
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }

    #[test]
    fn required_arguments_are_marked_and_global_options_have_their_own_heading() {
        let mut cmd = command();
        cmd.build();
        let help = cmd
            .find_subcommand_mut("admin")
            .and_then(|a| a.find_subcommand_mut("org"))
            .and_then(|o| o.find_subcommand_mut("create"))
            .expect("admin org create")
            .render_help()
            .to_string();
        // a flag's entry: its line and the help lines under it
        let line = |flag: &str| {
            let start = help
                .find(&format!("  {flag} "))
                .unwrap_or_else(|| panic!("{flag} not in:\n{help}"));
            let rest = &help[start + 2..];
            let end = rest
                .match_indices('\n')
                .map(|(i, _)| i)
                .find(|i| rest[i + 1..].trim_start().starts_with('-'))
                .unwrap_or(rest.len());
            rest[..end].to_string()
        };
        assert!(line("--name").contains("[required]"), "{help}");
        assert!(line("--country").contains("[required]"), "{help}");
        assert!(!line("--street").contains("[required]"), "{help}");
        let global = help.find("Global options:").expect("a global heading");
        let own = help.find("--name").unwrap();
        let url = help.find("--url").unwrap();
        assert!(own < global && global < url, "{help}");
    }
}
