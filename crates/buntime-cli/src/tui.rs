//! `buntime tui`: placeholder until the screens land.

use crate::commands::Target;
use crate::failure::{Failure, Outcome};

pub(crate) fn run(_target: &Target) -> Outcome {
    Err(Failure::usage("the TUI is not built yet"))
}
