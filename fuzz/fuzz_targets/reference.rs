#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| idp_push_fuzz::harness::reference(data));
