//! Log lines to standard output without a `write` call per line.
//!
//! A request's line is appended to a shared buffer; a flusher thread writes the buffer out
//! every [`FLUSH_INTERVAL`], and a logger that finds it over [`FLUSH_AT`] writes it out
//! itself. One `write` per line cost ~2 µs of a request's time (a sixth of a trivial
//! request), and handing each line to a writer thread through a channel cost as much in
//! thread wake-ups. Here a wake-up carries thousands of lines under load.
//!
//! Nothing is dropped: a full buffer is written by the logger (backpressure, as a direct
//! write would give), and [`LogFlushGuard`] writes what is left at shutdown. A crash can lose
//! at most the last [`FLUSH_INTERVAL`] of lines.

use std::{
    io::{self, Write},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use tracing_subscriber::fmt::MakeWriter;

/// How long a line may wait in the buffer: short enough for `tail -f` and log shippers.
const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// A buffer this large is written out by the logger that filled it, without waiting for the
/// flusher: it bounds memory (and a line's wait) under a burst.
const FLUSH_AT: usize = 256 * 1024;

/// The [`MakeWriter`] for the log layers; cheap to clone.
pub struct Buffered<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for Buffered<W> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<W> {
    lines: Mutex<Vec<u8>>,
    /// Held while a batch is taken and written, so batches reach the output in order.
    out: Mutex<W>,
}

impl<W: Write> Shared<W> {
    fn flush(&self) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let batch = std::mem::take(&mut *self.lines.lock().unwrap_or_else(|e| e.into_inner()));
        if !batch.is_empty() {
            // A closed stdout cannot be reported anywhere better; the lines are gone either way.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
        }
    }
}

/// Writes the remaining lines and stops the flusher when dropped.
pub struct LogFlushGuard {
    stop: Arc<AtomicBool>,
    flusher: Option<JoinHandle<()>>,
}

impl Drop for LogFlushGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(flusher) = self.flusher.take() {
            flusher.thread().unpark();
            let _ = flusher.join();
        }
    }
}

/// Standard output, buffered; and the guard that flushes it at shutdown.
pub fn buffered_stdout() -> io::Result<(Buffered<io::Stdout>, LogFlushGuard)> {
    buffered(io::stdout())
}

/// `out`, buffered; and the guard that flushes it at shutdown.
pub fn buffered<W: Write + Send + 'static>(out: W) -> io::Result<(Buffered<W>, LogFlushGuard)> {
    let shared = Arc::new(Shared {
        lines: Mutex::new(Vec::with_capacity(FLUSH_AT)),
        out: Mutex::new(out),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let flusher = {
        let (shared, stop) = (shared.clone(), stop.clone());
        std::thread::Builder::new()
            .name("vos-log-flusher".into())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    std::thread::park_timeout(FLUSH_INTERVAL);
                    shared.flush();
                }
                shared.flush(); // What was logged while stopping.
            })?
    };
    let guard = LogFlushGuard {
        stop,
        flusher: Some(flusher),
    };
    Ok((Buffered { shared }, guard))
}

impl<'a, W: Write + 'a> MakeWriter<'a> for Buffered<W> {
    type Writer = &'a Buffered<W>;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

impl<W: Write> Write for &Buffered<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let full = {
            let mut lines = self.shared.lines.lock().unwrap_or_else(|e| e.into_inner());
            lines.extend_from_slice(buf);
            lines.len() >= FLUSH_AT
        };
        if full {
            self.shared.flush();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // The flusher's job; a flush per line would bring back a write per line.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An output the test can read while the writer still holds it.
    #[derive(Clone, Default)]
    struct Output(Arc<Mutex<Vec<u8>>>);

    impl Write for Output {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn log(writer: &Buffered<Output>, line: &str) {
        writer.make_writer().write_all(line.as_bytes()).unwrap();
    }

    #[test]
    fn lines_reach_the_output_within_the_flush_interval_in_order() {
        let out = Output::default();
        let (writer, _guard) = buffered(out.clone()).unwrap();

        log(&writer, "one\n");
        log(&writer, "two\n");
        std::thread::sleep(FLUSH_INTERVAL * 4);

        assert_eq!(&*out.0.lock().unwrap(), b"one\ntwo\n");
    }

    #[test]
    fn dropping_the_guard_writes_every_line_still_buffered() {
        let out = Output::default();
        let (writer, guard) = buffered(out.clone()).unwrap();
        let lines: Vec<String> = (0..10_000).map(|i| format!("line {i}\n")).collect();

        for line in &lines {
            log(&writer, line);
        }
        drop(guard);

        assert_eq!(
            String::from_utf8(out.0.lock().unwrap().clone()).unwrap(),
            lines.concat()
        );
    }
}
