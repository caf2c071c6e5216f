//! Privacy: no input reaches telemetry or an error body (canaries), and every input is either
//! stored exactly or refused with a 4xx (generated inputs).

mod canary;
mod inputs;
