//! The `mlops` binary: everything happens in [`mlops::cli::main`], which maps each outcome to
//! exit code 0 (ok), 1 (invalid input or failed gate) or 2 (usage or I/O error).

fn main() -> std::process::ExitCode {
    mlops::cli::main()
}

// See `Cargo.toml` for why, and where.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
