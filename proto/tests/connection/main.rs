//! `Connection` driven end to end against a scripted fake server: a virtual clock, a
//! seeded RNG, no sockets and no sleeps. The fake server parses what the connection
//! transmits with `ClientOpParser` and answers through `handle_input`.

mod chaos;
mod handshake;
mod keepalive;
mod lease;
mod read_path;
mod reconnect;
mod requests;
mod server_ops;
mod sim;
