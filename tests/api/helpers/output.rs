//! Where a child process's stdout and stderr go: captured line by line, or a log file.

use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    thread::JoinHandle,
};

use uuid::Uuid;

pub enum Output {
    /// Read continuously, so that the child never blocks on a full pipe.
    Captured {
        stdout: Arc<Mutex<Vec<String>>>,
        stderr: Arc<Mutex<String>>,
        readers: Vec<JoinHandle<()>>,
    },
    /// Kept only if the test fails.
    File(PathBuf),
}

impl Output {
    pub fn spawn(mut command: Command, to_file: bool) -> (Child, Self) {
        if to_file {
            let id = &Uuid::new_v4().simple().to_string()[..8];
            let path = std::env::temp_dir().join(format!("vos-gateway-{id}.log"));
            let log = std::fs::File::create(&path).expect("log file");
            command.stdout(log.try_clone().unwrap()).stderr(log);
            let child = command.spawn().expect("the gateway binary starts");
            return (child, Self::File(path));
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the gateway binary starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let lines = stdout.clone();
        let text = stderr.clone();
        let readers = vec![
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            }),
            std::thread::spawn(move || {
                let mut buffer = String::new();
                let _ = BufReader::new(err).read_to_string(&mut buffer);
                text.lock().unwrap().push_str(&buffer);
            }),
        ];
        let captured = Self::Captured {
            stdout,
            stderr,
            readers,
        };
        (child, captured)
    }

    /// Once the child has exited: stdout's lines, and stderr.
    pub fn finish(&mut self) -> (Vec<String>, String) {
        match self {
            Self::Captured {
                stdout,
                stderr,
                readers,
            } => {
                // The pipes close with the process: the readers finish promptly.
                for reader in std::mem::take(readers) {
                    let _ = reader.join();
                }
                (
                    stdout.lock().unwrap().clone(),
                    stderr.lock().unwrap().clone(),
                )
            }
            Self::File(path) => {
                let log = std::fs::read_to_string(path).unwrap_or_default();
                (log.lines().map(str::to_owned).collect(), String::new())
            }
        }
    }

    /// Where to look for why the process misbehaved, for a panic message.
    pub fn describe(&self) -> String {
        match self {
            Self::Captured { stderr, .. } => format!(": {}", stderr.lock().unwrap()),
            Self::File(path) => format!(" (log: {})", path.display()),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Self::File(log) = self {
            // Kept for a failed test, to read why.
            if std::thread::panicking() {
                eprintln!("the gateway's log is kept: {}", log.display());
            } else {
                let _ = std::fs::remove_file(log);
            }
        }
    }
}
