//! Benchmark results to plots and reports (skeleton until the report issue lands).
