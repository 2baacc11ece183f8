//! berth-cli: see ARCHITECTURE.md.
