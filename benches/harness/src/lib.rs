//! The benchmark harness: measures Outpost against an in-process ONNX Runtime session (the
//! compute limit) and a plain Python server (what a user would otherwise write) in one run,
//! writes JSON, Markdown and an SVG plot, and checks the committed gates.

pub mod gate;
pub mod inprocess;
pub mod load;
pub mod photos;
pub mod plan;
pub mod plot;
pub mod procfs;
pub mod python_baseline;
pub mod ratios;
pub mod report;
pub mod run;
pub mod scheduling;
pub mod stats;
pub mod targets;
