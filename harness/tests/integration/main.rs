//! Harness integration tests: whole flows through the library, without scenario files.

mod jitr_end_to_end;
