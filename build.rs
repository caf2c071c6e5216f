//! Stamps the git commit into the binary for `vos_build_info{commit}`. `VOS_GIT_COMMIT`
//! wins (the Docker build passes it, having no `.git`); otherwise ask git; else "unknown".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=VOS_GIT_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::env::var("VOS_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let output = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            output
                .status
                .success()
                .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        });
    println!(
        "cargo:rustc-env=VOS_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
}
