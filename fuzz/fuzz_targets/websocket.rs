#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| natsy_fuzz::targets::websocket(data));
