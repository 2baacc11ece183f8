//! berth-network: see ARCHITECTURE.md.
