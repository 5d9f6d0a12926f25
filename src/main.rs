//! The `mlops` binary: everything happens in [`mlops::cli::main`], which maps each outcome to
//! exit code 0 (ok), 1 (invalid input or failed gate) or 2 (usage or I/O error).

// Parsing a monorepo's config allocates millions of small strings and maps: mimalloc made
// `mlops check` on 1,000 models about a third faster than the system allocator
// (bench/monorepo.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    mlops::cli::main()
}
