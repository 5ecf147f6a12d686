//! Input builders shared by the benches. (Filled in with the benches.)
