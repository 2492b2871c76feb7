//! The `hsc` command line. All input and output of the compiler happens here.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
