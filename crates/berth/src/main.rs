//! The `berth` binary: `berth daemon`, `berth runtime ...` and the client commands.

fn main() {}
