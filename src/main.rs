fn main() -> std::process::ExitCode {
    vos_gateway::cli::run()
}
