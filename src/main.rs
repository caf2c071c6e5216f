// mimalloc: the request path allocates many small, short-lived buffers and often frees them
// on another worker thread; with glibc's allocator that was ~18% of the gateway's CPU under
// notify load (docs/BENCHMARKS.md). `no_thp`: without it, mimalloc asks for transparent huge
// pages and resident memory doubles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vos_gateway::cli::run()
}
