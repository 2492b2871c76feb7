//! The `hsc` command line. All input and output of the compiler happens here.

mod cli;

/// Counts allocated bytes, for the peak memory `hsc bench` reports.
#[global_allocator]
static ALLOCATOR: cli::alloc::Counting = cli::alloc::Counting::new();

fn main() -> std::process::ExitCode {
    cli::main()
}
