//! `portradar completions SHELL`: the shell completion script, generated from the clap definition.

use super::write_stdout;
use crate::cli::{Cli, Shell};
use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell as Generator;

pub fn run(shell: Shell) -> Result<()> {
    let generator = match shell {
        Shell::Bash => Generator::Bash,
        Shell::Zsh => Generator::Zsh,
        Shell::Fish => Generator::Fish,
    };
    // Generated into memory first: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(generator, &mut Cli::command(), "portradar", &mut script);
    write_stdout("the completion script", |out| out.write_all(&script))
}
