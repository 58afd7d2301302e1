//! The `portradar` binary: parses the command line ([`cli`]), runs the command asked for ([`cmd`]),
//! and turns the outcome into an exit status with at most one line on stderr ([`exit`]).

mod cli;
mod cmd;
mod exit;

use std::process::ExitCode;

fn main() -> ExitCode {
    exit::report(cli::parse(std::env::args_os()).and_then(cmd::run))
}
