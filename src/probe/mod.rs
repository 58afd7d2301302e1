//! `portradar probe`: reproduces the article's port-choice experiment. It makes batches of connect()
//! calls toward one destination (by default a loopback listener of its own), prints each local port
//! and the delta from the previous one, and ends with a verdict read through the pointer model
//! ([`crate::pointer`]): step, parity, randomised or not, and the kernel behaviour that matches.
//!
//! `args` checks the command line, `experiment` opens the sockets (`socket`), `netns` gives `--range`
//! a throwaway network namespace, `range` reads and narrows port ranges, `verdict` judges, `report`
//! prints. The probe closes every socket it opens, with a reset: it leaves no TIME_WAIT behind.

mod args;
mod error;
mod experiment;
mod netns;
mod range;
mod report;
mod socket;
mod verdict;

pub use args::{Format, ProbeArgs};
pub use error::ProbeError;

use args::{Plan, Scope};
use std::io::{self, Write};

/// Runs the probe and prints its report on stdout.
pub fn run(args: &ProbeArgs) -> Result<(), ProbeError> {
    let plan = Plan::from_args(args)?;
    let observed = match plan.scope {
        Scope::Namespace(range) => netns::with_range(range, || experiment::run(&plan))?,
        Scope::System | Scope::Socket(_) => experiment::run(&plan)?,
    };
    let reading = verdict::judge(&plan, &observed)?;
    let mut out = io::stdout().lock();
    report::write(&mut out, &plan, &observed, &reading)
        .and_then(|()| out.flush())
        .map_err(ProbeError::Output)
}
