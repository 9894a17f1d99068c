//! The `sandpit` command.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Sandbox init must run before any thread exists: dispatch before building the runtime.
    if let Some(code) = sandpit::run_init_if_requested() {
        return code;
    }
    sandpit::cli::main()
}
