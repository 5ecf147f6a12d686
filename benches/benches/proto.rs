//! Criterion benches of the proto parser and encoder. (Being written.)
fn main() {}
